//! The discriminator: a CNN over (soft) one-hot sequences, SeqGAN's or RelGAN's
//! ([`DiscriminatorArch`]).
//!
//! SeqGAN's (`Cnn`):
//!
//! ```text
//! one-hots [B, V] per step --@ E [V, De]--> stacked [B, L, De]   (real data: rows of E, the same value)
//! conv bank: widths w_k, F filters each: relu(conv1d) -> max over time -> concat [B, F * n_widths]
//! highway: t = sigmoid(W_t x + b_t);  y = t * relu(W_h x + b_h) + (1 - t) * x
//! dropout -> linear -> logit [B, 1]
//! ```
//!
//! Real sequences are token ids, and `one_hot(ids) @ E` is a row lookup of `E`: the same
//! value and the same gradient as the matmul at a fraction of the cost. Parameter names
//! follow PyTorch modules (`embedding.weight`, `convs.convs.{k}.weight [F, De, w_k]` as
//! `nn.Conv1d`, `highway.gate.*`, `highway.proj.*`, `out.*`).
//!
//! RelGAN's (`RelGan`, Nie et al. 2019): each of the `De` embedding features is a separate
//! one-dimensional representation of the sequence, scored on its own:
//!
//! ```text
//! one-hots [B, V] per step --x W_emb^T ([De, V], no bias)--> [B, L, De]
//! per width w_k: relu(max_t conv over time, one channel, F filters shared by the De columns) -> [B, De, F]
//! concat over widths, one row per representation: [B De, F n_widths]
//! highway without biases: t = sigmoid(x W_gate^T); y = t * relu(x W_lin^T) + (1 - t) * x
//! dropout -> linear to `hidden` -> linear to 1: one logit per representation [B De, 1]
//! ```
//!
//! The losses average over all `B De` logits (real row `i` paired with fake row `i` in
//! RSGAN). Names and layouts are those of `relgan_step_bench.py`'s `Discriminator`
//! (`--variant official`): `emb.weight [De, V]`, `convs.{k}.weight [F, 1, w_k, 1]`,
//! `convs.{k}.bias`, `hw_lin.weight`, `hw_gate.weight`, `fc.*`, `logit.*`; initialised as
//! RelGAN's TensorFlow code (truncated normal weights, zero biases).

use gumbel_autograd::layers::{Bias, ColumnConvBank, Conv1dBank, Embedding, Highway, Linear};
use gumbel_autograd::ops::embedding::embedding_columns;
use gumbel_autograd::ops::matmul::{PreparedLinear, PreparedRight};
use gumbel_autograd::{ParamStore, Tape, Var};
use gumbel_tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::data::Token;
use crate::error::{Error, Result};
use crate::io::safetensors::{self, TensorFile};
use crate::random;

/// The discriminator's architecture (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DiscriminatorArch {
    /// SeqGAN's CNN: one feature vector and one logit per sequence.
    Cnn,
    /// RelGAN's multi-representation CNN: one logit per embedding feature, through a
    /// layer of `hidden` units (RelGAN: 100).
    RelGan { hidden: usize },
}

/// Sizes of a discriminator.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscriminatorConfig {
    /// SeqGAN's CNN or RelGAN's.
    pub arch: DiscriminatorArch,
    pub vocab: usize,
    pub seq_len: usize,
    /// Embedding width.
    pub emb: usize,
    /// Convolution widths (each at most `seq_len`).
    pub widths: Vec<usize>,
    /// Filters per width.
    pub filters: usize,
    /// Dropout probability before the output layer.
    pub dropout: f64,
}

/// The discriminator with its parameters.
pub struct Discriminator {
    pub cfg: DiscriminatorConfig,
    pub params: ParamStore<f32>,
    layers: Layers,
    highway: Highway,
}

/// The layers of each architecture (the highway is common to both).
enum Layers {
    Cnn {
        embedding: Embedding,
        convs: Conv1dBank,
        out: Linear,
    },
    RelGan {
        emb: Linear,
        convs: ColumnConvBank,
        fc: Linear,
        logit: Linear,
    },
}

