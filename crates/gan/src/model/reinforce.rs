//! SeqGAN's REINFORCE (Yu et al. 2017): the generator as a policy over tokens, the
//! discriminator's probability of "real" as the reward, and Monte-Carlo rollouts to give
//! every prefix a reward (`train --estimator reinforce[:N]`).
//!
//! ## The estimator
//! A batch `x ~ G_theta` of `B` sequences of `L` tokens is drawn at temperature 1. The
//! reward of token `t` of a sequence is the mean score of `N` completions of its prefix:
//!
//! ```text
//! Q(x_1..t) = (1/N) sum_n D(x_1..t ++ y_{t+1..L}^(n)),   y^(n) ~ G_beta( . | x_1..t)   (t < L)
//! Q(x_1..L) = D(x)
//! D(x)      = sigmoid(discriminator logit)   (no dropout: SeqGAN's dropout_keep_prob 1.0)
//! ```
//!
//! and the generator descends the surrogate loss
//!
//! ```text
//! J(theta) = -(1/N') sum_{b,t} Q_{b,t} ln G_theta(x_{b,t} | x_{b,<t})      (N' tokens that are not padding)
//! ```
//!
//! whose gradient is the REINFORCE (score-function) estimate of `-grad E[sum_t Q_t] / N'`.
//! It is one fused node (the output layer and the weighted cross-entropy,
//! [`gumbel_autograd::Var::linear_weighted_cross_entropy`]). As in SeqGAN there is no
//! baseline. No gradient flows through the discriminator: it only scores sequences, so it
//! sees hard tokens, and its own update trains on hard samples.
//!
//! ## The rollout policy
//! `G_beta` starts as a copy of the generator at the first adversarial update and after every
//! generator update follows it with a delay:
//!
//! ```text
//! beta <- r beta + (1 - r) theta      (LSTM and output layer; the embedding is copied)
//! ```
//!
//! with SeqGAN's update rate `r = 0.8` (`--rollout-update-rate`). A note on SeqGAN's own code
//! (LantaoYu/SeqGAN, `rollout.py`): its rollout graph is built once from `tf.identity` of the
//! generator's variables, and `update_params` rebinds Python attributes that graph never
//! reads again, so the code's rollouts in fact sample from the current generator: that is
//! `--rollout-update-rate 0` here. The paper and the code's intent are the delayed copy.
//!
//! ## Batching
//! The `N` rollouts of the `B` sequences from prefix length `t` are one batch of `N B` rows
//! (row `n B + b`) that the rollout policy runs for the `L - t` remaining steps. The policy's
//! state after each prefix comes from one teacher-forced pass over `x` (`B` rows) and is
//! repeated `N` times. In all, `N L (L - 1) / 2` generator steps of `B` rows (3,040 of 64 rows
//! at SeqGAN's sizes: 62 GFLOP of output layer, 1e9 exponentials to sample) and
//! `N (L - 1) + 1` discriminator passes of `B` sequences: this is what one REINFORCE update
//! costs, 10-30 times a Gumbel-Softmax update at the same sizes.
//!
//! With an end token (text) a sequence is over at its end token and padding after it, so:
//! a prefix that holds the end token is not rolled out (its completions are the sequence
//! itself, its reward `D(x)`), and a rollout row that draws the end token leaves its batch
//! (the next steps run on the rows still drawing; the batch stops when none is left). The
//! cost then follows the lengths actually drawn, not `L` (on captions of 11.5 tokens in 38
//! positions about a fifth of it: `docs/estimators.md`, "In the GAN", has the figures).
//!
//! ## Randomness
//! Token `j` of rollout `n` of sequence `b` from prefix length `t` is drawn by the uniform
//! [`rollout_uniform`]`(key, t, n, b, j)`, a function of those indices alone: the batched
//! rollouts, a loop over single sequences (the test) and any number of threads draw the same
//! tokens.

