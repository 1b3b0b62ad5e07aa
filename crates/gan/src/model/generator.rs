//! The generator: embedding -> single-layer LSTM -> linear to the vocabulary, in PyTorch's
//! layouts and names, so that `generator.safetensors` loads into
//!
//! ```python
//! class Generator(nn.Module):
//!     def __init__(self, vocab, emb, hidden):
//!         super().__init__()
//!         self.embedding = nn.Embedding(vocab, emb)
//!         self.lstm = nn.LSTM(emb, hidden, batch_first=True)
//!         self.linear = nn.Linear(hidden, vocab)
//! ```
//!
//! with `load_state_dict` (tensors `embedding.weight [V, E]`, `lstm.weight_ih_l0 [4H, E]`,
//! `lstm.weight_hh_l0 [4H, H]`, `lstm.bias_ih_l0 [4H]`, `lstm.bias_hh_l0 [4H]` with gates in
//! PyTorch's order i, f, g, o, `linear.weight [V, H]`, `linear.bias [V]`).
//!
//! ## Three ways to run it
//! - [`Generator::mle_loss`]: teacher forcing. Inputs `start, x_1 .. x_{L-1}`, targets
//!   `x_1 .. x_L`; mean cross-entropy over the target tokens that are not padding.
//! - [`Generator::relaxed_each`]: free-running through the Gumbel-Softmax relaxation, with
//!   gradients. At step t: `o_t = linear(h_t)`, `y_t = softmax((o_t + g_t) / tau)` (or
//!   `softmax(beta (o_t + g_t))`), token `k_t = argmax y_t` (a sample of softmax(o_t)); the
//!   next input is `y_t @ E` (soft feedback: gradient flows through time) or `E[k_t]` (hard
//!   feedback). The discriminator gets `y_t`, or the straight-through one-hot
//!   (`e_k + y - stop_grad(y)`: forward one-hot, backward through `y`). After the first
//!   end token the rows become pad one-hots, as real sequences are padded.
//! - [`Generator::sample`] / [`Generator::nll`]: no gradient, for evaluation: multinomial
//!   samples at temperature 1 (inverse CDF) and the NLL of held-out sequences.
//!
//! Teacher forcing runs time-major (`row = t * batch + b`, so each LSTM step reads a
//! contiguous block); relaxed samples come out as one `[B, V]` value per time step, which
//! the discriminator embeds step by step (never copying the `[B, L, V]` one-hots).

use gumbel_autograd::layers::{Bias, Embedding, Linear};
use gumbel_autograd::ops::gumbel::{GumbelTemp, Output, gumbel_softmax, straight_through};
use gumbel_autograd::{ParamStore, Tape, Var, init};
use gumbel_tensor::Tensor;
use gumbel_tensor::ops::gumbel::{GumbelRng, Temperature as Temp};
use gumbel_tensor::ops::reduce::row_logsumexp;
use gumbel_tensor::random::unit_f64;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::core::{Core, CoreState, GeneratorArch};
use super::estimator::Estimator;
use super::ops::mask_rows;
use super::sampling::sample_rows;
use crate::data::Token;
use crate::error::{Error, Result};
use crate::io::safetensors::{self, TensorFile};
use crate::random;

/// What the generator feeds back as its next input during free-running generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Feedback {
    /// `x_{t+1} = y_t @ E`: the soft sample times the embedding; gradients flow through
    /// time.
    Soft,
    /// `x_{t+1} = E[argmax y_t]`: the sampled token (RelGAN's choice); gradients reach the
    /// generator only through the discriminator's view of each `y_t`.
    Hard,
}

/// How the schedule's value enters the relaxation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum TemperatureForm {
    /// `y = softmax((o + g) / tau)`: the schedule gives `tau`.
    Tau,
    /// `y = softmax(beta * (o + g))` (RelGAN): the schedule gives `beta = 1 / tau`.
    Beta,
}

impl TemperatureForm {
    /// The kernels' temperature for a schedule's `value` in this form: `tau`, or `beta`.
    pub fn fixed(self, value: f64) -> GumbelTemp<'static, f32> {
        GumbelTemp::Fixed(match self {
            TemperatureForm::Tau => Temp::Tau(value as f32),
            TemperatureForm::Beta => Temp::Beta(value as f32),
        })
    }

    /// A learnable temperature in this form: `value` (a positive `[1]` Var) is `tau`, or
    /// `beta`, and receives its gradient.
    pub fn learned(self, value: Var<'_, f32>) -> GumbelTemp<'_, f32> {
        match self {
            TemperatureForm::Tau => GumbelTemp::Tau(value),
            TemperatureForm::Beta => GumbelTemp::Beta(value),
        }
    }
}

