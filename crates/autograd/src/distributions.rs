//! Distributions over relaxed samples, as PyTorch's `torch.distributions` offers them: a
//! reparameterised sample (`rsample`, differentiable in the parameters) and a
//! differentiable log-density (`log_prob`).
//!
//! - [`RelaxedOneHotCategorical`]: the Concrete / Gumbel-Softmax distribution on the
//!   simplex, `y = softmax((l + g) / tau)` (Maddison, Mnih and Teh 2017; Jang, Gu and
//!   Poole 2017), with the density of [`concrete_log_prob`].
//!
//! - [`RelaxedBernoulli`]: the binary Concrete distribution on `(0, 1)`, one variable per
//!   element, `y = sigmoid((l + L) / tau)` with logistic noise `L`, with the density of
//!   [`binary_concrete_log_prob`].

use gumbel_tensor::ops::gumbel::{GumbelRng, Output, Space as BinarySpace};
use gumbel_tensor::{Element, Result};

use crate::ops::binary_concrete::{binary_concrete, binary_concrete_log_prob};
use crate::ops::concrete::{Space, concrete_log_prob};
use crate::ops::gumbel::{GumbelTemp, gumbel_softmax};
use crate::tape::Var;

/// The Concrete distribution over the simplex for logits `l` (`[.., classes]`) and a
/// temperature (fixed or learned; PyTorch's `RelaxedOneHotCategorical(temperature,
/// logits=l)`).
///
/// ```
/// use gumbel_autograd::distributions::RelaxedOneHotCategorical;
/// use gumbel_autograd::{Tape, tensor::Tensor};
/// use gumbel_autograd::tensor::ops::gumbel::{GumbelRng, Temperature};
/// # fn main() -> gumbel_autograd::Result<()> {
/// let tape = Tape::<f64>::new();
/// let logits = tape.leaf(Tensor::new([2, 3], vec![1.0, 0.0, -1.0, 0.0, 0.0, 0.0])?);
/// let dist = RelaxedOneHotCategorical::new(logits, Temperature::Tau(0.5).into());
/// let y = dist.rsample(&mut GumbelRng::new(1))?;   // [2, 3], rows on the simplex
/// let lp = dist.log_prob(&y)?;                       // [2]
/// let g = lp.sum()?.backward()?;                     // d/dl through the sample and the density
/// assert_eq!(g.get(logits).unwrap().shape(), &[2, 3]);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RelaxedOneHotCategorical<'t, T: Element> {
    /// The logits `l`; `-inf` masks a class.
    pub logits: Var<'t, T>,
    /// `tau` or `beta`, fixed or learned.
    pub temp: GumbelTemp<'t, T>,
}

impl<'t, T: Element> RelaxedOneHotCategorical<'t, T> {
    /// The distribution with these logits and temperature.
    pub fn new(logits: Var<'t, T>, temp: GumbelTemp<'t, T>) -> Self {
        RelaxedOneHotCategorical { logits, temp }
    }

    /// A reparameterised sample `y = softmax((l + g) / tau)`, one per row, from the fused
    /// kernel (one counter value of `rng`): differentiable in the logits and a learned
    /// temperature.
    pub fn rsample(&self, rng: &mut GumbelRng) -> Result<Var<'t, T>> {
        Ok(gumbel_softmax(&self.logits, self.temp, rng, Output::Soft)?.y)
    }

    /// `log p(y)` per row for `y` on the open simplex (every unmasked entry `> 0`):
    /// [`concrete_log_prob`] with [`Space::Simplex`], differentiable in `y`, the logits and
    /// a learned temperature.
    pub fn log_prob(&self, y: &Var<'t, T>) -> Result<Var<'t, T>> {
        concrete_log_prob(&self.logits, y, self.temp, Space::Simplex)
    }

    /// `log p(v)` of the log-sample `v = ln y` (PyTorch's `ExpRelaxedCategorical`): the
    /// density that stays finite where `y` underflows to 0.
    pub fn log_prob_of_log(&self, v: &Var<'t, T>) -> Result<Var<'t, T>> {
        concrete_log_prob(&self.logits, v, self.temp, Space::Log)
    }
}

/// The binary Concrete distribution (RelaxedBernoulli) for logits `l` (any shape, one
/// variable per element) and a temperature (fixed or learned; PyTorch's
/// `RelaxedBernoulli(temperature, logits=l)`).
///
/// ```
/// use gumbel_autograd::distributions::RelaxedBernoulli;
/// use gumbel_autograd::{Tape, tensor::Tensor};
/// use gumbel_autograd::tensor::ops::gumbel::{GumbelRng, Temperature};
/// # fn main() -> gumbel_autograd::Result<()> {
/// let tape = Tape::<f64>::new();
/// let logits = tape.leaf(Tensor::new([2, 2], vec![1.0, 0.0, -1.0, 2.0])?);
/// let dist = RelaxedBernoulli::new(logits, Temperature::Tau(0.5).into());
/// let y = dist.rsample(&mut GumbelRng::new(1))?;   // [2, 2], in (0, 1)
/// let lp = dist.log_prob(&y)?;                       // [2, 2]
/// let g = lp.sum()?.backward()?;
/// assert_eq!(g.get(logits).unwrap().shape(), &[2, 2]);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RelaxedBernoulli<'t, T: Element> {
    /// The logits `l`, `P(1) = sigmoid(l)`.
    pub logits: Var<'t, T>,
    /// `tau` or `beta`, fixed or learned.
    pub temp: GumbelTemp<'t, T>,
}

