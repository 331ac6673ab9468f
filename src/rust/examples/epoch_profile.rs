//! Where one full-batch epoch's time goes (forward, losses, dp kernel, backward + Adam, stress
//! monitor), to direct speed work. Usage: epoch_profile [cells] [genes] [epochs] [threads]
use std::time::Instant;

use dpvae::vae::config::{Config, DpLoss};
use dpvae::vae::dpkernel;
use dpvae::vae::gaussian_fused::{self, TargetStats};
use dpvae::vae::loss;
use dpvae::vae::model::Dpvae;
use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = *args.first().unwrap_or(&3000);
    let g = *args.get(1).unwrap_or(&2000);
    let epochs = *args.get(2).unwrap_or(&30);
    let threads = *args.get(3).unwrap_or(&1);
    tch::set_num_threads(threads as i32);
    tch::manual_seed(0);
    let cfg = Config {
        n_genes: g,
        hidden: 124,
        ..Config::default()
    };
    let x = Tensor::randn([n as i64, g as i64], (Kind::Float, Device::Cpu));
    let sv: Vec<f32> = (0..n * 2)
        .map(|i| ((i * 7919) % 1000) as f32 / 100.0)
        .collect();
    let stats = TargetStats::of(&x);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Dpvae::new(&vs.root(), &cfg);
    let mut opt = nn::Adam::default().build(&vs, 5e-3)?;
    let mon = Tensor::from_slice(&(0..n.min(2000) as i64).collect::<Vec<_>>());
    let mut t = [0f64; 6];
    let names = [
        "encode+hidden",
        "recon+kl",
        "dp kernel",
        "backward+adam",
        "monitor",
        "total",
    ];
    for _ in 0..epochs {
        let t0 = Instant::now();
        let (mu, logvar, z) = model.encode_sample(&x);
        let h = model.decode_hidden(&z);
        let t1 = Instant::now();
        let (w, b) = model.output_layer();
        let recon = gaussian_fused::mean_squared_error(&x, &stats, &h, w, b);
        let kl = loss::kl_divergence(&mu, &logvar, g);
        let mut total = recon.surrogate * cfg.alpha + &kl * cfg.beta;
        let _ = kl.double_value(&[]);
        let t2 = Instant::now();
        let c = model.scale();
        let zv: Vec<f32> = Vec::try_from(mu.detach().contiguous().flatten(0, -1))?;
        let ps = dpkernel::all_pairs(
            &zv,
            &sv,
            2,
            2,
            c.double_value(&[]),
            DpLoss::Squared,
            true,
            threads,
        );
        let np = (n * (n - 1) / 2) as f64;
        let gz = Tensor::from_slice(&ps.grad_z).view([n as i64, 2]) / np;
        total += ((&mu * gz).sum(Kind::Float) + &c * (ps.grad_c / np)) * 10.0;
        let t3 = Instant::now();
        opt.backward_step_clip_norm(&total, 10.0);
        let t4 = Instant::now();
        tch::no_grad(|| {
            let (mu, _) = model.encode(&x.index_select(0, &mon));
            let zv: Vec<f32> = Vec::try_from(mu.contiguous().flatten(0, -1)).unwrap();
            let _ = dpkernel::all_pairs(
                &zv,
                &sv[..zv.len()],
                2,
                2,
                1.0,
                DpLoss::Squared,
                false,
                threads,
            );
        });
        let t5 = Instant::now();
        for (k, d) in [t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0]
            .iter()
            .enumerate()
        {
            t[k] += d.as_secs_f64();
        }
    }
    for (k, name) in names.iter().enumerate() {
        println!("{name:>14}: {:.4} s/epoch", t[k] / epochs as f64);
    }
    Ok(())
}