use gumbel_autograd::ops::matmul::plus_product;
use gumbel_autograd::{Tape, Var};
use gumbel_tensor::Tensor;
use gumbel_tensor::ops::categorical::sample_inverse_cdf;
use gumbel_tensor::random::{splitmix64, unit_f64};
use rayon::prelude::*;

use super::core::{CoreState, StateValues};
use super::discriminator::Discriminator;
use super::generator::Generator;
use super::sampling::no_distribution;
use crate::data::Token;
use crate::error::{Error, Result};

/// Rollout rows per job of [`RolloutPolicy::rewards`]: their `[rows, vocab]` logits (1.3 MB
/// at vocabulary 5,000) stay in L2 between the output layer that writes them and the draw
/// that reads them, and the jobs (19 x 16 of them at SeqGAN's sizes) keep every core busy
/// without a barrier per time step.
pub const ROLLOUT_ROWS: usize = 64;

/// SeqGAN's update rate of the rollout policy (`ROLLOUT(generator, 0.8)`).
pub const SEQGAN_UPDATE_RATE: f64 = 0.8;

/// SeqGAN's Adam learning rate of the generator (pretraining and adversarial: 0.01), the
/// default `--gen-lr` of `--estimator reinforce`.
pub const SEQGAN_GEN_LR: f64 = 0.01;

/// The uniform that draws token `j` of rollout `n` of sequence `b` from prefix length `t`
/// (`t = 0`: the batch itself): nested SplitMix64 rounds over the indices, its top 53 bits.
pub fn rollout_uniform(key: u64, t: usize, n: usize, b: usize, j: usize) -> f64 {
    let h = splitmix64(splitmix64(key ^ t as u64) ^ n as u64);
    unit_f64(splitmix64(splitmix64(h ^ b as u64) ^ j as u64))
}

impl Generator {
    /// A copy of this generator with the same weights.
    pub fn duplicate(&self) -> Result<Generator> {
        let mut g = Generator::new(self.cfg.clone(), 0)?;
        for (name, value) in self.params.named_values() {
            let id = g.params.id(name)?;
            g.params.set(id, value.clone())?;
        }
        Ok(g)
    }

    /// `B = batch` sequences `[batch, seq_len]` drawn at temperature 1 with the uniforms
    /// [`rollout_uniform`]`(key, 0, 0, b, j)`; after a sequence's end token the rest is
    /// padding (as the discriminator sees real sequences). REINFORCE's training batch.
    pub fn sample_padded(&self, batch: usize, key: u64) -> Result<Vec<Token>> {
        let prefix = vec![0 as Token; batch * self.cfg.seq_len];
        self.complete(&prefix, 0, None, batch, &|b, j| {
            rollout_uniform(key, 0, 0, b, j)
        })
    }

    /// Whether a sequence that starts with `prefix` is over: it holds the end token and the
    /// rest is padding (without a pad token every row draws to the end, as `sample` does).
    fn has_ended(&self, prefix: &[Token]) -> bool {
        self.cfg.pad.is_some() && self.cfg.eos.is_some_and(|e| prefix.contains(&e))
    }

    /// The core's state after each prefix of `tokens` (`[batch, seq_len]`), for the prefix
    /// lengths `t = 1 .. seq_len - 1`: element `t - 1` has read `start, x_1 .. x_{t-1}`, so
    /// that reading `x_t` next gives the distribution of `x_{t+1}`. No gradient.
    fn prefix_states(&self, tokens: &[Token], batch: usize) -> Result<Vec<StateValues>> {
        let (inputs, _) = self.teacher_forcing(tokens, batch)?;
        let tape = Tape::inference();
        let mut state: Option<CoreState<'_>> = None;
        let mut out = Vec::with_capacity(self.cfg.seq_len);
        let core = self.core.prepare(&tape, &self.params)?;
        for step in inputs.chunks(batch).take(self.cfg.seq_len - 1) {
            let x = self.embedding.forward(&tape, &self.params, step)?;
            let s = core.step(&tape, &self.params, &x, state)?;
            out.push(s.values()?);
            state = Some(s);
        }
        Ok(out)
    }

