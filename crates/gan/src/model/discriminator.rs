//! The discriminator: a CNN over (soft) one-hot sequences, as in SeqGAN and RelGAN.
//!
//! ```text
//! one-hots [L*B, V] (time-major) --@ E [V, De]--> x [L*B, De]      (real data: rows of E)
//! for each width k:  windows [P*B, k*De] (P = L-k+1) --linear--> relu --max over time--> [B, F]
//! concat [B, F*n_widths] --highway--> dropout --linear--> logit [B, 1]
//! highway: t = sigmoid(W_t x + b_t);  y = t * relu(W_h x + b_h) + (1 - t) * x
//! ```
//!
//! Real sequences are token ids, and `one_hot(ids) @ E` is a row lookup of `E`: the same
//! value and the same gradient as the matmul, for a fraction of the cost.
//!
//! The window of width `k` starting at position `p` is the concatenation of rows
//! `(p + j) * B + b`, j = 0..k; with time-major rows, the `j`-th block of all windows is the
//! contiguous slice of rows `j*B .. (j+P)*B`, so `windows = concat_j(x[j*B .. (j+P)*B], axis 1)`.
//! The convolution weight `conv{k}.weight [F, k*De]` has column `j*De + c` for input channel
//! `c` at offset `j` (PyTorch's `Conv1d` weight `[F, De, k]`, permuted to `[F, k, De]` and
//! flattened).

use gumbel_autograd::{ParamStore, Tape, Var};
use gumbel_tensor::Tensor;

use super::interim::{Embedding, Linear, dropout};
use super::ops::max_over_time;
use crate::data::Token;
use crate::error::{Error, Result};
use crate::train::checkpoint::{self, TensorFile};
use crate::train::rng;

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
    convs: Vec<Linear>,
    highway_gate: Linear,
    highway: Linear,
    out: Linear,
}

impl Discriminator {
    /// A discriminator initialised from `seed`: embedding N(0, 1), linear maps with
    /// PyTorch's U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    pub fn new(cfg: DiscriminatorConfig, seed: u64) -> Result<Discriminator> {
        if let Some(&k) = cfg.widths.iter().find(|&&k| k == 0 || k > cfg.seq_len) {
            return Err(Error::Config(format!(
                "--disc-widths: width {k} does not fit sequences of length {}",
                cfg.seq_len
            )));
        }
        let mut params = ParamStore::new();
        let mut r = rng::stream(seed, rng::Purpose::Init, 1);
        let embedding = Embedding::new(&mut params, "embedding", cfg.vocab, cfg.emb, &mut r)?;
        let mut convs = Vec::new();
        for &k in &cfg.widths {
            convs.push(Linear::new(
                &mut params,
                &format!("conv{k}"),
                k * cfg.emb,
                cfg.filters,
                true,
                &mut r,
            )?);
        }
        let feat = cfg.filters * cfg.widths.len();
        let highway_gate = Linear::new(&mut params, "highway.gate", feat, feat, true, &mut r)?;
        let highway = Linear::new(&mut params, "highway.transform", feat, feat, true, &mut r)?;
        let out = Linear::new(&mut params, "out", feat, 1, true, &mut r)?;
        Ok(Discriminator {
            cfg,
            params,
            embedding,
            convs,
            highway_gate,
            highway,
            out,
        })
    }

    /// Logits `[batch, 1]` for (soft) one-hots `[seq_len * batch, vocab]`, time-major.
    pub fn forward_onehot<'t>(
        &self,
        tape: &'t Tape<f32>,
        onehots: Var<'t, f32>,
        batch: usize,
        dropout_key: u64,
    ) -> Result<Var<'t, f32>> {
        let e = self.params.var(tape, self.embedding.weight)?;
        let x = onehots.matmul(&e)?;
        self.head(tape, x, batch, dropout_key)
    }

    /// Logits `[batch, 1]` for real sequences `[batch, seq_len]` (row-major token ids).
    pub fn forward_tokens<'t>(
        &self,
        tape: &'t Tape<f32>,
        tokens: &[Token],
        batch: usize,
        dropout_key: u64,
    ) -> Result<Var<'t, f32>> {
        let l = self.cfg.seq_len;
        if tokens.len() != batch * l {
            return Err(Error::Config(format!(
                "discriminator: {} tokens for a batch of {batch} sequences of length {l}",
                tokens.len()
            )));
        }
        let mut ids = vec![0usize; batch * l];
        for t in 0..l {
            for b in 0..batch {
                ids[t * batch + b] = tokens[b * l + t] as usize;
            }
        }
        let x = self.embedding.forward(&self.params, tape, &ids)?;
        self.head(tape, x, batch, dropout_key)
    }

    /// Everything after the embedding: convolutions, max over time, highway, dropout,
    /// output.
    fn head<'t>(
        &self,
        tape: &'t Tape<f32>,
        x: Var<'t, f32>,
        batch: usize,
        dropout_key: u64,
    ) -> Result<Var<'t, f32>> {
        let l = self.cfg.seq_len;
        let mut feats = Vec::with_capacity(self.convs.len());
        for (&k, conv) in self.cfg.widths.iter().zip(&self.convs) {
            let p = l - k + 1;
            let blocks: Vec<Var<'t, f32>> = (0..k)
                .map(|j| x.slice(0, j * batch, (j + p) * batch))
                .collect::<std::result::Result<_, _>>()?;
            let windows = if k == 1 {
                blocks[0]
            } else {
                Var::concat(&blocks, 1)?
            };
            let h = conv.forward(&self.params, tape, &windows)?.relu()?;
            feats.push(max_over_time(&h, batch)?);
        }
        let f = if feats.len() == 1 {
            feats[0]
        } else {
            Var::concat(&feats, 1)?
        };
        let gate = self
            .highway_gate
            .forward(&self.params, tape, &f)?
            .sigmoid()?;
        let trans = self.highway.forward(&self.params, tape, &f)?.relu()?;
        // y = t * h + (1 - t) * x = x + t * (h - x)
        let y = f.add(&gate.mul(&trans.sub(&f)?)?)?;
        let y = dropout(&y, self.cfg.dropout, dropout_key)?;
        Ok(self.out.forward(&self.params, tape, &y)?)
    }

    /// The parameters as `(name, tensor)`.
    pub fn state_dict(&self) -> Vec<(String, &Tensor<f32>)> {
        self.params
            .named_values()
            .map(|(n, t)| (n.to_string(), t))
            .collect()
    }

    /// `discriminator.safetensors` bytes.
    pub fn safetensors_bytes(&self) -> Result<Vec<u8>> {
        checkpoint::safetensors_bytes(&self.state_dict())
    }

    /// Loads every parameter; `Err` naming the file and tensor on a mismatch.
    pub fn load(&mut self, file: &mut TensorFile) -> Result<()> {
        let ids: Vec<_> = self.params.ids().collect();
        for id in ids {
            let name = self.params.name(id)?.to_string();
            let shape = self.params.value(id)?.shape().to_vec();
            let t = file.take(&name, &shape)?;
            self.params.set(id, t)?;
        }
        file.expect_empty()
    }
}
