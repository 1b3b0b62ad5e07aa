//! Every [`Estimator`] for Bernoulli variables, through the two-class categorical.
//!
//! A Bernoulli variable with logit `l`, `P(b = 1) = sigmoid(l)`, is the categorical variable
//! with logits `(l, 0)` and `b` the indicator of class 0: `softmax(l, 0)_0 = sigmoid(l)`, and
//! the Gumbel-max and Gumbel-Softmax of `(l, 0)` are the logistic threshold and the binary
//! Concrete of `l` (`softmax((l + g_0, g_1)/tau)_0 = sigmoid((l + g_0 - g_1)/tau)`,
//! `g_0 - g_1` logistic). So each categorical estimator is also a Bernoulli estimator with
//! the same properties: [`Estimator::draw_bernoulli`] runs it on the `[rows n, 2]` logits
//! `(l, 0)` of `[rows, n]` Bernoulli logits (the gradient of the zero column is dropped) and
//! hands the objective `b` as a `[rows K, n]` value; [`Estimator::loss_bernoulli`] takes one
//! `f` per sample of the `n` latents. For the score function, every latent's score term is
//! weighted by its sample's `f` (the objective is a function of all `n`), and the
//! leave-one-out baseline of a latent uses the other samples' `f`: both unbiased.

use gumbel_tensor::ops::gumbel::{GumbelRng, Temperature};
use gumbel_tensor::{Element, Error, Result, Tensor};

use super::{Draw, Estimator};
use crate::tape::Var;

/// A draw of [`Estimator::draw_bernoulli`].
#[derive(Clone, Debug)]
pub struct BernoulliDraw<'t, T: Element> {
    /// `b`, `[rows K, n]`: row `r K + k` is the `k`-th sample of the `n` latents of logits row
    /// `r` (0/1, or the relaxed value in `(0, 1)` for [`Estimator::GumbelSoftmax`]).
    pub value: Var<'t, T>,
    /// Samples per row (`K`; 1 for every estimator but the score function).
    pub samples: usize,
    /// The two-class draw behind it, `[rows n K, 2]`.
    inner: Draw<'t, T>,
    rows: usize,
    latents: usize,
}

impl Estimator {
    /// Draws `b ~ Bernoulli(sigmoid(l))` for every element of the `[rows, n]` logits (one
    /// counter value of `rng`, as [`Estimator::draw`]), through the estimator on the two-class
    /// logits `(l, 0)` (module docs).
    ///
    /// Errors: logits that are not a matrix, and [`Estimator::draw`]'s (NaN or `+inf` logits,
    /// a bad temperature, ReinMax below `tau = 1`, ...).
    pub fn draw_bernoulli<'t, T: Element>(
        &self,
        logits: &Var<'t, T>,
        temp: Temperature<T>,
        rng: &mut GumbelRng,
    ) -> Result<BernoulliDraw<'t, T>> {
        let shape = logits.shape()?;
        if shape.len() != 2 {
            return Err(Error::invalid_shape(
                "Estimator::draw_bernoulli",
                &shape,
                "Bernoulli logits must be [rows, latents]",
            ));
        }
        let (rows, latents) = (shape[0], shape[1]);
        let column = logits.reshape([rows * latents, 1])?;
        let zero = logits.tape().constant(Tensor::zeros([rows * latents, 1]));
        let pair = Var::concat(&[column, zero], 1)?;
        let inner = self.draw(&pair, temp, rng)?;
        let k = inner.samples;
        let value = if k == 1 {
            inner.value.slice(1, 0, 1)?.reshape([rows, latents])?
        } else {
            // the score function's value is a constant: regroup it as [rows K, latents]
            let v = inner.value.value()?;
            let b = Tensor::from_fn([rows * k, latents], |i| {
                let (rk, j) = (i / latents, i % latents);
                let (r, s) = (rk / k, rk % k);
                v.row((r * latents + j) * k + s)[0]
            });
            logits.tape().constant(b)
        };
        Ok(BernoulliDraw {
            value,
            samples: k,
            inner,
            rows,
            latents,
        })
    }

    /// The scalar to differentiate for a Bernoulli draw, given `f` for every sample
    /// (`rows K` values, row `r K + k` of [`BernoulliDraw::value`]): value
    /// `sum_r (1/K) sum_k f_{r,k}`, gradient the estimator's (module docs).
    ///
    /// Errors: `f` with another number of values, and [`Estimator::loss`]'s.
    pub fn loss_bernoulli<'t, T: Element>(
        &mut self,
        draw: &BernoulliDraw<'t, T>,
        f: &Var<'t, T>,
    ) -> Result<Var<'t, T>> {
        let (rows, n, k) = (draw.rows, draw.latents, draw.samples);
        let fv = f.value()?;
        if fv.numel() != rows * k {
            return Err(Error::invalid_argument(
                "Estimator::loss_bernoulli",
                format!(
                    "the objective has {} values for {} samples ({rows} rows x {k})",
                    fv.numel(),
                    rows * k
                ),
            ));
        }
        let total = f.sum()?.scale(T::from_f64(1.0 / k as f64))?;
        match self {
            Estimator::ScoreFunction(s) => {
                // every latent's two-class row gets its sample's f
                let spread = Tensor::from_fn([rows * n * k], |i| {
                    let (rj, s) = (i / k, i % k);
                    fv.as_slice()[(rj / n) * k + s]
                });
                let spread = f.tape().constant(spread);
                total.add(&s.term(&draw.inner, &spread)?)
            }
            _ => Ok(total),
        }
    }
}