    /// Completes `rows` sequences (`prefix: [rows, seq_len]`, whose first `t` tokens are
    /// given) by sampling tokens `t + 1 .. seq_len` at temperature 1, token `j` (0-based) of
    /// row `r` by the uniform `uniform(r, j)`. `state` is the core's state before reading token
    /// `t` (`None` for `t = 0`: the start token is read from the initial state). A row whose
    /// prefix or completion has the end token is padding after it, and with a pad token
    /// such a row leaves the batch: the steps after it run on the rows still drawing, and
    /// the batch stops when none is left (on captions most of a rollout's steps). No
    /// gradient: the output layer runs off the tape, and each row is drawn in place in its
    /// logits (`sample_inverse_cdf` overwrites them with exponentials), so callers keep
    /// `rows` small enough for the `[rows, vocab]` logits to stay in cache between the
    /// product that writes them and the draw that reads them ([`ROLLOUT_ROWS`]).
    fn complete(
        &self,
        prefix: &[Token],
        t: usize,
        state: Option<StateValues>,
        rows: usize,
        uniform: &dyn Fn(usize, usize) -> f64,
    ) -> Result<Vec<Token>> {
        let l = self.cfg.seq_len;
        debug_assert!(prefix.len() == rows * l && t < l && (t == 0) == state.is_none());
        let mut out = prefix.to_vec();
        let (eos, pad) = (self.cfg.eos, self.cfg.pad);
        let pad_after = |row: &mut [Token], from: usize| {
            if let Some(p) = pad {
                row[from..].fill(p);
            }
        };
        // the rows still drawing, in order; the state and the input hold exactly these rows
        let mut live: Vec<usize> = Vec::with_capacity(rows);
        for r in 0..rows {
            let row = &mut out[r * l..(r + 1) * l];
            if self.has_ended(&row[..t]) {
                pad_after(row, t);
            } else {
                live.push(r);
            }
        }
        if live.is_empty() {
            return Ok(out);
        }
        let tape = Tape::inference();
        let mut state = match state {
            Some(v) if live.len() < rows => Some(self.core.state_on(&tape, v.pick_rows(&live)?)),
            Some(v) => Some(self.core.state_on(&tape, v)),
            None => None,
        };
        let read: Vec<usize> = live
            .iter()
            .map(|&r| match t {
                0 => self.cfg.start as usize,
                _ => out[r * l + t - 1] as usize,
            })
            .collect();
        let mut x = self.embedding.forward(&tape, &self.params, &read)?;
        let w = self.params.value(self.linear.weight)?;
        let bias = match self.linear.bias {
            Some(b) => self.params.value(b)?.clone(),
            None => Tensor::zeros([self.cfg.vocab]),
        };
        let mut sums = Vec::new();
        let core = self.core.prepare(&tape, &self.params)?;
        for j in t..l {
            let s = core.step(&tape, &self.params, &x, state)?;
            let mut logits = plus_product(&bias, true, (&*s.output().value()?, false), (w, true))?;
            // `keep[i]`: live row i draws on after this step
            let mut keep = Vec::with_capacity(live.len());
            let mut next = Vec::with_capacity(live.len());
            for (i, &r) in live.iter().enumerate() {
                let z = &mut logits.as_mut_slice()[i * self.cfg.vocab..(i + 1) * self.cfg.vocab];
                let Some(k) = sample_inverse_cdf(z, uniform(r, j), &mut sums) else {
                    return Err(no_distribution(r, z).into());
                };
                let row = &mut out[r * l..(r + 1) * l];
                row[j] = k as Token;
                if Some(k as Token) == eos && pad.is_some() {
                    pad_after(row, j + 1);
                } else {
                    keep.push(i);
                    next.push(k);
                }
            }
            if j + 1 == l || keep.is_empty() {
                break;
            }
            state = Some(if keep.len() == live.len() {
                s
            } else {
                live = keep.iter().map(|&i| live[i]).collect();
                self.core.state_on(&tape, s.values()?.pick_rows(&keep)?)
            });
            x = self.embedding.forward(&tape, &self.params, &next)?;
        }
        Ok(out)
    }

