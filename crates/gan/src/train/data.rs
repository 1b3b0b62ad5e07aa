//! [`TrainData`]: a data set prepared for training: padded token matrices, minibatch order,
//! the oracle (for NLL_oracle) and how to render a sequence as text.
//!
//! The data sets themselves (grammar, oracle, text corpus) live in [`crate::data`]; this
//! file adapts them to the training loop.

use std::path::Path;

use rand::RngExt;

use super::config::{DataSource, TrainConfig};
use super::state::TrainState;
use crate::data::oracle::{self, Oracle};
use crate::data::{Dataset, Specials, Token};
use crate::error::{Error, Result};
use crate::model::discriminator::DiscriminatorConfig;
use crate::model::generator::GeneratorConfig;
use crate::random::{self, Purpose};

/// Which kind of data set a run trains on (decides the metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    Grammar,
    Oracle,
    Text,
}

/// A data set ready for training.
pub struct TrainData {
    pub kind: DataKind,
    pub dataset: Dataset,
    /// Training sequences, padded, row-major `[n_train, seq_len]`.
    pub train: Vec<Token>,
    /// Held-out sequences, padded, `[n_test, seq_len]` (may be empty).
    pub test: Vec<Token>,
    /// Validation sequences for `--select-by`, padded, `[valid_size, seq_len]` (empty
    /// without `--valid-size`); see [`TrainData::load`].
    pub valid: Vec<Token>,
    /// The oracle whose NLL scores samples (oracle data only).
    pub oracle: Option<Oracle<f32>>,
    /// The test sentences as words (text data with a test file): BLEU's references. Words
    /// outside the training vocabulary keep their spelling here.
    pub test_words: Vec<Vec<String>>,
    /// Things the user should know about the data (sentences skipped for their length).
    pub warnings: Vec<String>,
}

impl TrainData {
    /// Builds the data set a config names: samples the grammar or the oracle from the
    /// run's seed, or reads the text files.
    ///
    /// Text sentences longer than `cfg.max_len` are left out, with a warning in
    /// [`TrainData::warnings`] (the training run shows it to its observer). Before the padded matrices are built,
    /// checks with the data set's real sizes what [`TrainConfig::validate`] could not:
    /// the memory estimate ([`TrainConfig::check_memory`]), the number of MLE steps
    /// ([`TrainConfig::mle_total_steps`]: after this the training loop's
    /// `pretrain_epochs * steps_per_epoch` cannot overflow), that the minibatch and the
    /// widest convolution fit the data.
    pub fn load(cfg: &TrainConfig) -> Result<TrainData> {
        let data_seed = random::run_key(cfg.seed, Purpose::Data, 0);
        let mut test_words = Vec::new();
        let mut warnings = Vec::new();
        // The grammar's and the oracle's validation sequences come from a stream of their
        // own, so the training and test sets are those of a run without them.
        let valid_seed = random::run_key(cfg.seed, Purpose::Data, 2);
        let mut valid_seqs = Vec::new();
        let (kind, dataset, oracle) = match &cfg.data {
            DataSource::Grammar => {
                use crate::data::grammar;
                valid_seqs = grammar::sample(cfg.valid_size, valid_seed, grammar::VALID_DOMAIN);
                (
                    DataKind::Grammar,
                    grammar::dataset(cfg.train_size, cfg.test_size, data_seed),
                    None,
                )
            }
            DataSource::Oracle { file } => {
                let o = match file {
                    Some(p) => Oracle::<f32>::load(p)?,
                    None => Oracle::<f32>::random(random::run_key(cfg.seed, Purpose::Data, 1)),
                };
                // The oracle file sets the vocabulary: check before drawing the data.
                cfg.check_memory(
                    o.vocab_size(),
                    oracle::SEQ_LEN,
                    cfg.train_size,
                    cfg.test_size,
                )?;
                let d = oracle::dataset(&o, cfg.train_size, cfg.test_size, data_seed);
                valid_seqs = o.sample(cfg.valid_size, oracle::SEQ_LEN, valid_seed);
                (DataKind::Oracle, d, Some(o))
            }
            DataSource::Text { train, test } => {
                // Without a test file the held-out set stays empty: no NLL_gen and no BLEU.
                let corpus =
                    crate::data::text::load_for_training(train, test.as_deref(), cfg.max_len)?;
                if let Some(w) = cfg.max_len.and_then(|l| corpus.skipped_summary(l)) {
                    warnings.push(w);
                }
                let widest = cfg.model.disc_widths.iter().copied().max().unwrap_or(0);
                if widest > corpus.dataset.seq_len {
                    return Err(Error::Config(format!(
                        "--disc-widths: width {widest} is wider than the sequences of {}: its longest sentence has {} tokens ({} with <eos>)",
                        train.display(),
                        corpus.max_len,
                        corpus.dataset.seq_len
                    )));
                }
                test_words = corpus.test_tokens;
                let mut dataset = corpus.dataset;
                // the last sentences of the training file, held out of training
                if cfg.valid_size > 0 {
                    if cfg.valid_size >= dataset.train.len() {
                        return Err(Error::Config(format!(
                            "--valid-size {}: {} has only {} sentences (of at most --max-len tokens) to train on",
                            cfg.valid_size,
                            train.display(),
                            dataset.train.len()
                        )));
                    }
                    valid_seqs = dataset
                        .train
                        .split_off(dataset.train.len() - cfg.valid_size);
                }
                (DataKind::Text, dataset, None)
            }
        };
        let valid = dataset.padded_batch(&valid_seqs)?;
        cfg.check_memory(
            dataset.vocab.len(),
            dataset.seq_len,
            dataset.train.len(),
            dataset.test.len(),
        )?;
        cfg.mle_total_steps(dataset.train.len())?;
        if dataset.train.len() < cfg.batch {
            return Err(Error::Config(format!(
                "--batch {}: the training set has only {} sequences",
                cfg.batch,
                dataset.train.len()
            )));
        }
        let train = dataset.padded_batch(&dataset.train)?;
        let test = dataset.padded_batch(&dataset.test)?;
        Ok(TrainData {
            kind,
            dataset,
            train,
            test,
            valid,
            oracle,
            test_words,
            warnings,
        })
    }

