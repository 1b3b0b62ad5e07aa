//! The score-function estimator (REINFORCE; Williams 1992), with baselines.
//!
//! For `D ~ Categorical(pi)`, `pi = softmax(l)`, and any `b` that does not depend on `D`:
//!
//! ```text
//! grad_l E[f(D)] = E[(f(D) - b) grad_l ln pi_D],     grad_l ln pi_D = one_hot(D) - pi
//! ```
//!
//! because `E[grad_l ln pi_D] = sum_d grad_l pi_d = grad_l 1 = 0`. The estimate is unbiased
//! for every such `b`; a good `b` (close to `E[f]`) lowers its variance. With `K` samples
//! per row the estimate is their mean. Baselines ([`Baseline`]):
//! - none: `b = 0`;
//! - a running mean of `f` over *earlier* draws (the current draw's own mean would depend
//!   on `D`);
//! - leave-one-out over the `K` samples of a row (VIMCO's, Mnih and Rezende 2016; Kool, van
//!   Hoof and Welling 2019, "Buy 4 REINFORCE samples, get a baseline for free!"):
//!   `b_k = (1/(K-1)) sum_{j != k} f_j`, independent of sample `k` because the samples are.

use gumbel_tensor::ops::gumbel::{GumbelRng, gumbel_max};
use gumbel_tensor::ops::softmax::softmax;
use gumbel_tensor::{Element, Error, Result, Tensor};

use super::{Draw, one_hot};
use crate::tape::Var;

/// The baseline `b` of the score-function estimate.
#[derive(Clone, Debug, PartialEq)]
pub enum Baseline {
    /// `b = 0`.
    None,
    /// An exponential moving average of the mean of `f` over earlier draws: `b = m`, then
    /// `m <- decay m + (1 - decay) mean(f)` (the first draw uses `b = 0` and sets `m` to its
    /// mean).
    RunningMean {
        /// The weight of the past, in `[0, 1)`.
        decay: f64,
        /// The average so far (`None` before the first draw).
        mean: Option<f64>,
    },
    /// `b_k = (1/(K-1)) sum_{j != k} f_j` over the `K >= 2` samples of the same row.
    LeaveOneOut,
}

impl Baseline {
    /// A running mean with weight `decay` in `[0, 1)` on the past.
    pub fn running_mean(decay: f64) -> Result<Baseline> {
        if !(0.0..1.0).contains(&decay) {
            return Err(Error::invalid_argument(
                "Baseline::running_mean",
                format!("decay must be in [0, 1), got {decay}"),
            ));
        }
        Ok(Baseline::RunningMean { decay, mean: None })
    }
}

/// REINFORCE over `samples` draws per row with a [`Baseline`].
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreFunction {
    /// Samples per row of logits, `K >= 1` (`>= 2` for the leave-one-out baseline).
    pub samples: usize,
    /// The baseline.
    pub baseline: Baseline,
}

impl ScoreFunction {
    /// Checks `samples >= 1`, and `>= 2` with [`Baseline::LeaveOneOut`].
    pub fn new(samples: usize, baseline: Baseline) -> Result<ScoreFunction> {
        let min = if baseline == Baseline::LeaveOneOut {
            2
        } else {
            1
        };
        if samples < min {
            return Err(Error::invalid_argument(
                "ScoreFunction::new",
                format!("{samples} samples per row: the {baseline:?} baseline needs K >= {min}"),
            ));
        }
        Ok(ScoreFunction { samples, baseline })
    }