/// The embedding of one time step's (soft) one-hots, prepared for the `seq_len` steps of a
/// tape ([`Discriminator::prepare_embed`]).
pub enum PreparedEmbed<'t> {
    /// `y E` with `E: [V, De]` (SeqGAN's CNN).
    Table(PreparedRight<'t, f32>),
    /// `y W^T` with `W: [De, V]` (RelGAN's `Linear(V, De, bias=False)`).
    Linear(PreparedLinear<'t, f32>),
}

impl<'t> PreparedEmbed<'t> {
    /// One time step `y: [batch, vocab]` embedded to `[batch, emb]`.
    pub fn apply(&self, y: &Var<'t, f32>) -> Result<Var<'t, f32>> {
        Ok(match self {
            PreparedEmbed::Table(e) => e.apply(y)?,
            PreparedEmbed::Linear(e) => e.apply(y)?,
        })
    }
}

impl Discriminator {
    /// A discriminator with PyTorch's default initialisation drawn from `seed`.
    pub fn new(cfg: DiscriminatorConfig, seed: u64) -> Result<Discriminator> {
        if let Some(&k) = cfg.widths.iter().find(|&&k| k == 0 || k > cfg.seq_len) {
            return Err(Error::Config(format!(
                "--disc-widths: width {k} does not fit sequences of length {}",
                cfg.seq_len
            )));
        }
        let mut params = ParamStore::new();
        let mut r = random::run_stream(seed, random::Purpose::Init, 1);
        let filters = vec![cfg.filters; cfg.widths.len()];
        let (layers, highway) = match cfg.arch {
            DiscriminatorArch::Cnn => {
                let embedding =
                    Embedding::new(&mut params, "embedding", cfg.vocab, cfg.emb, &mut r)?;
                let convs =
                    Conv1dBank::new(&mut params, "convs", cfg.emb, &cfg.widths, &filters, &mut r)?;
                let highway = Highway::new(&mut params, "highway", convs.out_dim, &mut r)?;
                let out = Linear::new(&mut params, "out", convs.out_dim, 1, Bias::Yes, &mut r)?;
                let layers = Layers::Cnn {
                    embedding,
                    convs,
                    out,
                };
                (layers, highway)
            }
            DiscriminatorArch::RelGan { hidden } => {
                if hidden == 0 {
                    return Err(Error::Config(
                        "the RelGAN discriminator's hidden layer needs > 0 units".into(),
                    ));
                }
                let lin = |params: &mut ParamStore<f32>, name: &str, i, o, b, r: &mut _| {
                    Linear::new_truncated_normal(params, name, i, o, b, r)
                };
                let emb = lin(&mut params, "emb", cfg.vocab, cfg.emb, Bias::No, &mut r)?;
                let convs =
                    ColumnConvBank::new(&mut params, "convs", &cfg.widths, &filters, &mut r)?;
                let d = convs.out_dim;
                let proj = lin(&mut params, "hw_lin", d, d, Bias::No, &mut r)?;
                let gate = lin(&mut params, "hw_gate", d, d, Bias::No, &mut r)?;
                let fc = lin(&mut params, "fc", d, hidden, Bias::Yes, &mut r)?;
                let logit = lin(&mut params, "logit", hidden, 1, Bias::Yes, &mut r)?;
                let layers = Layers::RelGan {
                    emb,
                    convs,
                    fc,
                    logit,
                };
                (layers, Highway { gate, proj })
            }
        };
        Ok(Discriminator {
            cfg,
            params,
            layers,
            highway,
        })
    }

    /// Logits per sequence (`[batch, 1]`) or, for RelGAN's discriminator, per sequence and
    /// representation (`[batch * emb, 1]`, row `b * emb + r`): the rows the losses average.
    pub fn logits_per_batch(&self, batch: usize) -> usize {
        match self.cfg.arch {
            DiscriminatorArch::Cnn => batch,
            DiscriminatorArch::RelGan { .. } => batch * self.cfg.emb,
        }
    }

    /// Logits `[batch, 1]` for (soft) one-hots given per time step (`seq_len` values of
    /// `[batch, vocab]`). Each step is embedded on its own ([`Discriminator::prepare_embed`])
    /// and the small `[B, De]` results are stacked: the `[B, L, V]` one-hots are never copied.
    pub fn forward_onehot<'t>(
        &self,
        tape: &'t Tape<f32>,
        steps: &[Var<'t, f32>],
        batch: usize,
        dropout_seed: u64,
    ) -> Result<Var<'t, f32>> {
        let embed = self.prepare_embed(tape)?;
        let xs = steps
            .iter()
            .map(|y| embed.apply(y))
            .collect::<Result<Vec<_>>>()?;
        self.forward_embedded(tape, &xs, batch, dropout_seed)
    }

    /// The embedding `y @ E` prepared for many time steps on one tape: its `apply(y)` embeds
    /// one time step's (soft) one-hots `y: [batch, vocab]` to `[batch, emb]` (the first layer
    /// of [`Discriminator::forward_onehot`]), and the gradients of all the `y` read one
    /// transposed copy of `E` (see [`PreparedRight`]). For callers that embed each step as it
    /// is generated ([`Generator::relaxed_each`](super::generator::Generator::relaxed_each)).
    pub fn prepare_embed<'t>(&self, tape: &'t Tape<f32>) -> Result<PreparedEmbed<'t>> {
        Ok(match &self.layers {
            Layers::Cnn { embedding, .. } => {
                PreparedEmbed::Table(embedding.prepare_soft(tape, &self.params)?)
            }
            Layers::RelGan { emb, .. } => PreparedEmbed::Linear(emb.prepare(tape, &self.params)?),
        })
    }

    /// Logits `[batch, 1]` for sequences whose time steps were embedded with
    /// [`Discriminator::prepare_embed`] (`seq_len` values of `[batch, emb]`, in order).
    pub fn forward_embedded<'t>(
        &self,
        tape: &'t Tape<f32>,
        xs: &[Var<'t, f32>],
        batch: usize,
        dropout_seed: u64,
    ) -> Result<Var<'t, f32>> {
        if xs.len() != self.cfg.seq_len {
            return Err(Error::Config(format!(
                "discriminator: {} time steps for sequences of length {}",
                xs.len(),
                self.cfg.seq_len
            )));
        }
        let x = Var::stack(xs, 1)?;
        self.head(tape, x, batch, Some(dropout_seed))
    }

    /// Logits `[batch, 1]` for real sequences `[batch, seq_len]` (row-major token ids).
    pub fn forward_tokens<'t>(
        &self,
        tape: &'t Tape<f32>,
        tokens: &[Token],
        batch: usize,
        dropout_seed: u64,
    ) -> Result<Var<'t, f32>> {
        let x = self.embed_tokens(tape, tokens, batch)?;
        self.head(tape, x, batch, Some(dropout_seed))
    }

    /// The embedded real sequences `[batch, seq_len, emb]` (rows of `E`); `Err` unless
    /// `tokens` holds `batch` sequences of `seq_len` tokens.
    fn embed_tokens<'t>(
        &self,
        tape: &'t Tape<f32>,
        tokens: &[Token],
        batch: usize,
    ) -> Result<Var<'t, f32>> {
        let l = self.cfg.seq_len;
        if tokens.len() != batch * l {
            return Err(Error::Config(format!(
                "discriminator: {} tokens for a batch of {batch} sequences of length {l}",
                tokens.len()
            )));
        }
        let ids: Vec<usize> = tokens.iter().map(|&t| t as usize).collect();
        if let Some(&t) = ids.iter().find(|&&t| t >= self.cfg.vocab) {
            return Err(Error::Config(format!(
                "discriminator: token {t} is not below the vocabulary size {}",
                self.cfg.vocab
            )));
        }
        let x = match &self.layers {
            Layers::Cnn { embedding, .. } => embedding.forward(tape, &self.params, &ids)?,
            // one_hot(ids) W^T: the columns of W at the ids
            Layers::RelGan { emb, .. } => {
                embedding_columns(&self.params.var(tape, emb.weight)?, &ids)?
            }
        };
        Ok(x.reshape([batch, l, self.cfg.emb])?)
    }

    /// The discriminator's probability that each of `batch` sequences (`[batch, seq_len]`
    /// token ids) is real, `sigmoid(D(x))`, as an evaluation: no gradient and no dropout
    /// (SeqGAN scores its rollouts with `dropout_keep_prob: 1.0`). REINFORCE's reward. For
    /// RelGAN's discriminator, which scores each representation, the mean of the
    /// representations' probabilities.
    pub fn probability_real(&self, tokens: &[Token], batch: usize) -> Result<Vec<f32>> {
        let tape = Tape::inference();
        let x = self.embed_tokens(&tape, tokens, batch)?;
        let logits = self.head(&tape, x, batch, None)?.value()?;
        let per_seq = logits.numel() / batch.max(1);
        // RelGAN's discriminator: the mean over the representations' probabilities
        Ok(logits
            .as_slice()
            .chunks(per_seq.max(1))
            .map(|zs| {
                let p: f32 = zs
                    .iter()
                    .map(|&z| gumbel_autograd::ops::loss::kernel::sigmoid(z))
                    .sum();
                p / zs.len() as f32
            })
            .collect())
    }

    /// Everything after the embedding `[B, L, De]`: convolutions with max over time,
    /// highway, dropout (with the masks of `dropout_seed`; none for `None`, an evaluation),
    /// output ([`Discriminator::logits_per_batch`] rows).
    fn head<'t>(
        &self,
        tape: &'t Tape<f32>,
        x: Var<'t, f32>,
        _batch: usize,
        dropout_seed: Option<u64>,
    ) -> Result<Var<'t, f32>> {
        let f = match &self.layers {
            Layers::Cnn { convs, .. } => convs.forward(tape, &self.params, &x)?,
            Layers::RelGan { convs, .. } => {
                let f = convs.forward(tape, &self.params, &x)?; // [B, De, features]
                let s = f.shape()?;
                f.reshape([s[0] * s[1], s[2]])?
            }
        };
        let y = self.highway.forward(tape, &self.params, &f)?;
        let y = match dropout_seed {
            Some(seed) => y.dropout(self.cfg.dropout, seed)?,
            None => y,
        };
        Ok(match &self.layers {
            Layers::Cnn { out, .. } => out.forward(tape, &self.params, &y)?,
            Layers::RelGan { fc, logit, .. } => {
                let h = fc.forward(tape, &self.params, &y)?;
                logit.forward(tape, &self.params, &h)?
            }
        })
    }

    /// The parameters as `(name, tensor)`.
    pub fn state_dict(&self) -> Vec<(String, &Tensor<f32>)> {
        safetensors::state_dict(&self.params)
    }

    /// `discriminator.safetensors` bytes.
    pub fn safetensors_bytes(&self) -> Result<Vec<u8>> {
        safetensors::to_bytes(&self.state_dict(), &[("format", "pt")])
    }

    /// Loads every parameter; `Err` naming the file and tensor on a mismatch.
    pub fn load(&mut self, file: &mut TensorFile) -> Result<()> {
        safetensors::load_params(&mut self.params, file)
    }
}