/// The fixed temperature an autograd-crate estimator takes; a learned one is an error
/// naming `estimator` (only `gumbel` and `st-gumbel` learn it).
fn fixed_temperature(temp: GumbelTemp<'_, f32>, estimator: Estimator) -> Result<Temp<f32>> {
    match temp {
        GumbelTemp::Fixed(t) => Ok(t),
        _ => Err(Error::Config(format!(
            "a learned temperature needs the relaxed sample: --estimator {estimator} takes a              fixed schedule (drop --learn-temperature, or use gumbel or st-gumbel)"
        ))),
    }
}

/// Sizes and special tokens of a generator.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    pub vocab: usize,
    pub emb: usize,
    /// The recurrent core and its sizes.
    pub arch: GeneratorArch,
    /// Length of generated sequences.
    pub seq_len: usize,
    /// The first input token (beginning of sequence, or SeqGAN's start token 0).
    pub start: Token,
    /// Padding (ignored by the MLE loss; written after the end token when generating).
    pub pad: Option<Token>,
    /// End of sequence.
    pub eos: Option<Token>,
}

/// How [`Generator::relaxed_each`] draws a batch: the settings that stay fixed for a run
/// (the temperature and the noise key change from step to step and are passed beside it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DrawSettings {
    /// Number of sequences.
    pub batch: usize,
    /// The next step's input: the soft sample's expected embedding, or the sampled token's.
    pub feedback: Feedback,
    /// What the discriminator gets and which gradient comes back ([`Estimator`]).
    pub estimator: Estimator,
}

/// The generator with its parameters.
pub struct Generator {
    pub cfg: GeneratorConfig,
    pub params: ParamStore<f32>,
    pub(super) embedding: Embedding,
    pub(super) core: Core,
    pub(super) linear: Linear,
}

impl Generator {
    /// A generator with its architecture's initialisation drawn from `seed`. LSTM
    /// (PyTorch's defaults): embedding N(0, 1); LSTM and linear U(-1/sqrt(fan), 1/sqrt(fan))
    /// with fan = hidden for the LSTM and the linear layer's input width. RMC (RelGAN's
    /// TensorFlow code): embedding truncated normal with std 1/sqrt(vocab), every weight
    /// truncated normal with std 1/sqrt(fan in), biases 0, layer-norm gains 1.
    pub fn new(cfg: GeneratorConfig, seed: u64) -> Result<Generator> {
        if cfg.vocab == 0 || cfg.emb == 0 || cfg.seq_len == 0 {
            return Err(Error::Config(format!(
                "generator sizes must be positive: {cfg:?}"
            )));
        }
        let mut params = ParamStore::new();
        let mut r = random::run_stream(seed, random::Purpose::Init, 0);
        let (v, e, h) = (cfg.vocab, cfg.emb, cfg.arch.out_dim());
        let (embedding, core, linear) = match cfg.arch {
            GeneratorArch::Lstm { .. } => (
                Embedding::new(&mut params, "embedding", v, e, &mut r)?,
                Core::new(&mut params, "lstm", cfg.arch, e, &mut r)?,
                Linear::new(&mut params, "linear", h, v, Bias::Yes, &mut r)?,
            ),
            GeneratorArch::Rmc { .. } => {
                let table = init::truncated_normal(&[v, e], 1.0 / (v as f64).sqrt(), &mut r);
                (
                    Embedding::from_table(&mut params, "emb", table)?,
                    Core::new(&mut params, "rmc", cfg.arch, e, &mut r)?,
                    Linear::new_truncated_normal(&mut params, "out", h, v, Bias::Yes, &mut r)?,
                )
            }
        };
        Ok(Generator {
            cfg,
            params,
            embedding,
            core,
            linear,
        })
    }

    /// Number of parameters.
    pub fn numel(&self) -> usize {
        self.params.numel()
    }