    /// `K` samples per row by Gumbel-max on the logits repeated `K` times; the value is
    /// their one-hot, a constant (the gradient goes through [`score_term`]).
    pub(super) fn draw<'t, T: Element>(
        &self,
        logits: &Var<'t, T>,
        rng: &mut GumbelRng,
    ) -> Result<(Var<'t, T>, Vec<usize>)> {
        let l = logits.value()?;
        let (rows, classes, k) = (l.rows(), l.cols(), self.samples);
        let repeated = if k == 1 {
            (*l).clone()
        } else {
            let mut t = Tensor::zeros([rows * k, classes]);
            for r in 0..rows * k {
                t.row_mut(r).copy_from_slice(l.row(r / k));
            }
            t
        };
        let index = gumbel_max(&repeated, rng)?;
        Ok((logits.tape().constant(one_hot(&index, classes)), index))
    }

    /// The score-function node for `f` (one value per sample of `draw`): weights
    /// `(f - b) / K`, then the running mean is updated.
    pub(super) fn term<'t, T: Element>(
        &mut self,
        draw: &Draw<'t, T>,
        f: &Var<'t, T>,
    ) -> Result<Var<'t, T>> {
        let k = self.samples;
        let f: Vec<f64> = f.value()?.as_slice().iter().map(|x| x.to_f64()).collect();
        if let Some(i) = f.iter().position(|x| !x.is_finite()) {
            return Err(Error::non_finite(
                "ScoreFunction",
                format!("the objective of sample {i}"),
                f[i],
            ));
        }
        let weights: Vec<f64> = match &mut self.baseline {
            Baseline::None => f.iter().map(|&x| x / k as f64).collect(),
            Baseline::RunningMean { decay, mean } => {
                let b = mean.unwrap_or(0.0);
                let batch = f.iter().sum::<f64>() / f.len() as f64;
                *mean = Some(match *mean {
                    None => batch,
                    Some(m) => *decay * m + (1.0 - *decay) * batch,
                });
                f.iter().map(|&x| (x - b) / k as f64).collect()
            }
            Baseline::LeaveOneOut => f
                .chunks(k)
                .flat_map(|row| {
                    let sum: f64 = row.iter().sum();
                    row.iter()
                        .map(move |&x| (x - (sum - x) / (k - 1) as f64) / k as f64)
                })
                .collect(),
        };
        score_term(&draw.logits, &draw.index, &weights)
    }
}

/// The score-function term for samples `index` of `logits` (`[rows, classes]`;
/// `index.len() = rows * K`, row `r * K + k` the `k`-th sample of row `r`) with per-sample
/// weights `w` (`(f - b) / K` for REINFORCE): a node whose value is 0 and whose gradient is
///
/// ```text
/// dl_r = dy * sum_k w_{r,k} (one_hot(D_{r,k}) - pi_r),     pi = softmax(l)
/// ```
///
/// (`dy` the gradient of the scalar node). Adding it to a loss adds the score-function
/// estimate to the logits' gradient without changing the loss's value. Unbiased only if
/// each `w_{r,k}`'s baseline is independent of `D_{r,k}`: the tests show a baseline that
/// sees its own sample failing.
///
/// Errors: `index` not a multiple of the rows or out of range, `w` of another length, a
/// non-finite weight, and the softmax's (NaN or `+inf` logits, all-masked rows).
pub fn score_term<'t, T: Element>(
    logits: &Var<'t, T>,
    index: &[usize],
    weights: &[f64],
) -> Result<Var<'t, T>> {
    const OP: &str = "score_term";
    let l = logits.value()?;
    let (rows, classes) = (l.rows(), l.cols());
    if rows == 0 || !index.len().is_multiple_of(rows) || weights.len() != index.len() {
        return Err(Error::invalid_argument(
            OP,
            format!(
                "{} samples and {} weights for logits of shape {:?}",
                index.len(),
                weights.len(),
                l.shape()
            ),
        ));
    }
    if let Some((i, &c)) = index.iter().enumerate().find(|&(_, &c)| c >= classes) {
        return Err(Error::invalid_argument(
            OP,
            format!("sample {i}: class {c} is out of range for {classes} classes"),
        ));
    }
    if let Some(i) = weights.iter().position(|w| !w.is_finite()) {
        return Err(Error::non_finite(OP, format!("weight {i}"), weights[i]));
    }
    let k = index.len() / rows;
    let pi = softmax(&l)?;
    // sum_k w_{r,k} one_hot(D_{r,k}) and sum_k w_{r,k}, per row
    let mut w = Tensor::<T>::zeros([rows, classes]);
    let mut w_sum = vec![0.0f64; rows];
    for (i, (&c, &wi)) in index.iter().zip(weights).enumerate() {
        let r = i / k;
        let cell = &mut w.row_mut(r)[c];
        *cell = T::from_f64(cell.to_f64() + wi);
        w_sum[r] += wi;
    }
    let il = logits.id();
    logits.push(OP, Tensor::scalar(T::ZERO), &[*logits], move |_, dy, g| {
        let s = dy.item()?;
        let mut dl = w;
        for (r, &ws) in w_sum.iter().enumerate() {
            let ws = T::from_f64(ws);
            for (d, &p) in dl.row_mut(r).iter_mut().zip(pi.row(r)) {
                *d = s * (*d - ws * p);
            }
        }
        g.add(il, dl)
    })
}
