//! The SeqGAN synthetic oracle (Yu et al., AAAI 2017): a fixed, randomly initialised LSTM
//! language model (vocabulary 5000, embedding 32, hidden 32, sequences of 20 tokens) whose
//! samples are the training data, and whose likelihood scores a generator's samples
//! (NLL_oracle).
//!
//! | file | holds |
//! |---|---|
//! | `mod.rs` | [`Oracle`], its sizes, the data set ([`dataset`], [`vocab`]) |
//! | `params.rs` | the 15 named tensors ([`tensor_specs`]), [`Oracle::load`] / [`Oracle::save`] (safetensors), [`Oracle::random`], the magnitude check |
//! | `lstm.rs` | the forward pass over a block of sequences, gate kernels, [`log_sum_exp`] |
//! | `score.rs` | teacher-forced scoring: [`Oracle::position_nll`], [`Oracle::sequence_nll`], [`Oracle::nll_oracle`], [`Oracle::log_probs`] |
//! | `sample.rs` | [`Oracle::sample`] |
//! | `sample_file.rs` | SeqGAN's sample-file format ([`read_sample_file`], [`write_sample_file`]) |
//!
//! # Math (exactly SeqGAN's `target_lstm.py`)
//! Row vectors, `y = x @ W + b`, every `W` stored `[in, out]` (as TensorFlow's
//! `tf.matmul(x, W)`; never transposed). Start token `s = 0`, `h0 = c0 = 0`, `x1 = emb[0]`;
//! for `t = 1..=T`:
//! ```text
//! i = sigma(x W_xi + h W_hi + b_i)     f = sigma(x W_xf + h W_hf + b_f)    (no +1 forget offset)
//! o = sigma(x W_xo + h W_ho + b_o)     g = tanh (x W_xc + h W_hc + b_c)
//! c_t = f * c_{t-1} + i * g            h_t = o * tanh(c_t)
//! z_t = h_t W_out + b_out              p_t = softmax(z_t)
//! y_t ~ Categorical(p_t)               x_{t+1} = emb[y_t]
//! ```
//! The start token is not part of the output; id 0 is an ordinary token that can be sampled.
//!
//! # Speed
//! The cost is the output layer: `[rows, 32] @ [32, 5000]` per step, 64 GFLOP for NLL_oracle
//! of 9,984 x 20 tokens. Sequences are processed in blocks of [`BLOCK_ROWS`] rows (one rayon
//! task each); within a block the logits come from `gumbel_tensor::ops::matmul` (gemm), and
//! the log-sum-exp and the inverse-CDF draw run over each row of logits while it is in
//! cache.
//!
//! # Determinism
//! Sequence `i` of [`Oracle::sample`] draws its uniforms from its own stream
//! ([`random::stream`](crate::random::stream)`(seed, `[`SAMPLE_DOMAIN`]`, i)`); every row's arithmetic is the same
//! whichever block or thread computes it; per-sequence NLLs are summed in sequence order. So
//! results are bitwise identical for any number of threads.

mod lstm;
mod params;
mod sample;
pub mod sample_file;
mod score;

pub use lstm::log_sum_exp;
pub use params::tensor_specs;
pub use sample_file::{SampleFile, read_sample_file, write_sample_file};

use gumbel_tensor::Element;

use crate::data::{Dataset, Specials, Token, Vocab};
use crate::error::{Error, Result};

/// Vocabulary size of the SeqGAN oracle.
pub const VOCAB_SIZE: usize = 5000;
/// Embedding width of the SeqGAN oracle.
pub const EMB_DIM: usize = 32;
/// Hidden (and cell) width of the SeqGAN oracle.
pub const HIDDEN_DIM: usize = 32;
/// Length of every oracle sequence.
pub const SEQ_LEN: usize = 20;
/// The start token: its embedding is the first input. Not part of the output.
pub const START_TOKEN: Token = 0;
/// Number of generated sequences SeqGAN scores for one NLL_oracle value:
/// `10000 / 64 * 64` (whole batches of 64).
pub const EVAL_SEQUENCES: usize = 9_984;
/// Sequences per rayon task and rows of every logits product. 64 rows of 5000 logits are
/// 1.25 MB in f32, which stay in cache between the product and the softmax pass, and
/// gemm's packing is amortised over more rows than with smaller blocks (docs/performance.md
/// has the criterion comparison with 16 rows).
pub const BLOCK_ROWS: usize = 64;
/// Stream domain of [`Oracle::sample`]'s per-sequence generators.
pub const SAMPLE_DOMAIN: u64 = 0x5EC_0001;
/// Stream domain of [`Oracle::random`]'s parameter generator.
pub const PARAM_DOMAIN: u64 = 0x5EC_0002;

