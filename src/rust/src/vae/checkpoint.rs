//! Weights to bytes and back, so a fitted model lives inside an R object.
use std::io::Cursor;

use tch::{nn, Device};

use super::config::Config;
use super::model::Dpvae;
use crate::error::{DpvaeError, Result};

/// Marks our byte blobs, so a foreign or truncated raw vector is refused before libtorch sees it.
const MAGIC: &[u8; 8] = b"DPVAEW01";

pub fn save(vs: &nn::VarStore) -> Result<Vec<u8>> {
    let mut buf = MAGIC.to_vec();
    vs.save_to_stream(&mut buf)?;
    Ok(buf)
}

/// Rebuild the network for `cfg` and load `bytes` into it.
pub fn load(cfg: &Config, bytes: &[u8], device: Device) -> Result<(nn::VarStore, Dpvae)> {
    let payload = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| DpvaeError::Model("the stored weights are not a dpvae model (bad header)".into()))?;
    let mut vs = nn::VarStore::new(device);
    let model = Dpvae::new(&vs.root(), cfg);
    vs.load_from_stream(Cursor::new(payload)).map_err(|e| {
        DpvaeError::Model(format!("the stored weights are corrupt or do not match the model settings: {e}"))
    })?;
    Ok((vs, model))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Tensor;

    #[test]
    fn round_trip_gives_identical_encodings() {
        let cfg = Config { n_genes: 5, hidden: 4, ..Config::default() };
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = Dpvae::new(&vs.root(), &cfg);
        let bytes = save(&vs).unwrap();
        let (_vs2, m2) = load(&cfg, &bytes, Device::Cpu).unwrap();
        let x = Tensor::randn([3, 5], (tch::Kind::Float, Device::Cpu));
        let a = m.encode(&x).0;
        let b = m2.encode(&x).0;
        assert_eq!(Vec::<f32>::try_from(a.flatten(0, -1)).unwrap(), Vec::<f32>::try_from(b.flatten(0, -1)).unwrap());
    }

    #[test]
    fn corrupt_or_foreign_bytes_are_refused() {
        let cfg = Config { n_genes: 5, hidden: 4, ..Config::default() };
        assert!(matches!(load(&cfg, b"hello", Device::Cpu), Err(DpvaeError::Model(_))));
        let mut junk = MAGIC.to_vec();
        junk.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert!(matches!(load(&cfg, &junk, Device::Cpu), Err(DpvaeError::Model(_))));
        // weights of another architecture
        let vs = nn::VarStore::new(Device::Cpu);
        let _ = Dpvae::new(&vs.root(), &Config { n_genes: 6, hidden: 4, ..Config::default() });
        let other = save(&vs).unwrap();
        assert!(matches!(load(&cfg, &other, Device::Cpu), Err(DpvaeError::Model(_))));
    }
}
