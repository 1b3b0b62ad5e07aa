//! The SeqGAN synthetic oracle (Yu et al., AAAI 2017): a fixed, randomly initialised LSTM
//! language model (vocabulary 5000, embedding 32, hidden 32, sequences of 20 tokens) whose
//! samples are the training data, and whose likelihood scores a generator's samples
//! (NLL_oracle).
//!
//! What lives here: [`Oracle`] (load from / save to safetensors, create from a seed),
//! sampling ([`Oracle::sample`]), teacher-forced scoring ([`Oracle::position_nll`],
//! [`Oracle::sequence_nll`], [`Oracle::nll_oracle`]), the SeqGAN sample-file format
//! ([`read_sample_file`], [`write_sample_file`]) and [`dataset`].
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
//! ([`random::stream`]`(seed, `[`SAMPLE_DOMAIN`]`, i)`); every row's arithmetic is the same
//! whichever block or thread computes it; per-sequence NLLs are summed in sequence order. So
//! results are bitwise identical for any number of threads.

use std::collections::HashMap;
use std::path::Path;

use gumbel_tensor::ops::matmul::{self, Dims};
use gumbel_tensor::{Element, SimdFloat, Tensor};
use rayon::prelude::*;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::data::io::{numbered_lines, read_text_file};
use crate::data::random::{self, Normal, uniform_f64};
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

/// Names and shapes of the 15 tensors of an oracle file, in SeqGAN's pickle order.
pub fn tensor_specs(vocab: usize, emb: usize, hidden: usize) -> Vec<(String, Vec<usize>)> {
    let mut specs = vec![("embedding".to_string(), vec![vocab, emb])];
    for g in GATES {
        specs.push((format!("{g}.W_x"), vec![emb, hidden]));
        specs.push((format!("{g}.W_h"), vec![hidden, hidden]));
        specs.push((format!("{g}.b"), vec![hidden]));
    }
    specs.push(("output.W".to_string(), vec![hidden, vocab]));
    specs.push(("output.b".to_string(), vec![vocab]));
    specs
}

impl<T: Element> Oracle<T> {
    /// Builds an oracle from its 15 tensors, given by name as in [`tensor_specs`]
    /// (`W` stored `[in, out]`). `Err` if one is missing or has the wrong shape.
    pub fn from_tensors(tensors: &HashMap<String, Tensor<T>>) -> Result<Self> {
        const OP: &str = "Oracle::from_tensors";
        let get = |name: &str| {
            tensors
                .get(name)
                .ok_or_else(|| Error::invalid_argument(OP, format!("tensor {name:?} is missing")))
        };
        let e = get("embedding")?;
        let wh = get("lstm.input_gate.W_h")?;
        if e.rank() != 2 || wh.rank() != 2 {
            return Err(Error::invalid_argument(
                OP,
                "embedding and W_h must be matrices",
            ));
        }
        let (vocab, emb, hidden) = (e.shape()[0], e.shape()[1], wh.shape()[0]);
        if let Some(what) = zero_size(vocab, emb, hidden) {
            return Err(Error::invalid_argument(OP, what));
        }
        for (name, shape) in tensor_specs(vocab, emb, hidden) {
            let t = get(&name)?;
            if t.shape() != shape.as_slice() {
                return Err(Error::invalid_argument(
                    OP,
                    format!(
                        "tensor {name:?}: expected shape {shape:?}, found {:?}",
                        t.shape()
                    ),
                ));
            }
            if let Some(i) = t.as_slice().iter().position(|x| !x.is_finite()) {
                return Err(Error::invalid_argument(
                    OP,
                    format!(
                        "tensor {name:?}: element {i} is {}; parameters must be finite",
                        t.as_slice()[i].to_f64()
                    ),
                ));
            }
        }
        let o = Self::pack(vocab, emb, hidden, |name| {
            get(name)
                .map(|t| t.as_slice().to_vec())
                .expect("checked above")
        });
        o.check_magnitudes().map_err(|(name, what)| {
            Error::invalid_argument(OP, format!("tensor {name:?}: {what}"))
        })?;
        Ok(o)
    }

    /// Packs per-gate tensors (fetched by name) into the fused layout.
    fn pack(vocab: usize, emb: usize, hidden: usize, mut get: impl FnMut(&str) -> Vec<T>) -> Self {
        let h4 = 4 * hidden;
        let mut w_x = vec![T::ZERO; emb * h4];
        let mut w_h = vec![T::ZERO; hidden * h4];
        let mut b = vec![T::ZERO; h4];
        for (gi, g) in GATES.iter().enumerate() {
            let (wx, wh, bg) = (
                get(&format!("{g}.W_x")),
                get(&format!("{g}.W_h")),
                get(&format!("{g}.b")),
            );
            for r in 0..emb {
                w_x[r * h4 + gi * hidden..][..hidden].copy_from_slice(&wx[r * hidden..][..hidden]);
            }
            for r in 0..hidden {
                w_h[r * h4 + gi * hidden..][..hidden].copy_from_slice(&wh[r * hidden..][..hidden]);
            }
            b[gi * hidden..][..hidden].copy_from_slice(&bg);
        }
        Oracle {
            vocab,
            emb,
            hidden,
            embedding: get("embedding"),
            w_x,
            w_h,
            b,
            out_w: get("output.W"),
            out_b: get("output.b"),
        }
    }

