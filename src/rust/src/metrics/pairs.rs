//! The cell pairs a metric evaluates: all of them, or a seeded uniform sample when there are too many.
use crate::error::{DpvaeError, Result};
use crate::rng::SeededRng;

/// The pairs `(i, j)`, `i < j`, to evaluate among `n` points: all `n(n−1)/2` pairs when that
/// is at most `max_pairs`, else `max_pairs` pairs drawn uniformly (with replacement, `i ≠ j`)
/// with a [`SeededRng`] seeded by `seed`. Returns the pairs and whether they were sampled.
pub fn pairs_for(n: usize, max_pairs: usize, seed: u64) -> Result<(Vec<(u32, u32)>, bool)> {
    if n < 2 {
        return Err(DpvaeError::Input(format!("need at least 2 cells, got {n}")));
    }
    if n > u32::MAX as usize {
        return Err(DpvaeError::Input("too many cells (more than 2^32)".into()));
    }
    if max_pairs == 0 {
        return Err(DpvaeError::Input("max_pairs must be at least 1".into()));
    }
    let total = (n as u128) * (n as u128 - 1) / 2;
    if total <= max_pairs as u128 {
        let mut v = Vec::with_capacity(total as usize);
        for i in 0..n {
            for j in (i + 1)..n {
                v.push((i as u32, j as u32));
            }
        }
        Ok((v, false))
    } else {
        let mut rng = SeededRng::new(seed);
        let mut v = Vec::with_capacity(max_pairs);
        while v.len() < max_pairs {
            let a = rng.below(n);
            let b = rng.below(n);
            if a != b {
                v.push((a.min(b) as u32, a.max(b) as u32));
            }
        }
        Ok((v, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_deterministic_and_uniformish() {
        let mut a = SeededRng::new(7);
        let mut b = SeededRng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut counts = [0usize; 6];
        let mut r = SeededRng::stream(3, 11);
        for _ in 0..60000 {
            counts[r.below(6)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9000..11000).contains(&c)),
            "{counts:?}"
        );
        let (p, s) = pairs_for(5, 100, 0).unwrap();
        assert!(!s);
        assert_eq!(p.len(), 10);
        let (p2, s2) = pairs_for(1000, 50, 9).unwrap();
        assert!(s2 && p2.len() == 50 && p2 == pairs_for(1000, 50, 9).unwrap().0);
        assert!(p2.iter().all(|&(i, j)| i < j));
    }
}
