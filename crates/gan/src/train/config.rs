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

use super::select::SelectBy;
use crate::error::{Error, Result};
use crate::model::discriminator::DiscriminatorArch;
use crate::model::{Estimator, Feedback, GeneratorArch, LossKind, TemperatureForm};
use crate::schedule::{Schedule, ScheduleKind};

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

/// The temperature schedule of the adversarial phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemperatureConfig {
    pub form: TemperatureForm,
    /// One of RelGAN's shapes or Jang et al.'s schedule (`"linear"`, `"jang"`, ... in
    /// `config.json`).
    pub schedule: ScheduleKind,
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
    /// The annealing horizon `N` of RelGAN's shapes, when it is not the number of adversarial
    /// steps (`--temp-horizon`): RelGAN's code fixes `N = 5000` while its runs stop after
    /// 2,000-3,000 steps, so its `beta` never reaches `beta_max`; past `N` the value stays at
    /// the end value.
    #[serde(default)]
    pub horizon: Option<usize>,
}

impl TemperatureConfig {
    /// The schedule over `steps` adversarial steps (N = the real number of steps, or the
    /// horizon if one is set; `Err` for a horizon of 0).
    pub fn schedule(&self, steps: usize) -> Result<Schedule> {
        if self.horizon == Some(0) {
            return Err(Error::Config("--temp-horizon: must be at least 1".into()));
        }
        let s = match self.schedule.shape() {
            Some(shape) => Schedule::Anneal {
                shape,
                start: self.start,
                end: self.end,
                steps: self.horizon.unwrap_or(steps).max(1),
            },
            None => Schedule::Jang {
                start: self.start,
                min: self.end,
                rate: self.jang_rate,
                every: self.jang_every,
            },
        };
        s.validate().map_err(Error::Config)?;
        Ok(s)
    }
}

/// RelGAN's annealing horizon `N` (its code's `nadv_steps = 5000`), the `--temp-horizon` of
/// `--arch relgan`.
pub const RELGAN_TEMP_HORIZON: usize = 5000;

/// The generator's recurrent core (`--generator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum GeneratorKind {
    /// An LSTM (SeqGAN), `--gen-hidden` units.
    #[default]
    Lstm,
    /// RelGAN's relational memory: `--gen-slots` slots of `--gen-heads` x `--gen-head-size`.
    Rmc,
}

/// The discriminator (`--discriminator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum DiscriminatorKind {
    /// SeqGAN's CNN: one logit per sequence.
    #[default]
    Cnn,
    /// RelGAN's multi-representation CNN: one logit per embedding feature, through
    /// `--disc-hidden` units.
    Relgan,
}

fn relgan_slots() -> usize {
    1
}
fn relgan_heads() -> usize {
    2
}
fn relgan_head_size() -> usize {
    256
}
fn relgan_disc_hidden() -> usize {
    100
}

/// Sizes of the two networks. (The fields after `disc_dropout` came with RelGAN's networks:
/// a `config.json` without them is SeqGAN's LSTM and CNN.)
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
    /// The generator's core.
    #[serde(default)]
    pub generator: GeneratorKind,
    /// RMC: memory slots (RelGAN: 1).
    #[serde(default = "relgan_slots")]
    pub gen_slots: usize,
    /// RMC: attention heads (RelGAN: 2).
    #[serde(default = "relgan_heads")]
    pub gen_heads: usize,
    /// RMC: features per head, keys of the same size (RelGAN: 256).
    #[serde(default = "relgan_head_size")]
    pub gen_head_size: usize,
    /// The discriminator.
    #[serde(default)]
    pub discriminator: DiscriminatorKind,
    /// RelGAN's discriminator: units before the logit (RelGAN: 100).
    #[serde(default = "relgan_disc_hidden")]
    pub disc_hidden: usize,
}

impl ModelConfig {
    /// The discriminator's architecture.
    pub fn disc_arch(&self) -> DiscriminatorArch {
        match self.discriminator {
            DiscriminatorKind::Cnn => DiscriminatorArch::Cnn,
            DiscriminatorKind::Relgan => DiscriminatorArch::RelGan {
                hidden: self.disc_hidden,
            },
        }
    }

    /// The generator's core and its sizes.
    pub fn gen_arch(&self) -> GeneratorArch {
        match self.generator {
            GeneratorKind::Lstm => GeneratorArch::Lstm {
                hidden: self.gen_hidden,
            },
            GeneratorKind::Rmc => GeneratorArch::Rmc {
                slots: self.gen_slots,
                heads: self.gen_heads,
                head_size: self.gen_head_size,
            },
        }
    }