    /// REINFORCE's surrogate loss `-(1/N') sum_{b,t} Q_{b,t} ln G(x_{b,t} | x_{b,<t})` of a
    /// batch `tokens: [batch, seq_len]` with rewards `q: [batch, seq_len]` (row-major), over
    /// the `N'` targets that are not padding (see the module docs), as one fused node.
    pub fn reinforce_loss<'t>(
        &self,
        tape: &'t Tape<f32>,
        tokens: &[Token],
        batch: usize,
        q: &[f32],
    ) -> Result<Var<'t, f32>> {
        let l = self.cfg.seq_len;
        if q.len() != tokens.len() {
            return Err(Error::Config(format!(
                "reinforce: {} rewards for {} tokens",
                q.len(),
                tokens.len()
            )));
        }
        let (inputs, targets) = self.teacher_forcing(tokens, batch)?;
        let h = self.teacher_forced_hidden(tape, &inputs, batch)?;
        // time-major, as the targets: row t * batch + b
        let weights: Vec<f32> = (0..l * batch)
            .map(|i| q[(i % batch) * l + i / batch])
            .collect();
        let pad = self.cfg.pad.map(|p| p as usize);
        Ok(self.linear.forward_weighted_cross_entropy(
            tape,
            &self.params,
            &h,
            &targets,
            &weights,
            pad,
        )?)
    }
}

/// SeqGAN's rollout policy: a delayed copy of the generator (see the module docs).
pub struct RolloutPolicy {
    /// The policy's weights, in a generator of the same sizes.
    pub model: Generator,
}

impl RolloutPolicy {
    /// The policy at the start of the adversarial phase: a copy of `generator`.
    pub fn new(generator: &Generator) -> Result<RolloutPolicy> {
        Ok(RolloutPolicy {
            model: generator.duplicate()?,
        })
    }

    /// After a generator update: `beta <- rate beta + (1 - rate) theta` for the LSTM and the
    /// output layer (in f32, element by element), the embedding copied. `rate` in `[0, 1]`:
    /// 0 follows the generator exactly, 1 keeps the first copy.
    pub fn update(&mut self, generator: &Generator, rate: f64) -> Result<()> {
        if !(0.0..=1.0).contains(&rate) {
            return Err(Error::Config(format!(
                "--rollout-update-rate must be in [0, 1], got {rate}"
            )));
        }
        let (r, keep) = (rate as f32, (1.0 - rate) as f32);
        let embedding = self.model.embedding.weight;
        for (name, theta) in generator.params.named_values() {
            let id = self.model.params.id(name)?;
            let beta = self.model.params.value_mut(id)?;
            if id == embedding {
                beta.as_mut_slice().copy_from_slice(theta.as_slice());
            } else {
                for (b, &t) in beta.as_mut_slice().iter_mut().zip(theta.as_slice()) {
                    *b = r * *b + keep * t;
                }
            }
        }
        Ok(())
    }

