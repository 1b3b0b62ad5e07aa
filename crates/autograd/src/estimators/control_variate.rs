//! REBAR (Tucker, Mnih, Maddison, Lawson and Sohl-Dickstein, NeurIPS 2017, "REBAR:
//! Low-variance, unbiased gradient estimates for discrete latent variable models") and RELAX
//! (Grathwohl, Choi, Wu, Roeder and Duvenaud, ICLR 2018, "Backpropagation through the Void:
//! Optimizing control variates for black-box gradient estimation"; reference code
//! github.com/duvenaud/relax, `pytorch_toy.py` and `relax-autograd/relax.py`): unbiased
//! estimators whose control variate is a function of the continuous relaxation.
//!
//! A discrete sample is a hard threshold of a reparameterised continuous one, `b = H(z)`,
//! `z = z(l, u)` with fixed noise `u`:
//! - categorical: `z = ln softmax(l) + g`, `g = -ln(-ln u)` Gumbel, `b = one_hot(argmax z)`;
//! - Bernoulli: `z = l + ln u - ln(1 - u)` (logistic), `b = [z > 0]`, `P(b = 1) = sigma(l)`.
//!
//! Given `b`, a second continuous sample `z~ ~ p(z | b)` is drawn by conditional
//! reparameterisation (fresh uniforms `v`, differentiable in `l`). For any differentiable
//! control variate `c` (one value per sample):
//!
//! ```text
//! g = (f(b) - c(z~)) grad_l ln p(b | l) + grad_l c(z) - grad_l c(z~)
//! ```
//!
//! is unbiased for `grad_l E[f(b)]`: `E[grad_l c(z)] = grad_l E[c(z)] = grad_l E_b[E[c(z~) | b]]
//! = E[c(z~) grad_l ln p(b)] + E[grad_l c(z~)]`, so the three `c` terms cancel in expectation.
//! A `c` that tracks `f` cancels most of the score term's variance.
//! - REBAR ([`rebar`]): `c(z) = eta f(sigma_lambda(z))`, `f` evaluated on the relaxation
//!   (`softmax(z / lambda)` or `sigmoid(z / lambda)`) with a learnable scale `eta` and
//!   temperature `lambda`.
//! - RELAX ([`ControlVariateDraw::estimate`] with any `c`): a learned surrogate, e.g. a small
//!   network on the relaxation, alone (the authors' toy) or added to REBAR's term.
//!
//! The parameters `phi` of `c` are trained to lower the variance: since `E[g]` does not depend
//! on `phi`, `grad_phi Var(g) = grad_phi E[g^2]`. The estimate is therefore built as a
//! differentiable [`Var`] ([`Tape::grad`](crate::Tape::grad) with
//! [`CreateGraph::Yes`](crate::CreateGraph::Yes) for the two `grad_l c` terms), and
//! [`ControlVariateEstimate::variance`] (`sum g^2`) can be differentiated in `phi`.
//!
//! The conditional samples, with `p = softmax(l)`, `e_i = -ln v_i` (categorical) and `s = 2b - 1`,
//! `a = v` if `b = 1` else `1 - v`, `c = 1 - a` (Bernoulli):
//!
//! ```text
//! categorical:  z~_b = -ln e_b,   z~_i = ln p_i - ln(e_i + e_b p_i)   (i != b)
//!               (the Gumbel of location ln p_i truncated below z~_b; the max is Gumbel(0))
//! Bernoulli:    z~ = s (ln(1 + a exp(s l)) - ln c)
//!               (the authors' l + logit(v'), v' uniform on the side of 1 - sigma(l) that gives b)
//! ```
//!
//! Both are written here with the engine's differentiable ops, so every order of
//! derivative of `z~` in `l` is exact.
//!
//! Samples are grouped: `f` and `c` hold one value per *group* of consecutive rows of the
//! logits (one row per group for a batch of independent variables, two rows per group for a
//! pair of categorical variables scored together, one row of `n` Bernoulli latents per
//! sample), and each row's score term is weighted by its group's `f - c(z~)`.

use gumbel_tensor::ops::gumbel::{GumbelRng, uniform_noise};
use gumbel_tensor::ops::{self as k};
use gumbel_tensor::{Element, Error, Result, Tensor};

