//! Weights to bytes and back, so a fitted model lives inside an R object.
use std::collections::HashMap;
use std::io::Cursor;

use tch::{nn, Device, Tensor};

use super::config::Config;
use super::model::Dpvae;
use crate::error::{DpvaeError, Result};

/// Marks our byte blobs, so a foreign or truncated raw vector is refused before libtorch sees it. Version 2
/// follows it with a CRC-32 of the payload: altered weights (a few changed bytes predicted positions off by
/// 1e37) are refused instead of used.
const MAGIC: &[u8; 8] = b"DPVAEW02";
/// Blobs written before the checksum (dpvae 0.1.0 of sessions 1-3): read without one.
const MAGIC_V1: &[u8; 8] = b"DPVAEW01";

/// Variables sorted by name: VarStore keeps them in a HashMap, whose order (and so the bytes
/// of a plain `save_to_stream`) changes from run to run.
pub fn save(vs: &nn::VarStore) -> Result<Vec<u8>> {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let mut payload = Vec::new();
    Tensor::save_multi_to_stream(&vars, &mut payload)?;
    let mut buf = MAGIC.to_vec();
    buf.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    buf.extend_from_slice(&payload);
    Ok(buf)
}

/// The serialised tensors of a blob, after its header and checksum are verified.
fn verified_payload(bytes: &[u8]) -> Result<&[u8]> {
    if let Some(rest) = bytes.strip_prefix(MAGIC.as_slice()) {
        if rest.len() < 4 {
            return Err(DpvaeError::Model("the stored weights are truncated".into()));
        }
        let (sum, payload) = rest.split_at(4);
        if crc32fast::hash(payload).to_le_bytes() != sum {
            return Err(DpvaeError::Model(
                "the stored weights were altered or damaged (checksum mismatch); refit the model or read it again from the file saveRDS() wrote".into(),
            ));
        }
        return Ok(payload);
    }
    bytes.strip_prefix(MAGIC_V1.as_slice()).ok_or_else(|| {
        DpvaeError::Model("the stored weights are not a dpvae model (bad header)".into())
    })
}

/// Rebuild the network for `cfg` and load `bytes` into it.
pub fn load(cfg: &Config, bytes: &[u8], device: Device) -> Result<(nn::VarStore, Dpvae)> {
    let vs = nn::VarStore::new(device);
    let model = Dpvae::new(&vs.root(), cfg);
    load_into(&vs, bytes, device)?;
    Ok((vs, model))
}

/// Copy stored weights into the variables of `vs` (same names, shapes and kinds).
pub fn load_into(vs: &nn::VarStore, bytes: &[u8], device: Device) -> Result<()> {
    let payload = verified_payload(bytes)?;
    let stored = Tensor::load_multi_from_stream_with_device(Cursor::new(payload), device)
        .map_err(|e| DpvaeError::Model(format!("the stored weights are corrupt: {e}")))?;
    let stored: HashMap<String, Tensor> = stored.into_iter().collect();
    let vars = vs.variables();
    if stored.len() != vars.len() {
        return Err(mismatch(format!(
            "{} stored tensors for {} parameters",
            stored.len(),
            vars.len()
        )));
    }
    tch::no_grad(|| -> Result<()> {
        for (name, mut var) in vars {
            let src = stored
                .get(&name)
                .ok_or_else(|| mismatch(format!("parameter {name} is missing")))?;
            if src.size() != var.size() || src.kind() != var.kind() {
                return Err(mismatch(format!(
                    "parameter {name} has shape {:?}, expected {:?}",
                    src.size(),
                    var.size()
                )));
            }
            var.copy_(src);
        }
        Ok(())
    })
}

fn mismatch(what: String) -> DpvaeError {
    DpvaeError::Model(format!(
        "the stored weights do not match the model settings: {what}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_gives_identical_encodings() {
        let cfg = Config {
            n_genes: 5,
            hidden: 4,
            ..Config::default()
        };
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = Dpvae::new(&vs.root(), &cfg);
        let bytes = save(&vs).unwrap();
        assert_eq!(
            bytes,
            save(&vs).unwrap(),
            "saving twice gives the same bytes"
        );
        let (_vs2, m2) = load(&cfg, &bytes, Device::Cpu).unwrap();
        let x = Tensor::randn([3, 5], (tch::Kind::Float, Device::Cpu));
        let a = m.encode(&x).0;
        let b = m2.encode(&x).0;
        assert_eq!(
            Vec::<f32>::try_from(a.flatten(0, -1)).unwrap(),
            Vec::<f32>::try_from(b.flatten(0, -1)).unwrap()
        );
    }

    #[test]
    fn altered_bytes_fail_the_checksum() {
        let cfg = Config {
            n_genes: 5,
            hidden: 4,
            ..Config::default()
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let _ = Dpvae::new(&vs.root(), &cfg);
        let mut bytes = save(&vs).unwrap();
        assert!(load(&cfg, &bytes, Device::Cpu).is_ok());
        let at = bytes.len() - 40;
        bytes[at] ^= 0x10;
        bytes[at + 1] ^= 0x01;
        let err = load(&cfg, &bytes, Device::Cpu).err().unwrap();
        assert!(err.to_string().contains("checksum"), "{err}");
    }

    #[test]
    fn corrupt_or_foreign_bytes_are_refused() {
        let cfg = Config {
            n_genes: 5,
            hidden: 4,
            ..Config::default()
        };
        assert!(matches!(
            load(&cfg, b"hello", Device::Cpu),
            Err(DpvaeError::Model(_))
        ));
        let mut junk = MAGIC.to_vec();
        junk.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert!(matches!(
            load(&cfg, &junk, Device::Cpu),
            Err(DpvaeError::Model(_))
        ));
        // weights of another architecture
        let vs = nn::VarStore::new(Device::Cpu);
        let _ = Dpvae::new(
            &vs.root(),
            &Config {
                n_genes: 6,
                hidden: 4,
                ..Config::default()
            },
        );
        let other = save(&vs).unwrap();
        assert!(matches!(
            load(&cfg, &other, Device::Cpu),
            Err(DpvaeError::Model(_))
        ));
    }
}
