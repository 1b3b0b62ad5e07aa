//! `gumbel-lab sample` and `gumbel-lab eval`: load a checkpoint's generator and draw from
//! it or measure it.
//!
//! A checkpoint folder is self-contained for sampling: `config.json` gives the model sizes
//! and `state.json` the vocabulary. Evaluation rebuilds the data set from `config.json`
//! (the grammar and the oracle from the seed, a text corpus from its files), optionally with
//! another test file.

use std::path::{Path, PathBuf};

use super::checkpoint::{Checkpoint, resolve_checkpoint};
use super::config::{DataSource, TrainConfig, check_sample_memory};
use super::data::{DataKind, TrainData, render_tokens};
use super::eval::{add_nll_gen_train, evaluate_at, inspection_key};
use super::report::{self, Evaluation};
use super::state::TrainState;
use crate::data::Specials;
use crate::error::{Error, Result};
use crate::model::generator::{Generator, GeneratorConfig};
use crate::random::{self, Purpose};

/// A generator loaded from a checkpoint, with the run's config and state.
pub struct Loaded {
    pub dir: PathBuf,
    pub config: TrainConfig,
    pub state: TrainState,
    pub generator: Generator,
}

impl Loaded {
    /// The data kind of the run.
    pub fn kind(&self) -> DataKind {
        match self.config.data {
            DataSource::Grammar => DataKind::Grammar,
            DataSource::Oracle { .. } => DataKind::Oracle,
            DataSource::Text { .. } => DataKind::Text,
        }
    }

    /// The vocabulary's special tokens.
    pub fn specials(&self) -> Specials {
        Specials {
            pad: self.state.pad,
            bos: self.state.bos,
            eos: self.state.eos,
            unk: self.state.unk,
        }
    }

    /// The number of samples an evaluation of this model draws: `samples`, or the run's
    /// `eval_samples`. `Err` naming `--samples` unless it is at least 1 (2 for text:
    /// self-BLEU scores each sample against the others) and fits in memory
    /// ([`check_sample_memory`]).
    pub fn eval_samples(&self, samples: Option<usize>) -> Result<usize> {
        let n = samples.unwrap_or(self.config.eval_samples);
        let least = if self.kind() == DataKind::Text { 2 } else { 1 };
        if n < least {
            return Err(Error::Config(format!(
                "--samples {n}: must be at least {least}{}",
                if least == 2 {
                    " for text data: self-BLEU scores each sample against the others"
                } else {
                    ""
                }
            )));
        }
        check_sample_memory("--samples", n, self.state.seq_len)?;
        Ok(n)
    }
}

/// Loads the generator of the checkpoint at `path` (a checkpoint folder or a run folder).
pub fn load(path: &Path) -> Result<Loaded> {
    load_checkpoint(&resolve_checkpoint(path)?)
}

fn load_checkpoint(ck: &Checkpoint) -> Result<Loaded> {
    let config = TrainConfig::from_json(&ck.text("config.json")?, &ck.dir().join("config.json"))?;
    let state = ck.state()?;
    let gc = GeneratorConfig {
        vocab: state.vocab.len(),
        emb: config.model.gen_emb,
        arch: config.model.gen_arch(),
        seq_len: state.seq_len,
        start: state.start_token,
        pad: state.pad,
        eos: state.eos,
    };
    let mut generator = Generator::new(gc, 0)?;
    generator.load(&mut ck.tensors("generator.safetensors")?)?;
    Ok(Loaded {
        dir: ck.dir().to_path_buf(),
        config,
        state,
        generator,
    })
}

/// `n` samples (temperature 1) from the checkpoint at `path`, as text. `Err` naming `-n`
/// if `n` samples cannot fit in memory ([`check_sample_memory`]).
pub fn sample(path: &Path, n: usize, seed: u64) -> Result<Vec<String>> {
    let l = load(path)?;
    check_sample_memory("-n", n, l.state.seq_len)?;
    let tokens = l
        .generator
        .sample(n, random::run_key(seed, Purpose::Sample, 0))?;
    Ok(tokens
        .chunks(l.state.seq_len)
        .map(|s| render_tokens(&l.state.vocab, l.specials(), l.kind(), s))
        .collect())
}