use crate::tape::{CreateGraph, Var};

/// The discrete variable a row of logits parameterises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Each row of `[rows, classes]` logits is one categorical variable, `b` its one-hot.
    Categorical,
    /// Each element of the logits is one Bernoulli variable with `P(b = 1) = sigmoid(l)`.
    Bernoulli,
}

/// A sample `b`, its relaxation `z` and the conditional relaxation `z~ ~ p(z | b)`, all
/// reparameterised in the logits (see the module docs).
///
/// `z` and `z~` are functions of a private leaf that holds the logits' value, not of the
/// logits `Var` itself: the estimate's derivatives in `l` are taken at that leaf, and the
/// model behind the logits receives only the estimate (through
/// [`ControlVariateEstimate::loss`]). So one backward pass of `loss + variance` trains both:
/// the model gets `g`, the control variate's parameters the gradient of the variance, which
/// does not leak into the model.
#[derive(Clone, Debug)]
pub struct ControlVariateDraw<'t, T: Element> {
    /// `b`, a constant of the logits' shape: the one-hot of each row (categorical), or 0/1
    /// per element (Bernoulli).
    pub value: Var<'t, T>,
    /// `z(l, u)`, differentiable in `l` (at the private copy of the logits).
    pub z: Var<'t, T>,
    /// `z~(l, v, b) ~ p(z | b)`, differentiable in `l` (at the private copy).
    pub z_tilde: Var<'t, T>,
    /// The variable family.
    pub family: Family,
    logits: Var<'t, T>,
    /// A leaf holding the logits' value: `z` and `z~` are built on it.
    point: Var<'t, T>,
    /// `grad_l ln p(b | l)`: `one_hot(b) - softmax(l)`, or `b - sigmoid(l)`.
    score: Tensor<T>,
}

/// The estimate of [`ControlVariateDraw::estimate`].
#[derive(Clone, Debug)]
pub struct ControlVariateEstimate<'t, T: Element> {
    /// `g`, of the logits' shape: the estimate of `grad_l E[f(b)]` for every row, as a `Var`
    /// whose graph reaches the control variate's parameters.
    pub gradient: Var<'t, T>,
    /// The scalar to backpropagate into the model: value `sum f` (with `f`'s own gradient
    /// path, if it has one), and `g` (as a constant) sent to the logits.
    pub loss: Var<'t, T>,
    /// `sum g^2`, whose gradient in the control variate's parameters is that of the
    /// estimator's variance (summed over the components). It does not depend on the model
    /// behind the logits: backpropagating `loss + variance` trains model and control
    /// variate at once.
    pub variance: Var<'t, T>,
}

/// Draws `b`, `z` and `z~` for `logits` (`[rows, classes]` for [`Family::Categorical`], any
/// shape for [`Family::Bernoulli`]), consuming two counter values of `rng` (the uniforms `u`
/// of `z`, then the uniforms `v` of `z~`).
///
/// Errors: as [`control_variate_draw_with_noise`].
pub fn control_variate_draw<'t, T: Element>(
    logits: &Var<'t, T>,
    family: Family,
    rng: &mut GumbelRng,
) -> Result<ControlVariateDraw<'t, T>> {
    let shape = logits.shape()?;
    let u = uniform_noise::<T>(&shape, rng);
    let v = uniform_noise::<T>(&shape, rng);
    control_variate_draw_with_noise(logits, family, &u, &v)
}

