//! Distortion of a latent embedding relative to spatial coordinates (bi-Lipschitz constants).
//!
//! Over cell pairs `(i, j)` (all pairs when `n(n−1)/2 ≤ max_pairs`, else `max_pairs` pairs drawn
//! with a seeded PRNG), with `d_z = ‖z_i − z_j‖` (latent, any dimension) and
//! `d_s = ‖s_i − s_j‖` (space, 1–3 columns), the ratios `r = d_z / d_s` over pairs with both
//! distances > 0 give:
//! - `lower = min r`, `upper = max r` (the empirical bi-Lipschitz constants), `distortion = upper / lower`;
//! - robust versions from the 1 % and 99 % quantiles (`q01`, `q99`, `robust_distortion = q99 / q01`)
//!   and the `median` ratio (quantiles as R's default `quantile(type = 7)`);
//! - the scale-free stress-1 (Kruskal) `sqrt( Σ (d_z − c d_s)² / Σ d_z² )` at the optimal scale
//!   `c = Σ d_z d_s / Σ d_s²` (returned as `scale`), i.e. `sqrt(1 − (Σ d_z d_s)² / (Σ d_z² Σ d_s²))`:
//!   0 when latent distances are exactly proportional to spatial ones, invariant to rescaling
//!   either side. The stress uses every evaluated pair (also those with a zero distance).

use super::knn::padded_points;
use super::pairs::pairs_for;
use crate::error::{DpvaeError, Result};
use ndarray::ArrayView2;
use rayon::prelude::*;

/// Result of [`distortion`].
#[derive(Debug, Clone, PartialEq)]
pub struct Distortion {
    pub lower: f64,
    pub upper: f64,
    pub distortion: f64,
    pub q01: f64,
    pub q99: f64,
    pub robust_distortion: f64,
    pub median: f64,
    pub stress1: f64,
    pub scale: f64,
    /// Pairs evaluated / pairs with both distances > 0 (used for the ratios).
    pub n_pairs: usize,
    pub n_ratio_pairs: usize,
    pub sampled: bool,
}