    /// Teacher-forced mean cross-entropy of a `[batch, seq_len]` token matrix (row-major),
    /// ignoring pad targets.
    pub fn mle_loss<'t>(
        &self,
        tape: &'t Tape<f32>,
        tokens: &[Token],
        batch: usize,
    ) -> Result<Var<'t, f32>> {
        let (inputs, targets) = self.teacher_forcing(tokens, batch)?;
        let h = self.teacher_forced_hidden(tape, &inputs, batch)?;
        // The output layer and the cross-entropy as one node: the same value and gradients,
        // fewer passes over the [seq_len * batch, vocab] logits.
        let pad = self.cfg.pad.map(|p| p as usize);
        Ok(self
            .linear
            .forward_cross_entropy(tape, &self.params, &h, &targets, pad)?)
    }

    /// Time-major inputs `start, x_1 .. x_{L-1}` and targets `x_1 .. x_L` of a batch.
    pub(super) fn teacher_forcing(
        &self,
        tokens: &[Token],
        batch: usize,
    ) -> Result<(Vec<usize>, Vec<usize>)> {
        let l = self.cfg.seq_len;
        if tokens.len() != batch * l {
            return Err(Error::Config(format!(
                "generator: {} tokens for a batch of {batch} sequences of length {l}",
                tokens.len()
            )));
        }
        if let Some(&t) = tokens.iter().find(|&&t| t as usize >= self.cfg.vocab) {
            return Err(Error::Config(format!(
                "generator: token {t} is not below the vocabulary size {}",
                self.cfg.vocab
            )));
        }
        let mut inputs = vec![0usize; batch * l];
        let mut targets = vec![0usize; batch * l];
        for t in 0..l {
            for b in 0..batch {
                inputs[t * batch + b] = if t == 0 {
                    self.cfg.start as usize
                } else {
                    tokens[b * l + t - 1] as usize
                };
                targets[t * batch + b] = tokens[b * l + t] as usize;
            }
        }
        Ok((inputs, targets))
    }

    /// Logits `[seq_len * batch, vocab]` (time-major) for time-major inputs.
    fn teacher_forced_logits<'t>(
        &self,
        tape: &'t Tape<f32>,
        inputs: &[usize],
        batch: usize,
    ) -> Result<Var<'t, f32>> {
        let h = self.teacher_forced_hidden(tape, inputs, batch)?;
        Ok(self.linear.forward(tape, &self.params, &h)?)
    }

    /// The core's outputs `[seq_len * batch, out]` (time-major) for time-major inputs.
    pub(super) fn teacher_forced_hidden<'t>(
        &self,
        tape: &'t Tape<f32>,
        inputs: &[usize],
        batch: usize,
    ) -> Result<Var<'t, f32>> {
        let x = self.embedding.forward(tape, &self.params, inputs)?;
        self.core.forward_seq(tape, &self.params, &x, batch)
    }

    /// A free-running batch through the Gumbel-Softmax relaxation (see the module docs),
    /// drawn as `draw` says at temperature `temp` with Gumbel noise from `key`; each time step
    /// is one call of the fused kernel. Calls `each(y_t)`
    /// on every time step's discriminator input `y_t` (`[batch, vocab]`) as soon as it is
    /// made, before the step's feedback.
    ///
    /// The adversarial steps embed `y_t` for the discriminator there
    /// ([`Discriminator::prepare_embed`](super::discriminator::Discriminator::prepare_embed)):
    /// the product reads `y_t` while it is still in cache, and on the tape the embedding sits
    /// next to the step that made `y_t`, so the backward pass adds the discriminator's
    /// gradient `dy_t` to the feedback's and hands it to the Gumbel-Softmax backward at once,
    /// instead of first writing all `seq_len` of them (25.6 MB at the benchmark's size).
    pub fn relaxed_each<'t>(
        &self,
        tape: &'t Tape<f32>,
        draw: DrawSettings,
        temp: GumbelTemp<'t, f32>,
        key: u64,
        each: &mut dyn FnMut(&Var<'t, f32>) -> Result<()>,
    ) -> Result<()> {
        let DrawSettings {
            batch,
            feedback,
            estimator,
        } = draw;
        let library = estimator.library();
        if library.is_some() && feedback == Feedback::Soft {
            return Err(Error::Config(format!(
                "soft feedback needs the relaxed sample: --estimator {estimator} draws one-hot \
                 samples (use --feedback hard, or the estimator gumbel or st-gumbel)"
            )));
        }
        let l = self.cfg.seq_len;
        let mut noise = GumbelRng::new(key);
        let mut x =
            self.embedding
                .forward(tape, &self.params, &vec![self.cfg.start as usize; batch])?;
        let mut state: Option<CoreState<'t>> = None;
        // `alive[b]`: sequence b has not emitted its end token before this step.
        let mut alive = vec![true; batch];
        // The output layer and the soft feedback are prepared once for the `seq_len` steps
        // (transposed copies of their weights, in the layouts gemm reads fastest).
        let out = self.linear.prepare(tape, &self.params)?;
        let soft_feedback = self.embedding.prepare_soft(tape, &self.params)?;
        let core = self.core.prepare(tape, &self.params)?;
        for t in 0..l {
            let s = core.step(tape, &self.params, &x, state)?;
            let logits = out.apply(&s.output())?;
            state = Some(s);
            let (y, soft, index) = match &library {
                // `gumbel` and `st-gumbel`: always the soft sample (soft feedback needs it,
                // and the straight-through one-hot is built from it).
                None => {
                    let sample = gumbel_softmax(&logits, temp, &mut noise, Output::Soft)?;
                    let (soft, index) = (sample.y, sample.index);
                    let y = match estimator {
                        Estimator::Gumbel => soft,
                        _ => straight_through(&soft, &index)?,
                    };
                    (y, Some(soft), index)
                }
                Some(est) => {
                    let draw =
                        est.draw(&logits, fixed_temperature(temp, estimator)?, &mut noise)?;
                    (draw.value, None, draw.index)
                }
            };
            // Rows after the end token become pad one-hots (the end token itself stays).
            let keep = alive.clone();
            if let Some(eos) = self.cfg.eos {
                for (b, &k) in index.iter().enumerate() {
                    if k as Token == eos {
                        alive[b] = false;
                    }
                }
            }
            let y = match self.cfg.pad {
                Some(pad) => mask_rows(&y, &keep, pad as usize)?,
                None => y,
            };
            each(&y)?;
            if t + 1 < l {
                x = match (feedback, &soft) {
                    (Feedback::Soft, Some(soft)) => soft_feedback.apply(soft)?,
                    _ => self.embedding.forward(tape, &self.params, &index)?,
                };
            }
        }
        Ok(())
    }

    /// The NLL of padded sequences `[n, seq_len]` (row-major): the mean over all non-pad
    /// target tokens of `-ln p(x_t | x_<t)`, in nats. No gradient.
    pub fn nll(&self, tokens: &[Token]) -> Result<f64> {
        self.nll_at(tokens, 1.0)
    }

    /// [`Generator::nll`] under the tempered model `softmax(logits / temperature)`, the
    /// distribution [`Generator::sample_with_entropy_at`] draws from at that temperature.
    pub fn nll_at(&self, tokens: &[Token], temperature: f32) -> Result<f64> {
        self.nll_sum_at(tokens, temperature).map(|s| s.per_token())
    }

    /// The sum behind [`Generator::nll_at`]: `-ln p(x_t | x_<t)` over every non-pad target
    /// token of the padded sequences `tokens`, with the counts a caller normalises by.
    pub fn nll_sum_at(&self, tokens: &[Token], temperature: f32) -> Result<NllSum> {
        let inv = check_temperature(temperature)?;
        let l = self.cfg.seq_len;
        let n = tokens.len() / l;
        // 64 sequences: [64 * seq_len, vocab] logits (25.6 MB for the oracle) stay below glibc's
        // mmap threshold and near the caches.
        const CHUNK: usize = 64;
        let (mut sum, mut count) = (0.0f64, 0usize);
        for start in (0..n).step_by(CHUNK) {
            let b = CHUNK.min(n - start);
            let chunk = &tokens[start * l..(start + b) * l];
            let (inputs, targets) = self.teacher_forcing(chunk, b)?;
            let tape = Tape::inference();
            let logits = tempered(self.teacher_forced_logits(&tape, &inputs, b)?.value()?, inv);
            let lse = row_logsumexp(&logits);
            for (r, &tgt) in targets.iter().enumerate() {
                if Some(tgt as Token) == self.cfg.pad {
                    continue;
                }
                sum += lse.as_slice()[r] as f64 - logits.row(r)[tgt] as f64;
                count += 1;
            }
        }
        Ok(NllSum {
            nats: sum,
            tokens: count,
            sequences: n,
        })
    }

    /// `n` sequences sampled at temperature 1, `[n, seq_len]` row-major.
    pub fn sample(&self, n: usize, key: u64) -> Result<Vec<Token>> {
        Ok(self.sample_with_entropy(n, key)?.0)
    }

    /// [`Generator::sample`] and the mean entropy (nats) of the next-token distributions
    /// along the samples (up to and including each end token).
    ///
    /// Sequence `i` draws its uniforms from its own stream `(key, i)`, so samples do not
    /// depend on the chunking or the number of threads.
    pub fn sample_with_entropy(&self, n: usize, key: u64) -> Result<(Vec<Token>, f64)> {
        self.sample_with_entropy_at(n, key, 1.0)
    }

    /// [`Generator::sample_with_entropy`] from the tempered model
    /// `softmax(logits / temperature)` (the entropy is that of the tempered distributions).
    /// Temperature 1 is the model itself; below 1 sharpens it. `Err` unless the temperature
    /// is finite and > 0.
    pub fn sample_with_entropy_at(
        &self,
        n: usize,
        key: u64,
        temperature: f32,
    ) -> Result<(Vec<Token>, f64)> {
        let inv = check_temperature(temperature)?;
        let l = self.cfg.seq_len;
        let mut out = vec![0 as Token; n * l];
        let (mut ent_sum, mut ent_count) = (0.0f64, 0usize);
        const CHUNK: usize = 512;
        for start in (0..n).step_by(CHUNK) {
            let b = CHUNK.min(n - start);
            let mut streams: Vec<_> = (0..b)
                .map(|i| random::run_stream(key, random::Purpose::Sample, (start + i) as u64))
                .collect();
            let tape = Tape::inference();
            let mut x =
                self.embedding
                    .forward(&tape, &self.params, &vec![self.cfg.start as usize; b])?;
            let mut state = None;
            let mut alive = vec![true; b];
            let core = self.core.prepare(&tape, &self.params)?;
            for t in 0..l {
                let s = core.step(&tape, &self.params, &x, state)?;
                let logits = tempered(
                    self.linear
                        .forward(&tape, &self.params, &s.output())?
                        .value()?,
                    inv,
                );
                state = Some(s);
                let us: Vec<f64> = streams.iter_mut().map(|r| unit_f64(r.next_u64())).collect();
                let drawn = sample_rows(&logits, &us, &alive)?;
                let mut next = vec![0usize; b];
                for (i, &(k, h)) in drawn.iter().enumerate() {
                    if alive[i] {
                        ent_sum += h;
                        ent_count += 1;
                        if Some(k as Token) == self.cfg.eos {
                            alive[i] = false;
                        }
                    }
                    next[i] = k;
                    out[(start + i) * l + t] = k as Token;
                }
                x = self.embedding.forward(&tape, &self.params, &next)?;
            }
        }
        Ok((out, ent_sum / ent_count.max(1) as f64))
    }

    /// The parameters as `(name, tensor)` in PyTorch's names and layouts.
    pub fn state_dict(&self) -> Vec<(String, &Tensor<f32>)> {
        safetensors::state_dict(&self.params)
    }

    /// `generator.safetensors` bytes.
    pub fn safetensors_bytes(&self) -> Result<Vec<u8>> {
        safetensors::to_bytes(&self.state_dict(), &[("format", "pt")])
    }

    /// Loads every parameter from a `generator.safetensors`; `Err` naming the file and the
    /// tensor if one is missing or has another shape (a checkpoint of another model size).
    pub fn load(&mut self, file: &mut TensorFile) -> Result<()> {
        safetensors::load_params(&mut self.params, file)
    }
}