    /// The 15 named tensors of the oracle ([`tensor_specs`] order and shapes).
    pub fn parameters(&self) -> Vec<(String, Tensor<T>)> {
        let (h, h4) = (self.hidden, 4 * self.hidden);
        let mut out = Vec::with_capacity(15);
        for (name, shape) in tensor_specs(self.vocab, self.emb, self.hidden) {
            let data = match name.as_str() {
                "embedding" => self.embedding.clone(),
                "output.W" => self.out_w.clone(),
                "output.b" => self.out_b.clone(),
                _ => {
                    let gi = GATES
                        .iter()
                        .position(|g| name.starts_with(g))
                        .expect("gate tensor name");
                    let col = gi * h;
                    if name.ends_with(".W_x") {
                        (0..self.emb)
                            .flat_map(|r| self.w_x[r * h4 + col..][..h].to_vec())
                            .collect()
                    } else if name.ends_with(".W_h") {
                        (0..h)
                            .flat_map(|r| self.w_h[r * h4 + col..][..h].to_vec())
                            .collect()
                    } else {
                        self.b[col..col + h].to_vec()
                    }
                }
            };
            out.push((
                name,
                Tensor::new(shape, data).expect("shape matches the spec"),
            ));
        }
        out
    }

    /// Loads an oracle from a safetensors file holding the 15 tensors of [`tensor_specs`]
    /// (f32 or f64; converted to `T`). Sizes are read from the file (`embedding` gives
    /// vocabulary and embedding width, `lstm.input_gate.W_h` the hidden width) and every other
    /// tensor is checked against them.
    ///
    /// Errors name the file and, where relevant, the tensor: [`Error::Io`] (missing file),
    /// [`Error::Safetensors`] (truncated or corrupt), [`Error::MissingTensor`],
    /// [`Error::TensorShape`], [`Error::TensorDtype`], [`Error::NonFiniteParameter`], and
    /// [`Error::BadTensor`] for a zero size or parameters so large that the logits could
    /// overflow (see `check_magnitudes`: every gate pre-activation and logit must stay below
    /// `T::MAX / 16`).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| Error::Safetensors {
            path: path.to_path_buf(),
            what: e.to_string(),
        })?;
        let view = |name: &str| -> Result<TensorView<'_>> {
            st.tensor(name).map_err(|_| {
                let mut names: Vec<&str> = st.names();
                names.sort_unstable();
                Error::MissingTensor {
                    path: path.to_path_buf(),
                    name: name.to_string(),
                    available: names.join(", "),
                }
            })
        };
        let matrix_dims = |name: &str| -> Result<(usize, usize)> {
            let v = view(name)?;
            match *v.shape() {
                [a, b] => Ok((a, b)),
                _ => Err(Error::TensorShape {
                    path: path.to_path_buf(),
                    name: name.to_string(),
                    expected: vec![0, 0],
                    found: v.shape().to_vec(),
                }),
            }
        };
        let (vocab, emb) = matrix_dims("embedding")?;
        let (hidden, _) = matrix_dims("lstm.input_gate.W_h")?;
        if let Some(what) = zero_size(vocab, emb, hidden) {
            return Err(Error::BadTensor {
                path: path.to_path_buf(),
                name: if hidden == 0 {
                    "lstm.input_gate.W_h"
                } else {
                    "embedding"
                }
                .to_string(),
                what,
            });
        }
        let mut tensors = HashMap::new();
        for (name, shape) in tensor_specs(vocab, emb, hidden) {
            let v = view(&name)?;
            if v.shape() != shape.as_slice() {
                return Err(Error::TensorShape {
                    path: path.to_path_buf(),
                    name,
                    expected: shape,
                    found: v.shape().to_vec(),
                });
            }
            let data: Vec<T> = match v.dtype() {
                Dtype::F32 => v
                    .data()
                    .chunks_exact(4)
                    .map(|b| T::from_f64(f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64))
                    .collect(),
                Dtype::F64 => v
                    .data()
                    .chunks_exact(8)
                    .map(|b| T::from_f64(f64::from_le_bytes(b.try_into().expect("8 bytes"))))
                    .collect(),
                other => {
                    return Err(Error::TensorDtype {
                        path: path.to_path_buf(),
                        name,
                        expected: "F32 or F64",
                        found: format!("{other:?}"),
                    });
                }
            };
            if let Some(index) = data.iter().position(|x| !x.is_finite()) {
                return Err(Error::NonFiniteParameter {
                    path: path.to_path_buf(),
                    name,
                    index,
                    value: data[index].to_f64(),
                });
            }
            tensors.insert(name, data);
        }
        let o = Self::pack(vocab, emb, hidden, |name| {
            tensors.remove(name).expect("loaded above")
        });
        o.check_magnitudes()
            .map_err(|(name, what)| Error::BadTensor {
                path: path.to_path_buf(),
                name,
                what,
            })?;
        Ok(o)
    }

    /// `Err((tensor, why))` if the parameters are so large that a gate pre-activation or a
    /// logit could overflow `T` (the sampler would then meet `inf - inf = NaN`).
    ///
    /// Bounds, in f64: `|h| <= 1` (`h = o * tanh(c)`) and every input is an embedding row,
    /// so gate column `j` is at most `|b_j| + max|emb| * sum_k |W_x[k, j]| + sum_k |W_h[k, j]|`
    /// and logit `j` at most `|b_out_j| + sum_k |W_out[k, j]|` in magnitude. Each must stay
    /// below `T::MAX / 16`, which leaves room for the difference of two logits (the
    /// log-sum-exp and the sampler subtract the largest) and for rounding. SeqGAN's oracle
    /// (N(0, 1) values) is about 1e-36 of that limit in f32.
    fn check_magnitudes(&self) -> std::result::Result<(), (String, String)> {
        let limit = T::MAX.to_f64() / 16.0;
        let (h, h4) = (self.hidden, 4 * self.hidden);
        let emax = self
            .embedding
            .iter()
            .fold(0.0f64, |m, x| m.max(x.to_f64().abs()));
        let col_sum = |w: &[T], cols: usize, j: usize| -> f64 {
            w.iter()
                .skip(j)
                .step_by(cols)
                .map(|x| x.to_f64().abs())
                .sum()
        };
        let too_large = |what: &str, j: usize, bound: f64| {
            format!(
                "{what} {j} can reach {bound:e} in magnitude, above the limit {limit:e} of {} arithmetic: the parameters are too large",
                T::NAME
            )
        };
        for j in 0..h4 {
            let bound = self.b[j].to_f64().abs()
                + emax * col_sum(&self.w_x, h4, j)
                + col_sum(&self.w_h, h4, j);
            if bound >= limit {
                let gate = GATES[j / h];
                return Err((
                    format!("{gate}.W_x"),
                    too_large(&format!("with the embedding, {gate} unit"), j % h, bound),
                ));
            }
        }
        for j in 0..self.vocab {
            let bound = self.out_b[j].to_f64().abs() + col_sum(&self.out_w, self.vocab, j);
            if bound >= limit {
                return Err(("output.W".to_string(), too_large("logit", j, bound)));
            }
        }
        Ok(())
    }

    /// Writes the oracle as a safetensors file in the layout [`Oracle::load`] reads (element
    /// type `T`; `__metadata__` records the conventions).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let dtype = if T::NAME == "f32" {
            Dtype::F32
        } else {
            Dtype::F64
        };
        let params = self.parameters();
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = params
            .iter()
            .map(|(name, t)| {
                let mut b = Vec::with_capacity(t.numel() * 8);
                for &x in t.as_slice() {
                    if dtype == Dtype::F32 {
                        b.extend_from_slice(&(x.to_f64() as f32).to_le_bytes());
                    } else {
                        b.extend_from_slice(&x.to_f64().to_le_bytes());
                    }
                }
                (name.clone(), t.shape().to_vec(), b)
            })
            .collect();
        let views: Vec<(String, TensorView<'_>)> = bytes
            .iter()
            .map(|(n, s, b)| {
                (
                    n.clone(),
                    TensorView::new(dtype, s.clone(), b).expect("byte length matches shape"),
                )
            })
            .collect();
        let meta = HashMap::from([(
            "conventions".to_string(),
            "SeqGAN oracle LSTM; y = x @ W + b with W stored [in, out]; start token 0; h0 = c0 = 0"
                .to_string(),
        )]);
        safetensors::serialize_to_file(views, Some(meta), path).map_err(|e| Error::Write {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })
    }

    /// A random oracle of SeqGAN's size (5000, 32, 32) with i.i.d. N(0, 1) parameters.
    /// See [`Oracle::random_with_dims`].
    pub fn random(seed: u64) -> Self {
        Self::random_with_dims(VOCAB_SIZE, EMB_DIM, HIDDEN_DIM, seed)
            .expect("SeqGAN sizes are valid")
    }

    /// A random oracle with i.i.d. N(0, 1) parameters, as the SeqGAN oracle's look and as
    /// TextGAN-PyTorch initialises its oracles. The draws come from one stream,
    /// [`random::stream`]`(seed, `[`PARAM_DOMAIN`]`, 0)` through Box-Muller ([`Normal`]), in
    /// [`tensor_specs`] order, each tensor row-major; they are made in f64 and rounded to `T`.
    /// `Err` if a size is 0.
    pub fn random_with_dims(vocab: usize, emb: usize, hidden: usize, seed: u64) -> Result<Self> {
        if vocab == 0 || emb == 0 || hidden == 0 {
            return Err(Error::invalid_argument(
                "Oracle::random_with_dims",
                format!("sizes must be > 0, got vocab {vocab}, emb {emb}, hidden {hidden}"),
            ));
        }
        let mut normal = Normal::new(random::stream(seed, PARAM_DOMAIN, 0));
        let mut tensors: HashMap<String, Vec<T>> = HashMap::new();
        for (name, shape) in tensor_specs(vocab, emb, hidden) {
            let n: usize = shape.iter().product();
            tensors.insert(
                name,
                (0..n).map(|_| T::from_f64(normal.next_f64())).collect(),
            );
        }
        Ok(Self::pack(vocab, emb, hidden, |name| {
            tensors.remove(name).expect("drawn above")
        }))
    }

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

    /// Teacher-forced per-token NLLs: element `[n, t]` is `-ln p_t(y_{n,t} | y_{n,<t})` in
    /// nats, computed in `T` and widened to f64. All sequences must have the same length.
    ///
    /// `Err` ([`Error::SequenceLength`], [`Error::TokenOutOfRange`]) naming the sequence.
    pub fn position_nll(&self, seqs: &[Vec<Token>]) -> Result<Tensor<f64>> {
        let len = self.check_sequences("Oracle::position_nll", seqs)?;
        let blocks: Vec<Vec<f64>> = seqs
            .par_chunks(BLOCK_ROWS)
            .map(|block| {
                let mut ws = Workspace::new(self, block.len());
                let mut nll = vec![0.0; block.len() * len];
                self.run_block(&mut ws, len, |t, r, logits| {
                    let y = block[r][t];
                    let lse = log_sum_exp(logits);
                    nll[r * len + t] = (lse - logits[y as usize]).to_f64();
                    y
                });
                nll
            })
            .collect();
        Ok(Tensor::new([seqs.len(), len], blocks.concat())?)
    }

    /// Per-sequence NLL: `sum_t -ln p_t(y_t | y_<t)` (the README's "per-sequence NLL"),
    /// summed in f64 in position order.
    pub fn sequence_nll(&self, seqs: &[Vec<Token>]) -> Result<Vec<f64>> {
        let nll = self.position_nll(seqs)?;
        Ok((0..nll.rows()).map(|r| nll.row(r).iter().sum()).collect())
    }

    /// NLL_oracle, SeqGAN's `target_loss`: the mean per-token NLL under the oracle of a set
    /// of sequences, `(1 / (N T)) sum_n sum_t -ln p_t(y_{n,t} | y_{n,<t})`, in nats.
    ///
    /// SeqGAN averages the means of batches of 64 over 9,984 ([`EVAL_SEQUENCES`])
    /// sequences; all batches are full and of equal length, so that is this global mean.
    /// Sums run in f64, per sequence and then over sequences in order (deterministic).
    ///
    /// ```
    /// use gumbel_gan::data::oracle::Oracle;
    /// let oracle = Oracle::<f64>::random_with_dims(3, 2, 2, 1).unwrap();
    /// // One sequence of one token: NLL_oracle is -ln p_1(token).
    /// let lp = oracle.log_probs(&[]).unwrap();
    /// let nll = oracle.nll_oracle(&[vec![2]]).unwrap();
    /// assert!((nll + lp[2]).abs() < 1e-12);
    /// ```
    pub fn nll_oracle(&self, seqs: &[Vec<Token>]) -> Result<f64> {
        if seqs.is_empty() {
            return Err(Error::invalid_argument(
                "Oracle::nll_oracle",
                "no sequences to score",
            ));
        }
        let per_seq = self.sequence_nll(seqs)?;
        let tokens = (seqs.len() * seqs[0].len()) as f64;
        Ok(per_seq.iter().sum::<f64>() / tokens)
    }

    /// `ln p(next token | prefix)` for every token (length `vocab_size`), in f64. An empty
    /// prefix gives the first step's distribution `ln p_1`.
    pub fn log_probs(&self, prefix: &[Token]) -> Result<Vec<f64>> {
        if !prefix.is_empty() {
            self.check_sequences("Oracle::log_probs", &[prefix.to_vec()])?;
        }
        let mut ws = Workspace::new(self, 1);
        let mut out = Vec::new();
        self.run_block(&mut ws, prefix.len() + 1, |t, _, logits| {
            if t == prefix.len() {
                let lse = log_sum_exp(logits);
                out = logits.iter().map(|&z| (z - lse).to_f64()).collect();
                START_TOKEN
            } else {
                prefix[t]
            }
        });
        Ok(out)
    }

    /// The LSTM state `(c_t, h_t)` and logits `z_t` after feeding `prefix` (the state of
    /// step `prefix.len() + 1`'s prediction). For tests against the README's vectors.
    pub fn state_after(&self, prefix: &[Token]) -> Result<(Vec<f64>, Vec<f64>, Vec<f64>)> {
        if !prefix.is_empty() {
            self.check_sequences("Oracle::state_after", &[prefix.to_vec()])?;
        }
        let mut ws = Workspace::new(self, 1);
        let mut z = Vec::new();
        self.run_block(&mut ws, prefix.len() + 1, |t, _, logits| {
            if t == prefix.len() {
                z = logits.iter().map(|x| x.to_f64()).collect();
                START_TOKEN
            } else {
                prefix[t]
            }
        });
        let wide = |v: &[T]| v.iter().map(|x| x.to_f64()).collect::<Vec<f64>>();
        Ok((wide(&ws.c), wide(&ws.h), z))
    }

    /// `n` sequences of `len` tokens sampled from the oracle at temperature 1 (multinomial
    /// draws from `softmax(z_t)`, fed back as the next input).
    ///
    /// Each draw is an inverse-CDF lookup: with `e_j = exp(z_j - max z)` and `S = sum e_j`,
    /// a uniform `u` in `[0, 1)` from the sequence's own stream selects the first `k` with
    /// `e_0 + ... + e_k > u S`. Partial sums over chunks of [`CDF_CHUNK`] classes (SIMD)
    /// locate the chunk, a scalar walk inside it the class, both accumulated in f64. If
    /// rounding leaves `u S` beyond the walked total (probability ~1e-7 in f32), the last class
    /// with `e_j > 0` is taken.
    ///
    /// Same `seed` => the same sequences for any thread count.
    pub fn sample(&self, n: usize, len: usize, seed: u64) -> Vec<Vec<Token>> {
        let starts: Vec<usize> = (0..n).step_by(BLOCK_ROWS).collect();
        let blocks: Vec<Vec<Vec<Token>>> = starts
            .par_iter()
            .map(|&start| {
                let rows = BLOCK_ROWS.min(n - start);
                let mut rngs: Vec<_> = (start..start + rows)
                    .map(|i| random::stream(seed, SAMPLE_DOMAIN, i as u64))
                    .collect();
                let mut out = vec![Vec::with_capacity(len); rows];
                let mut ws = Workspace::new(self, rows);
                let mut chunk_sums = Vec::new();
                self.run_block(&mut ws, len, |_, r, logits| {
                    let u = uniform_f64(&mut rngs[r]);
                    let y = sample_inverse_cdf(logits, u, &mut chunk_sums).expect(
                        "a loaded oracle's weights keep its logits finite (checked on load)",
                    ) as Token;
                    out[r].push(y);
                    y
                });
                out
            })
            .collect();
        blocks.concat()
    }

    /// Runs the LSTM for `len` steps over the `ws.live` sequences of a block. At step `t`
    /// (0-based), after computing row `r`'s logits, calls `next(t, r, logits_row)`, which
    /// returns that row's token `y_t` (given when scoring, drawn when sampling); `emb[y_t]`
    /// is the next input. The logits row may be overwritten by `next` (the sampler stores
    /// exponentials in it).
    ///
    /// Every block has [`BLOCK_ROWS`] rows: rows past `ws.live` are dummies fed the start
    /// token, and `next` is not called for them. gemm's rounding can depend on the number of
    /// rows of a product (its edge tiles take other paths), so fixed-size blocks make a
    /// sequence's numbers depend only on its tokens and its index modulo [`BLOCK_ROWS`]: the
    /// first `k` sequences of a draw of `n` are the draw of `k`, and scoring a prefix of a set
    /// gives the same per-sequence values.
    fn run_block(
        &self,
        ws: &mut Workspace<T>,
        len: usize,
        mut next: impl FnMut(usize, usize, &mut [T]) -> Token,
    ) {
        let (e, h, v, h4, rows) = (
            self.emb,
            self.hidden,
            self.vocab,
            4 * self.hidden,
            BLOCK_ROWS,
        );
        ws.h.fill(T::ZERO);
        ws.c.fill(T::ZERO);
        ws.prev.fill(START_TOKEN);
        for t in 0..len {
            // gates = b + x W_x + h W_h, all four gates at once ([rows, 4h]).
            for r in 0..rows {
                let x = &self.embedding[ws.prev[r] as usize * e..][..e];
                let g = &mut ws.gates[r * h4..][..h4];
                g.copy_from_slice(&self.b);
                for (k, &xk) in x.iter().enumerate() {
                    axpy(xk, &self.w_x[k * h4..][..h4], g);
                }
                for (k, &hk) in ws.h[r * h..][..h].iter().enumerate() {
                    axpy(hk, &self.w_h[k * h4..][..h4], g);
                }
                // i, f, o = sigma(.), g = tanh(.), in place; then c and h.
                sigmoid_in_place(&mut g[..3 * h]);
                tanh_in_place(&mut g[3 * h..]);
                let (c, hr) = (&mut ws.c[r * h..][..h], &mut ws.h[r * h..][..h]);
                for j in 0..h {
                    c[j] = g[h + j] * c[j] + g[j] * g[3 * h + j];
                    hr[j] = c[j];
                }
                tanh_in_place(hr);
                for j in 0..h {
                    hr[j] *= g[2 * h + j];
                }
            }
            // z = h W_out + b_out ([rows, vocab]): the bias rows, then gemm adds the product
            // (out = 1 * h @ W_out + 1 * out), i.e. (sum_k h_k W_kj) + b_j as TF computes it.
            for z in ws.logits.chunks_exact_mut(v) {
                z.copy_from_slice(&self.out_b);
            }
            let d = Dims {
                m: rows,
                k: h,
                n: v,
                trans_a: false,
                trans_b: false,
            };
            matmul::simd::matmul(d, &ws.h, &self.out_w, T::ONE, T::ONE, &mut ws.logits);
            for r in 0..ws.live {
                ws.prev[r] = next(t, r, &mut ws.logits[r * v..][..v]);
            }
        }
    }
}

