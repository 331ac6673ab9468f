//! Reconstruction terms: the negative log-likelihood of the data under the decoder, summed over
//! genes, averaged over cells and divided by the gene count (so loss weights do not depend on it).
use tch::{Kind, Tensor};

use super::config::Likelihood;
use super::model::Decoded;

/// What the decoder reconstructs for a batch of cells.
pub struct Target {
    /// Standardised log-normalised expression (encoder input; Gaussian target).
    pub x: Tensor,
    /// Raw counts of the selected genes (NB/ZINB target).
    pub counts: Option<Tensor>,
    /// log library size per cell, n × 1 (NB/ZINB offset).
    pub log_lib: Option<Tensor>,
}

impl Target {
    /// The same tensors (no copy).
    pub fn shallow_clone(&self) -> Target {
        Target {
            x: self.x.shallow_clone(),
            counts: self.counts.as_ref().map(Tensor::shallow_clone),
            log_lib: self.log_lib.as_ref().map(Tensor::shallow_clone),
        }
    }

    /// Every part on `device` (no copy when it is there already).
    pub fn to_device(&self, device: tch::Device) -> Target {
        Target {
            x: self.x.to_device(device),
            counts: self.counts.as_ref().map(|c| c.to_device(device)),
            log_lib: self.log_lib.as_ref().map(|l| l.to_device(device)),
        }
    }

    /// The rows `idx` of every part.
    pub fn rows(&self, idx: &Tensor) -> Target {
        Target {
            x: super::fit_rows::expression_rows(&self.x, idx),
            counts: self.counts.as_ref().map(|c| c.index_select(0, idx)),
            log_lib: self.log_lib.as_ref().map(|l| l.index_select(0, idx)),
        }
    }
}

/// Negative binomial log-density with mean exp(log_mu) and inverse dispersion exp(log_theta).
pub fn nb_log_prob(x: &Tensor, log_mu: &Tensor, log_theta: &Tensor) -> Tensor {
    let theta = log_theta.exp();
    let log_theta_mu = Tensor::stack(&[log_theta.expand_as(log_mu), log_mu.shallow_clone()], 0)
        .logsumexp([0], false);
    (x + &theta).lgamma() - theta.lgamma() - (x + 1.0).lgamma()
        + &theta * (log_theta - &log_theta_mu)
        + x * (log_mu - &log_theta_mu)
}

/// Zero-inflated NB log-density; `logits` are the log-odds of a structural zero.
pub fn zinb_log_prob(x: &Tensor, log_mu: &Tensor, log_theta: &Tensor, logits: &Tensor) -> Tensor {
    let nb = nb_log_prob(x, log_mu, log_theta);
    let log_pi = -(-logits).softplus(); // log sigmoid(logits)
    let log_1m_pi = -logits.softplus(); // log sigmoid(-logits)
    let theta = log_theta.exp();
    let log_theta_mu = Tensor::stack(&[log_theta.expand_as(log_mu), log_mu.shallow_clone()], 0)
        .logsumexp([0], false);
    let log_nb_zero = &theta * (log_theta - log_theta_mu);
    let zero = Tensor::stack(&[log_pi, &log_1m_pi + log_nb_zero], 0).logsumexp([0], false);
    let nonzero = log_1m_pi + nb;
    zero.where_self(&x.eq(0.0), &nonzero)
}

/// The reconstruction term for `likelihood`.
pub fn reconstruction(dec: &Decoded, target: &Target, likelihood: Likelihood) -> Tensor {
    let n_genes = dec.out.size().last().copied().unwrap_or(1).max(1) as f64;
    match (likelihood, &target.counts, &target.log_lib, &dec.log_theta) {
        (Likelihood::Nb, Some(c), Some(l), Some(t)) => {
            -nb_log_prob(c, &(&dec.out + l), t)
                .sum_dim_intlist(-1, false, Kind::Float)
                .mean(Kind::Float)
                / n_genes
        }
        (Likelihood::Zinb, Some(c), Some(l), Some(t)) => match &dec.dropout_logits {
            Some(pi) => {
                -zinb_log_prob(c, &(&dec.out + l), t, pi)
                    .sum_dim_intlist(-1, false, Kind::Float)
                    .mean(Kind::Float)
                    / n_genes
            }
            None => gaussian(&dec.out, &target.x),
        },
        _ => gaussian(&dec.out, &target.x),
    }
}

/// Unit-variance Gaussian without constants: mean squared error.
pub fn gaussian(x_hat: &Tensor, x: &Tensor) -> Tensor {
    (x_hat - x).square().mean(Kind::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lgamma(v: f64) -> f64 {
        Tensor::from(v).lgamma().double_value(&[])
    }

    fn nb_ref(x: f64, mu: f64, theta: f64) -> f64 {
        lgamma(x + theta) - lgamma(theta) - lgamma(x + 1.0)
            + theta * (theta / (theta + mu)).ln()
            + x * (mu / (theta + mu)).ln()
    }

    #[test]
    fn nb_matches_the_closed_form_and_sums_to_one() {
        let (mu, theta) = (3.5f64, 2.0f64);
        for x in [0.0, 1.0, 4.0, 17.0] {
            let got = nb_log_prob(
                &Tensor::from_slice(&[x as f32]),
                &Tensor::from_slice(&[mu.ln() as f32]),
                &Tensor::from_slice(&[theta.ln() as f32]),
            )
            .double_value(&[0]);
            assert!(
                (got - nb_ref(x, mu, theta)).abs() < 1e-4,
                "x={x}: {got} vs {}",
                nb_ref(x, mu, theta)
            );
        }
        let xs: Vec<f32> = (0..200).map(|v| v as f32).collect();
        let n = xs.len() as i64;
        let total = nb_log_prob(
            &Tensor::from_slice(&xs),
            &Tensor::full([n], mu.ln(), (Kind::Float, tch::Device::Cpu)),
            &Tensor::full([n], theta.ln(), (Kind::Float, tch::Device::Cpu)),
        )
        .exp()
        .sum(Kind::Double)
        .double_value(&[]);
        assert!((total - 1.0).abs() < 1e-4, "{total}");
    }

    #[test]
    fn zinb_adds_mass_at_zero() {
        let (mu, theta, pi) = (3.5f64, 2.0f64, 0.3f64);
        let logit = (pi / (1.0 - pi)).ln() as f32;
        let lp = |x: f32| {
            zinb_log_prob(
                &Tensor::from_slice(&[x]),
                &Tensor::from_slice(&[mu.ln() as f32]),
                &Tensor::from_slice(&[theta.ln() as f32]),
                &Tensor::from_slice(&[logit]),
            )
            .double_value(&[0])
        };
        let want0 = (pi + (1.0 - pi) * nb_ref(0.0, mu, theta).exp()).ln();
        let want3 = (1.0 - pi).ln() + nb_ref(3.0, mu, theta);
        assert!((lp(0.0) - want0).abs() < 1e-4);
        assert!((lp(3.0) - want3).abs() < 1e-4);
    }
}
