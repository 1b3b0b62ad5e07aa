//! Gradient estimators for categorical samples: one API for the family the field compares.
//!
//! A model draws a discrete sample `D ~ Categorical(pi)`, `pi = softmax(l)`, for each row of
//! logits `l`, computes an objective `f(D)`, and needs `grad_l E[f(D)]`. The sample has no
//! derivative, so each estimator sends its own stand-in to `l` (`dy = grad f` at the
//! forward value, `J(p) = diag(p) - p p^T` the softmax Jacobian at a point `p` of the
//! simplex, `g` Gumbel noise, `y = softmax((l + g) / tau)`):
//!
//! | estimator | forward value | gradient sent to `l` | bias |
//! |---|---|---|---|
//! | [`ScoreFunction`] (REINFORCE) | `D` (no path to `l`) | `(f(D) - b) grad_l ln pi_D` | none |
//! | [`Estimator::StraightThrough`] | `D` | `J(softmax(l / tau)) dy / tau` | yes |
//! | [`Estimator::GumbelSoftmax`] | `y` | the derivative of `y` | the relaxation's |
//! | [`Estimator::StGumbelSoftmax`] | `D = one_hot(argmax(l + g))` | through `y` | yes |
//! | [`Estimator::ReinMax`] | `D` | `2 J(p_half) dy - J(pi) dy / 2`, `p_half = (softmax(l / tau) + D) / 2` | second order |
//! | [`Estimator::GumbelRao`] | `D = one_hot(argmax(l + g))` | `mean_k J(y_k) dy / tau`, `g_k ~ Gumbel` given `D` | ST-GS's |
//! | [`Estimator::GappedStraightThrough`] | `D` | `J(softmax(gapped(l, D) / tau)) dy / tau`, [`gapped_logits`] | yes |
//! | [`rebar`], RELAX ([`ControlVariateDraw::estimate`]) | `D` (or Bernoulli `b`) | `(f(D) - c(z~)) grad_l ln pi_D + grad_l c(z) - grad_l c(z~)` | none |
//!
//! References: Williams 1992 (REINFORCE); Mnih and Rezende 2016, "Variational inference for
//! Monte Carlo objectives" (VIMCO: the leave-one-out baseline); Bengio, Leonard and
//! Courville 2013, "Estimating or propagating gradients through stochastic neurons"
//! (straight-through); Jang, Gu and Poole 2017 and Maddison, Mnih and Teh 2017
//! (Gumbel-Softmax / Concrete); Liu et al., NeurIPS 2023, "Bridging Discrete and
//! Backpropagation: Straight-Through and Beyond" (ReinMax; reference code
//! github.com/microsoft/ReinMax, `reinmax/reinmax.py`); Paulus, Maddison and Krause, ICLR
//! 2021, "Rao-Blackwellizing the Straight-Through Gumbel-Softmax Gradient Estimator"
//! (Gumbel-Rao); Fan, Chi, Rudnicky and Ramadge, ICML 2022, "Training Discrete Deep
//! Generative Models via Gapped Straight-Through Estimator" (gapped straight-through;
//! reference code github.com/chijames/GST, `gst_mover` in `model/basic.py`); Tucker et al.
//! 2017 (REBAR) and Grathwohl et al., ICLR 2018 (RELAX; reference code
//! github.com/duvenaud/relax).
//!
//! REBAR and RELAX are not [`Estimator`] variants: their control variate evaluates the
//! objective (or a learned surrogate) on continuous points, so they take the objective as a
//! function and have parameters of their own, trained on the estimator's variance through a
//! second derivative. They have their own draw ([`control_variate_draw`]) and estimate
//! ([`ControlVariateDraw::estimate`]), for categorical and Bernoulli variables ([`Family`]).
//!
//! ## One shape for all of them
//! ```
//! use gumbel_autograd::estimators::Estimator;
//! use gumbel_autograd::{Tape, tensor::Tensor};
//! use gumbel_autograd::tensor::ops::gumbel::{GumbelRng, Temperature};
//! # fn main() -> gumbel_autograd::Result<()> {
//! let mut rng = GumbelRng::new(7);
//! for name in ["reinforce_loo:4", "straight_through", "st_gumbel_softmax", "reinmax"] {
//!     let tape = Tape::<f64>::new(); // a tape serves one backward pass
//!     let logits = tape.leaf(Tensor::new([2, 3], vec![1.0, 0.0, -1.0, 0.5, 0.5, 0.0])?);
//!     let target = tape.constant(Tensor::new([3], vec![0.0, 1.0, 0.0])?);
//!     let mut est: Estimator = name.parse()?;
//!     let draw = est.draw(&logits, Temperature::Tau(1.0), &mut rng)?;
//!     // the objective: one value per drawn sample (rows * samples of them)
//!     let d = draw.value.sub(&target)?;
//!     let f = d.mul(&d)?.sum_axis(1)?;
//!     let loss = est.loss(&draw, &f)?; // sum over rows of the mean over samples of f
//!     let g = loss.backward()?;
//!     assert_eq!(g.get(logits).unwrap().shape(), &[2, 3]);
//! }
//! # Ok(()) }
//! ```
//! [`Estimator::draw`] samples (one counter value of the generator per call) and records
//! the forward value; the objective reads [`Draw::value`]; [`Estimator::loss`] returns the
//! scalar to differentiate. Its value is the sample estimate of `sum_rows E[f]`; its gradient
//! is the estimator's. Estimators are selected by name ([`Estimator::from_str`], the
//! `--estimator NAME[:ARG]` syntax): `reinforce`, `reinforce_mean`, `reinforce_loo:K`,
//! `straight_through`, `gumbel_softmax`, `st_gumbel_softmax`, `reinmax`, `gumbel_rao:K`,
//! `gapped_st[:GAP]` (`GAP` a number `>= 0`, 1 if left out, or `p` for the adaptive gap).
//!
//! ## Files
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`Estimator`], [`Draw`], the names |
//! | `score_function.rs` | [`ScoreFunction`], [`Baseline`], [`score_term`] |
//! | `gumbel_rao.rs` | [`gumbel_rao`] on the tensor crate's fused conditional kernel |
//! | `control_variate.rs` | REBAR ([`rebar`]) and RELAX ([`ControlVariateDraw::estimate`]), categorical and Bernoulli |
//! | `bernoulli.rs` | every [`Estimator`] on Bernoulli logits ([`Estimator::draw_bernoulli`], [`Estimator::loss_bernoulli`]), as the two-class categorical `(l, 0)` |
//! | `straight_through.rs` | [`straight_through`], [`reinmax`] and [`gapped_straight_through`]: a one-hot forward with a softmax-Jacobian backward |
//!
//! The relaxed estimators are the Gumbel-Softmax node of [`crate::ops::gumbel`].