/// Scratch buffers of one block of [`BLOCK_ROWS`] rows, of which the first `live` hold
/// sequences.
struct Workspace<T> {
    live: usize,
    h: Vec<T>,
    c: Vec<T>,
    gates: Vec<T>,
    logits: Vec<T>,
    prev: Vec<Token>,
}

impl<T: Element> Workspace<T> {
    fn new(o: &Oracle<T>, live: usize) -> Self {
        debug_assert!(live <= BLOCK_ROWS);
        let rows = BLOCK_ROWS;
        Workspace {
            live,
            h: vec![T::ZERO; rows * o.hidden],
            c: vec![T::ZERO; rows * o.hidden],
            gates: vec![T::ZERO; rows * 4 * o.hidden],
            logits: vec![T::ZERO; rows * o.vocab],
            prev: vec![START_TOKEN; rows],
        }
    }
}

/// `x = 1 / (1 + exp(-x))` elementwise: SIMD `exp` over whole vectors, std `exp` on the
/// tail. (A position always takes the same path, so results do not depend on batching.)
fn sigmoid_in_place<T: Element>(x: &mut [T]) {
    let l = T::LANES;
    let body = x.len() / l * l;
    let one = T::Simd::splat(T::ONE);
    for c in x[..body].chunks_exact_mut(l) {
        let v = T::Simd::load(c);
        (one / (one + (-v).exp())).store(c);
    }
    // tail
    for v in &mut x[body..] {
        *v = T::ONE / (T::ONE + (-*v).exp());
    }
}

