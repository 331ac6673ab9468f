//! Loss terms as free functions on tensors, so each can be checked on hand-computed cases.
use tch::{Kind, Tensor};

use super::config::DpLoss;

/// KL(N(mu, exp(logvar)) ‖ N(0, I)) summed over latent dims, averaged over cells, divided by
/// the gene count (same normalisation as the reconstruction term).
pub fn kl_divergence(mu: &Tensor, logvar: &Tensor, n_genes: usize) -> Tensor {
    let per_cell =
        (logvar.exp() + mu.square() - 1.0 - logvar).sum_dim_intlist(-1, false, Kind::Float) * 0.5;
    per_cell.mean(Kind::Float) / (n_genes.max(1) as f64)
}

/// Condensed (i < j) pairwise Euclidean distances; gradient-safe at zero distance.
pub fn pairwise_distances(z: &Tensor) -> Tensor {
    z.pdist(2.0)
}

/// Mean over pairs of f(‖z_i − z_j‖ − c‖s_i − s_j‖), given the paired latent distances `dz`
/// and spatial distances `ds`.
pub fn distance_preserving(dz: &Tensor, ds: &Tensor, c: &Tensor, kind: DpLoss) -> Tensor {
    let diff = dz - c * ds;
    match kind {
        DpLoss::Squared => diff.square().mean(Kind::Float),
        DpLoss::Absolute => diff.abs().mean(Kind::Float),
    }
}

/// Monitor stress sqrt(Σ(d_z/c − d_s)² / Σ d_s²) of latent vs spatial distances (as `Monitor`).
pub fn monitor_stress(mu: &Tensor, ds: &Tensor, c: f64) -> f64 {
    let dz = pairwise_distances(mu) / c;
    let num = (dz - ds).square().sum(Kind::Double);
    let den = ds.square().sum(Kind::Double) + 1e-12;
    (num / den).sqrt().double_value(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f32], rows: i64, cols: i64) -> Tensor {
        Tensor::from_slice(v).reshape([rows, cols])
    }

    #[test]
    fn recon_is_mean_squared_error() {
        let x = t(&[1.0, 2.0, 3.0, 4.0], 2, 2);
        let xh = t(&[1.0, 0.0, 3.0, 1.0], 2, 2);
        // errors 0, 4, 0, 9 -> mean 13/4
        assert!((crate::vae::likelihood::gaussian(&xh, &x).double_value(&[]) - 3.25).abs() < 1e-6);
    }

    #[test]
    fn kl_matches_hand_computation() {
        // one cell, mu = (1, 0), logvar = (0, ln 2): 0.5*[(1+1-1-0) + (2+0-1-ln2)] = 0.5*(2 - ln 2)
        let mu = t(&[1.0, 0.0], 1, 2);
        let lv = t(&[0.0, 2f32.ln()], 1, 2);
        let want = 0.5 * (2.0 - 2f64.ln()) / 4.0;
        assert!((kl_divergence(&mu, &lv, 4).double_value(&[]) - want).abs() < 1e-6);
        // the prior itself has zero divergence
        assert!(
            kl_divergence(&t(&[0.0, 0.0], 1, 2), &t(&[0.0, 0.0], 1, 2), 1)
                .double_value(&[])
                .abs()
                < 1e-7
        );
    }

    #[test]
    fn dp_loss_matches_hand_computation() {
        // z: (0,0), (3,4), (0,1) -> distances 5, 1, sqrt(18)
        let z = t(&[0.0, 0.0, 3.0, 4.0, 0.0, 1.0], 3, 2);
        // s: (0,0), (1,0), (0,2) -> distances 1, 2, sqrt(5)
        let s = t(&[0.0, 0.0, 1.0, 0.0, 0.0, 2.0], 3, 2);
        let ds = pairwise_distances(&s);
        let c = Tensor::from(2.0f32);
        let d = [5.0 - 2.0, 1.0 - 4.0, 18f64.sqrt() - 2.0 * 5f64.sqrt()];
        let sq = d.iter().map(|v| v * v).sum::<f64>() / 3.0;
        let ab = d.iter().map(|v| v.abs()).sum::<f64>() / 3.0;
        assert!(
            (distance_preserving(&pairwise_distances(&z), &ds, &c, DpLoss::Squared)
                .double_value(&[])
                - sq)
                .abs()
                < 1e-5
        );
        assert!(
            (distance_preserving(&pairwise_distances(&z), &ds, &c, DpLoss::Absolute)
                .double_value(&[])
                - ab)
                .abs()
                < 1e-5
        );
    }

    #[test]
    fn dp_loss_is_zero_for_a_scaled_copy_and_stress_too() {
        let s = t(&[0.0, 0.0, 1.0, 0.0, 0.0, 2.0, 5.0, 5.0], 4, 2);
        let z = &s * 3.0;
        let ds = pairwise_distances(&s);
        let c = Tensor::from(3.0f32);
        assert!(
            distance_preserving(&pairwise_distances(&z), &ds, &c, DpLoss::Squared)
                .double_value(&[])
                < 1e-10
        );
        assert!(monitor_stress(&z, &ds, 3.0) < 1e-6);
        assert!((monitor_stress(&(&s * 0.0), &ds, 3.0) - 1.0).abs() < 1e-6);
    }
}
