//! Timing of the geometry core, to compare with `bench/geometry_bench.py` (scikit-learn).
//!
//!   geometry_bench smacof FILE.npy [--max-iter 300] [--eps 1e-6] [--init classical|random] [--seed 1] [--weighted 1]
//!       metric SMACOF (2-D) of the n × n float64 matrix written by geometry_bench.py;
//!       `--weighted 1` uses weights 1/δ (general-weights path: one Cholesky of an n × n matrix)
//!   geometry_bench place [--m 100000] [--l 5000] [--q 10] [--seed 1] [--max-iter 100] [--eps 1e-6]
//!       place_points_latent: m new points against l landmarks, q-D latent vectors whose first two
//!       coordinates are 2-D positions (× 1.7) and the rest N(0, 0.05²) noise; reports the error
//!       against the true positions as well.
//!
//! Prints one JSON object per line. Build with `--release`.
use std::time::Instant;

use dpvae::geometry::landmark::place_points_latent_detailed;
use dpvae::geometry::smacof::{smacof, Init, SmacofOptions};
use ndarray::Array2;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Minimal .npy reader: little-endian float64, C order, 2-D.
fn read_npy(path: &str) -> Result<Array2<f64>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    if bytes.len() < 12 || &bytes[..6] != b"\x93NUMPY" {
        return Err(format!("{path}: not a .npy file"));
    }
    let (hlen, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        )
    };
    let header = std::str::from_utf8(&bytes[start..start + hlen]).map_err(|e| e.to_string())?;
    if !header.contains("'<f8'") || header.contains("'fortran_order': True") {
        return Err(format!(
            "{path}: need little-endian float64 in C order, header {header}"
        ));
    }
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or("no shape")?;
    let dims: Vec<usize> = shape
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    if dims.len() != 2 {
        return Err(format!("{path}: expected a 2-D array, shape ({shape})"));
    }
    let data: Vec<f64> = bytes[start + hlen..]
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    Array2::from_shape_vec((dims[0], dims[1]), data).map_err(|e| e.to_string())
}

/// splitmix64 + Box–Muller, seeded.
struct Rng(u64);
impl Rng {
    fn u(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (a, b) = (1.0 - self.u(), self.u());
        (-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads = rayon::current_num_threads();
    match args.get(1).map(String::as_str) {
        Some("smacof") => {
            let path = args.get(2).cloned().unwrap_or_default();
            let d = match read_npy(&path) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(2);
                }
            };
            let init_name: String = arg(&args, "--init", "classical".to_string());
            let opts = SmacofOptions {
                ndim: 2,
                max_iter: arg(&args, "--max-iter", 300),
                eps: arg(&args, "--eps", 1e-6),
                n_init: 1,
                seed: arg(&args, "--seed", 1),
                init: if init_name == "random" {
                    Init::Random
                } else {
                    Init::Classical
                },
            };
            let weighted: u8 = arg(&args, "--weighted", 0);
            let w = (weighted == 1).then(|| d.mapv(|v| if v > 0.0 { 1.0 / v } else { 0.0 }));
            let t0 = Instant::now();
            match smacof(d.view(), w.as_ref().map(|w| w.view()), &opts) {
                Ok(r) => println!(
                    "{{\"tool\": \"dpvae\", \"task\": \"smacof\", \"weighted\": {}, \"n\": {}, \"init\": \"{}\", \"max_iter\": {}, \
                     \"eps\": {}, \"time_s\": {:.3}, \"iterations\": {}, \"stress1\": {:.6}, \"converged\": {}, \
                     \"threads\": {}}}",
                    w.is_some(), d.nrows(), init_name, opts.max_iter, opts.eps, t0.elapsed().as_secs_f64(),
                    r.iterations, r.stress1, r.converged, threads
                ),
                Err(e) => {
                    eprintln!("smacof failed: {e}");
                    std::process::exit(1);
                }
            }
        }
        Some("place") => {
            let m: usize = arg(&args, "--m", 100_000);
            let l: usize = arg(&args, "--l", 5_000);
            let q: usize = arg(&args, "--q", 10).max(2);
            let max_iter: usize = arg(&args, "--max-iter", 100);
            let eps: f64 = arg(&args, "--eps", 1e-6);
            let mut rng = Rng(arg(&args, "--seed", 1u64));
            let scale = 1.7;
            let mut gen =
                |k: usize| {
                    let pos = Array2::from_shape_fn((k, 2), |_| rng.u() * 10.0);
                    let lat = Array2::from_shape_fn((k, q), |(i, j)| {
                        if j < 2 {
                            scale * pos[[i, j]]
                        } else {
                            0.0
                        }
                    });
                    (pos, lat)
                };
            let (lm_pos, mut lm_lat) = gen(l);
            let (new_pos, mut new_lat) = gen(m);
            for v in lm_lat.iter_mut().chain(new_lat.iter_mut()) {
                if *v == 0.0 {
                    *v = 0.05 * rng.normal();
                }
            }
            let t0 = Instant::now();
            match place_points_latent_detailed(
                new_lat.view(),
                lm_lat.view(),
                scale,
                lm_pos.view(),
                max_iter,
                eps,
            ) {
                Ok(p) => {
                    let dt = t0.elapsed().as_secs_f64();
                    let mut err: Vec<f64> = (0..m)
                        .map(|i| {
                            let a = p.coords[[i, 0]] - new_pos[[i, 0]];
                            let b = p.coords[[i, 1]] - new_pos[[i, 1]];
                            (a * a + b * b).sqrt()
                        })
                        .collect();
                    err.sort_by(f64::total_cmp);
                    let mean_it = p.iterations.iter().map(|&v| v as f64).sum::<f64>() / m as f64;
                    let conv = p.converged.iter().filter(|&&c| c).count();
                    println!(
                        "{{\"tool\": \"dpvae\", \"task\": \"place_points_latent\", \"m\": {m}, \"landmarks\": {l}, \
                         \"latent_dim\": {q}, \"time_s\": {dt:.3}, \"mean_evaluations\": {mean_it:.2}, \
                         \"converged\": {conv}, \"median_error\": {:.5}, \"p99_error\": {:.5}, \"threads\": {threads}}}",
                        err[m / 2],
                        err[(m * 99) / 100]
                    );
                }
                Err(e) => {
                    eprintln!("placement failed: {e}");
                    std::process::exit(1);
                }
            }
        }
        _ => {
            eprintln!("usage: geometry_bench smacof FILE.npy [--max-iter N] [--eps E] [--init classical|random] | place [--m M] [--l L] [--q Q]");
            std::process::exit(2);
        }
    }
}