/// [`control_variate_draw`] with given uniforms `u` (for `z`) and `v` (for `z~`), each of the
/// logits' shape and strictly inside `(0, 1)`: the reference implementations' convention, for
/// cross-checks.
///
/// Errors: a non-finite logit (masked classes are not supported: the conditional sample of a
/// class of probability 0 has no derivative), categorical logits that are not a non-empty
/// matrix, noise of another shape or outside `(0, 1)`, and a conditional sample that
/// overflows the element type (Bernoulli logits beyond about 88 in f32, 709 in f64).
pub fn control_variate_draw_with_noise<'t, T: Element>(
    logits: &Var<'t, T>,
    family: Family,
    u: &Tensor<T>,
    v: &Tensor<T>,
) -> Result<ControlVariateDraw<'t, T>> {
    const OP: &str = "control_variate_draw";
    let l = logits.value()?;
    for noise in [u, v] {
        if noise.shape() != l.shape() {
            return Err(Error::shape_mismatch(OP, l.shape(), noise.shape()));
        }
        if let Some(i) = noise
            .as_slice()
            .iter()
            .position(|x| !(x.to_f64() > 0.0 && x.to_f64() < 1.0))
        {
            return Err(Error::invalid_argument(
                OP,
                format!(
                    "uniform noise element {i} = {} is not strictly inside (0, 1)",
                    noise.as_slice()[i].to_f64()
                ),
            ));
        }
    }
    if let Some(i) = l.as_slice().iter().position(|x| !x.to_f64().is_finite()) {
        return Err(Error::non_finite(
            OP,
            format!("logit {i} (REBAR and RELAX need finite logits)"),
            l.as_slice()[i].to_f64(),
        ));
    }
    let tape = logits.tape();
    // z and z~ hang off a private copy of the logits, so that the variance objective (built
    // on their derivatives) reaches the control variate's parameters and not the model's.
    let point = tape.leaf((*l).clone());
    let (draw, score) = match family {
        Family::Categorical => {
            if l.rank() != 2 || l.numel() == 0 {
                return Err(Error::invalid_shape(
                    OP,
                    l.shape(),
                    "categorical logits must be a non-empty [rows, classes] matrix",
                ));
            }
            categorical(&point, u, v)?
        }
        Family::Bernoulli => bernoulli(&point, u, v)?,
    };
    let (value, z, z_tilde) = draw;
    let zt = z_tilde.value()?;
    if let Some(i) = zt.as_slice().iter().position(|x| !x.to_f64().is_finite()) {
        return Err(Error::non_finite(
            OP,
            format!(
                "the conditional sample z~ at element {i} (logit {}): the logits are too large \
                 for this element type",
                l.as_slice()[i].to_f64()
            ),
            zt.as_slice()[i].to_f64(),
        ));
    }
    Ok(ControlVariateDraw {
        value: tape.constant(value),
        z,
        z_tilde,
        family,
        logits: *logits,
        point,
        score,
    })
}

type Triple<'t, T> = (Tensor<T>, Var<'t, T>, Var<'t, T>);

/// `b`, `z = ln softmax(l) + g` and `z~` for categorical rows, and the score
/// `one_hot(b) - softmax(l)`.
fn categorical<'t, T: Element>(
    logits: &Var<'t, T>,
    u: &Tensor<T>,
    v: &Tensor<T>,
) -> Result<(Triple<'t, T>, Tensor<T>)> {
    let tape = logits.tape();
    let l = logits.value()?;
    let (rows, classes) = (l.rows(), l.cols());
    let log_p = logits.log_softmax()?;
    // g = -ln(-ln u) and e = -ln v with the tensor crate's SIMD ln
    let g = k::neg(&k::ln(&k::neg(&k::ln(u))));
    let e = k::neg(&k::ln(v));
    let z = log_p.add(&tape.constant(g))?;
    let zv = z.value()?;
    let index: Vec<usize> = (0..rows)
        .map(|r| {
            let row = zv.row(r);
            (0..classes).fold(0, |best, c| if row[c] > row[best] { c } else { best })
        })
        .collect();
    let mut b = Tensor::<T>::zeros([rows, classes]);
    for (r, &c) in index.iter().enumerate() {
        b.row_mut(r)[c] = T::ONE;
    }
    // z~ = ln p - ln(E0 + Eb p): E0 holds e_i off the sample and 0 on it, Eb holds e_b on
    // the whole row, so that the sample's own column is ln p_b - ln(e_b p_b) = -ln e_b.
    let mut e0 = e;
    let mut eb = Tensor::<T>::zeros([rows, classes]);
    for (r, &c) in index.iter().enumerate() {
        let row = e0.row_mut(r);
        let top = row[c];
        row[c] = T::ZERO;
        eb.row_mut(r).fill(top);
    }
    let p = log_p.exp()?;
    let z_tilde = log_p.sub(&p.mul(&tape.constant(eb))?.add(&tape.constant(e0))?.ln()?)?;
    let score = k::sub(&b, &*p.value()?)?;
    Ok(((b, z, z_tilde), score))
}