mod bernoulli;
mod control_variate;
mod gumbel_rao;
mod score_function;
mod straight_through;

use std::fmt;
use std::str::FromStr;

use gumbel_tensor::ops::gumbel::{GumbelRng, Output, Temperature};
use gumbel_tensor::{Element, Error, Result, Tensor};

use crate::ops::gumbel::gumbel_softmax;
use crate::tape::Var;

pub use bernoulli::BernoulliDraw;
pub use control_variate::{
    ControlVariateDraw, ControlVariateEstimate, Family, control_variate_draw,
    control_variate_draw_with_noise, rebar,
};
pub use gumbel_rao::{GUMBEL_RAO_STREAM, gumbel_rao};
pub use score_function::{Baseline, ScoreFunction, score_term};
pub use straight_through::{
    Gap, gapped_logits, gapped_straight_through, gapped_straight_through_with_sample, reinmax,
    reinmax_with_sample, straight_through, straight_through_with_sample,
};

/// A gradient estimator for categorical samples (see the module docs for the math).
#[derive(Clone, Debug, PartialEq)]
pub enum Estimator {
    /// REINFORCE with a baseline, over `K` samples per row.
    ScoreFunction(ScoreFunction),
    /// Straight-through (Bengio et al. 2013): forward `D ~ softmax(l)`, backward through
    /// `softmax(l / tau)`.
    StraightThrough,
    /// The relaxed sample `y = softmax((l + g) / tau)` itself.
    GumbelSoftmax,
    /// Straight-through Gumbel-Softmax: forward `one_hot(argmax(l + g))`, backward through
    /// `y`.
    StGumbelSoftmax,
    /// ReinMax (Liu et al. 2023), `tau >= 1`.
    ReinMax,
    /// Gumbel-Rao (Paulus et al. 2021): forward `D`, backward ST-Gumbel-Softmax's gradient
    /// averaged over `K` Gumbel draws conditioned on `D`.
    GumbelRao {
        /// Conditional draws per row, `K >= 1`.
        draws: usize,
    },
    /// Gapped straight-through (Fan et al. 2022): forward `D ~ softmax(l)`, backward through
    /// the softmax of the logits moved so that `D` leads the other classes by `gap`.
    GappedStraightThrough {
        /// How far ahead of the others the sampled class is put.
        gap: Gap,
    },
}