    /// The rewards `Q: [batch, seq_len]` (row-major) of the sequences `tokens: [batch,
    /// seq_len]`: for `t < seq_len` the mean of `D` over `rollouts` completions of each
    /// prefix of length `t` by this policy (uniforms from `key`), for `t = seq_len` `D` of the
    /// sequence itself; `D` is [`Discriminator::probability_real`]. The rollout rows of all
    /// prefix lengths are cut into jobs of at most [`ROLLOUT_ROWS`] rows that run in
    /// parallel; every row's tokens depend on its indices alone, and the means add the
    /// rollouts in order in f64, so the result is the same for any number of threads.
    pub fn rewards(
        &self,
        disc: &Discriminator,
        tokens: &[Token],
        batch: usize,
        rollouts: usize,
        key: u64,
    ) -> Result<Vec<f32>> {
        let l = self.model.cfg.seq_len;
        if rollouts == 0 || batch == 0 {
            return Err(Error::Config(format!(
                "reinforce: needs at least 1 rollout and 1 sequence, got {rollouts} and {batch}"
            )));
        }
        // (checks that `tokens` holds `batch` sequences of `seq_len` tokens in the vocabulary)
        let states = self.model.prefix_states(tokens, batch)?;
        let seq = |b: usize| &tokens[b * l..(b + 1) * l];
        if let (Some(eos), Some(pad)) = (self.model.cfg.eos, self.model.cfg.pad) {
            for b in 0..batch {
                if let Some(e) = seq(b).iter().position(|&x| x == eos)
                    && let Some(k) = seq(b)[e + 1..].iter().position(|&x| x != pad)
                {
                    return Err(Error::Config(format!(
                        "reinforce: sequence {b} has token {} at position {} after its end \
                         token at {e}; sequences are padded after it, as sample_padded draws them",
                        seq(b)[e + 1 + k],
                        e + 1 + k
                    )));
                }
            }
        }
        // D of each whole sequence: the reward of its last token, and of every prefix that
        // holds its end token (such a prefix's completions are padding: the sequence itself)
        let whole = disc.probability_real(tokens, batch)?;
        // drawing[t - 1]: the sequences whose prefix of length t is rolled out
        let drawing: Vec<Vec<usize>> = (1..l)
            .map(|t| {
                (0..batch)
                    .filter(|&b| !self.model.has_ended(&seq(b)[..t]))
                    .collect()
            })
            .collect();
        // rollout row i of prefix length t is rollout i / m of sequence drawing[t - 1][i % m],
        // m = drawing[t - 1].len()
        let jobs: Vec<(usize, usize, usize)> = (1..l)
            .flat_map(|t| {
                let rows = rollouts * drawing[t - 1].len();
                (0..rows)
                    .step_by(ROLLOUT_ROWS)
                    .map(move |lo| (t, lo, (lo + ROLLOUT_ROWS).min(rows)))
            })
            .collect();
        let scores: Vec<Vec<f32>> = jobs
            .par_iter()
            .map(|&(t, lo, hi)| {
                let seqs = &drawing[t - 1];
                let m = seqs.len();
                let who: Vec<usize> = (lo..hi).map(|i| seqs[i % m]).collect();
                let prefix: Vec<Token> = who.iter().flat_map(|&b| seq(b)).copied().collect();
                let done = self.model.complete(
                    &prefix,
                    t,
                    Some(states[t - 1].pick_rows(&who)?),
                    hi - lo,
                    &|r, j| rollout_uniform(key, t, (lo + r) / m, who[r], j),
                )?;
                disc.probability_real(&done, hi - lo)
            })
            .collect::<Result<_>>()?;
        // D(x) everywhere, then the means of the rollouts where there are some
        let mut q: Vec<f32> = whole
            .iter()
            .flat_map(|&p| std::iter::repeat_n(p, l))
            .collect();
        let mut sums = vec![0f64; batch];
        let mut job = 0;
        for t in 1..l {
            let seqs = &drawing[t - 1];
            sums.fill(0.0);
            // the rollouts of one sequence are added in order of n, for any thread count
            let mut i = 0;
            while i < rollouts * seqs.len() {
                for &p in &scores[job] {
                    sums[seqs[i % seqs.len()]] += p as f64;
                    i += 1;
                }
                job += 1;
            }
            for &b in seqs {
                q[b * l + t - 1] = (sums[b] / rollouts as f64) as f32;
            }
        }
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::discriminator::DiscriminatorConfig;
    use crate::model::generator::GeneratorConfig;
    use approx::assert_relative_eq;
    use gumbel_tensor::ops::categorical::scalar;

    /// A tiny generator (vocabulary 7, length 5) and discriminator; with `eos`, token 2 ends
    /// a sequence and 1 pads it.
    fn tiny(eos: bool) -> (Generator, Discriminator) {
        let (v, l) = (7, 5);
        let g = Generator::new(
            GeneratorConfig {
                vocab: v,
                emb: 4,
                arch: crate::model::GeneratorArch::Lstm { hidden: 6 },
                seq_len: l,
                start: 0,
                pad: eos.then_some(1),
                eos: eos.then_some(2),
            },
            11,
        )
        .unwrap();
        let d = Discriminator::new(
            DiscriminatorConfig {
                arch: crate::model::discriminator::DiscriminatorArch::Cnn,
                vocab: v,
                seq_len: l,
                emb: 5,
                widths: vec![2, 3],
                filters: 4,
                dropout: 0.3,
            },
            12,
        )
        .unwrap();
        (g, d)
    }

    /// One sequence completed the plain way: the model read token by token on a tape (one
    /// row), each token drawn by the scalar reference sampler from the same uniforms,
    /// padding after the end token.
    fn complete_one(
        g: &Generator,
        seq: &[Token],
        t: usize,
        u: &dyn Fn(usize) -> f64,
    ) -> Vec<Token> {
        let mut out = seq.to_vec();
        let tape = Tape::inference();
        let mut state = None;
        let mut input = g.cfg.start as usize;
        let mut ended = false;
        for (j, token) in out.iter_mut().enumerate() {
            let x = g.embedding.forward(&tape, &g.params, &[input]).unwrap();
            let s = g.core.step(&tape, &g.params, &x, state).unwrap();
            let logits = g
                .linear
                .forward(&tape, &g.params, &s.output())
                .unwrap()
                .value()
                .unwrap();
            state = Some(s);
            if j >= t {
                let k = scalar::sample_inverse_cdf(logits.as_slice(), u(j)).unwrap() as Token;
                *token = match (ended, g.cfg.pad) {
                    (true, Some(pad)) => pad,
                    _ => k,
                };
            }
            ended |= Some(*token) == g.cfg.eos;
            input = *token as usize;
        }
        out
    }

    /// The batched rewards and the batched loss's gradient against an explicit loop over
    /// sequences, prefixes and rollouts, each sequence on its own (one row at a time, the
    /// scalar sampler, the discriminator on one sequence, the loss token by token): the
    /// batching changes nothing. Without and with end tokens (padding after them).
    #[test]
    fn batched_rollouts_and_gradient_equal_a_per_sequence_loop() {
        for eos in [false, true] {
            let (mut g, d) = tiny(eos);
            let (b, n, key) = (3, 4, 99);
            let l = g.cfg.seq_len;
            let mut policy = RolloutPolicy::new(&g).unwrap();
            // a policy that differs from the generator
            policy.model = Generator::new(g.cfg.clone(), 13).unwrap();
            let tokens = g.sample_padded(b, 5).unwrap();
            for s in 0..b {
                let want = complete_one(&g, &vec![0; l], 0, &|j| rollout_uniform(5, 0, 0, s, j));
                assert_eq!(tokens[s * l..(s + 1) * l], want[..], "sample {s}");
            }
            let q = policy.rewards(&d, &tokens, b, n, key).unwrap();
            // the explicit loop
            let mut want = vec![0f32; b * l];
            for s in 0..b {
                let seq = &tokens[s * l..(s + 1) * l];
                for t in 1..=l {
                    want[s * l + t - 1] = if t == l {
                        d.probability_real(seq, 1).unwrap()[0]
                    } else {
                        let mut sum = 0.0f64;
                        for r in 0..n {
                            let u = |j| rollout_uniform(key, t, r, s, j);
                            let done = complete_one(&policy.model, seq, t, &u);
                            assert_eq!(done[..t], seq[..t]);
                            sum += d.probability_real(&done, 1).unwrap()[0] as f64;
                        }
                        (sum / n as f64) as f32
                    };
                }
            }
            for (i, (a, w)) in q.iter().zip(&want).enumerate() {
                assert_relative_eq!(*a, *w, max_relative = 1e-5);
                assert!(*a > 0.0 && *a < 1.0, "reward {i}: {a}");
            }
            // the gradient: batched node against per-token cross-entropies, each sequence
            // on its own tape, weights Q / N'
            let tape = Tape::new();
            let loss = g.reinforce_loss(&tape, &tokens, b, &q).unwrap();
            let batched = tape.backward(loss).unwrap();
            g.params.accumulate(&mut { batched }).unwrap();
            let grads_batched: Vec<Vec<f32>> = g
                .params
                .ids()
                .map(|id| g.params.grad(id).unwrap().as_slice().to_vec())
                .collect();
            g.params.zero_grad();
            // N': the targets that are not padding
            let kept = tokens.iter().filter(|&&x| Some(x) != g.cfg.pad).count();
            for s in 0..b {
                let seq = &tokens[s * l..(s + 1) * l];
                let tape = Tape::new();
                let (inputs, _) = g.teacher_forcing(seq, 1).unwrap();
                let h = g.teacher_forced_hidden(&tape, &inputs, 1).unwrap();
                let z = g.linear.forward(&tape, &g.params, &h).unwrap();
                let mut total: Option<Var<'_, f32>> = None;
                for t in 0..l {
                    if Some(seq[t]) == g.cfg.pad {
                        continue;
                    }
                    let zt = z.slice(0, t, t + 1).unwrap();
                    let ce = zt.cross_entropy(&[seq[t] as usize], None).unwrap();
                    let term = ce.scale(q[s * l + t] / kept as f32).unwrap();
                    total = Some(match total {
                        Some(acc) => acc.add(&term).unwrap(),
                        None => term,
                    });
                }
                if let Some(total) = total {
                    g.params
                        .accumulate(&mut tape.backward(total).unwrap())
                        .unwrap();
                }
            }
            for (id, want) in g.params.ids().zip(&grads_batched) {
                let got = g.params.grad(id).unwrap().as_slice();
                for (a, w) in got.iter().zip(want) {
                    assert_relative_eq!(*a, *w, max_relative = 1e-4, epsilon = 1e-7);
                }
            }
            assert!(grads_batched.iter().flatten().any(|&x| x != 0.0));
            if eos {
                // some sequence ended early and is padded after its end token
                let padded = tokens.chunks(l).any(|s| {
                    s.iter()
                        .position(|&x| x == 2)
                        .is_some_and(|e| s[e + 1..].iter().all(|&x| x == 1) && e + 1 < l)
                });
                assert!(padded, "{tokens:?}");
            }
        }
    }

    /// The rewards are the same bits on 1, 2 and 7 threads (jobs of rollout rows in
    /// parallel), at a vocabulary large enough for the products to split; without and with
    /// end tokens (rows that end leave their batch).
    #[test]
    fn rewards_are_the_same_bits_for_any_number_of_threads() {
        for ends in [false, true] {
            let mut g = Generator::new(
                GeneratorConfig {
                    vocab: 600,
                    emb: 8,
                    arch: crate::model::GeneratorArch::Lstm { hidden: 8 },
                    seq_len: 6,
                    start: 0,
                    pad: ends.then_some(1),
                    eos: ends.then_some(2),
                },
                1,
            )
            .unwrap();
            // the end token about one draw in ten
            let bias = g.linear.bias.unwrap();
            let mut b = g.params.value(bias).unwrap().clone();
            b.as_mut_slice()[2] = 4.0;
            g.params.set(bias, b).unwrap();
            let d = Discriminator::new(
                DiscriminatorConfig {
                    arch: crate::model::discriminator::DiscriminatorArch::Cnn,
                    vocab: 600,
                    seq_len: 6,
                    emb: 8,
                    widths: vec![2],
                    filters: 4,
                    dropout: 0.25,
                },
                2,
            )
            .unwrap();
            let policy = RolloutPolicy::new(&g).unwrap();
            let run = |threads| {
                gumbel_tensor::parallel::with_threads(threads, || {
                    let tokens = g.sample_padded(40, 3).unwrap();
                    (
                        tokens.clone(),
                        policy.rewards(&d, &tokens, 40, 5, 4).unwrap(),
                    )
                })
                .unwrap()
            };
            let one = run(1);
            if ends {
                let early = one.0.chunks(6).filter(|s| s[..5].contains(&2)).count();
                assert!((4..36).contains(&early), "{early} of 40 end early");
            }
            for threads in [2, 7] {
                let other = run(threads);
                assert_eq!(one.0, other.0, "samples, {threads} threads");
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&one.1), bits(&other.1), "rewards, {threads} threads");
            }
        }
    }

    /// The delayed copy: rate 1 keeps the policy, rate 0 copies the generator, 0.8 mixes
    /// element by element; the embedding is always copied. Rates outside [0, 1] are errors.
    #[test]
    fn the_policy_follows_the_generator_at_the_update_rate() {
        let (g, _) = tiny(false);
        let other = Generator::new(g.cfg.clone(), 77).unwrap();
        let value = |m: &Generator, name: &str| {
            m.params
                .value(m.params.id(name).unwrap())
                .unwrap()
                .as_slice()
                .to_vec()
        };
        for rate in [0.0, 0.8, 1.0] {
            let mut p = RolloutPolicy::new(&other).unwrap();
            p.update(&g, rate).unwrap();
            assert_eq!(
                value(&p.model, "embedding.weight"),
                value(&g, "embedding.weight")
            );
            for name in [
                "lstm.weight_ih_l0",
                "lstm.bias_hh_l0",
                "linear.weight",
                "linear.bias",
            ] {
                let (got, old, new) = (value(&p.model, name), value(&other, name), value(&g, name));
                for i in 0..got.len() {
                    let want = rate as f32 * old[i] + (1.0 - rate) as f32 * new[i];
                    assert_eq!(got[i], want, "{name}[{i}] at rate {rate}");
                }
            }
        }
        let mut p = RolloutPolicy::new(&g).unwrap();
        for bad in [-0.1, 1.5, f64::NAN] {
            let e = p.update(&g, bad).unwrap_err().to_string();
            assert!(e.contains("--rollout-update-rate"), "{e}");
        }
    }

    /// Rewards of no rollouts, of no sequences, of a token count that is not `batch`
    /// sequences, or of a sequence not padded after its end token are errors, not panics.
    #[test]
    fn bad_reward_requests_are_errors() {
        let (g, d) = tiny(false);
        let p = RolloutPolicy::new(&g).unwrap();
        let tokens = g.sample_padded(2, 1).unwrap();
        for (tokens, batch, rollouts, says) in [
            (&tokens[..], 2, 0, "at least 1 rollout"),
            (&[][..], 0, 3, "1 sequence"),
            (&tokens[1..], 2, 3, "tokens for a batch of 2"),
        ] {
            let e = p
                .rewards(&d, tokens, batch, rollouts, 7)
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{e}");
        }
        // with end tokens, a sequence must be padded after its end (token 2; pad 1)
        let (g, d) = tiny(true);
        let p = RolloutPolicy::new(&g).unwrap();
        let e = p
            .rewards(&d, &[3, 2, 1, 4, 1], 1, 2, 7)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sequence 0 has token 4 at position 3 after its end token at 1"),
            "{e}"
        );
    }
}
