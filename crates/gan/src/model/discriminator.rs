//! The discriminator: a CNN over (soft) one-hot sequences, as in SeqGAN and RelGAN.
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

use gumbel_autograd::layers::{Bias, Conv1dBank, Embedding, Highway, Linear};
use gumbel_autograd::ops::matmul::PreparedRight;
use gumbel_autograd::{ParamStore, Tape, Var};
use gumbel_tensor::Tensor;

use crate::data::Token;
use crate::error::{Error, Result};
use crate::io::safetensors::{self, TensorFile};
use crate::random;

/// Sizes of a discriminator.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscriminatorConfig {
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

/// The CNN discriminator with its parameters.
pub struct Discriminator {
    pub cfg: DiscriminatorConfig,
    pub params: ParamStore<f32>,
    embedding: Embedding,
    convs: Conv1dBank,
    highway: Highway,
    out: Linear,
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
        let embedding = Embedding::new(&mut params, "embedding", cfg.vocab, cfg.emb, &mut r)?;
        let filters = vec![cfg.filters; cfg.widths.len()];
        let convs = Conv1dBank::new(&mut params, "convs", cfg.emb, &cfg.widths, &filters, &mut r)?;
        let highway = Highway::new(&mut params, "highway", convs.out_dim, &mut r)?;
        let out = Linear::new(&mut params, "out", convs.out_dim, 1, Bias::Yes, &mut r)?;
        Ok(Discriminator {
            cfg,
            params,
            embedding,
            convs,
            highway,
            out,
        })
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
            .map(|y| Ok(embed.apply(y)?))
            .collect::<Result<Vec<_>>>()?;
        self.forward_embedded(tape, &xs, batch, dropout_seed)
    }

    /// The embedding `y @ E` prepared for many time steps on one tape: its `apply(y)` embeds
    /// one time step's (soft) one-hots `y: [batch, vocab]` to `[batch, emb]` (the first layer
    /// of [`Discriminator::forward_onehot`]), and the gradients of all the `y` read one
    /// transposed copy of `E` (see [`PreparedRight`]). For callers that embed each step as it
    /// is generated ([`Generator::relaxed_each`](super::generator::Generator::relaxed_each)).
    pub fn prepare_embed<'t>(&self, tape: &'t Tape<f32>) -> Result<PreparedRight<'t, f32>> {
        Ok(self.embedding.prepare_soft(tape, &self.params)?)
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
        Ok(self
            .embedding
            .forward(tape, &self.params, &ids)?
            .reshape([batch, l, self.cfg.emb])?)
    }

    /// The discriminator's probability that each of `batch` sequences (`[batch, seq_len]`
    /// token ids) is real, `sigmoid(D(x))`, as an evaluation: no gradient and no dropout
    /// (SeqGAN scores its rollouts with `dropout_keep_prob: 1.0`). REINFORCE's reward.
    pub fn probability_real(&self, tokens: &[Token], batch: usize) -> Result<Vec<f32>> {
        let tape = Tape::inference();
        let x = self.embed_tokens(&tape, tokens, batch)?;
        let logits = self.head(&tape, x, batch, None)?.value()?;
        Ok(logits
            .as_slice()
            .iter()
            .map(|&z| gumbel_autograd::ops::loss::kernel::sigmoid(z))
            .collect())
    }

    /// Everything after the embedding `[B, L, De]`: convolutions with max over time,
    /// highway, dropout (with the masks of `dropout_seed`; none for `None`, an evaluation),
    /// output.
    fn head<'t>(
        &self,
        tape: &'t Tape<f32>,
        x: Var<'t, f32>,
        _batch: usize,
        dropout_seed: Option<u64>,
    ) -> Result<Var<'t, f32>> {
        let f = self.convs.forward(tape, &self.params, &x)?;
        let y = self.highway.forward(tape, &self.params, &f)?;
        let y = match dropout_seed {
            Some(seed) => y.dropout(self.cfg.dropout, seed)?,
            None => y,
        };
        Ok(self.out.forward(tape, &self.params, &y)?)
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