/// One draw of an [`Estimator`]: what the objective reads.
#[derive(Clone, Debug)]
pub struct Draw<'t, T: Element> {
    /// The forward value, `[rows * samples, classes]`: row `r * samples + k` is the `k`-th
    /// sample of logits row `r` (one-hot, or the relaxed sample for
    /// [`Estimator::GumbelSoftmax`]).
    pub value: Var<'t, T>,
    /// The sampled class of every row of `value`.
    pub index: Vec<usize>,
    /// Samples per row of logits (`K`; 1 for every estimator but the score function).
    pub samples: usize,
    /// The logits the draw came from (the score function's gradient goes to them).
    logits: Var<'t, T>,
}

impl Estimator {
    /// The estimator's name, as [`Estimator::from_str`] reads it (with `:K` where it has
    /// one).
    pub fn name(&self) -> String {
        self.to_string()
    }

    /// Samples per row of logits the objective sees (`K` for the score function, else 1).
    pub fn samples(&self) -> usize {
        match self {
            Estimator::ScoreFunction(s) => s.samples,
            _ => 1,
        }
    }

    /// Draws one sample per row of `logits` (`[rows, classes]`; `K` per row for the score
    /// function), consuming one counter value of `rng`, and records its forward value.
    ///
    /// Errors: logits that are not a matrix, a NaN or `+inf` logit, a row with only `-inf`
    /// (masked) logits, a temperature that is not finite and `> 0`, for ReinMax a
    /// temperature below 1 (`tau < 1`, or `beta > 1`), as its authors require, and for
    /// gapped straight-through a fixed gap that is negative or not finite.
    pub fn draw<'t, T: Element>(
        &self,
        logits: &Var<'t, T>,
        temp: Temperature<T>,
        rng: &mut GumbelRng,
    ) -> Result<Draw<'t, T>> {
        let shape = logits.shape()?;
        if shape.len() != 2 {
            return Err(Error::invalid_shape(
                "Estimator::draw",
                &shape,
                "logits must be [rows, classes]",
            ));
        }
        let (value, index) = match self {
            Estimator::ScoreFunction(s) => s.draw(logits, rng)?,
            Estimator::StraightThrough => straight_through(logits, temp, rng)?,
            Estimator::ReinMax => reinmax(logits, temp, rng)?,
            Estimator::GumbelRao { draws } => gumbel_rao(logits, temp, *draws, rng)?,
            Estimator::GappedStraightThrough { gap } => {
                gapped_straight_through(logits, temp, *gap, rng)?
            }
            Estimator::GumbelSoftmax | Estimator::StGumbelSoftmax => {
                let output = match self {
                    Estimator::GumbelSoftmax => Output::Soft,
                    _ => Output::Hard,
                };
                let s = gumbel_softmax(logits, temp.into(), rng, output)?;
                (s.y, s.index)
            }
        };
        Ok(Draw {
            value,
            index,
            samples: self.samples(),
            logits: *logits,
        })
    }

    /// The scalar to differentiate, given the objective's value for every sample of `draw`
    /// (`f`: `rows * samples` elements, any shape).
    ///
    /// Value: `sum_r (1/K) sum_k f_{r,k}`, the sample estimate of `sum_r E[f(D_r)]`.
    /// Gradient: the path through `draw.value` (the pathwise estimators), plus the score
    /// function's term for [`Estimator::ScoreFunction`] (whose running-mean baseline is
    /// updated here, after it is used).
    pub fn loss<'t, T: Element>(
        &mut self,
        draw: &Draw<'t, T>,
        f: &Var<'t, T>,
    ) -> Result<Var<'t, T>> {
        let n = f.value()?.numel();
        if n != draw.index.len() {
            return Err(Error::invalid_argument(
                "Estimator::loss",
                format!(
                    "the objective has {n} values for {} drawn samples ({} rows x {})",
                    draw.index.len(),
                    draw.index.len() / draw.samples.max(1),
                    draw.samples
                ),
            ));
        }
        let total = f.sum()?.scale(T::from_f64(1.0 / draw.samples as f64))?;
        match self {
            Estimator::ScoreFunction(s) => total.add(&s.term(draw, f)?),
            _ => Ok(total),
        }
    }
}