/// Quantile of sorted data, R type 7.
fn quantile_sorted(v: &[f64], p: f64) -> f64 {
    let h = (v.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

/// Bi-Lipschitz distortion and scale-free stress of `latent` (n × d_z) against `coords`
/// (n × 1–3). See the module documentation.
pub fn distortion(
    latent: ArrayView2<f64>,
    coords: ArrayView2<f64>,
    max_pairs: usize,
    seed: u64,
) -> Result<Distortion> {
    let n = latent.nrows();
    if coords.nrows() != n {
        return Err(DpvaeError::Input(format!(
            "latent has {n} rows but coordinates have {} rows; they must describe the same cells",
            coords.nrows()
        )));
    }
    if latent.ncols() == 0 {
        return Err(DpvaeError::Input("latent has no columns".into()));
    }
    if latent.iter().any(|v| !v.is_finite()) {
        return Err(DpvaeError::Input(
            "latent has non-finite values (NA/NaN/Inf)".into(),
        ));
    }
    let pts = padded_points(coords, "coordinates")?;
    let (pairs, sampled) = pairs_for(n, max_pairs, seed)?;
    let dists: Vec<(f64, f64)> = pairs
        .par_iter()
        .map(|&(i, j)| {
            let (a, b) = (latent.row(i as usize), latent.row(j as usize));
            let dz = a
                .iter()
                .zip(b.iter())
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f64>()
                .sqrt();
            let (p, q) = (&pts[i as usize], &pts[j as usize]);
            let ds = ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt();
            (dz, ds)
        })
        .collect();
    let (mut szs, mut szz, mut sss) = (0.0, 0.0, 0.0);
    for &(dz, ds) in &dists {
        szs += dz * ds;
        szz += dz * dz;
        sss += ds * ds;
    }
    let mut ratios: Vec<f64> = dists
        .iter()
        .filter(|p| p.0 > 0.0 && p.1 > 0.0)
        .map(|p| p.0 / p.1)
        .collect();
    if ratios.is_empty() {
        return Err(DpvaeError::Input(
            "no cell pair has both a positive latent and a positive spatial distance (all cells at one point?)".into(),
        ));
    }
    ratios.par_sort_unstable_by(|a, b| a.total_cmp(b));
    let (lower, upper) = (ratios[0], ratios[ratios.len() - 1]);
    let (q01, q99, median) = (
        quantile_sorted(&ratios, 0.01),
        quantile_sorted(&ratios, 0.99),
        quantile_sorted(&ratios, 0.5),
    );
    let scale = if sss > 0.0 { szs / sss } else { f64::NAN };
    let stress1 = if szz > 0.0 && sss > 0.0 {
        (1.0 - szs * szs / (szz * sss)).max(0.0).sqrt()
    } else {
        f64::NAN
    };
    Ok(Distortion {
        lower,
        upper,
        distortion: upper / lower,
        q01,
        q99,
        robust_distortion: q99 / q01,
        median,
        stress1,
        scale,
        n_pairs: dists.len(),
        n_ratio_pairs: ratios.len(),
        sampled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    #[test]
    fn similarity_transform_has_no_distortion() {
        let s = array![[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 1.0], [2.0, 2.0]];
        // rotate by 90°, scale 2.5, shift, embed in 3-D
        let z = Array2::from_shape_fn((5, 3), |(i, d)| match d {
            0 => -2.5 * s[[i, 1]] + 1.0,
            1 => 2.5 * s[[i, 0]] - 4.0,
            _ => 7.0,
        });
        let r = distortion(z.view(), s.view(), 1000, 0).unwrap();
        assert!((r.lower - 2.5).abs() < 1e-12 && (r.upper - 2.5).abs() < 1e-12);
        assert!((r.distortion - 1.0).abs() < 1e-12 && (r.median - 2.5).abs() < 1e-12);
        assert!(r.stress1 < 1e-7 && (r.scale - 2.5).abs() < 1e-12);
        assert_eq!(r.n_pairs, 10);
        assert!(!r.sampled);
    }

    #[test]
    fn hand_computed_line() {
        // s = 0,1,3 on a line; z = 0,2,3: ratios (0,1) 2/1, (0,2) 3/3, (1,2) 1/2
        let s = array![[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]];
        let z = array![[0.0], [2.0], [3.0]];
        let r = distortion(z.view(), s.view(), 10, 0).unwrap();
        assert_eq!(
            (r.lower, r.upper, r.distortion, r.median),
            (0.5, 2.0, 4.0, 1.0)
        );
        // q01 of (0.5, 1, 2): 0.5 + 0.02·0.5
        assert!((r.q01 - 0.51).abs() < 1e-14 && (r.q99 - 1.98).abs() < 1e-14);
        // Σ dz ds = 2 + 9 + 2 = 13, Σ dz² = 4 + 9 + 1 = 14, Σ ds² = 1 + 9 + 4 = 14
        assert!((r.stress1 - (1.0f64 - 169.0 / 196.0).sqrt()).abs() < 1e-14);
        assert!((r.scale - 13.0 / 14.0).abs() < 1e-14);
    }

    #[test]
    fn sampling_duplicates_and_errors() {
        let s = Array2::from_shape_fn((500, 2), |(i, d)| ((i * 7 + d * 13) % 97) as f64);
        let z = s.mapv(|v| v * 2.0);
        let r = distortion(z.view(), s.view(), 1000, 5).unwrap();
        assert!(r.sampled && r.n_pairs == 1000);
        assert_eq!(r, distortion(z.view(), s.view(), 1000, 5).unwrap());
        assert!(r.n_ratio_pairs <= 1000);
        assert!(distortion(z.view(), s.slice(ndarray::s![..10, ..]), 1000, 5).is_err());
        let same = Array2::<f64>::zeros((4, 2));
        assert!(distortion(same.view(), same.view(), 100, 0).is_err());
        let mut zn = z.clone();
        zn[[3, 0]] = f64::INFINITY;
        assert!(distortion(zn.view(), s.view(), 100, 0).is_err());
    }
}
