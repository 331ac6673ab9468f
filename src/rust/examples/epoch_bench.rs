//! Seconds per full-batch epoch outside R, to compare with the same fit inside R.
//! Usage: cargo run --release --example epoch_bench -- [cells] [genes] [epochs] [threads] [batch] [bf16]
//! bf16: 1/0 = products in bfloat16 or not; default as R's "auto" (minibatch on a CPU with native bf16).
//! As bench/speed.sh runs the reference and dpvae_fit(): the dp term and the stress monitoring are
//! active from the first epoch (warmup 0), no early stopping; batch 0 = full batch.
use std::time::Instant;

use dpvae::vae::config::Config;
use dpvae::vae::fit::{fit, to_tensor, Inputs};
use dpvae::vae::pairs::PairSet;
use dpvae::vae::train::Control;
use ndarray::Array2;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = *args.first().unwrap_or(&262);
    let g = *args.get(1).unwrap_or(&1500);
    let epochs = *args.get(2).unwrap_or(&50);
    let threads = *args.get(3).unwrap_or(&2);
    let batch = *args.get(4).unwrap_or(&0);
    let bf16 = args
        .get(5)
        .map(|&b| b == 1)
        .unwrap_or(batch > 0 && dpvae::vae::precision::bf16_native());
    // Deterministic pseudo-data: speed does not depend on the values.
    let mut state = 12345u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f64 / (1u64 << 31) as f64) - 0.5
    };
    let x = Array2::from_shape_fn((n, g), |_| next());
    let s = Array2::from_shape_fn((n, 2), |_| next() * 10.0);
    let cfg = Config {
        n_genes: g,
        epochs,
        warmup: 0,
        patience: 0,
        lambda: 0.1,
        batch_size: batch,
        num_threads: threads,
        bf16_products: bf16,
        ..Config::default()
    };
    let t0 = Instant::now();
    let inp = Inputs {
        x: to_tensor(x.view()),
        counts: None,
        library: None,
    };
    let out = fit(
        &inp,
        s.view(),
        &PairSet::All,
        &cfg,
        tch::Device::Cpu,
        &mut |_| Control::Continue,
    )?;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{{\"cells\": {n}, \"genes\": {g}, \"batch\": {batch}, \"bf16\": {bf16}, \"epochs\": {}, \"threads\": {threads}, \"s_per_epoch\": {:.5}}}",
        out.epochs_run,
        secs / out.epochs_run as f64
    );
    Ok(())
}