impl fmt::Display for Estimator {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Estimator::ScoreFunction(s) => match s.baseline {
                Baseline::None => write!(out, "reinforce"),
                Baseline::RunningMean { .. } => write!(out, "reinforce_mean"),
                Baseline::LeaveOneOut => write!(out, "reinforce_loo:{}", s.samples),
            },
            Estimator::StraightThrough => write!(out, "straight_through"),
            Estimator::GumbelSoftmax => write!(out, "gumbel_softmax"),
            Estimator::StGumbelSoftmax => write!(out, "st_gumbel_softmax"),
            Estimator::ReinMax => write!(out, "reinmax"),
            Estimator::GumbelRao { draws } => write!(out, "gumbel_rao:{draws}"),
            Estimator::GappedStraightThrough { gap } => match gap {
                Gap::Fixed(kappa) => write!(out, "gapped_st:{kappa}"),
                Gap::Adaptive => write!(out, "gapped_st:p"),
            },
        }
    }
}

/// The names every estimator answers to, for error messages and `--help`.
pub const NAMES: &str = "reinforce, reinforce_mean, reinforce_loo:K (K >= 2), straight_through, \
                         gumbel_softmax, st_gumbel_softmax, reinmax, gumbel_rao:K (K >= 1), \
                         gapped_st[:GAP] (GAP >= 0, default 1, or p for the adaptive gap)";

impl FromStr for Estimator {
    type Err = Error;

