//! Settings of a dp-VAE fit. Serialised with the model so a stored fit can be rebuilt.
use serde::{Deserialize, Serialize};

use crate::error::{DpvaeError, Result};

/// Form of the distance-preserving penalty on each pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DpLoss {
    /// (‖z_i − z_j‖ − c‖s_i − s_j‖)², the paper's form.
    Squared,
    /// |‖z_i − z_j‖ − c‖s_i − s_j‖|, the public reproduction's form.
    Absolute,
}

/// Which latent value enters the distance-preserving term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DpLatent {
    /// The encoder mean.
    Mean,
    /// The reparameterised sample z (the public reproduction's choice): the posterior noise
    /// must stay small against the spatial distances, which regularises the encoder.
    Sample,
}

/// Observation model of the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Likelihood {
    /// Unit-variance Gaussian on log-normalised, standardised expression (the paper's experiments).
    Gaussian,
    /// Negative binomial on raw counts with library-size offset and per-gene dispersion.
    Nb,
    /// Zero-inflated negative binomial (the paper's dp-scVI variant).
    Zinb,
}

/// Everything that defines the architecture and the training run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub n_genes: usize,
    pub hidden: usize,
    pub latent_dim: usize,
    /// Weight of the reconstruction term.
    pub alpha: f64,
    /// Weight of the KL term.
    pub beta: f64,
    /// Weight of the distance-preserving term (0 = plain VAE).
    pub lambda: f64,
    pub dp_loss: DpLoss,
    pub dp_latent: DpLatent,
    pub likelihood: Likelihood,
    pub epochs: usize,
    /// Cells per minibatch; 0 = full batch.
    pub batch_size: usize,
    /// Fraction of the training cells held out to choose the best epoch (0 = use the training stress).
    pub validation: f64,
    /// At most this many cells enter the per-epoch stress (a fixed random subset).
    pub monitor_cells: usize,
    pub lr: f64,
    /// Epochs trained without the dp term before the scale is initialised.
    pub warmup: usize,
    /// Epochs without improvement of the training stress before stopping (0 = never).
    pub patience: usize,
    pub seed: u64,
    /// libtorch intra-op threads (0 = leave libtorch's default).
    pub num_threads: usize,
    /// Gradient-norm clip (0 = off).
    pub grad_clip: f64,
    /// Fixed scale c; learned when `None`.
    pub scale: Option<f64>,
    /// Call the progress callback every this many epochs.
    pub report_every: usize,
    /// The expression is held in half precision (R chooses it above a memory budget): training and
    /// prediction then see the same rounded values.
    pub half_input: bool,
    /// The products of a training batch's expression with the encoder's first layer and the
    /// decoder's output layer run in bfloat16 on the CPU (R chooses it for minibatch fits on CPUs
    /// with native bfloat16; `precision.rs`). Coordinates are still encoded in double precision.
    pub bf16_products: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            n_genes: 0,
            hidden: 124,
            latent_dim: 2,
            alpha: 1.0,
            beta: 1.0,
            lambda: 10.0,
            dp_loss: DpLoss::Squared,
            dp_latent: DpLatent::Mean,
            likelihood: Likelihood::Gaussian,
            epochs: 1000,
            batch_size: 0,
            validation: 0.0,
            monitor_cells: 2000,
            lr: 5e-3,
            warmup: 50,
            patience: 100,
            seed: 1,
            num_threads: 0,
            grad_clip: 10.0,
            scale: None,
            report_every: 10,
            half_input: false,
            bf16_products: false,
        }
    }
}

impl Config {
    /// Parse from JSON (as built by the R glue) and check every value.
    pub fn from_json(s: &str) -> Result<Config> {
        let cfg: Config = serde_json::from_str(s)
            .map_err(|e| DpvaeError::Input(format!("invalid model settings: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Element type the expression is held in.
    pub fn input_kind(&self) -> tch::Kind {
        if self.half_input {
            tch::Kind::Half
        } else {
            tch::Kind::Float
        }
    }

    pub fn to_json(&self) -> String {
        // Serialising a plain struct of numbers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(DpvaeError::Input(m));
        if self.n_genes == 0 {
            return bad("the model needs at least one gene".into());
        }
        if self.hidden == 0 {
            return bad("`hidden` must be a positive integer".into());
        }
        if !(1..=64).contains(&self.latent_dim) {
            return bad(format!(
                "`latent_dim` must be between 1 and 64, not {}",
                self.latent_dim
            ));
        }
        for (name, v) in [
            ("alpha", self.alpha),
            ("beta", self.beta),
            ("lambda", self.lambda),
        ] {
            if !v.is_finite() || v < 0.0 {
                return bad(format!("`{name}` must be a finite number >= 0, not {v}"));
            }
        }
        if !self.lr.is_finite() || self.lr <= 0.0 {
            return bad(format!("`lr` must be a finite number > 0, not {}", self.lr));
        }
        if !(0.0..0.9).contains(&self.validation) {
            return bad(format!(
                "`validation` must be in [0, 0.9), not {}",
                self.validation
            ));
        }
        if self.monitor_cells < 3 {
            return bad("`monitor_cells` must be at least 3".into());
        }
        if !self.grad_clip.is_finite() || self.grad_clip < 0.0 {
            return bad("`grad_clip` must be >= 0".into());
        }
        if let Some(c) = self.scale {
            if !c.is_finite() || c <= 0.0 {
                return bad(format!(
                    "a fixed `scale` must be a finite number > 0, not {c}"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_values() {
        let cfg = Config {
            n_genes: 7,
            lambda: 3.5,
            dp_loss: DpLoss::Absolute,
            ..Config::default()
        };
        let back = Config::from_json(&cfg.to_json()).unwrap();
        assert_eq!(back.n_genes, 7);
        assert_eq!(back.lambda, 3.5);
        assert_eq!(back.dp_loss, DpLoss::Absolute);
    }

    #[test]
    fn missing_fields_take_defaults_and_bad_values_are_rejected() {
        let cfg = Config::from_json(r#"{"n_genes": 3}"#).unwrap();
        assert_eq!(cfg.hidden, 124);
        assert!(matches!(
            Config::from_json(r#"{"n_genes": 3, "lr": -1}"#),
            Err(DpvaeError::Input(_))
        ));
        assert!(matches!(
            Config::from_json(r#"{"n_genes": 0}"#),
            Err(DpvaeError::Input(_))
        ));
        assert!(matches!(
            Config::from_json("not json"),
            Err(DpvaeError::Input(_))
        ));
    }
}
