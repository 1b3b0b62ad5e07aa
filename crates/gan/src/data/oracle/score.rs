//! Teacher-forced scoring: per-token and per-sequence NLLs under the oracle, NLL_oracle,
//! and the distribution after a prefix.

use gumbel_tensor::{Element, Tensor};
use rayon::prelude::*;

use super::lstm::{Workspace, log_sum_exp};
use super::{BLOCK_ROWS, Oracle, START_TOKEN};
use crate::data::Token;
use crate::error::{Error, Result};

impl<T: Element> Oracle<T> {
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
    /// SeqGAN averages the means of batches of 64 over 9,984 ([`EVAL_SEQUENCES`](super::EVAL_SEQUENCES))
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
}