/// `b`, `z = l + logit(u)` and `z~` for Bernoulli elements, and the score `b - sigmoid(l)`.
fn bernoulli<'t, T: Element>(
    logits: &Var<'t, T>,
    u: &Tensor<T>,
    v: &Tensor<T>,
) -> Result<(Triple<'t, T>, Tensor<T>)> {
    let tape = logits.tape();
    let l = logits.value()?;
    let shape = l.shape().to_vec();
    // logit(u) = ln u - ln(1 - u): rounding 1 - u costs ln(1 - u) an absolute error below
    // the element type's epsilon, negligible beside ln u where it matters (u small)
    let logit_u = k::sub(&k::ln(u), &k::ln(&k::add_scalar(&k::neg(u), T::ONE)))?;
    let z = logits.add(&tape.constant(logit_u))?;
    let zv = z.value()?;
    let b = Tensor::from_fn(shape.clone(), |i| {
        if zv.as_slice()[i].to_f64() > 0.0 {
            T::ONE
        } else {
            T::ZERO
        }
    });
    let one = |i: usize| b.as_slice()[i].to_f64() > 0.0;
    // z~ = s (ln(1 + a exp(s l)) - ln c), s = +-1, a = v or 1 - v, c = 1 - a
    let sign = tape.constant(Tensor::from_fn(shape.clone(), |i| {
        T::from_f64(if one(i) { 1.0 } else { -1.0 })
    }));
    let a = Tensor::from_fn(shape.clone(), |i| {
        let vi = v.as_slice()[i];
        if one(i) { vi } else { T::ONE - vi }
    });
    let (ln_v, ln_1mv) = (k::ln(v), k::ln(&k::add_scalar(&k::neg(v), T::ONE)));
    let ln_c = Tensor::from_fn(shape.clone(), |i| {
        if one(i) {
            ln_1mv.as_slice()[i]
        } else {
            ln_v.as_slice()[i]
        }
    });
    let z_tilde = logits
        .mul(&sign)?
        .exp()?
        .mul(&tape.constant(a))?
        .add_scalar(T::ONE)?
        .ln()?
        .sub(&tape.constant(ln_c))?
        .mul(&sign)?;
    let score = k::sub(&b, &k::sigmoid(&l))?;
    Ok(((b, z, z_tilde), score))
}

