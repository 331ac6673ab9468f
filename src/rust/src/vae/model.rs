//! The dp-VAE network: one-hidden-layer MLP encoder and decoder plus a learned log-scale.
use tch::{nn, nn::Module, Tensor};

use super::config::Config;

/// Bounds of the learned scale c, as in the reference implementation.
pub const SCALE_MIN: f64 = 1e-3;
pub const SCALE_MAX: f64 = 1e3;

/// Encoder q(z|x) = N(mu, diag(exp(logvar))) and decoder mean p(x|z).
#[derive(Debug)]
pub struct Dpvae {
    enc: nn::Linear,
    enc_mu: nn::Linear,
    enc_logvar: nn::Linear,
    dec: nn::Linear,
    dec_out: nn::Linear,
    /// log c; c maps spatial distances onto latent distances.
    pub log_scale: Tensor,
}

/// One forward pass, kept together for the loss.
pub struct Forward {
    pub x_hat: Tensor,
    pub mu: Tensor,
    pub logvar: Tensor,
}

impl Dpvae {
    /// Variable names are stable: they key the weights stored in a saved model.
    pub fn new(p: &nn::Path, cfg: &Config) -> Dpvae {
        let g = cfg.n_genes as i64;
        let h = cfg.hidden as i64;
        let l = cfg.latent_dim as i64;
        let lc = Default::default();
        Dpvae {
            enc: nn::linear(p / "enc", g, h, lc),
            enc_mu: nn::linear(p / "enc_mu", h, l, lc),
            enc_logvar: nn::linear(p / "enc_logvar", h, l, lc),
            dec: nn::linear(p / "dec", l, h, lc),
            dec_out: nn::linear(p / "dec_out", h, g, lc),
            // A fixed scale is a constant, not a parameter the optimiser moves.
            log_scale: if cfg.scale.is_some() {
                p.zeros_no_train("log_scale", &[])
            } else {
                p.zeros("log_scale", &[])
            },
        }
    }

    pub fn encode(&self, x: &Tensor) -> (Tensor, Tensor) {
        let h = self.enc.forward(x).relu();
        // Bounded log-variance keeps exp() finite on odd input.
        (
            self.enc_mu.forward(&h),
            self.enc_logvar.forward(&h).clamp(-15.0, 15.0),
        )
    }

    pub fn decode(&self, z: &Tensor) -> Tensor {
        self.dec_out.forward(&self.dec.forward(z).relu())
    }

    /// Encoder, reparameterised sample, decoder.
    pub fn forward(&self, x: &Tensor) -> Forward {
        let (mu, logvar) = self.encode(x);
        let z = &mu + Tensor::randn_like(&mu) * (&logvar * 0.5).exp();
        Forward {
            x_hat: self.decode(&z),
            mu,
            logvar,
        }
    }

    /// The scale c = clamp(exp(log c)).
    pub fn scale(&self) -> Tensor {
        self.log_scale.exp().clamp(SCALE_MIN, SCALE_MAX)
    }
}
