//! [`TrainConfig`]: every setting of a training run, saved as the run folder's `config.json`.
//!
//! The CLI fills a config from its flags (`gumbel-lab train --help` lists them, each named
//! after a field here); `--resume DIR` reads it back. Defaults depend on the data set:
//! [`TrainConfig::defaults_for`] gives the built-in grammar a small fast model and the
//! SeqGAN oracle its benchmark sizes (embedding 32, hidden 32, batch 64, Adam 1e-2 / 1e-4).
//!
//! Nothing in the config depends on the number of threads: a run gives bitwise the same
//! results on 1 or 2 threads, so the thread count is a property of the process, not of the
//! run.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::schedule::{Schedule, Shape};

/// Where the training sequences come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DataSource {
    /// The built-in arithmetic-expression grammar, sampled from `seed`.
    Grammar,
    /// The SeqGAN oracle: loaded from `file`, or a random N(0,1) oracle from the run seed.
    Oracle { file: Option<PathBuf> },
    /// A text corpus, one sentence per line, with an optional held-out `test` file.
    Text {
        train: PathBuf,
        test: Option<PathBuf>,
    },
}

/// What the generator feeds back as its next input during free-running generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feedback {
    /// `x_{t+1} = y_t @ E`: the soft sample times the embedding; gradients flow through
    /// time.
    Soft,
    /// `x_{t+1} = E[argmax y_t]`: the sampled token (RelGAN's choice); gradients reach the
    /// generator only through the discriminator's view of each `y_t`.
    Hard,
}

/// What the discriminator sees of a generated sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscInput {
    /// The soft one-hots `y_t`.
    Soft,
    /// Straight-through: the hard one-hot forward, the soft sample's gradient backward.
    StraightThrough,
}

/// The adversarial loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Relativistic standard GAN (RelGAN's default): `D: -log sigma(D(r) - D(f))`,
    /// `G: -log sigma(D(f) - D(r))`.
    Rsgan,
    /// Non-saturating standard GAN: `D: -log sigma(D(r)) - log(1 - sigma(D(f)))`,
    /// `G: -log sigma(D(f))`.
    Nsgan,
}

/// How the schedule's value enters the relaxation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemperatureForm {
    /// `y = softmax((o + g) / tau)`: the schedule gives `tau`.
    Tau,
    /// `y = softmax(beta * (o + g))` (RelGAN): the schedule gives `beta = 1 / tau`.
    Beta,
}

/// The temperature schedule of the adversarial phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemperatureConfig {
    pub form: TemperatureForm,
    /// One of RelGAN's shapes (`constant`, `linear`, `exp`, `log`, `sigmoid`, `quad`,
    /// `sqrt`) or `jang`.
    pub schedule: String,
    /// Value at the first adversarial step (tau_0, or beta = 1 in RelGAN).
    pub start: f64,
    /// Value at the last step (RelGAN's beta_max; for `jang`, the floor tau_min).
    pub end: f64,
    /// Jang et al.'s rate r in `tau = max(tau_min, tau_0 exp(-r t))`.
    pub jang_rate: f64,
    /// Jang et al.'s K: `t` advances every K steps.
    pub jang_every: usize,
    /// Learn the temperature with the generator (initialised from the schedule's start
    /// value, parameterised as its logarithm so that it stays positive); the schedule is
    /// then only the initial value.
    pub learnable: bool,
}

impl TemperatureConfig {
    /// The schedule over `steps` adversarial steps (N = the real number of steps).
    pub fn schedule(&self, steps: usize) -> Result<Schedule> {
        let s = if self.schedule == "jang" {
            Schedule::Jang {
                start: self.start,
                min: self.end,
                rate: self.jang_rate,
                every: self.jang_every,
            }
        } else {
            let shape: Shape = self
                .schedule
                .parse()
                .map_err(|e: String| Error::Config(format!("--schedule: {e} (or jang)")))?;
            Schedule::Anneal {
                shape,
                start: self.start,
                end: self.end,
                steps: steps.max(1),
            }
        };
        s.validate().map_err(Error::Config)?;
        Ok(s)
    }
}

/// Sizes of the two networks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Generator embedding width.
    pub gen_emb: usize,
    /// Generator LSTM hidden width.
    pub gen_hidden: usize,
    /// Discriminator embedding width (the one-hots times a `vocab x disc_emb` matrix).
    pub disc_emb: usize,
    /// Convolution widths over time (SeqGAN/RelGAN: 2, 3, 4, 5).
    pub disc_widths: Vec<usize>,
    /// Filters per width.
    pub disc_filters: usize,
    /// Dropout probability before the discriminator's output layer.
    pub disc_dropout: f64,
}

