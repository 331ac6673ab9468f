//! A stored model loaded once for encoding: the weights in double precision and the frame parsed,
//! then used for every block of cells of a call (`predict()` encodes in blocks).
use ndarray::{s, Array2, ArrayView2};
use tch::{nn, Device, Kind, Tensor};

use super::checkpoint;
use super::config::Config;
use super::fit::{to_array, to_tensor, Prediction, ROW_CHUNK};
use super::frame::Frame;
use super::model::Dpvae;
use super::train;
use crate::error::{check_finite, DpvaeError, Result};

pub struct Encoder {
    cfg: Config,
    frame: Frame,
    device: Device,
    // the variables behind `model`'s tensors
    _vs: nn::VarStore,
    model: Dpvae,
    scale: f64,
}

impl Encoder {
    /// Checks the weights' checksum and shapes against `cfg`. Building the network draws initial
    /// weights from libtorch's global generator: call it under `train::exclusive` (fit does).
    pub fn load(cfg: Config, weights: &[u8], frame: Frame, device: Device) -> Result<Self> {
        let (mut vs, model) = checkpoint::load(&cfg, weights, device)?;
        vs.double();
        let scale = model.scale().double_value(&[]);
        Ok(Encoder {
            cfg,
            frame,
            device,
            _vs: vs,
            model,
            scale,
        })
    }

    /// The learned scale c.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Encoder means and log-variances in double precision: a cell's result then does not depend on
    /// which other cells share the batch (f32 GEMMs sum in a batch-size-dependent order), so
    /// predict() on any subset reproduces the fitted coordinates. `x32` is the f32 (or f16) input, widened,
    /// so that fit and predict see the same values.
    pub fn encode(&self, x32: &Tensor) -> (Tensor, Tensor) {
        let (mus, logvars): (Vec<Tensor>, Vec<Tensor>) = self.chunks(x32).unzip();
        (Tensor::cat(&mus, 0), Tensor::cat(&logvars, 0))
    }

    /// The means alone, written chunk by chunk into one array: no all-cells copy of the
    /// log-variances, and no all-cells tensor beside the array (at a million cells each is 64 MB).
    pub fn encode_mean(&self, x32: &Tensor) -> Result<Array2<f64>> {
        let n = x32.size()[0] as usize;
        let mut out = Array2::<f64>::zeros((n, self.cfg.latent_dim));
        let mut start = 0;
        for (mu, _) in self.chunks(x32) {
            let part = to_array(&mu)?;
            let len = part.nrows();
            out.slice_mut(s![start..start + len, ..]).assign(&part);
            start += len;
        }
        Ok(out)
    }

    /// `(mu, logvar)` of `ROW_CHUNK` cells at a time: an f64 copy of every cell's expression would
    /// double the input's memory.
    fn chunks<'s>(&'s self, x32: &'s Tensor) -> impl Iterator<Item = (Tensor, Tensor)> + 's {
        let n = x32.size()[0];
        let starts: Vec<i64> = if n == 0 {
            vec![0]
        } else {
            (0..n).step_by(ROW_CHUNK).collect()
        };
        starts.into_iter().map(move |start| {
            let len = (ROW_CHUNK as i64).min(n - start);
            let chunk = x32
                .narrow(0, start, len)
                .to_device(self.device)
                .to_kind(Kind::Double);
            tch::no_grad(|| self.model.encode(&chunk))
        })
    }

    /// Encode cells (cells x genes) and place them in the reference frame; with `n_samples > 0`,
    /// also draw that many latent samples per cell and report their spread.
    pub fn predict(
        &self,
        x: ArrayView2<f64>,
        n_samples: usize,
        seed: u64,
        num_threads: usize,
    ) -> Result<Prediction> {
        if x.ncols() != self.cfg.n_genes {
            return Err(DpvaeError::Input(format!(
                "the model was trained on {} genes but the new data have {}",
                self.cfg.n_genes,
                x.ncols()
            )));
        }
        check_finite(x.view(), "the expression matrix")?;
        let _exclusive = train::exclusive(num_threads);
        let (mu, logvar) = self.encode(&to_tensor(x).to_kind(self.cfg.input_kind()));
        let latent = to_array(&mu)?;
        let coords = self.place(latent.view())?;
        let uncertainty = if n_samples > 0 {
            Some(self.sample_spread(&mu, &logvar, coords.view(), n_samples, seed)?)
        } else {
            None
        };
        Ok(Prediction {
            latent,
            coords,
            uncertainty,
        })
    }

    fn place(&self, latent: ArrayView2<f64>) -> Result<ndarray::Array2<f64>> {
        self.frame
            .to_reference(self.frame.latent_to_std(latent, self.scale)?.view())
    }

    /// Root mean squared distance of `n_samples` sampled positions per cell to `coords`.
    fn sample_spread(
        &self,
        mu: &Tensor,
        logvar: &Tensor,
        coords: ArrayView2<f64>,
        n_samples: usize,
        seed: u64,
    ) -> Result<Vec<f64>> {
        tch::manual_seed(seed as i64);
        let sd = (logvar * 0.5).exp();
        let mut sq = vec![0.0; coords.nrows()];
        for _ in 0..n_samples {
            let z = tch::no_grad(|| mu + Tensor::randn_like(mu) * &sd);
            let pos = self.place(to_array(&z)?.view())?;
            for (acc, (a, b)) in sq.iter_mut().zip(pos.outer_iter().zip(coords.outer_iter())) {
                *acc += (&a - &b).iter().map(|v| v * v).sum::<f64>();
            }
        }
        Ok(sq
            .into_iter()
            .map(|v| (v / n_samples as f64).sqrt())
            .collect())
    }
}