impl<'t, T: Element> RelaxedBernoulli<'t, T> {
    /// The distribution with these logits and temperature.
    pub fn new(logits: Var<'t, T>, temp: GumbelTemp<'t, T>) -> Self {
        RelaxedBernoulli { logits, temp }
    }

    /// A reparameterised sample `y = sigmoid((l + L) / tau)` from the fused kernel (one
    /// counter value of `rng`), differentiable in the logits and a learned temperature.
    pub fn rsample(&self, rng: &mut GumbelRng) -> Result<Var<'t, T>> {
        binary_concrete(&self.logits, self.temp, rng, Output::Soft)
    }

    /// `ln p(y)` elementwise, `y` in `(0, 1)`: differentiable in `y`, the logits and a
    /// learned temperature.
    pub fn log_prob(&self, y: &Var<'t, T>) -> Result<Var<'t, T>> {
        binary_concrete_log_prob(&self.logits, y, self.temp, BinarySpace::Unit)
    }

    /// `ln p(x)` of the logit `x = logit(y)`: the stable form, finite where `y` rounds to
    /// 0 or 1.
    pub fn log_prob_of_logit(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        binary_concrete_log_prob(&self.logits, x, self.temp, BinarySpace::Logit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tape;
    use gumbel_tensor::Tensor;
    use gumbel_tensor::ops::gumbel::Temperature;

    /// The largest `|mean| / standard error` over the columns of `g` (one estimate per row).
    fn largest_column_z(g: &Tensor<f64>) -> f64 {
        let n = g.rows() as f64;
        (0..g.cols())
            .map(|c| {
                let col: Vec<f64> = (0..g.rows()).map(|r| g.row(r)[c]).collect();
                let mean = col.iter().sum::<f64>() / n;
                let var = col.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
                mean.abs() / (var / n).sqrt()
            })
            .fold(0.0, f64::max)
    }

    /// The score identity `E_y[grad_l log p(y)] = 0` holds for the true density of the
    /// samples only: `n` rows with the same logits, samples detached, the mean of each
    /// gradient component within 4 standard errors of 0. The same check with the density at
    /// the wrong temperature (`1/tau` for `tau`, the slip docs/math.md warns about) must fail.
    #[test]
    fn score_of_the_density_has_mean_zero_under_its_samples() {
        let (n, l) = (20_000, [0.8, -0.3, 0.1, -1.2]);
        let worst_z = |density_tau: f64| {
            let tape = Tape::<f64>::new();
            let logits = tape.leaf(Tensor::from_fn([n, 4], |i| l[i % 4]));
            let y = RelaxedOneHotCategorical::new(logits, Temperature::Tau(0.6).into())
                .rsample(&mut GumbelRng::new(11))
                .unwrap()
                .detach()
                .unwrap();
            let dist = RelaxedOneHotCategorical::new(logits, Temperature::Tau(density_tau).into());
            let g = tape
                .backward(dist.log_prob(&y).unwrap().sum().unwrap())
                .unwrap();
            let g = g.get(logits).unwrap();
            largest_column_z(g)
        };
        let (right, wrong) = (worst_z(0.6), worst_z(1.0 / 0.6));
        assert!(right < 4.0, "the true density: {right:.2} SE from 0");
        assert!(
            wrong > 4.0,
            "a density at the wrong temperature passed: {wrong:.2} SE"
        );
    }

    /// The same score identity for the binary distribution, per element.
    #[test]
    fn binary_score_has_mean_zero_under_its_samples() {
        let (n, l) = (20_000, [0.8, -1.3, 0.1]);
        let worst_z = |density_tau: f64| {
            let tape = Tape::<f64>::new();
            let logits = tape.leaf(Tensor::from_fn([n, 3], |i| l[i % 3]));
            let y = RelaxedBernoulli::new(logits, Temperature::Tau(0.6).into())
                .rsample(&mut GumbelRng::new(12))
                .unwrap()
                .detach()
                .unwrap();
            let dist = RelaxedBernoulli::new(logits, Temperature::Tau(density_tau).into());
            let g = tape
                .backward(dist.log_prob(&y).unwrap().sum().unwrap())
                .unwrap();
            let g = g.get(logits).unwrap();
            largest_column_z(g)
        };
        let (right, wrong) = (worst_z(0.6), worst_z(1.0 / 0.6));
        assert!(right < 4.0, "the true density: {right:.2} SE from 0");
        assert!(
            wrong > 4.0,
            "a density at the wrong temperature passed: {wrong:.2} SE"
        );
    }
}
