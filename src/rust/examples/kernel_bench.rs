//! Seconds per call of the fused all-pairs dp kernel (value + gradient).
//! Usage: cargo run --release --example kernel_bench -- [cells] [threads]
use dpvae::vae::config::DpLoss;
use dpvae::vae::dpkernel::all_pairs;
use std::time::Instant;
fn main() {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = *a.first().unwrap_or(&3000);
    let t = *a.get(1).unwrap_or(&1);
    let z: Vec<f32> = (0..2 * n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let s: Vec<f32> = (0..2 * n)
        .map(|i| ((i * 104729) % 997) as f32 / 997.0)
        .collect();
    let r = 10;
    let t0 = Instant::now();
    let mut acc = 0.0;
    for _ in 0..r {
        acc += all_pairs(&z, &s, 2, 2, 1.0, DpLoss::Squared, true, t).sum_f;
    }
    println!(
        "n {n} threads {t}: {:.5} s per call ({acc:.3})",
        t0.elapsed().as_secs_f64() / r as f64
    );
}