    /// The width of the generator core's output (the output layer's input): `--gen-hidden`
    /// for an LSTM, slots x heads x head size for an RMC.
    pub fn gen_out_dim(&self) -> usize {
        match self.generator {
            GeneratorKind::Lstm => self.gen_hidden,
            GeneratorKind::Rmc => self
                .gen_slots
                .saturating_mul(self.gen_heads)
                .saturating_mul(self.gen_head_size),
        }
    }
}

/// Every setting of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub data: DataSource,
    /// Training sequences drawn from the grammar or the oracle (ignored for text).
    pub train_size: usize,
    /// Held-out sequences drawn from the grammar or the oracle for NLL_gen.
    pub test_size: usize,
    /// Validation sequences for `--select-by` (never the test set): for the grammar and the
    /// oracle drawn from their own stream (the training and test sets stay as they are), for
    /// a text corpus the last ones of the training file (then not trained on). 0 (and config
    /// files written before it existed): none.
    #[serde(default)]
    pub valid_size: usize,
    /// Keep the generator that scores best on this metric (measured at every evaluation from
    /// the end of MLE on, on samples or the validation set) in the run's `best/` folder.
    #[serde(default)]
    pub select_by: Option<SelectBy>,
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
    /// What the discriminator sees of a generated token and which gradient comes back
    /// (`--estimator`; config files written before it existed say `disc_input`, which
    /// reads as `gumbel` or `st-gumbel`).
    #[serde(alias = "disc_input")]
    pub estimator: Estimator,
    /// `--estimator reinforce`: the rollout policy follows the generator as
    /// `beta <- r beta + (1 - r) theta` after each generator update (SeqGAN: 0.8; 0 samples
    /// rollouts from the current generator, as SeqGAN's TensorFlow code in fact does).
    /// Ignored by the other estimators.
    #[serde(default = "seqgan_update_rate")]
    pub rollout_update_rate: f64,
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
    /// Text data: sentences longer than this many tokens (in either file) are skipped, and
    /// the count is reported; the padded length is the longest remaining training sentence
    /// plus one. `None` (config files written before this field existed): no limit. The
    /// CLI's default is [`DEFAULT_MAX_LEN`]. Grammar and oracle data have fixed lengths and
    /// ignore it.
    #[serde(default)]
    pub max_len: Option<usize>,
}

fn seqgan_update_rate() -> f64 {
    crate::model::reinforce::SEQGAN_UPDATE_RATE
}

/// The default `--max-len` of text data: 64 tokens. COCO's longest caption has 37; one
/// absurdly long line (a file without line breaks) would otherwise set the padded length
/// of every sequence.
pub const DEFAULT_MAX_LEN: usize = 64;

/// The most `--threads` a process may ask for: 4 x the cores the system reports
/// ([`std::thread::available_parallelism`]), or 256 when it reports none. Results are
/// identical for any number of threads, so more threads than cores only add switching.
pub fn max_threads() -> usize {
    std::thread::available_parallelism().map_or(256, |n| n.get().saturating_mul(4))
}

/// `Err` naming `flag` unless `1 <= threads <= `[`max_threads`]`()`.
pub fn check_threads(flag: &str, threads: usize) -> Result<()> {
    let max = max_threads();
    if threads == 0 || threads > max {
        return Err(Error::Config(format!(
            "{flag} {threads}: must be between 1 and {max} (4 x the {} cores of this machine)",
            max / 4
        )));
    }
    Ok(())
}

/// Used when the physical memory cannot be read: 16 GiB.
pub const FALLBACK_MEMORY_CEILING: u64 = 16 << 30;

/// The memory a run (or a `sample` / `eval` call) may be estimated to need: the physical
/// memory (`MemTotal` of `/proc/meminfo`), or [`FALLBACK_MEMORY_CEILING`] where that file
/// is absent. The estimates ([`TrainConfig::check_memory`]) count only the largest buffers,
/// so a request above this ceiling cannot fit; one below it may still be refused by the
/// system, but sizes that ask for terabytes (or overflow) end in an error naming the flag
/// instead of an allocation abort.
pub fn memory_ceiling() -> u64 {
    physical_memory().unwrap_or(FALLBACK_MEMORY_CEILING)
}

fn physical_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// `bytes` in GiB, for messages.
fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// One term of a memory estimate: the flag that sets it, what it is, and its bytes (`None`:
/// the product overflowed).
struct Need {
    flag: &'static str,
    what: String,
    bytes: Option<u64>,
}

/// `a * b * ...` in u64, `None` on overflow.
fn product(factors: &[usize]) -> Option<u64> {
    factors
        .iter()
        .try_fold(1u64, |acc, &f| acc.checked_mul(u64::try_from(f).ok()?))
}

