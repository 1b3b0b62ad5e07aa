//! Straight-through estimators: forward an exact sample `D ~ Categorical(softmax(l))`,
//! backward a softmax Jacobian in its place. With `J(p) = diag(p) - p p^T` (so
//! `J(p) v = p * (v - <v, p>)`, the softmax backward at the point `p` of the simplex) and
//! `dy` the gradient at the one-hot forward value:
//!
//! ```text
//! straight_through:  dl = J(p_tau) dy / tau                    p_tau = softmax(l / tau)
//! reinmax:           dl = 2 J(p_half) dy - J(pi) dy / 2        p_half = (p_tau + D) / 2,  pi = softmax(l)
//! gapped ST:         dl = J(p_gap) dy / tau                    p_gap = softmax(gapped(l, D) / tau)
//! ```
//!
//! Straight-through (Bengio, Leonard and Courville 2013) is the derivative of `p_tau` taken
//! for the derivative of `D`: first-order accurate, biased. ReinMax (Liu et al., NeurIPS
//! 2023) combines the gradients at `pi` and at the midpoint `p_half` of the sample and the
//! relaxation, Heun's method instead of Euler's: second-order accurate, so exact in
//! expectation when `f` is quadratic in the one-hot (the tests check this at `tau = 1`).
//! Its authors ask for `tau >= 1`; the formula, as in their reference code
//! (github.com/microsoft/ReinMax, `ReinMaxCore.backward`), has no `1/tau` factor. Their code
//! also subtracts each row's mean from `dl`; the rows of `J(p) v` sum to 0 already, so
//! here it is left out (it changes only rounding).
//!
//! Gapped straight-through (Fan, Chi, Rudnicky and Ramadge, ICML 2022, "Training Discrete
//! Deep Generative Models via Gapped Straight-Through Estimator"; reference code
//! github.com/chijames/GST, `gst_mover` in `model/basic.py`) keeps what makes
//! straight-through Gumbel-Softmax work, a relaxed sample that points at the drawn class,
//! without drawing noise: it moves the logits, deterministically given `D`, so that `D`
//! becomes the largest logit, ahead of every other class by at least a gap `kappa`,
//!
//! ```text
//! gapped(l, D)_D = max_j l_j,        gapped(l, D)_i = min(l_i, max_j l_j - kappa)   (i != D)
//! ```
//!
//! and backpropagates through the softmax of the moved logits. The move is a constant (no
//! gradient flows through it, as in the authors' default `detach=True`), so the Jacobian is
//! the softmax's at the moved point. Where `D` already leads by `kappa` nothing moves and the
//! gradient is straight-through's. See [`Gap`] for the choice of `kappa`.
//!
//! All three draw `D` by Gumbel-max on `l` (one counter value of the generator per call): an
//! exact sample, the noise is not used otherwise.
//!
//! All three nodes also have a Var-level backward (higher-order gradients): the same formulas
//! with `p_tau = softmax(l / tau)`, `pi = softmax(l)` and `p_gap` recomputed as ops on the
//! logits, and the sample `D` and the gapped move constants, so the surrogate gradient can be differentiated in `l` (and in
//! `dy`). As for every straight-through node, the surrogate stands in for the derivative of
//! the one-hot at every order.

use gumbel_tensor::ops::gumbel::{GumbelRng, Temperature, gumbel_max};
use gumbel_tensor::ops::reduce::simd as reduce;
use gumbel_tensor::ops::softmax::{softmax, softmax_backward};
use gumbel_tensor::ops::{axpy, scale};
use gumbel_tensor::{Element, Error, Result, Tensor};

use super::one_hot;
use crate::ops::softmax::softmax_backward_var as simplex_jvp;
use crate::tape::Var;

/// Straight-through: value `one_hot(D)`, `D ~ softmax(l)` by Gumbel-max; gradient
/// `J(softmax(l / tau)) dy / tau` (with `Temperature::Beta`: `beta J(softmax(beta l)) dy`).
/// Returns the node and the sampled classes.
///
/// Errors: NaN or `+inf` logits, all-masked rows, a bad temperature.
pub fn straight_through<'t, T: Element>(
    logits: &Var<'t, T>,
    temp: Temperature<T>,
    rng: &mut GumbelRng,
) -> Result<(Var<'t, T>, Vec<usize>)> {
    temp.scale("straight_through")?;
    let index = gumbel_max(&*logits.value()?, rng)?;
    Ok((straight_through_with_sample(logits, &index, temp)?, index))
}