/// `x = tanh(x)` elementwise: SIMD `tanh` over whole vectors, std `tanh` on the tail.
fn tanh_in_place<T: Element>(x: &mut [T]) {
    let l = T::LANES;
    let body = x.len() / l * l;
    for c in x[..body].chunks_exact_mut(l) {
        T::Simd::load(c).tanh().store(c);
    }
    // tail
    for v in &mut x[body..] {
        *v = v.tanh();
    }
}

/// `y += a * x` (plain loop; the compiler vectorises it).
#[inline]
fn axpy<T: Element>(a: T, x: &[T], y: &mut [T]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// Largest element (SIMD lane-wise max, then the tail). Logits are finite here.
fn row_max<T: Element>(x: &[T]) -> T {
    let l = T::LANES;
    let body = x.len() / l * l;
    let mut m = T::NEG_INFINITY;
    if body > 0 {
        let mut mv = T::Simd::splat(T::NEG_INFINITY);
        for c in x[..body].chunks_exact(l) {
            mv = mv.max(T::Simd::load(c));
        }
        m = mv.reduce_max();
    }
    // tail
    for &v in &x[body..] {
        m = m.max(v);
    }
    m
}

/// `ln sum_j exp(x_j)`, computed as `m + ln sum_j exp(x_j - m)` with `m = max x`
/// (so no exponential overflows and the largest term is 1). SIMD `exp` with 4 independent
/// accumulators, a fixed-order reduction, then the scalar tail.
pub fn log_sum_exp<T: Element>(x: &[T]) -> T {
    let m = row_max(x);
    let l = T::LANES;
    let mv = T::Simd::splat(m);
    let zero = T::Simd::splat(T::ZERO);
    let mut acc = [zero; 4];
    let body = x.len() / (4 * l) * (4 * l);
    for c in x[..body].chunks_exact(4 * l) {
        for v in 0..4 {
            acc[v] += (T::Simd::load(&c[v * l..]) - mv).exp();
        }
    }
    let mut s = ((acc[0] + acc[1]) + (acc[2] + acc[3])).reduce_add();
    // tail
    for &v in &x[body..] {
        s += (v - m).exp();
    }
    m + s.ln()
}

/// Classes per chunk of the inverse-CDF sampler's partial sums.
pub const CDF_CHUNK: usize = 64;

/// Draws a class from `softmax(z)` given a uniform `u` in `[0, 1)` (see [`Oracle::sample`]).
/// Overwrites `z` with `exp(z - max z)`; `chunk_sums` is scratch. `None` if `z` holds a NaN
/// or +inf logit or every class is masked: there is no distribution to draw from.
pub fn sample_inverse_cdf<T: Element>(
    z: &mut [T],
    u: f64,
    chunk_sums: &mut Vec<f64>,
) -> Option<usize> {
    let max = row_max(z);
    if !max.is_finite() {
        return None;
    }
    let m = T::Simd::splat(max);
    let l = T::LANES;
    chunk_sums.clear();
    let mut total = 0.0f64;
    for c in z.chunks_mut(CDF_CHUNK) {
        let body = c.len() / l * l;
        let mut acc = T::Simd::splat(T::ZERO);
        for v in c[..body].chunks_exact_mut(l) {
            let e = (T::Simd::load(v) - m).exp();
            e.store(v);
            acc += e;
        }
        let mut s = acc.reduce_add().to_f64();
        // tail
        let mf = m.reduce_max();
        for x in &mut c[body..] {
            *x = (*x - mf).exp();
            s += x.to_f64();
        }
        chunk_sums.push(s);
        total += s;
    }
    if !total.is_finite() {
        // A NaN logit (the max above skips NaN): its exponential poisons the sum.
        return None;
    }
    let target = u * total;
    let mut acc = 0.0f64;
    for (ci, &s) in chunk_sums.iter().enumerate() {
        if acc + s > target {
            let start = ci * CDF_CHUNK;
            let chunk = &z[start..(start + CDF_CHUNK).min(z.len())];
            for (j, &e) in chunk.iter().enumerate() {
                acc += e.to_f64();
                if acc > target {
                    return Some(start + j);
                }
            }
            return Some(start + last_positive(chunk));
        }
        acc += s;
    }
    // Rounding put the target at the very end: take the last class with positive mass
    // (there is one: the finite max class has exp(0) = 1).
    let ci = chunk_sums.iter().rposition(|&s| s > 0.0)?;
    let start = ci * CDF_CHUNK;
    Some(start + last_positive(&z[start..(start + CDF_CHUNK).min(z.len())]))
}

fn last_positive<T: Element>(c: &[T]) -> usize {
    c.iter()
        .rposition(|&e| e > T::ZERO)
        .expect("a chunk with positive sum has a positive element")
}

/// A message if a size of an oracle is 0 (such an oracle has nothing to sample).
fn zero_size(vocab: usize, emb: usize, hidden: usize) -> Option<String> {
    (vocab == 0 || emb == 0 || hidden == 0).then(|| {
        format!(
            "sizes must be at least 1, got vocabulary {vocab}, embedding {emb}, hidden {hidden}"
        )
    })
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

/// The sequences of a SeqGAN sample file, and the lines that were skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleFile {
    pub sequences: Vec<Vec<Token>>,
    /// 1-based numbers of the lines skipped because they did not hold exactly `len` tokens
    /// (blank lines included).
    pub skipped_lines: Vec<usize>,
}

/// Reads a SeqGAN sample file: one sequence per line, token ids separated by whitespace.
///
/// As SeqGAN's `Gen_Data_loader`, lines that do not hold exactly `len` tokens (blank lines
/// too) are skipped; their numbers are returned in [`SampleFile::skipped_lines`]. Unlike
/// SeqGAN, which then drops the last `N mod 64` sequences to form whole batches, all
/// sequences are kept. A token that is not an integer, or not below `vocab`, is an error
/// ([`Error::Parse`]) naming the file and line; so are missing, empty, binary and non-UTF-8
/// files, and a file with no line of length `len`.
pub fn read_sample_file(path: impl AsRef<Path>, vocab: usize, len: usize) -> Result<SampleFile> {
    let path = path.as_ref();
    let text = read_text_file(path)?;
    let mut sequences = Vec::new();
    let mut skipped_lines = Vec::new();
    for (line_no, line) in numbered_lines(&text) {
        let mut seq = Vec::with_capacity(len);
        for word in line.split_whitespace() {
            let id: u64 = word.parse().map_err(|_| {
                Error::parse(
                    path,
                    line_no,
                    format!("token {word:?} is not a non-negative integer"),
                )
            })?;
            if id >= vocab as u64 {
                return Err(Error::parse(
                    path,
                    line_no,
                    format!("token {id} is not below the vocabulary size {vocab}"),
                ));
            }
            seq.push(id as Token);
        }
        if seq.len() == len {
            sequences.push(seq);
        } else {
            skipped_lines.push(line_no);
        }
    }
    if sequences.is_empty() {
        return Err(Error::parse(
            path,
            1,
            format!("no line holds exactly {len} tokens"),
        ));
    }
    Ok(SampleFile {
        sequences,
        skipped_lines,
    })
}

/// Writes sequences in SeqGAN's sample-file format: ids separated by one space, `\n` after
/// every line.
pub fn write_sample_file(path: impl AsRef<Path>, seqs: &[Vec<Token>]) -> Result<()> {
    let path = path.as_ref();
    let mut s = String::with_capacity(seqs.len() * 100);
    for seq in seqs {
        for (i, t) in seq.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(&t.to_string());
        }
        s.push('\n');
    }
    std::fs::write(path, s).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg_fill(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                gumbel_tensor::random::unit_f64(s) * 4.0 - 2.0
            })
            .collect()
    }

    #[test]
    fn simd_gate_nonlinearities_match_std() {
        // wide's exp/tanh are polynomial approximations, accurate to a few ulps of values
        // that lie in (0, 1) / (-1, 1) here; the bounds are 8 ulps of 1 (8 * 1.2e-7 for f32,
        // 8 * 2.2e-16 for f64). Lengths cover the SIMD body and the scalar tail.
        for len in [0usize, 1, 3, 4, 7, 8, 9, 33, 128] {
            let x = lcg_fill(len, 7 + len as u64)
                .iter()
                .map(|v| v * 5.0)
                .collect::<Vec<f64>>();
            let (mut s64, mut t64) = (x.clone(), x.clone());
            sigmoid_in_place(&mut s64);
            tanh_in_place(&mut t64);
            let mut s32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let mut t32 = s32.clone();
            sigmoid_in_place(&mut s32);
            tanh_in_place(&mut t32);
            for i in 0..len {
                let (sig, th) = (1.0 / (1.0 + (-x[i]).exp()), x[i].tanh());
                assert!(
                    (s64[i] - sig).abs() < 8.0 * f64::EPSILON,
                    "sigmoid f64 {}",
                    x[i]
                );
                assert!(
                    (t64[i] - th).abs() < 8.0 * f64::EPSILON,
                    "tanh f64 {}",
                    x[i]
                );
                // f32: the input itself is rounded (relative 6e-8, times |d/dx| <= 1).
                assert!(
                    (s32[i] as f64 - sig).abs() < 8.0 * f32::EPSILON as f64 + 1.0e-6,
                    "sigmoid f32 {}",
                    x[i]
                );
                assert!(
                    (t32[i] as f64 - th).abs() < 8.0 * f32::EPSILON as f64 + 1.0e-6,
                    "tanh f32 {}",
                    x[i]
                );
            }
        }
    }

    #[test]
    fn log_sum_exp_matches_direct_formula() {
        for len in [1usize, 7, 8, 31, 32, 33, 5000] {
            let x = lcg_fill(len, len as u64);
            let direct = x.iter().map(|v| v.exp()).sum::<f64>().ln();
            assert!((log_sum_exp(&x) - direct).abs() < 1e-12, "len {len}");
        }
        // Huge logits do not overflow.
        assert!((log_sum_exp(&[1000.0f32, 1000.0]) - (1000.0 + 2f32.ln())).abs() < 1e-3);
    }

    #[test]
    fn inverse_cdf_hits_every_class_with_its_probability() {
        // 3 classes with p = (0.2, 0.3, 0.5): the class is the first k with
        // cumsum_k > u, so u on a fine grid gives the boundaries exactly.
        let logits = [0.2f64.ln(), 0.3f64.ln(), 0.5f64.ln()];
        let mut counts = [0usize; 3];
        let mut scratch = Vec::new();
        for i in 0..1000 {
            let u = (i as f64 + 0.5) / 1000.0;
            let mut z = logits;
            counts[sample_inverse_cdf(&mut z, u, &mut scratch).unwrap()] += 1;
        }
        assert_eq!(counts, [200, 300, 500]);
        // Across chunk boundaries: 200 equal classes; u = (k + 0.5) / 200 picks class k.
        for k in [0usize, 63, 64, 65, 127, 128, 199] {
            let mut z = vec![0.0f32; 200];
            assert_eq!(
                sample_inverse_cdf(&mut z, (k as f64 + 0.5) / 200.0, &mut scratch).unwrap(),
                k
            );
        }
        // Masked classes (-inf) are never drawn, even for u at the extremes.
        let mut z = [f64::NEG_INFINITY, 0.0, f64::NEG_INFINITY];
        assert_eq!(sample_inverse_cdf(&mut z, 0.0, &mut scratch), Some(1));
        let mut z = [f64::NEG_INFINITY, 0.0, f64::NEG_INFINITY];
        assert_eq!(
            sample_inverse_cdf(&mut z, 1.0 - 1e-16, &mut scratch),
            Some(1)
        );
    }

    #[test]
    fn parameters_round_trip_through_the_packed_layout() {
        let o = Oracle::<f64>::random_with_dims(11, 3, 5, 9).unwrap();
        let map: HashMap<String, Tensor<f64>> = o.parameters().into_iter().collect();
        assert_eq!(map.len(), 15);
        assert_eq!(map["lstm.forget_gate.W_x"].shape(), &[3, 5]);
        let back = Oracle::from_tensors(&map).unwrap();
        assert_eq!(back, o);
    }
}
