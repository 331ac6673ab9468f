//! The training cells read through their row numbers in the whole input: holding validation cells out
//! copies no expression (at a million cells x 500 genes a copy of the training rows is ~1.8 GB).
use tch::{Device, Kind, Tensor};

use super::likelihood::Target;

pub struct FitRows<'a> {
    all: &'a Target,
    /// Input row of each training row; `None` when every cell trains.
    map: Option<Tensor>,
}

impl<'a> FitRows<'a> {
    /// `rows`: the training cells' rows of `all` (sorted).
    pub fn new(all: &'a Target, rows: &[usize], device: Device) -> Self {
        let n_all = all.x.size()[0] as usize;
        let map = (rows.len() != n_all).then(|| {
            let r: Vec<i64> = rows.iter().map(|&v| v as i64).collect();
            Tensor::from_slice(&r).to_device(device)
        });
        FitRows { all, map }
    }

    /// Every row of `all` trains.
    pub fn every(all: &'a Target) -> Self {
        FitRows { all, map: None }
    }

    /// Input rows of the training rows `idx`.
    pub fn input_rows(&self, idx: &Tensor) -> Tensor {
        match &self.map {
            Some(map) => map.index_select(0, idx),
            None => idx.shallow_clone(),
        }
    }

    /// The target of training rows `idx` (a copy of those rows only).
    pub fn rows(&self, idx: &Tensor) -> Target {
        self.all.rows(&self.input_rows(idx))
    }

    /// Expression of training rows `idx`.
    pub fn x_rows(&self, idx: &Tensor) -> Tensor {
        expression_rows(&self.all.x, &self.input_rows(idx))
    }

    /// Every training row at once (one full batch).
    pub fn whole(&self) -> Target {
        match &self.map {
            Some(map) => self.all.rows(map),
            None => {
                let mut every = self.all.shallow_clone();
                every.x = every.x.to_kind(Kind::Float);
                every
            }
        }
    }
}

/// Rows `idx` of the stored expression in single precision: above a memory budget it is held in half
/// precision and widened one batch at a time (no copy when it is f32 already).
pub fn expression_rows(x: &Tensor, idx: &Tensor) -> Tensor {
    x.index_select(0, idx).to_kind(Kind::Float)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn training_rows_read_through_the_map_equal_a_copy() {
        let x = Tensor::arange(12, (Kind::Float, Device::Cpu)).reshape([6, 2]);
        let all = Target {
            x: x.shallow_clone(),
            counts: None,
            log_lib: None,
        };
        let kept = [0usize, 2, 3, 5];
        let fit = FitRows::new(&all, &kept, Device::Cpu);
        let copy = x.index_select(0, &Tensor::from_slice(&[0i64, 2, 3, 5]));
        let idx = Tensor::from_slice(&[3i64, 1]);
        assert!(fit.x_rows(&idx).equal(&copy.index_select(0, &idx)));
        assert!(fit.whole().x.equal(&copy));
        let every = FitRows::new(&all, &[0, 1, 2, 3, 4, 5], Device::Cpu);
        assert!(every.rows(&idx).x.equal(&x.index_select(0, &idx)));
        assert!(FitRows::every(&all).whole().x.equal(&x));
    }
}