/// [`straight_through`] for given samples `index` (one class per row of `logits`): for
/// cross-checks against other implementations, and for samples drawn elsewhere.
///
/// Errors: as [`straight_through`], and an `index` of the wrong length or out of range.
pub fn straight_through_with_sample<'t, T: Element>(
    logits: &Var<'t, T>,
    index: &[usize],
    temp: Temperature<T>,
) -> Result<Var<'t, T>> {
    const OP: &str = "straight_through";
    let c = temp.scale(OP)?;
    let l = logits.value()?;
    let d = checked_one_hot(OP, &l, index)?;
    let p_tau = softmax(&scale(&l, c))?;
    let il = logits.id();
    logits
        .push(OP, d, &[*logits], move |_, dy, g| {
            let dl = scale(&softmax_backward(&p_tau, &dy)?, c);
            g.add(il, dl)
        })?
        .with_var_backward(move |_, dy, g| {
            let p_tau = g.input(0)?.scale(c)?.softmax()?;
            g.add(0, simplex_jvp(p_tau, dy)?.scale(c)?)
        })
}

/// ReinMax: value `one_hot(D)`, `D ~ softmax(l)` by Gumbel-max; gradient
/// `2 J(p_half) dy - J(pi) dy / 2` with `p_half = (softmax(l / tau) + D) / 2` and
/// `pi = softmax(l)` (see the module docs). Returns the node and the sampled classes.
///
/// Errors: NaN or `+inf` logits, all-masked rows, a bad temperature, and `tau < 1`
/// (`beta > 1`): the estimator's authors require `tau >= 1`.
pub fn reinmax<'t, T: Element>(
    logits: &Var<'t, T>,
    temp: Temperature<T>,
    rng: &mut GumbelRng,
) -> Result<(Var<'t, T>, Vec<usize>)> {
    reinmax_scale(temp)?;
    let index = gumbel_max(&*logits.value()?, rng)?;
    Ok((reinmax_with_sample(logits, &index, temp)?, index))
}

/// [`reinmax`] for given samples `index` (one class per row of `logits`): for
/// cross-checks against the reference implementation, and for samples drawn elsewhere.
///
/// Errors: as [`reinmax`], and an `index` of the wrong length or out of range.
pub fn reinmax_with_sample<'t, T: Element>(
    logits: &Var<'t, T>,
    index: &[usize],
    temp: Temperature<T>,
) -> Result<Var<'t, T>> {
    const OP: &str = "reinmax";
    let c = reinmax_scale(temp)?;
    let l = logits.value()?;
    let d = checked_one_hot(OP, &l, index)?;
    let pi = softmax(&l)?;
    let mut p_half = softmax(&scale(&l, c))?;
    axpy(&mut p_half, T::ONE, &d)?;
    let p_half = scale(&p_half, T::from_f64(0.5));
    let il = logits.id();
    logits
        .push(OP, d, &[*logits], move |_, dy, g| {
            let mut dl = scale(&softmax_backward(&p_half, &dy)?, T::from_f64(2.0));
            axpy(&mut dl, T::from_f64(-0.5), &softmax_backward(&pi, &dy)?)?;
            g.add(il, dl)
        })?
        .with_var_backward(move |y, dy, g| {
            let l = g.input(0)?;
            let d = y.detach()?; // the sample, a constant
            let p_half = l.scale(c)?.softmax()?.add(&d)?.scale(T::from_f64(0.5))?;
            let a = simplex_jvp(p_half, dy)?.scale(T::from_f64(2.0))?;
            let b = simplex_jvp(l.softmax()?, dy)?.scale(T::from_f64(0.5))?;
            g.add(0, a.sub(&b)?)
        })
}

