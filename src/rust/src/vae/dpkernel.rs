//! Fused all-pairs distance-preserving term on the CPU: Σ_{i<j} f(‖z_i − z_j‖ − c‖s_i − s_j‖) and
//! its gradient with respect to z and c in one pass over the pairs, without the n(n−1)/2 tensors
//! of `pdist` (whose forward and backward dominate a full-batch epoch past ~1000 cells) and
//! without their memory. Used for the training term and for the stress of the monitored cells
//! when the mask is "all pairs", the device is the CPU and latent = spatial dims (2 or 3).
use super::config::DpLoss;

/// Sums over all pairs i < j.
pub struct PairSums {
    /// Σ f(d_ij − c s_ij), f = square or absolute value.
    pub sum_f: f64,
    /// Σ s_ij².
    pub sum_s2: f64,
    /// ∂ sum_f / ∂ z, row-major n × dims (empty when no gradient was asked for).
    pub grad_z: Vec<f32>,
    /// ∂ sum_f / ∂ c.
    pub grad_c: f64,
}

/// Latent dimensions the kernel is compiled for (the others use pdist).
const LATENT: [usize; 6] = [2, 3, 4, 6, 8, 16];

/// Whether the kernel handles this latent / spatial dimension pair.
pub fn supported(latent: usize, spatial: usize) -> bool {
    LATENT.contains(&latent) && (spatial == 2 || spatial == 3)
}

/// `z` is row-major n × `latent`, `s` row-major n × `spatial`; `threads` ≥ 1 workers share
/// the rows. Panics unless `supported(latent, spatial)` (callers check).
#[allow(clippy::too_many_arguments)]
pub fn all_pairs(
    z: &[f32],
    s: &[f32],
    latent: usize,
    spatial: usize,
    c: f64,
    kind: DpLoss,
    grad: bool,
    threads: usize,
) -> PairSums {
    macro_rules! dispatch {
        ($($z:literal),*) => {
            match (latent, spatial) {
                $(
                    ($z, 2) => run::<$z, 2>(z, s, c, kind, grad, threads),
                    ($z, 3) => run::<$z, 3>(z, s, c, kind, grad, threads),
                )*
                _ => panic!("dpkernel: unsupported dimensions {latent} / {spatial}"),
            }
        };
    }
    dispatch!(2, 3, 4, 6, 8, 16)
}

struct Partial {
    sum_f: f64,
    sum_s2: f64,
    grad_c: f64,
    grad: Vec<Vec<f32>>, // per dimension, length n
}

fn run<const Z: usize, const S: usize>(
    z: &[f32],
    s: &[f32],
    c: f64,
    kind: DpLoss,
    grad: bool,
    threads: usize,
) -> PairSums {
    match (kind == DpLoss::Squared, grad) {
        (true, true) => run_k::<Z, S, true, true>(z, s, c, threads),
        (true, false) => run_k::<Z, S, true, false>(z, s, c, threads),
        (false, true) => run_k::<Z, S, false, true>(z, s, c, threads),
        (false, false) => run_k::<Z, S, false, false>(z, s, c, threads),
    }
}

/// Lanes of the inner loop: independent accumulators let the compiler vectorise the sums.
const W: usize = 8;

#[inline(always)]
fn run_k<const Z: usize, const S: usize, const SQ: bool, const G: bool>(
    z: &[f32],
    s: &[f32],
    c: f64,
    threads: usize,
) -> PairSums {
    let n = z.len() / Z;
    // Columns (structure of arrays) so that the inner loop over j vectorises.
    let col = |x: &[f32], d: usize| -> Vec<Vec<f32>> {
        (0..d)
            .map(|k| (0..n).map(|i| x[i * d + k]).collect())
            .collect()
    };
    let zc = col(z, Z);
    let sc = col(s, S);
    let threads = threads.clamp(1, 64).min(n.max(1));
    let cf = c as f32;
    let work = |t: usize| -> Partial { rows_dispatch::<Z, S, SQ, G>(t, threads, &zc, &sc, cf) };
    let parts: Vec<Partial> = if threads == 1 {
        vec![work(0)]
    } else {
        std::thread::scope(|sc| {
            let hs: Vec<_> = (0..threads).map(|t| sc.spawn(move || work(t))).collect();
            hs.into_iter()
                .map(|h| h.join().expect("dpkernel worker"))
                .collect()
        })
    };
    let mut out = PairSums {
        sum_f: 0.0,
        sum_s2: 0.0,
        grad_z: if G { vec![0f32; n * Z] } else { Vec::new() },
        grad_c: 0.0,
    };
    for p in parts {
        out.sum_f += p.sum_f;
        out.sum_s2 += p.sum_s2;
        out.grad_c += p.grad_c;
        if G {
            for k in 0..Z {
                for i in 0..n {
                    out.grad_z[i * Z + k] += p.grad[k][i];
                }
            }
        }
    }
    out
}