/// Every setting of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub data: DataSource,
    /// Training sequences drawn from the grammar or the oracle (ignored for text).
    pub train_size: usize,
    /// Held-out sequences drawn from the grammar or the oracle for NLL_gen.
    pub test_size: usize,
    pub model: ModelConfig,
    /// Sequences per minibatch (MLE and adversarial).
    pub batch: usize,
    /// MLE pretraining epochs over the training set.
    pub pretrain_epochs: usize,
    /// Adam learning rate of MLE pretraining.
    pub mle_lr: f64,
    /// Adversarial steps (each: `g_steps` generator updates and `d_steps` discriminator
    /// updates).
    pub adv_steps: usize,
    pub g_steps: usize,
    pub d_steps: usize,
    /// Adam learning rates of the adversarial phase.
    pub gen_lr: f64,
    pub disc_lr: f64,
    /// Adam's beta1, beta2 in the adversarial phase (RelGAN: 0.9, 0.999).
    pub adam_betas: (f64, f64),
    /// Gradient clipping: the global L2 norm of each network's gradient is scaled down to
    /// at most this value.
    pub clip: f64,
    pub loss: LossKind,
    pub feedback: Feedback,
    pub disc_input: DiscInput,
    pub temperature: TemperatureConfig,
    /// The seed of every random draw of the run (data, initialisation, batches, noise).
    pub seed: u64,
    /// Log losses to metrics.csv every this many steps.
    pub log_every: usize,
    /// Evaluate (NLL, BLEU, validity, uniqueness) every this many steps of each phase,
    /// and after each phase.
    pub eval_every: usize,
    /// Write a checkpoint every this many steps (and at the end of each phase).
    pub checkpoint_every: usize,
    /// Generated sequences per evaluation (SeqGAN: 9,984 for NLL_oracle).
    pub eval_samples: usize,
    /// References used by BLEU (Texygen's fast mode: 500); 0 = the whole test set.
    pub bleu_refs: usize,
    /// Start the adversarial phase from this MLE model (a run's `pretrained/` folder, or
    /// any checkpoint folder) instead of pretraining: several GAN variants can then share
    /// one MLE model. Requires `pretrain_epochs == 0` and the same data and model sizes.
    #[serde(default)]
    pub pretrained: Option<std::path::PathBuf>,
}

impl TrainConfig {
    /// The defaults for a data source: the values `gumbel-lab train` uses when no flag
    /// overrides them.
    ///
    /// - grammar: a demonstration that runs in about 10 s on 2 cores. MLE stops
    ///   after one epoch, where about 88% of samples parse, so that the adversarial phase has
    ///   room to act; the discriminator sees straight-through one-hots (at temperature 1 soft
    ///   one-hots are told from real ones by their softness alone, and the generator then
    ///   collapses to the shortest sequences); the generator learns at 5e-4, the discriminator
    ///   at 1e-3 (with both at 1e-3, uniqueness fell to 0.20-0.41 on three of four seeds).
    ///   docs/gan.md shows what the phase does to validity, uniqueness and length.
    /// - oracle: SeqGAN's benchmark configuration (embedding 32, hidden 32, batch 64,
    ///   10,000 training sequences) with REFERENCE_RUNS' adversarial choices.
    /// - text: COCO-sized (embedding 32, hidden 32, batch 64).
    pub fn defaults_for(data: DataSource) -> TrainConfig {
        let grammar = matches!(data, DataSource::Grammar);
        TrainConfig {
            train_size: 10_000,
            test_size: 10_000,
            model: ModelConfig {
                gen_emb: 32,
                gen_hidden: 32,
                disc_emb: 64,
                disc_widths: vec![2, 3, 4, 5],
                disc_filters: 64,
                disc_dropout: 0.25,
            },
            batch: 64,
            pretrain_epochs: if grammar { 1 } else { 120 },
            mle_lr: 1e-2,
            adv_steps: if grammar { 1000 } else { 2000 },
            g_steps: 1,
            d_steps: 1,
            gen_lr: if grammar { 5e-4 } else { 1e-4 },
            disc_lr: if grammar { 1e-3 } else { 1e-4 },
            adam_betas: (0.9, 0.999),
            clip: 5.0,
            loss: LossKind::Rsgan,
            feedback: Feedback::Hard,
            disc_input: if grammar {
                DiscInput::StraightThrough
            } else {
                DiscInput::Soft
            },
            temperature: TemperatureConfig {
                form: TemperatureForm::Beta,
                schedule: "exp".into(),
                start: 1.0,
                end: 1.0,
                jang_rate: 1e-3,
                jang_every: 100,
                learnable: false,
            },
            seed: 1,
            log_every: 10,
            eval_every: if grammar { 250 } else { 500 },
            checkpoint_every: 500,
            eval_samples: if grammar { 2000 } else { 9984 },
            bleu_refs: 500,
            pretrained: None,
            data,
        }
    }