impl<'t, T: Element> ControlVariateDraw<'t, T> {
    /// The relaxation of `z` (or `z~`) at temperature `lambda` (a one-element `Var`, e.g. a
    /// learnable parameter): `softmax(z / lambda)` over each row (categorical) or
    /// `sigmoid(z / lambda)` (Bernoulli).
    pub fn relaxed(&self, z: &Var<'t, T>, lambda: &Var<'t, T>) -> Result<Var<'t, T>> {
        if lambda.value()?.numel() != 1 {
            return Err(Error::invalid_shape(
                "ControlVariateDraw::relaxed",
                &lambda.shape()?,
                "the temperature must have one element",
            ));
        }
        let scaled = z.div(lambda)?;
        match self.family {
            Family::Categorical => scaled.softmax(),
            Family::Bernoulli => scaled.sigmoid(),
        }
    }

    /// The estimate `g = (f(b) - c(z~)) grad_l ln p(b) + grad_l c(z) - grad_l c(z~)`, given
    /// the objective at the sample (`f`) and the control variate at `z` and at `z~`
    /// (`c_z`, `c_z_tilde`), each one value per group of rows (see the module docs; any
    /// shape with that many elements).
    ///
    /// `f` is read as a value (its own gradient path, if any, goes into
    /// [`ControlVariateEstimate::loss`] only); `c_z` and `c_z_tilde` must be computed from
    /// [`ControlVariateDraw::z`] and [`ControlVariateDraw::z_tilde`] with differentiable
    /// ops. Passing `c(z)` for `c_z_tilde` is the classic mistake: the score term's weight
    /// then depends on `b` through `z`, and the estimate is biased (the tests show it).
    ///
    /// Errors: element counts that differ or do not divide the rows (the elements, for
    /// Bernoulli: groups are then whole rows of the `[groups, n]` view), a non-finite `f`,
    /// and an op on the path from `c` to the logits without a differentiable backward.
    pub fn estimate(
        &self,
        f: &Var<'t, T>,
        c_z: &Var<'t, T>,
        c_z_tilde: &Var<'t, T>,
    ) -> Result<ControlVariateEstimate<'t, T>> {
        const OP: &str = "ControlVariateDraw::estimate";
        let fv = f.value()?;
        let groups = fv.numel();
        let shape = self.logits.shape()?;
        let units = match self.family {
            Family::Categorical => shape[0],
            Family::Bernoulli => shape.iter().product(),
        };
        let width: usize = shape.iter().product::<usize>() / units.max(1);
        let (cz, czt) = (c_z.value()?.numel(), c_z_tilde.value()?.numel());
        if groups == 0 || !units.is_multiple_of(groups) || cz != groups || czt != groups {
            return Err(Error::invalid_argument(
                OP,
                format!(
                    "f has {groups} values, c(z) {cz} and c(z~) {czt}: each needs one value \
                     per group of rows of the logits {shape:?} (a divisor of {units})"
                ),
            ));
        }
        if let Some(i) = fv.as_slice().iter().position(|x| !x.to_f64().is_finite()) {
            return Err(Error::non_finite(
                OP,
                format!("the objective of sample {i}"),
                fv.as_slice()[i].to_f64(),
            ));
        }
        let tape = self.logits.tape();
        let per_group = units / groups * width;
        // (f - c(z~)) spread over each group's elements, times grad ln p(b)
        let weight = tape
            .constant((*fv).clone())
            .reshape([groups])?
            .sub(&c_z_tilde.reshape([groups])?)?
            .broadcast_axis(1, per_group)?
            .reshape(shape.clone())?;
        let score_part = weight.mul(&tape.constant(self.score.clone()))?;
        let difference = c_z.sum()?.sub(&c_z_tilde.sum()?)?;
        let pathwise = tape.grad(difference, &[self.point], CreateGraph::Yes)?[0];
        let gradient = match pathwise {
            Some(d) => score_part.add(&d)?,
            None => score_part,
        };
        let g = (*gradient.value()?).clone();
        let il = self.logits.id();
        let send = self.logits.push(
            OP,
            Tensor::scalar(T::ZERO),
            &[self.logits],
            move |_, dy, grads| {
                let s = dy.item()?;
                let mut dl = g;
                dl.as_mut_slice().iter_mut().for_each(|x| *x *= s);
                grads.add(il, dl)
            },
        )?;
        Ok(ControlVariateEstimate {
            loss: f.sum()?.add(&send)?,
            variance: gradient.mul(&gradient)?.sum()?,
            gradient,
        })
    }
}

/// REBAR: [`ControlVariateDraw::estimate`] with `c(z) = eta * objective(relaxed(z, lambda))`,
/// where `objective` computes `f` on a point of the relaxation (one value per group, as on
/// the sample) with differentiable ops, and `eta` and `lambda` are one-element `Var`s
/// (learnable, or constants). `f` is `objective` at the sample, given by the caller.
///
/// Errors: as [`ControlVariateDraw::relaxed`] and [`ControlVariateDraw::estimate`], and
/// `eta` of more than one element.
pub fn rebar<'t, T: Element>(
    draw: &ControlVariateDraw<'t, T>,
    f: &Var<'t, T>,
    objective: impl Fn(&Var<'t, T>) -> Result<Var<'t, T>>,
    eta: &Var<'t, T>,
    lambda: &Var<'t, T>,
) -> Result<ControlVariateEstimate<'t, T>> {
    if eta.value()?.numel() != 1 {
        return Err(Error::invalid_shape(
            "rebar",
            &eta.shape()?,
            "eta must have one element",
        ));
    }
    let c = |z: &Var<'t, T>| objective(&draw.relaxed(z, lambda)?)?.mul(eta);
    draw.estimate(f, &c(&draw.z)?, &c(&draw.z_tilde)?)
}