    /// The special tokens.
    pub fn specials(&self) -> Specials {
        self.dataset.vocab.specials()
    }

    /// The generator's first input: the beginning-of-sequence token, or id 0 (SeqGAN's start
    /// token) for a vocabulary without one.
    pub fn start_token(&self) -> Token {
        self.specials().bos.unwrap_or(oracle::START_TOKEN)
    }

    /// Number of training sequences.
    pub fn train_len(&self) -> usize {
        self.dataset.train.len()
    }

    /// Number of held-out sequences.
    pub fn test_len(&self) -> usize {
        self.dataset.test.len()
    }

    /// The generator's sizes for this data set.
    pub fn gen_config(&self, cfg: &TrainConfig) -> GeneratorConfig {
        let s = self.specials();
        GeneratorConfig {
            vocab: self.dataset.vocab.len(),
            emb: cfg.model.gen_emb,
            arch: cfg.model.gen_arch(),
            seq_len: self.dataset.seq_len,
            start: self.start_token(),
            pad: s.pad,
            eos: s.eos,
        }
    }

    /// The discriminator's sizes for this data set.
    pub fn disc_config(&self, cfg: &TrainConfig) -> DiscriminatorConfig {
        DiscriminatorConfig {
            arch: cfg.model.disc_arch(),
            vocab: self.dataset.vocab.len(),
            seq_len: self.dataset.seq_len,
            emb: cfg.model.disc_emb,
            widths: cfg.model.disc_widths.clone(),
            filters: cfg.model.disc_filters,
            dropout: cfg.model.disc_dropout,
        }
    }

    /// The order of the training sequences in MLE epoch `epoch`: a Fisher-Yates shuffle
    /// drawn from `(seed, Shuffle, epoch)`.
    pub fn epoch_order(&self, seed: u64, epoch: usize) -> Vec<usize> {
        let mut r = random::run_stream(seed, Purpose::Shuffle, epoch as u64);
        let mut order: Vec<usize> = (0..self.train_len()).collect();
        for i in (1..order.len()).rev() {
            let j = r.random_range(0..=i);
            order.swap(i, j);
        }
        order
    }

    /// The padded training sequences at `idx`, row-major `[idx.len(), seq_len]`.
    pub fn train_batch(&self, idx: &[usize]) -> Vec<Token> {
        let l = self.dataset.seq_len;
        let mut out = Vec::with_capacity(idx.len() * l);
        for &i in idx {
            out.extend_from_slice(&self.train[i * l..(i + 1) * l]);
        }
        out
    }

    /// `b` training sequences drawn uniformly with replacement from `(seed, purpose, k)`.
    pub fn random_train_batch(&self, seed: u64, purpose: Purpose, k: u64, b: usize) -> Vec<Token> {
        let mut r = random::run_stream(seed, purpose, k);
        let n = self.train_len();
        let idx: Vec<usize> = (0..b).map(|_| r.random_range(0..n)).collect();
        self.train_batch(&idx)
    }

    /// A generated or padded sequence as text: its tokens up to the end token, joined by
    /// spaces (grammar tokens are joined without spaces: `(x+y)*x`).
    pub fn render(&self, seq: &[Token]) -> String {
        render_tokens(self.dataset.vocab.tokens(), self.specials(), self.kind, seq)
    }

    /// The content tokens of a sequence as strings (up to the end token).
    pub fn words<'a>(&'a self, seq: &[Token]) -> Vec<&'a str> {
        self.dataset
            .strip(seq)
            .iter()
            .filter(|&&t| Some(t) != self.specials().bos)
            .map(|&t| self.dataset.vocab.token(t).unwrap_or("?"))
            .collect()
    }

    /// `Err` naming the checkpoint folder `ck` if its vocabulary or sequence length differs
    /// from this data set's: on `--resume` the corpus changed since the run started; with
    /// `--pretrained` the model was trained on another data set.
    pub fn check_vocab(&self, state: &TrainState, ck: &Path) -> Result<()> {
        if state.vocab != self.dataset.vocab.tokens() || state.seq_len != self.dataset.seq_len {
            return Err(Error::checkpoint(
                ck,
                format!(
                    "this model's vocabulary ({} tokens, sequence length {}) differs from this data set's ({} tokens, length {}): it was trained on other data (with --pretrained: a model of another data set or --max-len; with --resume: the data changed since the run started)",
                    state.vocab.len(),
                    state.seq_len,
                    self.dataset.vocab.len(),
                    self.dataset.seq_len
                ),
            ));
        }
        Ok(())
    }
}

/// See [`TrainData::render`]; usable without the data set (from a checkpoint's
/// vocabulary).
pub fn render_tokens(
    vocab: &[String],
    specials: Specials,
    kind: DataKind,
    seq: &[Token],
) -> String {
    let sep = if kind == DataKind::Grammar { "" } else { " " };
    let mut words = Vec::new();
    for &t in seq {
        if Some(t) == specials.eos || Some(t) == specials.pad {
            break;
        }
        if Some(t) == specials.bos {
            continue;
        }
        words.push(vocab.get(t as usize).map(String::as_str).unwrap_or("?"));
    }
    words.join(sep)
}
