//! The dp-VAE network: one-hidden-layer MLP encoder and decoder plus a learned log-scale.
use tch::{nn, nn::Module, Tensor};

use super::config::{Config, Likelihood};

/// Bounds of the learned scale c, as in the reference implementation.
pub const SCALE_MIN: f64 = 1e-3;
pub const SCALE_MAX: f64 = 1e3;

/// Encoder q(z|x) = N(mu, diag(exp(logvar))) and a decoder for the chosen likelihood.
#[derive(Debug)]
pub struct Dpvae {
    enc: nn::Linear,
    enc_mu: nn::Linear,
    enc_logvar: nn::Linear,
    dec: nn::Linear,
    /// Gaussian: the mean; NB/ZINB: logits of each gene's share of the library.
    dec_out: nn::Linear,
    /// ZINB only: logits of the dropout probability.
    dec_dropout: Option<nn::Linear>,
    /// NB/ZINB only: per-gene log inverse dispersion.
    log_theta: Option<Tensor>,
    /// log c; c maps spatial distances onto latent distances.
    pub log_scale: Tensor,
    pub likelihood: Likelihood,
}

/// Decoder output, in the likelihood's parameters.
pub struct Decoded {
    /// Gaussian mean, or NB/ZINB log of each gene's share of the library (log-softmax).
    pub out: Tensor,
    pub dropout_logits: Option<Tensor>,
    pub log_theta: Option<Tensor>,
}

/// One forward pass, kept together for the loss.
pub struct Forward {
    pub decoded: Decoded,
    pub mu: Tensor,
    pub logvar: Tensor,
    /// The reparameterised sample fed to the decoder.
    pub z: Tensor,
}

impl Dpvae {
    /// Variable names are stable: they key the weights stored in a saved model.
    pub fn new(p: &nn::Path, cfg: &Config) -> Dpvae {
        let g = cfg.n_genes as i64;
        let h = cfg.hidden as i64;
        let l = cfg.latent_dim as i64;
        // PyTorch's nn.Linear initialisation (weights U(±1/sqrt(fan_in)), as the reference), not
        // tch's default Kaiming-ReLU bound sqrt(6/fan_in), which is sqrt(6) times wider: the wider
        // start gives a ~7x larger initial reconstruction error and a collapsed latent at the end of
        // the warm-up (small learned scale c), and generalises worse (bench/RESULTS-accuracy.md).
        let lc = nn::LinearConfig {
            ws_init: nn::Init::Kaiming {
                dist: nn::init::NormalOrUniform::Uniform,
                fan: nn::init::FanInOut::FanIn,
                non_linearity: nn::init::NonLinearity::ExplicitGain(1.0 / 3f64.sqrt()),
            },
            ..Default::default()
        };
        let counts = cfg.likelihood != Likelihood::Gaussian;
        Dpvae {
            enc: nn::linear(p / "enc", g, h, lc),
            enc_mu: nn::linear(p / "enc_mu", h, l, lc),
            enc_logvar: nn::linear(p / "enc_logvar", h, l, lc),
            dec: nn::linear(p / "dec", l, h, lc),
            dec_out: nn::linear(p / "dec_out", h, g, lc),
            dec_dropout: (cfg.likelihood == Likelihood::Zinb)
                .then(|| nn::linear(p / "dec_dropout", h, g, lc)),
            log_theta: counts.then(|| p.zeros("log_theta", &[g])),
            // A fixed scale is a constant, not a parameter the optimiser moves.
            log_scale: if cfg.scale.is_some() {
                p.zeros_no_train("log_scale", &[])
            } else {
                p.zeros("log_scale", &[])
            },
            likelihood: cfg.likelihood,
        }
    }

    pub fn encode(&self, x: &Tensor) -> (Tensor, Tensor) {
        let h = if x.kind() == tch::Kind::BFloat16 {
            // a training batch with bfloat16 products (precision.rs)
            let pre = super::precision::product(x, &self.enc.ws.tr());
            match &self.enc.bs {
                Some(b) => pre + b,
                None => pre,
            }
        } else {
            self.enc.forward(x)
        }
        .relu();
        // Bounded log-variance keeps exp() finite on odd input.
        (
            self.enc_mu.forward(&h),
            self.enc_logvar.forward(&h).clamp(-15.0, 15.0),
        )
    }

    /// The decoder's hidden layer.
    pub fn decode_hidden(&self, z: &Tensor) -> Tensor {
        self.dec.forward(z).relu()
    }

    /// Weight (genes × hidden) and bias of the decoder's output layer.
    pub fn output_layer(&self) -> (&Tensor, Option<&Tensor>) {
        (&self.dec_out.ws, self.dec_out.bs.as_ref())
    }

    pub fn decode(&self, z: &Tensor) -> Decoded {
        let h = self.decode_hidden(z);
        let raw = self.dec_out.forward(&h);
        let out = match self.likelihood {
            Likelihood::Gaussian => raw,
            Likelihood::Nb | Likelihood::Zinb => raw.log_softmax(-1, tch::Kind::Float),
        };
        Decoded {
            out,
            dropout_logits: self.dec_dropout.as_ref().map(|d| d.forward(&h)),
            log_theta: self.log_theta.as_ref().map(|t| t.clamp(-10.0, 10.0)),
        }
    }

    /// Encoder and reparameterised sample: (mu, logvar, z).
    pub fn encode_sample(&self, x: &Tensor) -> (Tensor, Tensor, Tensor) {
        let (mu, logvar) = self.encode(x);
        let z = &mu + Tensor::randn_like(&mu) * (&logvar * 0.5).exp();
        (mu, logvar, z)
    }

    /// Encoder, reparameterised sample, decoder.
    pub fn forward(&self, x: &Tensor) -> Forward {
        let (mu, logvar, z) = self.encode_sample(x);
        Forward {
            decoded: self.decode(&z),
            mu,
            logvar,
            z,
        }
    }

    /// The scale c = clamp(exp(log c)).
    pub fn scale(&self) -> Tensor {
        self.log_scale.exp().clamp(SCALE_MIN, SCALE_MAX)
    }
}