/// Sums `needs` with checked arithmetic and compares the total with [`memory_ceiling`].
/// The error names the largest term's flag, the total asked and the ceiling.
fn check_needs(needs: &[Need]) -> Result<()> {
    let mut total = 0u64;
    for n in needs {
        total = match n.bytes.and_then(|b| total.checked_add(b)) {
            Some(t) => t,
            None => {
                return Err(Error::Config(format!(
                    "{}: {} overflows 64-bit arithmetic: far more memory than any machine has",
                    n.flag, n.what
                )));
            }
        };
    }
    let ceiling = memory_ceiling();
    if total > ceiling {
        let big = needs
            .iter()
            .max_by_key(|n| n.bytes)
            .expect("at least one term");
        return Err(Error::Config(format!(
            "{}: the run would need at least {} of memory, more than the {} of this machine; \
             the largest part is {}: {}",
            big.flag,
            gib(total),
            gib(ceiling),
            big.what,
            gib(big.bytes.unwrap_or(u64::MAX))
        )));
    }
    Ok(())
}

/// Bytes per parameter counted by the memory estimates: its f32 value and its gradient.
pub const PARAM_BYTES: usize = 8;
/// Bytes per token of a held sequence: the u32 id in the unpadded set and in the padded
/// matrix.
pub const SEQ_TOKEN_BYTES: usize = 8;
/// Bytes per `[batch, seq_len, vocab]` activation element kept for backward: the logits,
/// the relaxed sample and their gradients, 4 f32 values.
pub const ACTIVATION_BYTES: usize = 16;
/// Bytes per token of a generated sample: its u32 id and, for text, the `&str` of its word
/// (16 bytes) in the BLEU hypotheses.
pub const SAMPLE_TOKEN_BYTES: usize = 20;

