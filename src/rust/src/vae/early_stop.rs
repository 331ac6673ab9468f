//! Early stopping: the best state by the monitor stress, the epochs since it improved, and the
//! snapshots that let training end on the best state rather than the last.
use std::collections::HashMap;

use tch::{nn, Tensor};

/// An improvement must beat the best stress by this much (noise in the last digits is not one).
const MIN_IMPROVEMENT: f64 = 1e-5;

/// A copy of every variable of `vs`.
pub type Snapshot = HashMap<String, Tensor>;

pub fn snapshot(vs: &nn::VarStore) -> Snapshot {
    vs.variables()
        .into_iter()
        .map(|(k, v)| (k, v.detach().copy()))
        .collect()
}

pub fn restore(vs: &nn::VarStore, state: &Snapshot) {
    tch::no_grad(|| {
        for (k, mut v) in vs.variables() {
            if let Some(src) = state.get(&k) {
                v.copy_(src);
            }
        }
    });
}

/// The best epoch so far and its state.
pub struct EarlyStopping {
    best: f64,
    pub best_epoch: usize,
    /// Epochs since the last improvement.
    since_best: usize,
    state: Option<Snapshot>,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        Self::new()
    }
}

impl EarlyStopping {
    pub fn new() -> Self {
        EarlyStopping {
            best: f64::INFINITY,
            best_epoch: 0,
            since_best: 0,
            state: None,
        }
    }

    /// Whether `monitor_stress` would be a new best.
    pub fn improves(&self, monitor_stress: f64) -> bool {
        monitor_stress < self.best - MIN_IMPROVEMENT
    }

    /// Record epoch `epoch`'s monitor stress; on a new best keep `state()` (called only then).
    pub fn record(&mut self, epoch: usize, monitor_stress: f64, state: impl FnOnce() -> Snapshot) {
        if self.improves(monitor_stress) {
            self.best = monitor_stress;
            self.best_epoch = epoch;
            self.since_best = 0;
            self.state = Some(state());
        } else {
            self.since_best += 1;
        }
    }

    /// `patience` epochs without improvement (0 = never stop early).
    pub fn exhausted(&self, patience: usize) -> bool {
        patience > 0 && self.since_best >= patience
    }

    /// Put the best state back into `vs`; false when there was none (no epoch was monitored).
    pub fn restore_best(&self, vs: &nn::VarStore) -> bool {
        match &self.state {
            Some(state) => {
                restore(vs, state);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn keeps_the_best_state_and_counts_epochs_without_improvement() {
        let vs = nn::VarStore::new(Device::Cpu);
        let mut w = vs.root().var("w", &[2], nn::Init::Const(1.0));
        let mut stop = EarlyStopping::new();
        assert!(!stop.restore_best(&vs));
        stop.record(1, 0.5, || snapshot(&vs));
        tch::no_grad(|| {
            let _ = w.fill_(2.0);
        });
        stop.record(2, 0.6, || panic!("not a new best: no snapshot"));
        stop.record(3, 0.5 - 1e-6, || {
            panic!("within the noise margin: not a new best")
        });
        assert_eq!(stop.best_epoch, 1);
        assert!(stop.exhausted(2));
        assert!(!stop.exhausted(3));
        assert!(!stop.exhausted(0));
        assert!(stop.restore_best(&vs));
        assert_eq!(w.sum(Kind::Double).double_value(&[]), 2.0);
        stop.record(4, 0.1, || snapshot(&vs));
        assert_eq!(stop.best_epoch, 4);
        assert!(!stop.exhausted(1));
    }
}