/// The factor `1/tau` (or `beta`), refused above 1: ReinMax needs `tau >= 1`.
fn reinmax_scale<T: Element>(temp: Temperature<T>) -> Result<T> {
    let c = temp.scale("reinmax")?;
    if c > T::ONE {
        return Err(Error::invalid_argument(
            "reinmax",
            format!(
                "{} = {}: ReinMax needs tau >= 1 (beta <= 1)",
                temp.name(),
                temp.value().to_f64()
            ),
        ));
    }
    Ok(c)
}

/// The gap `kappa` by which [`gapped_straight_through`] puts the sampled class ahead of the
/// others.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Gap {
    /// A fixed `kappa >= 0` for every row; the authors' `gst-1.0` is `Fixed(1.0)`.
    Fixed(f64),
    /// `kappa = -ln(1 - pi_D) / pi_D` for each row, `pi = softmax(l)` (the authors' `gst-p`):
    /// a wide gap for a likely sample, a narrow one for an unlikely sample. Computed as
    /// `(ln s - ln s_rest) / pi_D` with `s` and `s_rest` the sums of `e^{l_i - max l}` with and
    /// without `D` (`= logsumexp(l) - logsumexp(l without D)`), exact also where `pi_D` rounds to 1
    /// (there the reference code scales `pi_D` by `1 - 1e-5` to keep the logarithm finite).
    /// A row whose other classes are all masked has `kappa = +inf`: they stay masked.
    Adaptive,
}

impl Gap {
    /// `Err` unless a fixed gap is finite and `>= 0`.
    fn check(self, op: &'static str) -> Result<()> {
        match self {
            Gap::Fixed(k) if !(k.is_finite() && k >= 0.0) => Err(Error::invalid_argument(
                op,
                format!("gap {k}: a fixed gap must be finite and >= 0 (or use the adaptive gap)"),
            )),
            _ => Ok(()),
        }
    }

    /// `kappa` for one row `l` with sampled class `d` and maximum `m`, in f64.
    fn of_row<T: Element>(self, l: &[T], d: usize, m: T) -> f64 {
        match self {
            Gap::Fixed(k) => k,
            Gap::Adaptive => {
                // s_rest = sum_{i != D} e^{l_i - m} (the two sides of D, SIMD, no
                // subtraction: exact also where pi_D rounds to 1), s = s_rest + e^{l_D - m};
                // -ln(1 - pi_D) = ln s - ln s_rest (+inf if no other class is left).
                let rest = reduce::sum_exp_shifted(&l[..d], m).to_f64()
                    + reduce::sum_exp_shifted(&l[d + 1..], m).to_f64();
                let top = (l[d].to_f64() - m.to_f64()).exp();
                let all = rest + top;
                (all.ln() - rest.ln()) / (top / all)
            }
        }
    }
}

/// The moved logits of gapped straight-through: row by row, the sampled class `index[r]` is
/// raised to the row's maximum and every other class is lowered to at most that maximum
/// minus the gap `kappa` (see the module docs):
///
/// ```text
/// gapped(l, D)_D = max_j l_j,        gapped(l, D)_i = min(l_i, max_j l_j - kappa)   (i != D)
/// ```
///
/// Masked classes (`-inf`) stay masked. Errors: logits that are not a matrix, a NaN or `+inf`
/// logit, an `index` of the wrong length, out of range or masked, a fixed gap that is negative
/// or not finite.
pub fn gapped_logits<T: Element>(l: &Tensor<T>, index: &[usize], gap: Gap) -> Result<Tensor<T>> {
    const OP: &str = "gapped_logits";
    gap.check(OP)?;
    checked_logits(OP, l)?;
    checked_one_hot(OP, l, index)?;
    let mut moved = l.clone();
    for (r, &d) in index.iter().enumerate() {
        let top = reduce::max(l.row(r));
        let ceiling = top - T::from_f64(gap.of_row(l.row(r), d, top));
        for (i, v) in moved.row_mut(r).iter_mut().enumerate() {
            *v = if i == d { top } else { v.min(ceiling) };
        }
    }
    Ok(moved)
}