/// `Err` naming `flag` (e.g. `"-n"`) unless `n` generated sequences of `seq_len` tokens fit in memory
/// (see [`memory_ceiling`]; [`SAMPLE_TOKEN_BYTES`] bytes per token). For `gumbel-lab
/// sample -n` and `eval --samples`.
pub fn check_sample_memory(flag: &'static str, n: usize, seq_len: usize) -> Result<()> {
    check_needs(&[Need {
        flag,
        what: format!("{n} samples of {seq_len} tokens"),
        bytes: product(&[n, seq_len, SAMPLE_TOKEN_BYTES]),
    }])
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
            valid_size: 0,
            select_by: None,
            model: ModelConfig {
                gen_emb: 32,
                gen_hidden: 32,
                disc_emb: 64,
                disc_widths: vec![2, 3, 4, 5],
                disc_filters: 64,
                disc_dropout: 0.25,
                generator: GeneratorKind::Lstm,
                gen_slots: relgan_slots(),
                gen_heads: relgan_heads(),
                gen_head_size: relgan_head_size(),
                discriminator: DiscriminatorKind::Cnn,
                disc_hidden: relgan_disc_hidden(),
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
            estimator: if grammar {
                Estimator::StGumbel
            } else {
                Estimator::Gumbel
            },
            temperature: TemperatureConfig {
                form: TemperatureForm::Beta,
                schedule: ScheduleKind::Exp,
                start: 1.0,
                end: 1.0,
                jang_rate: 1e-3,
                jang_every: 100,
                learnable: false,
                horizon: None,
            },
            seed: 1,
            log_every: 10,
            eval_every: if grammar { 250 } else { 500 },
            checkpoint_every: 500,
            eval_samples: if grammar { 2000 } else { 9984 },
            bleu_refs: 500,
            pretrained: None,
            max_len: Some(DEFAULT_MAX_LEN),
            rollout_update_rate: seqgan_update_rate(),
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
            ("gen-slots", self.model.gen_slots),
            ("gen-heads", self.model.gen_heads),
            ("gen-head-size", self.model.gen_head_size),
            ("disc-hidden", self.model.disc_hidden),
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
        if let Some(m) = self.select_by {
            m.check(self)?;
        }
        if !self.estimator.is_relaxed() {
            if self.feedback == Feedback::Soft {
                return bad(
                    "feedback",
                    format!(
                        "soft feedback needs the relaxed sample, and --estimator {} draws one-hot samples: use --feedback hard, or the estimator gumbel or st-gumbel",
                        self.estimator
                    ),
                );
            }
            if self.temperature.learnable {
                return bad(
                    "learn-temperature",
                    format!(
                        "a learned temperature needs the relaxed sample, and --estimator {} takes a fixed schedule: use gumbel or st-gumbel to learn it",
                        self.estimator
                    ),
                );
            }
        }
        if let Estimator::Reinforce { .. } = self.estimator
            && self.loss != LossKind::Nsgan
        {
            return bad(
                "loss",
                "--estimator reinforce rewards the discriminator's probability that a sequence is real, sigmoid(D(x)), which only the standard GAN loss trains it to give: use --loss nsgan (SeqGAN's; the CLI's default with reinforce)".into(),
            );
        }
        if !(0.0..=1.0).contains(&self.rollout_update_rate) {
            return bad(
                "rollout-update-rate",
                format!("must be in [0, 1], got {}", self.rollout_update_rate),
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
        if let DataSource::Text { .. } = self.data {
            if self.eval_samples < 2 {
                return bad(
                    "eval-samples",
                    format!(
                        "text data needs at least 2: self-BLEU scores each generated sentence against the others, got {}",
                        self.eval_samples
                    ),
                );
            }
            if self.max_len == Some(0) {
                return bad("max-len", "must be at least 1".into());
            }
        }
        // The step counters and the random-stream keys derived from them (run.rs: global
        // step = MLE + adversarial steps; adversarial update k = step * g_steps + g, keyed
        // as 2k + 1 and 2^40 + 2k + 1) must not wrap.
        let updates = self
            .adv_steps
            .checked_mul(self.g_steps.max(self.d_steps))
            .and_then(|k| u64::try_from(k).ok())
            .and_then(|k| k.checked_mul(2))
            .and_then(|k| k.checked_add((1 << 40) + 1));
        if updates.is_none() {
            return bad(
                "adv-steps",
                format!(
                    "{} steps of {} updates overflow the step counter",
                    self.adv_steps,
                    self.g_steps.max(self.d_steps)
                ),
            );
        }
        // The grammar and the oracle draw `train_size` sequences; a corpus has at least a
        // batch (TrainData::load checks again with its real size).
        let train_len = match self.data {
            DataSource::Text { .. } => self.batch,
            _ => self.train_size,
        };
        self.mle_total_steps(train_len)?;
        let schedule = self.temperature.schedule(self.adv_steps)?;
        self.check_schedule(&schedule)?;
        let (vocab, seq_len, n_train, n_test) = self.known_sizes();
        self.check_memory(vocab, seq_len, n_train, n_test)?;
        Ok(())
    }

    /// The number of MLE steps: `pretrain_epochs * max(1, train_len / batch)` (the
    /// formula of the training loop), or `Err` naming `--pretrain-epochs` if it overflows
    /// (or the MLE and adversarial steps together overflow the global step counter).
    /// [`TrainData::load`](super::data::TrainData::load) calls it with the real number of
    /// training sequences, so the training loop's own product cannot wrap.
    pub fn mle_total_steps(&self, train_len: usize) -> Result<usize> {
        let per_epoch = (train_len / self.batch.max(1)).max(1);
        self.pretrain_epochs
            .checked_mul(per_epoch)
            .filter(|&m| m.checked_add(self.adv_steps).is_some())
            .ok_or_else(|| {
                Error::Config(format!(
                    "--pretrain-epochs {}: {} epochs of {per_epoch} steps (plus {} adversarial steps) overflow the step counter",
                    self.pretrain_epochs, self.pretrain_epochs, self.adv_steps
                ))
            })
    }

    /// `Err` naming the step and the value unless the schedule's value at every adversarial
    /// step is usable by the f32 kernels: finite and > 0 as f32, with a finite f32
    /// reciprocal (the kernels use `1/tau`, or `beta`, whose reciprocal is the temperature;
    /// see `gumbel_tensor::ops::gumbel::Temperature::scale`). A learnable temperature only
    /// takes step 0's value.
    ///
    /// Every step is checked for up to 2^24 steps; beyond that (weeks of training) the
    /// first and last 2^20 steps and 2^20 evenly spaced ones in between. Every shape is
    /// monotonic, so its extremes are the first and last steps.
    pub fn check_schedule(&self, schedule: &Schedule) -> Result<()> {
        const ALL: usize = 1 << 24;
        const WINDOW: usize = 1 << 20;
        let n = if self.temperature.learnable {
            1
        } else {
            self.adv_steps.max(1)
        };
        let form = match self.temperature.form {
            TemperatureForm::Tau => "tau",
            TemperatureForm::Beta => "beta",
        };
        let check = |i: usize| -> Result<()> {
            let v = schedule.at(i);
            let v32 = v as f32;
            // ReinMax needs tau >= 1 (its authors' requirement; the library checks each draw)
            let reinmax_ok = match self.temperature.form {
                TemperatureForm::Tau => v32 >= 1.0,
                TemperatureForm::Beta => v32 <= 1.0,
            };
            if self.estimator == Estimator::ReinMax && !reinmax_ok {
                return Err(Error::Config(format!(
                    "--estimator reinmax needs tau >= 1 (beta <= 1) at every step, but --schedule {} (--temp-start {:?}, --temp-end {:?}) gives {form} = {v} at adversarial step {i}",
                    self.temperature.schedule, self.temperature.start, self.temperature.end
                )));
            }
            if v32.is_finite() && v32 > 0.0 && (1.0 / v32).is_finite() {
                return Ok(());
            }
            Err(Error::Config(format!(
                "--schedule {} (--temp-start {:?}, --temp-end {:?}): {form} at adversarial step {i} is {v:e} ({v32:e} in f32); the kernels need a value that is finite and > 0 in f32 with a finite reciprocal (about 2.9e-39 to 3.4e38)",
                self.temperature.schedule, self.temperature.start, self.temperature.end
            )))
        };
        if n <= ALL {
            (0..n).try_for_each(check)
        } else {
            (0..WINDOW)
                .chain(n - WINDOW..n)
                .chain((0..WINDOW).map(|k| k * (n / WINDOW)))
                .try_for_each(check)
        }
    }

    /// Vocabulary, padded length and number of sequences in memory as far as the config
    /// alone tells: exact for the grammar and the random oracle; for an oracle file or a
    /// text corpus the smallest possible values (the data set's own are checked when it
    /// is loaded).
    fn known_sizes(&self) -> (usize, usize, usize, usize) {
        // the validation set is held out like the test set (checked-add: absurd sizes are
        // caught by the memory check as an overflow of the product anyway)
        let (n_train, n_test) = (
            self.train_size,
            self.test_size.saturating_add(self.valid_size),
        );
        match &self.data {
            DataSource::Grammar => (
                crate::data::grammar::VOCAB_SIZE,
                crate::data::grammar::SEQ_LEN,
                n_train,
                n_test,
            ),
            DataSource::Oracle { file } => (
                if file.is_some() {
                    1
                } else {
                    crate::data::oracle::VOCAB_SIZE
                },
                crate::data::oracle::SEQ_LEN,
                n_train,
                n_test,
            ),
            DataSource::Text { .. } => (4, 2, self.batch, 0),
        }
    }

    /// `Err` naming the flag behind the largest part if the run's largest buffers cannot
    /// fit in [`memory_ceiling`] bytes (or their size overflows), for a data set with
    /// `vocab` tokens, padded length `seq_len`, `n_train` training and `n_test` held-out
    /// sequences.
    ///
    /// The estimate (a lower bound: only the largest buffers are counted):
    /// parameters, [`PARAM_BYTES`] each: generator `vocab * gen_emb` (embedding),
    /// `4 * gen_hidden * (gen_emb + gen_hidden)` (LSTM) or `F * (gen_emb + 9 F)` with
    /// `F = gen_heads * gen_head_size` (RMC), and its output width times `vocab` (output);
    /// discriminator `vocab * disc_emb` and `disc_filters * sum(disc_widths) * disc_emb`
    /// (convolutions; without the `disc_emb` for RelGAN's one-channel ones) and
    /// `2 * (disc_filters * widths)^2` (highway; a product of two sizes is charged to the
    /// larger one's flag); data
    /// `(n_train + n_test) * seq_len * `[`SEQ_TOKEN_BYTES`]; samples of one evaluation
    /// `eval_samples * seq_len * `[`SAMPLE_TOKEN_BYTES`]; activations of one step
    /// `batch * seq_len * vocab * `[`ACTIVATION_BYTES`].
    pub fn check_memory(
        &self,
        vocab: usize,
        seq_len: usize,
        n_train: usize,
        n_test: usize,
    ) -> Result<()> {
        let m = &self.model;
        let widths: usize = m.disc_widths.iter().fold(0, |a, &w| a.saturating_add(w));
        let features = m.disc_filters.checked_mul(m.disc_widths.len());
        // A product of two sizes is charged to the larger one's flag.
        let larger = |a: (&'static str, usize), b: (&'static str, usize)| {
            if a.1 >= b.1 { a.0 } else { b.0 }
        };
        let (ge, gh, de, df) = (
            ("--gen-emb", m.gen_emb),
            ("--gen-hidden", m.gen_hidden),
            ("--disc-emb", m.disc_emb),
            ("--disc-filters", m.disc_filters),
        );
        let (train_flag, test_flag) = match self.data {
            DataSource::Text { .. } => ("--data", "--test"),
            _ => ("--train-size", "--test-size"),
        };
        check_needs(&[
            Need {
                flag: ge.0,
                what: format!("the generator's embedding ({vocab} x {})", m.gen_emb),
                bytes: product(&[vocab, m.gen_emb, PARAM_BYTES]),
            },
            match m.generator {
                GeneratorKind::Lstm => Need {
                    flag: larger(ge, gh),
                    what: format!(
                        "the generator's LSTM (hidden {}, embedding {})",
                        m.gen_hidden, m.gen_emb
                    ),
                    bytes: m
                        .gen_emb
                        .checked_add(m.gen_hidden)
                        .and_then(|s| product(&[4, m.gen_hidden, s, PARAM_BYTES])),
                },
                // input projection E x F, queries/keys/values 3F x F, MLP 2 F x F, gates
                // 2 x 2F x F (F = heads x head size; the slots share them)
                GeneratorKind::Rmc => Need {
                    flag: "--gen-head-size",
                    what: format!(
                        "the generator's relational memory ({} heads of {}, embedding {})",
                        m.gen_heads, m.gen_head_size, m.gen_emb
                    ),
                    bytes: m.gen_heads.checked_mul(m.gen_head_size).and_then(|f| {
                        f.checked_mul(9)
                            .and_then(|n| n.checked_add(m.gen_emb))
                            .and_then(|n| product(&[f, n, PARAM_BYTES]))
                    }),
                },
            },
            Need {
                flag: if m.generator == GeneratorKind::Lstm {
                    gh.0
                } else {
                    "--gen-head-size"
                },
                what: format!(
                    "the generator's output layer ({} x {vocab})",
                    m.gen_out_dim()
                ),
                bytes: product(&[m.gen_out_dim(), vocab, PARAM_BYTES]),
            },
            Need {
                flag: de.0,
                what: format!("the discriminator's embedding ({vocab} x {})", m.disc_emb),
                bytes: product(&[vocab, m.disc_emb, PARAM_BYTES]),
            },
            Need {
                flag: larger(de, df),
                what: format!(
                    "the discriminator's convolutions ({} filters per width, embedding {})",
                    m.disc_filters, m.disc_emb
                ),
                // RelGAN's filters have one input channel, shared by the representations
                bytes: match m.discriminator {
                    DiscriminatorKind::Cnn => {
                        product(&[m.disc_filters, widths, m.disc_emb, PARAM_BYTES])
                    }
                    DiscriminatorKind::Relgan => product(&[m.disc_filters, widths, PARAM_BYTES]),
                },
            },
            Need {
                flag: df.0,
                what: format!(
                    "the discriminator's highway layer ({} features)",
                    m.disc_filters.saturating_mul(m.disc_widths.len())
                ),
                bytes: features.and_then(|f| product(&[2, f, f, PARAM_BYTES])),
            },
            Need {
                flag: train_flag,
                what: format!("the training set ({n_train} sequences of {seq_len} tokens)"),
                bytes: product(&[n_train, seq_len, SEQ_TOKEN_BYTES]),
            },
            Need {
                flag: test_flag,
                what: format!("the held-out set ({n_test} sequences of {seq_len} tokens)"),
                bytes: product(&[n_test, seq_len, SEQ_TOKEN_BYTES]),
            },
            Need {
                flag: "--eval-samples",
                what: format!(
                    "the samples of one evaluation ({} of {seq_len} tokens)",
                    self.eval_samples
                ),
                bytes: product(&[self.eval_samples, seq_len, SAMPLE_TOKEN_BYTES]),
            },
            Need {
                flag: "--batch",
                what: format!(
                    "the activations of one step (batch {} x length {seq_len} x vocabulary {vocab})",
                    self.batch
                ),
                bytes: product(&[self.batch, seq_len, vocab, ACTIVATION_BYTES]),
            },
        ])
    }

    /// RelGAN's networks and training settings (`--arch relgan`; Nie et al. 2019, the
    /// authors' `oracle_relgan.py` / `coco_relgan.py` run files and `relgan_step_bench.py`):
    /// the relational-memory generator (embedding 32, 1 slot, 2 heads of 256) with hard
    /// feedback and relaxed samples `softmax(beta (o + g))` for the discriminator
    /// (`--estimator gumbel --feedback hard --temperature-form beta`), RelGAN's
    /// discriminator (embedding 64 as 64 representations, widths 2-5 with 300 filters each,
    /// 100 hidden units, dropout 0.25), the RSGAN loss, Adam at 1e-4 for both adversarial
    /// updates and 1e-2 for MLE, gradient norms clipped to 5, 5 discriminator updates per
    /// generator update, batch 64, 150 MLE epochs, 3,000 adversarial steps, and the
    /// temperature `beta` annealed from 1 to `beta_max` by RelGAN's `exp` shape over its
    /// hard-coded horizon of 5,000 steps, with `beta_max` = 1 (its oracle setting; its COCO
    /// runs use 100 and 1000: `--temp-end`). Flags given beside `--arch relgan` override
    /// these.
    pub fn apply_relgan(&mut self) {
        let m = &mut self.model;
        m.generator = GeneratorKind::Rmc;
        m.gen_emb = 32;
        (m.gen_slots, m.gen_heads, m.gen_head_size) = (1, 2, 256);
        m.discriminator = DiscriminatorKind::Relgan;
        m.disc_emb = 64;
        m.disc_widths = vec![2, 3, 4, 5];
        m.disc_filters = 300;
        m.disc_hidden = 100;
        m.disc_dropout = 0.25;
        self.estimator = Estimator::Gumbel;
        self.feedback = Feedback::Hard;
        self.loss = LossKind::Rsgan;
        (self.gen_lr, self.disc_lr, self.mle_lr) = (1e-4, 1e-4, 1e-2);
        self.adam_betas = (0.9, 0.999);
        self.clip = 5.0;
        (self.g_steps, self.d_steps) = (1, 5);
        self.batch = 64;
        self.pretrain_epochs = 150;
        self.adv_steps = 3000;
        let t = &mut self.temperature;
        t.form = TemperatureForm::Beta;
        t.schedule = ScheduleKind::Exp;
        (t.start, t.end) = (1.0, 1.0);
        t.horizon = Some(RELGAN_TEMP_HORIZON);
        t.learnable = false;
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
        c.temperature.start = 0.0;
        assert!(c.validate().unwrap_err().to_string().contains("start"));
    }

    /// The estimators that draw one-hot samples refuse what needs the relaxed one (soft
    /// feedback, a learned temperature), and ReinMax refuses a schedule that goes below
    /// tau = 1 at any step; each error names the flag.
    #[test]
    fn estimator_settings_that_cannot_work_are_errors_naming_the_flag() {
        let with = |name: &str, f: &dyn Fn(&mut TrainConfig)| {
            let mut c = TrainConfig::defaults_for(DataSource::Grammar);
            c.estimator = name.parse().unwrap();
            f(&mut c);
            c.validate().map_err(|e| e.to_string())
        };
        for name in ["st", "reinmax", "gapped-st", "gumbel-rao:3"] {
            let e = with(name, &|c| c.feedback = Feedback::Soft).unwrap_err();
            assert!(e.contains("--feedback") && e.contains(name), "{e}");
            let e = with(name, &|c| c.temperature.learnable = true).unwrap_err();
            assert!(e.contains("--learn-temperature") && e.contains(name), "{e}");
            with(name, &|_| {}).unwrap();
        }
        for name in ["gumbel", "st-gumbel"] {
            with(name, &|c| c.feedback = Feedback::Soft).unwrap();
            with(name, &|c| c.temperature.learnable = true).unwrap();
        }
        // beta from 1 to 10 passes tau = 1 at step 0 only: ReinMax refuses step 1
        let anneal = |c: &mut TrainConfig| {
            c.temperature.schedule = ScheduleKind::Linear;
            c.temperature.end = 10.0;
        };
        let e = with("reinmax", &anneal).unwrap_err();
        assert!(
            e.contains("--estimator reinmax needs tau >= 1") && e.contains("step 1"),
            "{e}"
        );
        with("st", &anneal).unwrap();
        // tau annealed from 5 down to 1 is fine, down to 0.5 is not
        let tau = |end: f64| {
            move |c: &mut TrainConfig| {
                c.temperature.form = TemperatureForm::Tau;
                c.temperature.schedule = ScheduleKind::Linear;
                (c.temperature.start, c.temperature.end) = (5.0, end);
            }
        };
        with("reinmax", &tau(1.0)).unwrap();
        let e = with("reinmax", &tau(0.5)).unwrap_err();
        assert!(
            e.contains("needs tau >= 1") && e.contains("gives tau = 0.99"),
            "{e}"
        );
    }

    /// A `config.json` as runs wrote it before `schedule` became an enum (the JSON has the same
    /// string) and before `pretrained` and `max_len` existed: it must still load, so that
    /// `--resume` and `eval` work on old run folders.
    const OLD_CONFIG_JSON: &str = r#"{
  "data": { "kind": "grammar" },
  "train_size": 10000,
  "test_size": 10000,
  "model": {
    "gen_emb": 32, "gen_hidden": 32, "disc_emb": 64,
    "disc_widths": [2, 3, 4, 5], "disc_filters": 64, "disc_dropout": 0.25
  },
  "batch": 64, "pretrain_epochs": 1, "mle_lr": 0.01, "adv_steps": 12,
  "g_steps": 1, "d_steps": 1, "gen_lr": 0.0005, "disc_lr": 0.001,
  "adam_betas": [0.9, 0.999], "clip": 5.0,
  "loss": "rsgan", "feedback": "hard", "disc_input": "straight_through",
  "temperature": {
    "form": "beta", "schedule": "linear", "start": 1.0, "end": 10.0,
    "jang_rate": 0.001, "jang_every": 100, "learnable": false
  },
  "seed": 5, "log_every": 10, "eval_every": 250, "checkpoint_every": 500,
  "eval_samples": 2000, "bleu_refs": 500
}"#;

    #[test]
    fn an_old_config_json_with_a_schedule_string_still_loads() {
        let c = TrainConfig::from_json(OLD_CONFIG_JSON, "config.json".as_ref()).unwrap();
        assert_eq!(c.temperature.schedule, ScheduleKind::Linear);
        // `disc_input` is read as the estimator it meant, and written back as `estimator`
        assert_eq!(c.estimator, Estimator::StGumbel);
        assert!(c.to_json().contains(r#""estimator": "st-gumbel""#));
        let soft = OLD_CONFIG_JSON.replace(r#""straight_through""#, r#""soft""#);
        let c_soft = TrainConfig::from_json(&soft, "config.json".as_ref()).unwrap();
        assert_eq!(c_soft.estimator, Estimator::Gumbel);
        assert_eq!((&c.pretrained, c.max_len), (&None, None));
        // beta = 1 + 9 i / 11 over the 12 adversarial steps.
        let s = c.schedule().unwrap();
        assert_eq!((s.at(0), s.at(11)), (1.0, 10.0));
        assert!(c.to_json().contains(r#""schedule": "linear""#));
        // A schedule that does not exist names itself, the file and the ones that do.
        let bad = OLD_CONFIG_JSON.replace(r#""linear""#, r#""cosine""#);
        let e = TrainConfig::from_json(&bad, "runs/x/config.json".as_ref())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("runs/x/config.json") && e.contains("cosine") && e.contains("jang"),
            "{e}"
        );
    }

    #[test]
    fn jang_schedule_maps_end_to_the_floor() {
        let mut c = TrainConfig::defaults_for(DataSource::Grammar);
        c.temperature = TemperatureConfig {
            form: TemperatureForm::Tau,
            schedule: ScheduleKind::Jang,
            start: 1.0,
            end: 0.5,
            jang_rate: 1.0,
            jang_every: 10,
            learnable: false,
            horizon: None,
        };
        let s = c.schedule().unwrap();
        assert_eq!(s.at(0), 1.0);
        assert_eq!(s.at(1000), 0.5);
    }

    /// `--arch relgan` sets RelGAN's networks and settings; its schedule anneals over
    /// RelGAN's horizon of 5000 steps, so at the end of a 3000-step run beta is
    /// `beta_max^(2999/5000)`, not `beta_max`; a config.json from before these fields is
    /// SeqGAN's LSTM and CNN with no horizon.
    #[test]
    fn relgan_preset_and_its_horizon() {
        let mut c = TrainConfig::defaults_for(DataSource::Oracle { file: None });
        c.apply_relgan();
        c.validate().unwrap();
        assert_eq!(c.model.gen_arch(), GeneratorArch::RELGAN);
        assert_eq!(
            c.model.disc_arch(),
            DiscriminatorArch::RelGan { hidden: 100 }
        );
        assert_eq!(
            (c.model.disc_filters, c.d_steps, c.adv_steps),
            (300, 5, 3000)
        );
        assert_eq!(c.model.gen_out_dim(), 512);
        c.temperature.end = 100.0;
        let s = c.schedule().unwrap();
        approx::assert_relative_eq!(
            s.at(2999),
            100f64.powf(2999.0 / 5000.0),
            max_relative = 1e-12
        );
        c.temperature.horizon = None;
        approx::assert_relative_eq!(
            c.schedule().unwrap().at(2999),
            100f64.powf(2999.0 / 3000.0),
            max_relative = 1e-12
        );
        c.temperature.horizon = Some(0);
        assert!(
            c.schedule()
                .unwrap_err()
                .to_string()
                .contains("--temp-horizon")
        );
        let old = TrainConfig::from_json(OLD_CONFIG_JSON, "config.json".as_ref()).unwrap();
        assert_eq!(old.model.gen_arch(), GeneratorArch::Lstm { hidden: 32 });
        assert_eq!(old.model.disc_arch(), DiscriminatorArch::Cnn);
        assert_eq!(old.temperature.horizon, None);
    }
}