/// `1 / temperature`, or an error naming the bad value.
fn check_temperature(temperature: f32) -> Result<f32> {
    if temperature.is_finite() && temperature > 0.0 && (1.0 / temperature).is_finite() {
        Ok(1.0 / temperature)
    } else {
        Err(Error::Config(format!(
            "sampling temperature must be finite and > 0, got {temperature}"
        )))
    }
}

/// The negative log-likelihood of a set of padded sequences under the generator, summed
/// ([`Generator::nll_sum_at`]), with what it can be normalised by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NllSum {
    /// `sum -ln p(x_t | x_<t)` over the non-pad targets (words and end tokens), in nats.
    pub nats: f64,
    /// The non-pad targets summed over.
    pub tokens: usize,
    /// The sequences they belong to.
    pub sequences: usize,
}

impl NllSum {
    /// Nats per target token: NLL_gen as this crate reports it (0 for an empty set).
    pub fn per_token(&self) -> f64 {
        self.nats / self.tokens.max(1) as f64
    }

    /// Nats per position of sequences padded to `positions` tokens, the pad positions
    /// counted at zero cost: `nats / (sequences * positions)`. RelGAN and Texygen report
    /// NLL_gen of text this way (their pretraining loss, a mean over every position of
    /// every padded sequence, pads included); on short captions in a long padded length it
    /// is several times smaller than [`NllSum::per_token`]. (0 for an empty set.)
    pub fn per_position(&self, positions: usize) -> f64 {
        self.nats / (self.sequences * positions).max(1) as f64
    }
}

/// `logits / temperature` (`inv = 1 / temperature`); temperature 1 leaves them untouched.
fn tempered(logits: std::sync::Arc<Tensor<f32>>, inv: f32) -> std::sync::Arc<Tensor<f32>> {
    if inv == 1.0 {
        logits
    } else {
        std::sync::Arc::new(gumbel_tensor::ops::scale(&logits, inv))
    }
}