    /// `NAME` or `NAME:ARG`: `reinforce` (no baseline), `reinforce_mean` (a running mean of
    /// `f` over earlier draws, decay 0.9), `reinforce_loo:K` (K >= 2 samples per row, each
    /// with the mean of the others as its baseline), `straight_through`, `gumbel_softmax`,
    /// `st_gumbel_softmax`, `reinmax`, `gumbel_rao:K` (K >= 1 conditional draws),
    /// `gapped_st[:GAP]` (a fixed gap `>= 0`, 1 when left out as in the authors' `gst-1.0`,
    /// or `p` for [`Gap::Adaptive`]).
    fn from_str(s: &str) -> Result<Self> {
        const OP: &str = "Estimator::from_str";
        let (name, arg) = match s.split_once(':') {
            Some((name, arg)) => (name, Some(arg)),
            None => (s, None),
        };
        let bad = |why: String| Error::invalid_argument(OP, format!("'{s}': {why}"));
        let no_arg = |e: Estimator| match arg {
            None => Ok(e),
            Some(_) => Err(bad(format!("{name} takes no ':ARG'"))),
        };
        // the `K` of `reinforce_loo:K` and `gumbel_rao:K`, required
        let count = |example: &str| match arg {
            None => Err(bad(format!("{name} needs a count, e.g. {example}"))),
            Some(k) => k
                .parse::<usize>()
                .map_err(|_| bad(format!("K = '{k}' must be a positive integer"))),
        };
        match name {
            "reinforce" => no_arg(Estimator::ScoreFunction(ScoreFunction::new(
                1,
                Baseline::None,
            )?)),
            "reinforce_mean" => no_arg(Estimator::ScoreFunction(ScoreFunction::new(
                1,
                Baseline::running_mean(0.9)?,
            )?)),
            "reinforce_loo" => Ok(Estimator::ScoreFunction(ScoreFunction::new(
                count("reinforce_loo:4")?,
                Baseline::LeaveOneOut,
            )?)),
            "straight_through" => no_arg(Estimator::StraightThrough),
            "gumbel_softmax" => no_arg(Estimator::GumbelSoftmax),
            "st_gumbel_softmax" => no_arg(Estimator::StGumbelSoftmax),
            "reinmax" => no_arg(Estimator::ReinMax),
            "gumbel_rao" => match count("gumbel_rao:10")? {
                0 => Err(bad("gumbel_rao needs K >= 1 conditional draws".into())),
                draws => Ok(Estimator::GumbelRao { draws }),
            },
            "gapped_st" => {
                let gap = match arg {
                    None => Gap::Fixed(1.0),
                    Some("p") => Gap::Adaptive,
                    Some(g) => match g.parse::<f64>() {
                        Ok(kappa) if kappa.is_finite() && kappa >= 0.0 => Gap::Fixed(kappa),
                        _ => {
                            return Err(bad(format!(
                                "the gap '{g}' must be a finite number >= 0, or p (adaptive)"
                            )));
                        }
                    },
                };
                Ok(Estimator::GappedStraightThrough { gap })
            }
            "rebar" | "relax" => Err(bad(
                "REBAR and RELAX take the objective as a function and train a control \
                 variate: use estimators::control_variate_draw and ControlVariateDraw::estimate \
                 (or estimators::rebar)"
                    .into(),
            )),
            _ => Err(Error::invalid_argument(
                OP,
                format!("unknown estimator '{s}'; known: {NAMES}"),
            )),
        }
    }
}

/// `one_hot(index)` as a `[index.len(), classes]` tensor.
fn one_hot<T: Element>(index: &[usize], classes: usize) -> Tensor<T> {
    let mut t = Tensor::zeros([index.len(), classes]);
    for (r, &k) in index.iter().enumerate() {
        t.row_mut(r)[k] = T::ONE;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_are_named() {
        for name in [
            "reinforce",
            "reinforce_mean",
            "reinforce_loo:4",
            "straight_through",
            "gumbel_softmax",
            "st_gumbel_softmax",
            "reinmax",
            "gumbel_rao:10",
            "gapped_st:1",
            "gapped_st:0.25",
            "gapped_st:p",
        ] {
            let e: Estimator = name.parse().unwrap();
            assert_eq!(e.to_string(), name);
        }
        assert_eq!(
            "gapped_st".parse::<Estimator>().unwrap(),
            Estimator::GappedStraightThrough {
                gap: Gap::Fixed(1.0)
            }
        );
        for (bad, says) in [
            ("reinforce_loo", "needs a count, e.g. reinforce_loo:4"),
            ("reinforce_loo:1", "K >= 2"),
            ("reinforce_loo:x", "positive integer"),
            ("reinmax:3", "takes no ':ARG'"),
            ("gumbel_rao", "needs a count"),
            ("gumbel_rao:0", "K >= 1"),
            ("gapped_st:-1", "finite number >= 0"),
            ("gapped_st:inf", "finite number >= 0"),
            ("gapped_st:q", "finite number >= 0, or p"),
            ("rebar", "take the objective as a function"),
            ("relax:4", "control_variate_draw"),
            ("rebarr", "unknown estimator 'rebarr'"),
        ] {
            let err = bad.parse::<Estimator>().unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
