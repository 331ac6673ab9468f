//! The Gaussian reconstruction term without the n × genes decoder output.
//!
//! With Y = H Wᵀ + 1 bᵀ (decoder hidden H: n × h, output layer W: G × h, bias b: G), the mean
//! squared error ‖Y − X‖² / (nG) and its gradients only need X W (n × h), Xᵀ H (G × h), the
//! h × h Gram matrices and X's column sums and squared norm:
//!   ‖Y − X‖² = ‖X‖² − 2(⟨X W, H⟩ + bᵀXᵀ1) + ⟨HᵀH, WᵀW⟩ + 2 (Wᵀb)ᵀ(Hᵀ1) + n‖b‖²
//!   ∂/∂H = 2(H WᵀW + 1 (Wᵀb)ᵀ − X W) / (nG),  ∂/∂W = 2(W HᵀH + b (Hᵀ1)ᵀ − Xᵀ H) / (nG),
//!   ∂/∂b = 2(W Hᵀ1 + n b − Xᵀ1) / (nG).
//! That is two n·G·h products instead of autograd's three plus every n × G element-wise pass
//! (residual, square, mean, their backward, the bias gradient) — the largest part of an epoch
//! on the paper's shapes. The gradients enter autograd through a surrogate whose gradient is
//! exact (as in `dpkernel`); the value is returned separately.
use tch::{Kind, Tensor};

use super::precision::product;

/// Per-batch constants of the target: squared norm and column sums of X.
pub struct TargetStats {
    pub sq_norm: f64,
    pub col_sums: Tensor,
}

impl TargetStats {
    pub fn of(x: &Tensor) -> TargetStats {
        tch::no_grad(|| TargetStats {
            sq_norm: x.square().sum(Kind::Double).double_value(&[]),
            col_sums: x.sum_dim_intlist(0, false, Kind::Float),
        })
    }
}

/// The reconstruction term's value and a surrogate tensor whose gradient with respect to `h`,
/// `w` and `b` is the gradient of the mean squared error.
pub struct FusedRecon {
    pub value: f64,
    pub surrogate: Tensor,
}

/// Mean squared error between X (n × G) and H Wᵀ + b, evaluated without forming H Wᵀ. `x` may be
/// the bfloat16 operand of `precision::operand` (its statistics come from the single-precision X).
pub fn mean_squared_error(
    x: &Tensor,
    stats: &TargetStats,
    h: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
) -> FusedRecon {
    let n = x.size()[0] as f64;
    let g = x.size()[1] as f64;
    let k = 2.0 / (n * g);
    let (value, dh, dw, db) = tch::no_grad(|| {
        let hd = h.detach();
        let wd = w.detach();
        let xw = product(x, &wd); // n × h
        let xth = product(&x.tr(), &hd); // G × h
        let hth = hd.tr().matmul(&hd);
        let wtw = wd.tr().matmul(&wd);
        let ht1 = hd.sum_dim_intlist(0, false, Kind::Float); // h
        let cross = (&xw * &hd).sum(Kind::Double).double_value(&[]);
        let gram = (&hth * &wtw).sum(Kind::Double).double_value(&[]);
        let mut dh = hd.matmul(&wtw) - &xw;
        let mut dw = wd.matmul(&hth) - xth;
        let (bias_cross, bias_sq, db) = match b {
            Some(b) => {
                let bd = b.detach();
                let wtb = wd.tr().mv(&bd); // h
                let bx = (&bd * &stats.col_sums).sum(Kind::Double).double_value(&[]);
                let bb = (&wtb * &ht1).sum(Kind::Double).double_value(&[]) * 2.0
                    + n * bd.square().sum(Kind::Double).double_value(&[]);
                dh += wtb.unsqueeze(0);
                dw += bd.unsqueeze(1).matmul(&ht1.unsqueeze(0));
                let db = wd.mv(&ht1) + &bd * n - &stats.col_sums;
                (bx, bb, Some(db * k))
            }
            None => (0.0, 0.0, None),
        };
        let sq = stats.sq_norm - 2.0 * (cross + bias_cross) + gram + bias_sq;
        // Rounding can take an exact fit a hair below zero.
        (sq.max(0.0) / (n * g), dh * k, dw * k, db)
    });
    let mut surrogate = (h * dh).sum(Kind::Float) + (w * dw).sum(Kind::Float);
    if let (Some(b), Some(db)) = (b, db) {
        surrogate += (b * db).sum(Kind::Float);
    }
    FusedRecon { value, surrogate }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn leaf(shape: &[i64]) -> Tensor {
        Tensor::randn(shape, (Kind::Float, Device::Cpu)).set_requires_grad(true)
    }

    #[test]
    fn matches_autograd_value_and_gradients() {
        tch::manual_seed(11);
        for with_bias in [true, false] {
            let (n, g, hd) = (37, 23, 5);
            let x = Tensor::randn([n, g], (Kind::Float, Device::Cpu));
            // H comes from an upstream parameter, so the gradient must flow through it.
            let a = leaf(&[n, hd]);
            let w = leaf(&[g, hd]);
            let b = leaf(&[g]);
            let h = a.relu();
            let y = if with_bias {
                h.matmul(&w.tr()) + &b
            } else {
                h.matmul(&w.tr())
            };
            let want = (&y - &x).square().mean(Kind::Float);
            let inputs: Vec<&Tensor> = if with_bias {
                vec![&a, &w, &b]
            } else {
                vec![&a, &w]
            };
            let grads = Tensor::run_backward(&[&want], &inputs, false, false);
            let h2 = a.relu();
            let got =
                mean_squared_error(&x, &TargetStats::of(&x), &h2, &w, with_bias.then_some(&b));
            let grads2 = Tensor::run_backward(&[&got.surrogate], &inputs, false, false);
            let wv = want.double_value(&[]);
            assert!((got.value - wv).abs() < 1e-5 * wv, "{} vs {wv}", got.value);
            for (g1, g2) in grads.iter().zip(&grads2) {
                let err = (g1 - g2).abs().max().double_value(&[]);
                let scale = g1.abs().max().double_value(&[]);
                assert!(
                    err < 1e-4 * scale,
                    "gradient differs by {err} (scale {scale})"
                );
            }
        }
    }
}