/// The gates in the order they are packed in [`Oracle`]'s fused matrices, with their
/// tensor-name prefixes.
const GATES: [&str; 4] = [
    "lstm.input_gate",
    "lstm.forget_gate",
    "lstm.output_gate",
    "lstm.cell_candidate",
];

/// The oracle LSTM in element type `T` (`f32` as stored, or `f64`).
///
/// The four gates' matrices are packed side by side, `[in, 4 * hidden]` in the order
/// input, forget, output, cell candidate, so one pass over the input computes all gates.
#[derive(Clone, PartialEq)]
pub struct Oracle<T> {
    vocab: usize,
    emb: usize,
    hidden: usize,
    /// `[vocab, emb]`
    embedding: Vec<T>,
    /// `[emb, 4 * hidden]`
    w_x: Vec<T>,
    /// `[hidden, 4 * hidden]`
    w_h: Vec<T>,
    /// `[4 * hidden]`
    b: Vec<T>,
    /// `[hidden, vocab]`
    out_w: Vec<T>,
    /// `[vocab]`
    out_b: Vec<T>,
}

impl<T: Element> std::fmt::Debug for Oracle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Oracle<{}> {{ vocab: {}, emb: {}, hidden: {} }}",
            T::NAME,
            self.vocab,
            self.emb,
            self.hidden
        )
    }
}

impl<T: Element> Oracle<T> {
    /// Vocabulary size (the number of classes of every step).
    pub fn vocab_size(&self) -> usize {
        self.vocab
    }

    /// Embedding width.
    pub fn emb_dim(&self) -> usize {
        self.emb
    }

    /// Hidden width.
    pub fn hidden_dim(&self) -> usize {
        self.hidden
    }

    /// `Err` naming the first sequence whose length differs from the first's, or that holds
    /// a token outside the vocabulary. Returns the common length.
    fn check_sequences(&self, op: &'static str, seqs: &[Vec<Token>]) -> Result<usize> {
        let len = seqs.first().map_or(0, Vec::len);
        for (i, s) in seqs.iter().enumerate() {
            if s.len() != len || len == 0 {
                return Err(Error::SequenceLength {
                    op,
                    sequence: i,
                    len: s.len(),
                    what: format!(
                        "every sequence must have the same length > 0 as sequence 0 ({len})"
                    ),
                });
            }
            if let Some(p) = s.iter().position(|&t| t as usize >= self.vocab) {
                return Err(Error::TokenOutOfRange {
                    op,
                    sequence: i,
                    position: p,
                    token: s[p],
                    vocab: self.vocab,
                });
            }
        }
        Ok(len)
    }
}

/// The token ids `"0"`, `"1"`, ... as strings: the vocabulary of an oracle data set.
pub fn vocab(size: usize) -> Vocab {
    Vocab::new(
        (0..size).map(|i| i.to_string()).collect(),
        Specials::default(),
    )
    .expect("distinct ids")
}

/// An oracle data set: `n_train` and `n_test` sequences of [`SEQ_LEN`] tokens sampled from
/// `oracle` with `seed` (training sequences are samples `0..n_train`, test sequences samples
/// `n_train..n_train + n_test` of the same seeded draw). The vocabulary is the ids as
/// strings, with no special tokens (every id is an ordinary token; the start token 0 is
/// the model's first input), and `seq_len` is 20.
pub fn dataset<T: Element>(
    oracle: &Oracle<T>,
    n_train: usize,
    n_test: usize,
    seed: u64,
) -> Dataset {
    let mut all = oracle.sample(n_train + n_test, SEQ_LEN, seed);
    let test = all.split_off(n_train);
    Dataset {
        name: "oracle".to_string(),
        vocab: vocab(oracle.vocab_size()),
        train: all,
        test,
        seq_len: SEQ_LEN,
    }
}