// One pair: (f, f', d, s_ij, s_ij^2) from the coordinate differences.
#[inline(always)]
fn pair<const Z: usize, const S: usize, const SQ: bool>(
    dd: &[f32; Z],
    es: &[f32; S],
    cf: f32,
) -> (f32, f32, f32, f32, f32) {
    let mut dz2 = 0f32;
    let mut ds2 = 0f32;
    for v in dd {
        dz2 += v * v;
    }
    for v in es {
        ds2 += v * v;
    }
    let d = dz2.sqrt();
    let sd = ds2.sqrt();
    let e = d - cf * sd;
    let (f, fp) = if SQ {
        (e * e, 2.0 * e)
    } else {
        (
            e.abs(),
            if e > 0.0 {
                1.0
            } else if e < 0.0 {
                -1.0
            } else {
                0.0
            },
        )
    };
    (f, fp, d, sd, ds2)
}

/// The rows t, t + threads, t + 2·threads, … of the pair sums (one worker's share).
#[inline(always)]
fn rows<const Z: usize, const S: usize, const SQ: bool, const G: bool>(
    t: usize,
    threads: usize,
    zc: &[Vec<f32>],
    sc: &[Vec<f32>],
    cf: f32,
) -> Partial {
    let n = zc[0].len();
    let mut p = Partial {
        sum_f: 0.0,
        sum_s2: 0.0,
        grad_c: 0.0,
        grad: if G {
            vec![vec![0f32; n]; Z]
        } else {
            Vec::new()
        },
    };
    // Rows dealt round-robin: row i has n − i − 1 pairs, so the threads get equal shares.
    let mut i = t;
    while i < n {
        let zi: [f32; Z] = std::array::from_fn(|k| zc[k][i]);
        let si: [f32; S] = std::array::from_fn(|k| sc[k][i]);
        let m = n - i - 1;
        let zs: [&[f32]; Z] = std::array::from_fn(|k| &zc[k][i + 1..n]);
        let ss: [&[f32]; S] = std::array::from_fn(|k| &sc[k][i + 1..n]);
        let mut gs: Vec<&mut [f32]> = p.grad.iter_mut().map(|g| &mut g[i + 1..n]).collect();
        let mut af = [0f32; W];
        let mut as2 = [0f32; W];
        let mut agc = [0f32; W];
        let mut agi = [[0f32; W]; Z];
        let full = m / W * W;
        let mut j = 0;
        while j < full {
            for l in 0..W {
                let jj = j + l;
                let dd: [f32; Z] = std::array::from_fn(|k| zi[k] - zs[k][jj]);
                let es: [f32; S] = std::array::from_fn(|k| si[k] - ss[k][jj]);
                let (f, fp, d, sd, ds2) = pair::<Z, S, SQ>(&dd, &es, cf);
                af[l] += f;
                as2[l] += ds2;
                agc[l] -= fp * sd;
                if G {
                    let g = if d > 0.0 { fp / d } else { 0.0 };
                    for k in 0..Z {
                        let v = g * dd[k];
                        agi[k][l] += v;
                        gs[k][jj] -= v;
                    }
                }
            }
            j += W;
        }
        let (mut rf, mut rs2, mut rgc) = (
            af.iter().sum::<f32>(),
            as2.iter().sum::<f32>(),
            agc.iter().sum::<f32>(),
        );
        let mut gi: [f32; Z] = std::array::from_fn(|k| agi[k].iter().sum::<f32>());
        for jj in full..m {
            let dd: [f32; Z] = std::array::from_fn(|k| zi[k] - zs[k][jj]);
            let es: [f32; S] = std::array::from_fn(|k| si[k] - ss[k][jj]);
            let (f, fp, d, sd, ds2) = pair::<Z, S, SQ>(&dd, &es, cf);
            rf += f;
            rs2 += ds2;
            rgc -= fp * sd;
            if G {
                // pdist's convention: zero gradient at zero distance
                let g = if d > 0.0 { fp / d } else { 0.0 };
                for k in 0..Z {
                    let v = g * dd[k];
                    gi[k] += v;
                    gs[k][jj] -= v;
                }
            }
        }
        p.sum_f += rf as f64;
        p.sum_s2 += rs2 as f64;
        p.grad_c += rgc as f64;
        if G {
            for (g, v) in p.grad.iter_mut().zip(gi) {
                g[i] += v;
            }
        }
        i += threads;
    }
    p
}