/// What [`evaluate`] measured: the checkpoint's evaluation and, for a run folder with a
/// `pretrained/` checkpoint (the model after MLE), the MLE model's and real data's beside it.
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// The checkpoint folder read.
    pub dir: PathBuf,
    /// The sampling temperature of every evaluation (1 = the models themselves).
    pub temperature: f32,
    /// What loading the data set warned about.
    pub warnings: Vec<String>,
    /// The checkpoint's generator, with NLL_gen on the training data ([`add_nll_gen_train`]).
    pub model: Evaluation,
    /// The MLE model's folder and evaluation, when `dir` is a run folder with `pretrained/`.
    pub mle: Option<(PathBuf, Evaluation)>,
    /// The same metrics of real data (held-out sequences in place of samples), beside the MLE
    /// model's.
    pub real: Option<Evaluation>,
}

/// Evaluates the checkpoint at `path`: samples drawn (and NLL_gen measured) at `temperature`
/// (1 = the model itself) with the key of `seed`, the key `gumbel-lab frontier` draws with
/// for the same seed, so the two agree at every temperature. Besides the run's evaluation it
/// measures NLL_gen on the training data ([`add_nll_gen_train`]). For a run folder with a
/// `pretrained/` checkpoint (the model after MLE), that model is evaluated too.
///
/// `samples` (default: the run's `eval_samples`) must be at least 1, at least 2 for text
/// (self-BLEU compares each sample with the others), and fit in memory
/// ([`check_sample_memory`]); the errors name `--samples`.
pub fn evaluate(
    path: &Path,
    test: Option<&Path>,
    samples: Option<usize>,
    seed: u64,
    temperature: f32,
) -> Result<Evaluated> {
    let l = load(path)?;
    let mut cfg = l.config.clone();
    if let Some(t) = test {
        match &mut cfg.data {
            DataSource::Text { test, .. } => *test = Some(t.to_path_buf()),
            _ => {
                return Err(Error::Config(
                    "--test applies to runs on a text corpus".into(),
                ));
            }
        }
    }
    let n = l.eval_samples(samples)?;
    let data = TrainData::load(&cfg)?;
    data.check_vocab(&l.state, &l.dir)?;
    let key = inspection_key(seed);
    let mut model = evaluate_at(&l.generator, &data, &cfg, key, n, temperature)?.eval;
    add_nll_gen_train(&l.generator, &data, temperature, &mut model)?;
    let pretrained = [path.join("pretrained"), path.to_path_buf()]
        .into_iter()
        .find(|p| {
            p.join("generator.safetensors").is_file()
                && p.file_name().is_some_and(|f| f == "pretrained")
        });
    let (mle, real) = match pretrained {
        Some(p) if p != l.dir => {
            let m = load_checkpoint(&Checkpoint::read(&p)?)?;
            let mut mle_eval = evaluate_at(&m.generator, &data, &cfg, key, n, temperature)?.eval;
            add_nll_gen_train(&m.generator, &data, temperature, &mut mle_eval)?;
            let real = super::eval::evaluate_real(&data, &cfg, n)?;
            (Some((p, mle_eval)), real)
        }
        _ => (None, None),
    };
    Ok(Evaluated {
        dir: l.dir,
        temperature,
        warnings: data.warnings,
        model,
        mle,
        real,
    })
}

impl Evaluated {
    /// The printable table of `gumbel-lab eval`: the MLE model, the checkpoint and real data
    /// side by side where the run folder has all three, else the checkpoint's metrics alone.
    pub fn table(&self) -> String {
        let mut out = format!("checkpoint: {}\n", self.dir.display());
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        if self.temperature != 1.0 {
            out.push_str(&format!("sampling temperature: {}\n", self.temperature));
        }
        match &self.mle {
            Some((p, mle_eval)) => {
                out.push_str(&format!(
                    "compared with the MLE model in {}\n\n",
                    p.display()
                ));
                out.push_str(&report::side_by_side(
                    mle_eval,
                    Some(&self.model),
                    self.real.as_ref(),
                ));
            }
            None => {
                for (name, v, _) in self.model.entries() {
                    out.push_str(&format!("{name:<22} {v:>12.4}\n"));
                }
            }
        }
        out
    }
}