/// Gapped straight-through (Fan et al., ICML 2022): value `one_hot(D)`, `D ~ softmax(l)` by
/// Gumbel-max; gradient `J(p_gap) dy / tau` with `p_gap = softmax(gapped(l, D) / tau)`
/// ([`gapped_logits`]; with `Temperature::Beta`, `beta J(softmax(beta gapped(l, D))) dy`).
/// Returns the node and the sampled classes.
///
/// Errors: as [`gapped_logits`], and a bad temperature.
pub fn gapped_straight_through<'t, T: Element>(
    logits: &Var<'t, T>,
    temp: Temperature<T>,
    gap: Gap,
    rng: &mut GumbelRng,
) -> Result<(Var<'t, T>, Vec<usize>)> {
    const OP: &str = "gapped_straight_through";
    temp.scale(OP)?;
    gap.check(OP)?;
    let index = gumbel_max(&*logits.value()?, rng)?;
    Ok((
        gapped_straight_through_with_sample(logits, &index, temp, gap)?,
        index,
    ))
}

/// [`gapped_straight_through`] for given samples `index` (one class per row of `logits`):
/// for cross-checks against the reference implementation, and for samples drawn elsewhere.
///
/// Errors: as [`gapped_straight_through`].
pub fn gapped_straight_through_with_sample<'t, T: Element>(
    logits: &Var<'t, T>,
    index: &[usize],
    temp: Temperature<T>,
    gap: Gap,
) -> Result<Var<'t, T>> {
    const OP: &str = "gapped_straight_through";
    let c = temp.scale(OP)?;
    let l = logits.value()?;
    let moved = gapped_logits(&l, index, gap)?;
    let d = one_hot(index, l.cols());
    let p_gap = softmax(&scale(&moved, c))?;
    // the move `gapped(l, D) - l`, a constant (0 where `l` is masked: -inf stays -inf)
    let shift = Tensor::from_fn(l.shape(), |i| {
        let (a, b) = (l.as_slice()[i], moved.as_slice()[i]);
        if a == T::NEG_INFINITY { T::ZERO } else { b - a }
    });
    let il = logits.id();
    logits
        .push(OP, d, &[*logits], move |_, dy, g| {
            let dl = scale(&softmax_backward(&p_gap, &dy)?, c);
            g.add(il, dl)
        })?
        .with_var_backward(move |_, dy, g| {
            let l = g.input(0)?;
            let shift = l.tape().constant(shift.clone());
            let p_gap = l.add(&shift)?.scale(c)?.softmax()?;
            g.add(0, simplex_jvp(p_gap, dy)?.scale(c)?)
        })
}

/// `Err` naming the first NaN or `+inf` logit of the matrix `l`.
fn checked_logits<T: Element>(op: &'static str, l: &Tensor<T>) -> Result<()> {
    if l.rank() != 2 {
        return Err(Error::invalid_shape(
            op,
            l.shape(),
            "logits must be [rows, classes]",
        ));
    }
    for r in 0..l.rows() {
        if let Some(c) = l
            .row(r)
            .iter()
            .position(|v| v.is_nan() || *v == T::INFINITY)
        {
            return Err(Error::invalid_argument(
                op,
                format!(
                    "row {r}, column {c}: logit is {}; logits must be finite or -inf",
                    l.row(r)[c].to_f64()
                ),
            ));
        }
    }
    Ok(())
}

/// `one_hot(index)` for the rows of `l`, after checking one class per row, each in range
/// and not masked (`-inf`).
fn checked_one_hot<T: Element>(
    op: &'static str,
    l: &Tensor<T>,
    index: &[usize],
) -> Result<Tensor<T>> {
    if l.rank() != 2 || index.len() != l.rows() {
        return Err(Error::invalid_argument(
            op,
            format!(
                "{} samples for logits of shape {:?}",
                index.len(),
                l.shape()
            ),
        ));
    }
    for (r, &c) in index.iter().enumerate() {
        if c >= l.cols() || l.row(r)[c] == T::NEG_INFINITY {
            return Err(Error::invalid_argument(
                op,
                format!(
                    "row {r}: class {c} is out of range or masked ({} classes)",
                    l.cols()
                ),
            ));
        }
    }
    Ok(one_hot(index, l.cols()))
}