/// The inner loop compiled for the widest vector unit the CPU has (checked at run time): the
/// default x86-64 target has SSE2 only, which makes this loop about 1.6x slower.
fn rows_dispatch<const Z: usize, const S: usize, const SQ: bool, const G: bool>(
    t: usize,
    threads: usize,
    zc: &[Vec<f32>],
    sc: &[Vec<f32>],
    cf: f32,
) -> Partial {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            return unsafe { rows_avx512::<Z, S, SQ, G>(t, threads, zc, sc, cf) };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { rows_avx2::<Z, S, SQ, G>(t, threads, zc, sc, cf) };
        }
    }
    rows::<Z, S, SQ, G>(t, threads, zc, sc, cf)
}

/// A copy of `rows` compiled with extra target features; `rows_dispatch` checks the CPU first.
macro_rules! rows_with_features {
    ($name:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        unsafe fn $name<const Z: usize, const S: usize, const SQ: bool, const G: bool>(
            t: usize,
            threads: usize,
            zc: &[Vec<f32>],
            sc: &[Vec<f32>],
            cf: f32,
        ) -> Partial {
            rows::<Z, S, SQ, G>(t, threads, zc, sc, cf)
        }
    };
}
rows_with_features!(rows_avx512, "avx512f");
rows_with_features!(rows_avx2, "avx2,fma");

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    fn check(kind: DpLoss, zdims: usize, dims: usize, threads: usize) {
        tch::manual_seed(3);
        let n = 57;
        let z = Tensor::randn([n, zdims as i64], (Kind::Float, tch::Device::Cpu))
            .set_requires_grad(true);
        let s = Tensor::randn([n, dims as i64], (Kind::Float, tch::Device::Cpu));
        let c = Tensor::from(0.7f32).set_requires_grad(true);
        let diff = z.pdist(2.0) - &c * s.pdist(2.0);
        let want = match kind {
            DpLoss::Squared => diff.square().sum(Kind::Float),
            DpLoss::Absolute => diff.abs().sum(Kind::Float),
        };
        want.backward();
        let zv: Vec<f32> = Vec::try_from(z.detach().flatten(0, -1)).unwrap();
        let sv: Vec<f32> = Vec::try_from(s.flatten(0, -1)).unwrap();
        let got = all_pairs(&zv, &sv, zdims, dims, 0.7, kind, true, threads);
        assert!(
            (got.sum_f - want.double_value(&[])).abs()
                < 1e-3 * want.double_value(&[]).abs().max(1.0)
        );
        let gz: Vec<f32> = Vec::try_from(z.grad().flatten(0, -1)).unwrap();
        for (a, b) in got.grad_z.iter().zip(&gz) {
            assert!((a - b).abs() < 1e-3 * (1.0 + b.abs()), "{a} vs {b}");
        }
        let gc = c.grad().double_value(&[]);
        assert!((got.grad_c - gc).abs() < 1e-3 * (1.0 + gc.abs()));
        let s2 = s.pdist(2.0).square().sum(Kind::Double).double_value(&[]);
        assert!((got.sum_s2 - s2).abs() < 1e-3 * s2);
    }

    #[test]
    fn matches_pdist_autograd() {
        for kind in [DpLoss::Squared, DpLoss::Absolute] {
            // latent = spatial, and wider latents than the coordinates
            for (zdims, dims) in [(2, 2), (3, 3), (8, 2), (4, 3), (16, 3)] {
                for threads in [1, 3] {
                    check(kind, zdims, dims, threads);
                }
            }
        }
    }
}
