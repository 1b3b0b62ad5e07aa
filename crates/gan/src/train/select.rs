//! Model selection without the test set: `--select-by METRIC` keeps, in the run's `best/`
//! folder, the generator that scored best on that metric at any evaluation from the end of
//! MLE on (the MLE model is a candidate: a GAN phase that never helps selects it).
//!
//! | `--select-by` | measured on | better | data |
//! |---|---|---|---|
//! | `nll-oracle` | the evaluation's samples, under the oracle | lower | oracle |
//! | `validity` | the evaluation's samples, by the grammar's parser | higher | grammar |
//! | `nll-gen` | the validation set, under the generator | lower | any, with `--valid-size` |
//! | `bleu4` | the evaluation's samples against the validation sentences | higher | text, with `--valid-size` |
//!
//! None of them reads the test set: the first two score samples only (SeqGAN's NLL_oracle
//! uses fresh samples and the oracle, no held-out data), the last two a validation set
//! held out of training (`--valid-size N`: for the grammar and the oracle `N` more
//! sequences drawn from their own stream, which leaves the training and test sets as they
//! were; for a text corpus the last `N` sentences of the training file, which are then not
//! trained on).
//!
//! Quality-only criteria (`nll-oracle`, `validity`, `bleu4`) favour a generator that
//! collapses onto a few good sequences; `nll-gen` favours coverage. Which to use is the
//! experiment's choice; the frontier (`gumbel-lab frontier`) shows both sides of any pick.

use serde::{Deserialize, Serialize};

use super::config::{DataSource, TrainConfig};
use super::data::TrainData;
use super::eval::EvalOutput;
use crate::data::Token;
use crate::error::{Error, Result};
use crate::metrics::bleu::{References, bleu_2_to_5};
use crate::model::generator::Generator;

/// The metric of `--select-by` (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum SelectBy {
    /// NLL_oracle of the evaluation's samples (oracle data).
    NllOracle,
    /// NLL of the validation set under the generator (needs `--valid-size`).
    NllGen,
    /// BLEU-4 of the evaluation's samples against the validation sentences (text data,
    /// needs `--valid-size`).
    Bleu4,
    /// Validity of the evaluation's samples (grammar data).
    Validity,
}

impl SelectBy {
    /// The metric's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            SelectBy::NllOracle => "NLL_oracle of samples",
            SelectBy::NllGen => "NLL_gen of the validation set",
            SelectBy::Bleu4 => "BLEU-4 against the validation set",
            SelectBy::Validity => "validity of samples",
        }
    }

    /// `true` if a lower value is better.
    pub fn lower_is_better(self) -> bool {
        matches!(self, SelectBy::NllOracle | SelectBy::NllGen)
    }

    /// `true` if `value` beats `best` (a non-finite value never does).
    pub fn better(self, value: f64, best: Option<f64>) -> bool {
        value.is_finite()
            && best.is_none_or(|b| {
                if self.lower_is_better() {
                    value < b
                } else {
                    value > b
                }
            })
    }

    /// `Err` naming the flag unless the metric exists for the config's data and has the
    /// validation set it needs.
    pub fn check(self, cfg: &TrainConfig) -> Result<()> {
        let kind = match cfg.data {
            DataSource::Grammar => "grammar",
            DataSource::Oracle { .. } => "oracle",
            DataSource::Text { .. } => "text",
        };
        let needs = match self {
            SelectBy::NllOracle => Some("oracle"),
            SelectBy::Validity => Some("grammar"),
            SelectBy::Bleu4 => Some("text"),
            SelectBy::NllGen => None,
        };
        if let Some(k) = needs
            && k != kind
        {
            return Err(Error::Config(format!(
                "--select-by {}: measured on {k} data only, and this run is on {kind} data",
                self.flag()
            )));
        }
        if matches!(self, SelectBy::NllGen | SelectBy::Bleu4) && cfg.valid_size == 0 {
            return Err(Error::Config(format!(
                "--select-by {} is measured on a validation set: give --valid-size N (sequences held out of training; never the test set)",
                self.flag()
            )));
        }
        Ok(())
    }

    /// The value as the command line spells it.
    pub fn flag(self) -> &'static str {
        match self {
            SelectBy::NllOracle => "nll-oracle",
            SelectBy::NllGen => "nll-gen",
            SelectBy::Bleu4 => "bleu4",
            SelectBy::Validity => "validity",
        }
    }

    /// The metric for the generator of an evaluation `out` (its samples and metrics).
    pub fn measure(self, generator: &Generator, data: &TrainData, out: &EvalOutput) -> Result<f64> {
        let missing = || Error::Config(format!("--select-by {}: not measured", self.flag()));
        match self {
            SelectBy::NllOracle => out.eval.nll_oracle.ok_or_else(missing),
            SelectBy::Validity => out.eval.validity.ok_or_else(missing),
            SelectBy::NllGen => generator.nll(&data.valid),
            SelectBy::Bleu4 => {
                let l = data.dataset.seq_len;
                let words = |rows: &[Token]| -> Vec<Vec<&str>> {
                    rows.chunks(l).map(|r| data.words(r)).collect()
                };
                let b = bleu_2_to_5(&words(&out.samples), &words(&data.valid), References::All)?;
                Ok(b.scores[2])
            }
        }
    }
}

/// The best generator so far (in `state.json`), written to the run's `best/` folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Best {
    pub metric: SelectBy,
    pub value: f64,
    /// Adversarial steps completed when it was measured (0: the MLE model).
    pub adv_step: usize,
    /// Global step (MLE + adversarial) when it was measured.
    pub global_step: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn better_follows_the_metric_direction_and_ignores_non_finite_values() {
        assert!(SelectBy::NllGen.better(8.9, Some(9.0)));
        assert!(!SelectBy::NllGen.better(9.0, Some(9.0)));
        assert!(SelectBy::Bleu4.better(0.31, Some(0.3)));
        assert!(!SelectBy::Validity.better(0.2, Some(0.3)));
        assert!(SelectBy::NllOracle.better(12.0, None));
        assert!(!SelectBy::NllOracle.better(f64::NAN, None));
        assert!(!SelectBy::Validity.better(f64::INFINITY, Some(0.1)));
    }

    #[test]
    fn a_metric_on_the_wrong_data_or_without_validation_is_an_error_naming_the_flag() {
        let grammar = TrainConfig::defaults_for(DataSource::Grammar);
        SelectBy::Validity.check(&grammar).unwrap();
        let e = SelectBy::NllOracle.check(&grammar).unwrap_err().to_string();
        assert!(
            e.contains("--select-by nll-oracle") && e.contains("oracle data only"),
            "{e}"
        );
        let e = SelectBy::NllGen.check(&grammar).unwrap_err().to_string();
        assert!(e.contains("--valid-size"), "{e}");
        let mut v = grammar.clone();
        v.valid_size = 100;
        SelectBy::NllGen.check(&v).unwrap();
        assert!(SelectBy::Bleu4.check(&v).is_err());
    }
}