    /// Checks every value, naming the flag of the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |flag: &str, why: String| Err(Error::Config(format!("--{flag}: {why}")));
        let positive = |flag: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                bad(flag, format!("must be finite and > 0, got {v}"))
            }
        };
        for (flag, v) in [
            ("gen-emb", self.model.gen_emb),
            ("gen-hidden", self.model.gen_hidden),
            ("disc-emb", self.model.disc_emb),
            ("disc-filters", self.model.disc_filters),
            ("batch", self.batch),
            ("log-every", self.log_every),
            ("eval-every", self.eval_every),
            ("checkpoint-every", self.checkpoint_every),
            ("eval-samples", self.eval_samples),
            ("g-steps", self.g_steps),
            ("d-steps", self.d_steps),
        ] {
            if v == 0 {
                return bad(flag, "must be at least 1".into());
            }
        }
        if matches!(self.data, DataSource::Grammar | DataSource::Oracle { .. }) {
            if self.train_size == 0 {
                return bad("train-size", "must be at least 1".into());
            }
            if self.test_size == 0 {
                return bad("test-size", "must be at least 1".into());
            }
        }
        if self.model.disc_widths.is_empty() || self.model.disc_widths.contains(&0) {
            return bad(
                "disc-widths",
                format!(
                    "needs one or more widths >= 1, got {:?}",
                    self.model.disc_widths
                ),
            );
        }
        if !(0.0..1.0).contains(&self.model.disc_dropout) {
            return bad(
                "disc-dropout",
                format!("must be in [0, 1), got {}", self.model.disc_dropout),
            );
        }
        positive("mle-lr", self.mle_lr)?;
        positive("gen-lr", self.gen_lr)?;
        positive("disc-lr", self.disc_lr)?;
        positive("clip", self.clip)?;
        let (b1, b2) = self.adam_betas;
        if !((0.0..1.0).contains(&b1) && (0.0..1.0).contains(&b2)) {
            return bad("adam-betas", format!("must be in [0, 1), got ({b1}, {b2})"));
        }
        if self.pretrained.is_some() && self.pretrain_epochs > 0 {
            return bad(
                "pretrained",
                format!(
                    "loads an MLE model in place of pretraining, but --pretrain-epochs is {}: set it to 0",
                    self.pretrain_epochs
                ),
            );
        }
        self.temperature.schedule(self.adv_steps)?;
        Ok(())
    }

    /// The temperature schedule over this run's adversarial steps.
    pub fn schedule(&self) -> Result<Schedule> {
        self.temperature.schedule(self.adv_steps)
    }

    /// The config as pretty JSON (the run folder's `config.json`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a TrainConfig always serialises")
    }

    /// Parses `config.json` text; `path` names the file in the error.
    pub fn from_json(text: &str, path: &std::path::Path) -> Result<TrainConfig> {
        let c: TrainConfig = serde_json::from_str(text)
            .map_err(|e| Error::checkpoint(path, format!("not a valid config.json: {e}")))?;
        c.validate()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip_through_json() {
        for data in [
            DataSource::Grammar,
            DataSource::Oracle { file: None },
            DataSource::Text {
                train: "a.txt".into(),
                test: Some("b.txt".into()),
            },
        ] {
            let c = TrainConfig::defaults_for(data);
            c.validate().unwrap();
            let back = TrainConfig::from_json(&c.to_json(), "config.json".as_ref()).unwrap();
            assert_eq!(back, c);
        }
    }

    #[test]
    fn validation_names_the_flag() {
        let mut c = TrainConfig::defaults_for(DataSource::Grammar);
        c.model.disc_widths = vec![2, 0];
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("--disc-widths")
        );
        let mut c = TrainConfig::defaults_for(DataSource::Grammar);
        c.gen_lr = f64::NAN;
        assert!(c.validate().unwrap_err().to_string().contains("--gen-lr"));
        let mut c = TrainConfig::defaults_for(DataSource::Grammar);
        c.temperature.schedule = "cosine".into();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("--schedule") && e.contains("jang"), "{e}");
        let mut c = TrainConfig::defaults_for(DataSource::Grammar);
        c.temperature.start = 0.0;
        assert!(c.validate().unwrap_err().to_string().contains("start"));
    }

    #[test]
    fn jang_schedule_maps_end_to_the_floor() {
        let mut c = TrainConfig::defaults_for(DataSource::Grammar);
        c.temperature = TemperatureConfig {
            form: TemperatureForm::Tau,
            schedule: "jang".into(),
            start: 1.0,
            end: 0.5,
            jang_rate: 1.0,
            jang_every: 10,
            learnable: false,
        };
        let s = c.schedule().unwrap();
        assert_eq!(s.at(0), 1.0);
        assert_eq!(s.at(1000), 0.5);
    }
}
