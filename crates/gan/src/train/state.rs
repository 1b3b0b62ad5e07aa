//! `state.json`: the part of a checkpoint that is not tensors.
//!
//! Step counters (which, with the seed, are the whole random state: see `crate::random`), the
//! phase, Adam's step counts, the metrics and samples after MLE (so that a run resumed in
//! the adversarial phase still prints its MLE column), and the vocabulary (so that
//! `gumbel-lab sample` needs no data files, and a resume notices a changed corpus).

use serde::{Deserialize, Serialize};

use std::path::Path;

use super::report::Evaluation;
use super::select::Best;
use crate::error::{Error, Result};

/// Version of the checkpoint layout; a checkpoint of another version is refused.
pub const CHECKPOINT_VERSION: u32 = 1;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// In (or before) MLE pretraining.
    Mle,
    /// In the adversarial phase.
    Adv,
    /// Both phases finished.
    Done,
}

/// Everything in a checkpoint besides the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub version: u32,
    pub stage: Stage,
    /// MLE steps completed.
    pub mle_step: usize,
    /// Adversarial steps completed.
    pub adv_step: usize,
    /// The vocabulary in id order and the special tokens.
    pub vocab: Vec<String>,
    pub pad: Option<u32>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub unk: Option<u32>,
    /// The generator's first input.
    pub start_token: u32,
    /// Length of generated and padded sequences.
    pub seq_len: usize,
    /// Metrics and samples at the end of MLE pretraining.
    pub after_mle: Option<Evaluation>,
    pub samples_mle: Vec<String>,
    /// The most recent evaluation.
    pub last_eval: Option<Evaluation>,
    /// The learnable temperature's current value (tau or beta per the config's form).
    pub temperature: Option<f64>,
    /// Wall-clock seconds spent so far (informational; not part of any result).
    pub seconds: f64,
    /// The best generator by `--select-by` so far (in the run's `best/` folder).
    #[serde(default)]
    pub best: Option<Best>,
}

impl TrainState {
    /// Parses and checks the text of a `state.json` (`path` names it in errors): `Err` if it
    /// is not a valid state or of another checkpoint version.
    pub fn from_json(text: &str, path: &Path) -> Result<TrainState> {
        let state: TrainState = serde_json::from_str(text)
            .map_err(|e| Error::checkpoint(path, format!("not a valid state.json: {e}")))?;
        if state.version != CHECKPOINT_VERSION {
            return Err(Error::checkpoint(
                path,
                format!(
                    "checkpoint version {}, this program reads version {CHECKPOINT_VERSION}",
                    state.version
                ),
            ));
        }
        Ok(state)
    }
}
