//! [`gradcheck`]: compare every analytic gradient with central differences (like
//! `torch.autograd.gradcheck`).
//!
//! Given a function `f` from input [`Var`]s to a scalar `Var`, and f64 inputs, gradcheck:
//! 1. runs `f` once on a tape with the inputs as leaves and calls backward: the analytic
//!    gradient `a = dL/dx`;
//! 2. for every input entry `x_j`, evaluates `f` at `x_j + eps` and `x_j - eps` (fresh
//!    tapes, inputs as constants) and forms the central difference
//!    `n_j = (f(x + eps e_j) - f(x - eps e_j)) / (2 eps)`;
//! 3. requires `|a_j - n_j| <= atol + rtol * |n_j|` for every entry, and reports, per
//!    input, the largest absolute error `|a - n|` and relative error `|a - n| / max(|a|, |n|)`.
//!
//! On failure the error names the worst entry (input, multi-index, both values).
//!
//! Stochastic ops (Gumbel-Softmax, dropout) must draw the same noise on every evaluation:
//! create the RNG *inside* `f` from a fixed seed. gradcheck verifies that two evaluations at
//! the same point agree and fails with a clear message otherwise. Ops with kinks (`relu`,
//! `max`) are checked at points at least `eps` away from the kink.
//!
//! ## Second order
//! [`gradcheck_second_order`] checks the *differentiable* (Var-level) backwards that
//! [`Tape::grad`] with [`CreateGraph::Yes`] uses. With fixed directions `v_k` (one per input)
//! and `h(x) = sum_k <v_k, grad_{x_k} f(x)>`:
//! 1. the first gradient from `grad(f, x, CreateGraph::Yes)` must agree with the one from
//!    the ordinary `backward` (same tolerances, the reference in place of the numeric value);
//! 2. the analytic `dh/dx = H v` (the Hessian-vector product), by `backward` of `h` built
//!    on the create-graph gradient, must agree with central differences of `h`, where each
//!    `h(x +- eps e_j)` is computed from the ordinary first-order `backward` (itself checked
//!    by [`gradcheck`]): the finite differences of the analytic first gradient.
//!
//! The tolerances are [`GradcheckOptions`]' defaults: `h` is an analytic gradient, exact to
//! rounding, so its central difference has the same error terms as above with `f` replaced
//! by `h` (truncation `eps^2/6 |h^(3)|`, rounding `~2.2e-10 |h|`).

use std::fmt;

use gumbel_tensor::{Error, Tensor};

use crate::params::{ParamId, ParamStore};
use crate::tape::{CreateGraph, Tape, Var};

/// Step and tolerances of [`gradcheck_with`].
///
/// The defaults are derived for f64 and well-scaled test functions (values and third
/// derivatives of order 1..100): the central difference has truncation error
/// `eps^2 / 6 * |f'''| ~ 1.7e-13 * |f'''|` and rounding error about
/// `machine_eps * |f| / eps ~ 2.2e-10 * |f|`, so an error above `1e-6 + 1e-5 * |n|` is
/// at least 50x more than both and points to a wrong derivative, not to noise.
/// (`torch.autograd.gradcheck` defaults to the looser `atol = 1e-5, rtol = 1e-3`.)
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradcheckOptions {
    /// Finite-difference step.
    pub eps: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance (times `|numeric|`).
    pub rtol: f64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions {
            eps: 1e-6,
            atol: 1e-6,
            rtol: 1e-5,
        }
    }
}

/// Errors of one input of a gradcheck.
#[derive(Clone, Debug, PartialEq)]
pub struct InputReport {
    /// `"input k"`, or the parameter's name for [`gradcheck_params`].
    pub name: String,
    /// The input's shape.
    pub shape: Vec<usize>,
    /// `max_j |a_j - n_j|`.
    pub max_abs_err: f64,
    /// `max_j |a_j - n_j| / max(|a_j|, |n_j|)` (0 where both are 0).
    pub max_rel_err: f64,
    /// Flat index of the entry with the largest `|a - n| / (atol + rtol |n|)`.
    pub worst: Option<usize>,
}

/// What [`gradcheck`] measured, one entry per input.
#[derive(Clone, Debug, PartialEq)]
pub struct GradcheckReport {
    pub inputs: Vec<InputReport>,
}

impl fmt::Display for GradcheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, r) in self.inputs.iter().enumerate() {
            writeln!(
                f,
                "  {k}: {} {:?}: max abs err {:.3e}, max rel err {:.3e}",
                r.name, r.shape, r.max_abs_err, r.max_rel_err
            )?;
        }
        Ok(())
    }
}

/// Why a gradcheck failed.
#[derive(Debug, thiserror::Error)]
pub enum GradcheckError {
    /// `f` itself failed (a shape error, a non-scalar output, ...).
    #[error("gradcheck: the function failed: {0}")]
    Op(#[from] Error),
    /// `f` gave different values at the same point (unseeded noise?).
    #[error(
        "gradcheck: f is not deterministic: {first:e} then {second:e} at the same inputs \
         (create stochastic ops' RNGs inside f from a fixed seed)"
    )]
    NotDeterministic { first: f64, second: f64 },
    /// An analytic gradient entry disagrees with its central difference.
    #[error("{0}")]
    Mismatch(Box<Mismatch>),
}

/// The worst entry of a failed gradcheck, with the full report.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    /// Position of the input (or parameter) in the checked list.
    pub input: usize,
    /// `"input k"` or the parameter's name.
    pub name: String,
    pub shape: Vec<usize>,
    /// Multi-index of the entry.
    pub index: Vec<usize>,
    pub analytic: f64,
    pub numeric: f64,
    pub abs_err: f64,
    /// The tolerance `atol + rtol * |numeric|` it exceeded.
    pub tol: f64,
    pub report: GradcheckReport,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gradcheck: {} {:?}, entry {:?}: analytic {:e} vs numeric {:e} (abs err {:e}, \
             tolerance {:e})\n{}",
            self.name,
            self.shape,
            self.index,
            self.analytic,
            self.numeric,
            self.abs_err,
            self.tol,
            self.report
        )
    }
}

/// [`gradcheck_with`] with the default [`GradcheckOptions`].
///
/// ```
/// use gumbel_autograd::{gradcheck, tensor::Tensor};
/// // L = sum(tanh(x) * w): dL/dx = w (1 - tanh^2 x), dL/dw = tanh x
/// let x = Tensor::new([3], vec![0.3, -1.2, 2.0]).unwrap();
/// let w = Tensor::new([3], vec![1.5, 0.7, -0.4]).unwrap();
/// let report = gradcheck(|_tape, v| v[0].tanh()?.mul(&v[1])?.sum(), &[x, w]).unwrap();
/// assert!(report.inputs.iter().all(|r| r.max_abs_err < 1e-8));
/// ```
pub fn gradcheck<F>(f: F, inputs: &[Tensor<f64>]) -> Result<GradcheckReport, GradcheckError>
where
    F: for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> gumbel_tensor::Result<Var<'t, f64>>,
{
    gradcheck_with(f, inputs, &GradcheckOptions::default())
}

/// Checks the gradient of the scalar function `f` at `inputs` against central differences
/// (see the module docs). Returns the per-input errors, or an error naming the worst entry.
pub fn gradcheck_with<F>(
    f: F,
    inputs: &[Tensor<f64>],
    opts: &GradcheckOptions,
) -> Result<GradcheckReport, GradcheckError>
where
    F: for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> gumbel_tensor::Result<Var<'t, f64>>,
{
    // 1. Analytic gradients.
    let (value, analytic) = analytic_gradients(&f, inputs)?;

    // 2. Numeric gradients, on fresh tapes with constant inputs (so they record no backward
    //    closures, but ops behave exactly as in step 1).
    let mut xs: Vec<Tensor<f64>> = inputs.to_vec();
    let names: Vec<String> = (0..inputs.len()).map(|k| format!("input {k}")).collect();
    compare(value, &names, inputs, &analytic, opts, |k, j, x| {
        xs[k].as_mut_slice()[j] = x;
        let tape = Tape::new();
        let vars: Vec<Var<'_, f64>> = xs.iter().map(|x| tape.constant(x.clone())).collect();
        Ok(f(&tape, &vars)?.item()?)
    })
}

/// gradcheck for a model: compares the analytic gradient of `f` with respect to **every
/// parameter of `params`** with central differences, perturbing the parameters in place
/// (and restoring them). Reports and errors name the parameters (`"lstm.weight_hh_l0"`).
///
/// `f` builds the loss on the tape it is given, reading the parameters from the store (as a
/// model's forward does). Inputs that are not parameters can be registered as parameters
/// of a scratch store to have them checked too.
///
/// ```
/// use gumbel_autograd::layers::{Bias, Linear};
/// use gumbel_autograd::{gradcheck_params, GradcheckOptions, ParamStore, init};
/// let mut params = ParamStore::<f64>::new();
/// let lin = Linear::new(&mut params, "fc", 3, 2, Bias::Yes, &mut init::seeded(0)).unwrap();
/// let x = gumbel_autograd::tensor::Tensor::new([1, 3], vec![0.5, -1.0, 2.0]).unwrap();
/// let report = gradcheck_params(
///     &mut params,
///     |tape, p| lin.forward(tape, p, &tape.constant(x.clone()))?.tanh()?.sum(),
///     &GradcheckOptions::default(),
/// )
/// .unwrap();
/// assert_eq!(report.inputs[0].name, "fc.weight");
/// ```
pub fn gradcheck_params<F>(
    params: &mut ParamStore<f64>,
    f: F,
    opts: &GradcheckOptions,
) -> Result<GradcheckReport, GradcheckError>
where
    F: for<'t> Fn(&'t Tape<f64>, &ParamStore<f64>) -> gumbel_tensor::Result<Var<'t, f64>>,
{
    let ids: Vec<ParamId> = params.ids().collect();
    let names: Vec<String> = ids
        .iter()
        .map(|&id| params.name(id).map(str::to_owned))
        .collect::<gumbel_tensor::Result<_>>()?;
    let base: Vec<Tensor<f64>> = ids
        .iter()
        .map(|&id| params.value(id).cloned())
        .collect::<gumbel_tensor::Result<_>>()?;

    // 1. Analytic gradients (the store's own gradients are left untouched).
    let tape = Tape::new();
    let was = params.requires_grad();
    params.set_requires_grad(true);
    let out = f(&tape, params)?;
    let value = scalar_value(out)?;
    let analytic: Vec<Tensor<f64>> = if out.requires_grad() {
        let grads = tape.backward(out)?;
        ids.iter()
            .zip(&base)
            .map(|(&id, x)| {
                grads
                    .param(id)
                    .cloned()
                    .unwrap_or_else(|| Tensor::zeros(x.shape()))
            })
            .collect()
    } else {
        base.iter().map(|x| Tensor::zeros(x.shape())).collect()
    };

    // 2. Numeric gradients with the store frozen (constant leaves), entry by entry.
    params.set_requires_grad(false);
    let result = compare(value, &names, &base, &analytic, opts, |k, j, x| {
        params.value_mut(ids[k])?.as_mut_slice()[j] = x;
        let tape = Tape::new();
        Ok(f(&tape, params)?.item()?)
    });
    params.set_requires_grad(was);
    result
}

/// [`gradcheck_second_order_with`] with the default [`GradcheckOptions`] and directions
/// `v_k` with entries uniform in `[-1, 1)` from a fixed seed.
///
/// ```
/// use gumbel_autograd::{gradcheck_second_order, tensor::Tensor};
/// // f = sum(tanh(x) * w). H v has x-part w (-2 t (1 - t^2)) v_x + (1 - t^2) v_w and
/// // w-part (1 - t^2) v_x, with t = tanh x.
/// let x = Tensor::new([3], vec![0.3, -1.2, 2.0]).unwrap();
/// let w = Tensor::new([3], vec![1.5, 0.7, -0.4]).unwrap();
/// let report = gradcheck_second_order(|_t, v| v[0].tanh()?.mul(&v[1])?.sum(), &[x, w]).unwrap();
/// assert!(report.inputs.iter().all(|r| r.max_abs_err < 1e-8));
/// ```
pub fn gradcheck_second_order<F>(
    f: F,
    inputs: &[Tensor<f64>],
) -> Result<GradcheckReport, GradcheckError>
where
    F: for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> gumbel_tensor::Result<Var<'t, f64>>,
{
    let mut state = 0x5eed_0002_u64;
    let directions: Vec<Tensor<f64>> = inputs
        .iter()
        .map(|x| {
            Tensor::from_fn(x.shape(), |_| {
                state = state.wrapping_add(gumbel_tensor::random::GOLDEN_GAMMA);
                let u = gumbel_tensor::random::unit_f64(gumbel_tensor::random::splitmix64(state));
                2.0 * u - 1.0
            })
        })
        .collect();
    gradcheck_second_order_with(f, inputs, &directions, &GradcheckOptions::default())
}

/// Checks second derivatives of the scalar function `f` at `inputs` along `directions`
/// (one tensor per input, of its shape): the create-graph first gradient against the
/// ordinary one, then the Hessian-vector product `H v = d/dx <v, grad f(x)>` by double
/// backward against central differences of the first gradient (see the module docs).
/// The report's entries are those of the Hessian-vector product.
///
/// Errors: as [`gradcheck_with`]; a first-gradient disagreement is a [`Mismatch`] whose
/// name says `"(first order: Var-level vs Tensor-level backward)"`; an op on the walk
/// without a Var-level backward is [`GradcheckError::Op`] naming it.
pub fn gradcheck_second_order_with<F>(
    f: F,
    inputs: &[Tensor<f64>],
    directions: &[Tensor<f64>],
    opts: &GradcheckOptions,
) -> Result<GradcheckReport, GradcheckError>
where
    F: for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> gumbel_tensor::Result<Var<'t, f64>>,
{
    if directions.len() != inputs.len()
        || directions
            .iter()
            .zip(inputs)
            .any(|(v, x)| v.shape() != x.shape())
    {
        return Err(Error::invalid_argument(
            "gradcheck_second_order",
            "one direction per input, of the input's shape",
        )
        .into());
    }
    let names: Vec<String> = (0..inputs.len()).map(|k| format!("input {k}")).collect();
    // h(x) = sum_k <v_k, grad_k f(x)> through the ordinary (Tensor-level) backward, and
    // that first gradient itself.
    let first_order = |xs: &[Tensor<f64>]| -> Result<(f64, Vec<Tensor<f64>>), GradcheckError> {
        let (_, grads) = analytic_gradients(&f, xs)?;
        let h = grads
            .iter()
            .zip(directions)
            .flat_map(|(g, v)| g.as_slice().iter().zip(v.as_slice()).map(|(a, b)| a * b))
            .sum();
        Ok((h, grads))
    };
    let (h0, reference) = first_order(inputs)?;

    // 1. The create-graph first gradient, checked against the reference; 2. H v.
    let tape = Tape::new();
    let vars: Vec<Var<'_, f64>> = inputs.iter().map(|x| tape.leaf(x.clone())).collect();
    let out = f(&tape, &vars)?;
    scalar_value(out)?;
    let mut analytic: Vec<Tensor<f64>> = inputs.iter().map(|x| Tensor::zeros(x.shape())).collect();
    if out.requires_grad() {
        let gs = tape.grad(out, &vars, CreateGraph::Yes)?;
        let first: Vec<Tensor<f64>> = gs
            .iter()
            .zip(inputs)
            .map(|(g, x)| match g {
                Some(g) => g.value().map(|v| (*v).clone()),
                None => Ok(Tensor::zeros(x.shape())),
            })
            .collect::<gumbel_tensor::Result<_>>()?;
        agree(&names, &first, &reference, opts)?;
        let mut h: Option<Var<'_, f64>> = None;
        for (g, v) in gs.iter().zip(directions) {
            if let Some(g) = g {
                let term = g.mul(&tape.constant(v.clone()))?.sum()?;
                h = Some(match h {
                    Some(acc) => acc.add(&term)?,
                    None => term,
                });
            }
        }
        if let Some(h) = h.filter(|h| h.requires_grad()) {
            let mut grads = tape.backward(h)?;
            for (a, &v) in analytic.iter_mut().zip(&vars) {
                if let Some(g) = grads.take(v) {
                    *a = g;
                }
            }
        }
    }

    let mut xs: Vec<Tensor<f64>> = inputs.to_vec();
    compare(h0, &names, inputs, &analytic, opts, |k, j, x| {
        xs[k].as_mut_slice()[j] = x;
        Ok(first_order(&xs)?.0)
    })
}

/// `f` at `inputs` (as leaves) and its gradient with respect to each input by the ordinary
/// backward (zeros for an input the output does not depend on).
fn analytic_gradients<F>(
    f: &F,
    inputs: &[Tensor<f64>],
) -> Result<(f64, Vec<Tensor<f64>>), GradcheckError>
where
    F: for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> gumbel_tensor::Result<Var<'t, f64>>,
{
    let tape = Tape::new();
    let vars: Vec<Var<'_, f64>> = inputs.iter().map(|x| tape.leaf(x.clone())).collect();
    let out = f(&tape, &vars)?;
    let value = scalar_value(out)?;
    let grads = if out.requires_grad() {
        let mut grads = tape.backward(out)?;
        vars.iter()
            .zip(inputs)
            .map(|(&v, x)| grads.take(v).unwrap_or_else(|| Tensor::zeros(x.shape())))
            .collect()
    } else {
        inputs.iter().map(|x| Tensor::zeros(x.shape())).collect()
    };
    Ok((value, grads))
}

/// Step 1 of the second-order check: `analytic` (the create-graph first gradient) against
/// `reference` (the ordinary backward's), entry by entry, `|a - r| <= atol + rtol |r|`.
fn agree(
    names: &[String],
    analytic: &[Tensor<f64>],
    reference: &[Tensor<f64>],
    opts: &GradcheckOptions,
) -> Result<(), GradcheckError> {
    for (k, (a, r)) in analytic.iter().zip(reference).enumerate() {
        for (j, (&av, &rv)) in a.as_slice().iter().zip(r.as_slice()).enumerate() {
            let abs_err = if (av - rv).is_nan() {
                f64::INFINITY
            } else {
                (av - rv).abs()
            };
            let tol = opts.atol + opts.rtol * rv.abs();
            if abs_err > tol {
                return Err(GradcheckError::Mismatch(Box::new(Mismatch {
                    input: k,
                    name: format!(
                        "{} (first order: Var-level vs Tensor-level backward)",
                        names[k]
                    ),
                    shape: r.shape().to_vec(),
                    index: unflatten(j, r.shape()),
                    analytic: av,
                    numeric: rv,
                    abs_err,
                    tol,
                    report: GradcheckReport { inputs: Vec::new() },
                })));
            }
        }
    }
    Ok(())
}

/// The loss value, or an error if `f` did not return one element.
fn scalar_value(out: Var<'_, f64>) -> Result<f64, GradcheckError> {
    Ok(out.item().map_err(|_| {
        Error::invalid_shape(
            "gradcheck",
            &out.shape().unwrap_or_default(),
            "f must return a one-element (scalar) Var",
        )
    })?)
}

/// The comparison shared by [`gradcheck_with`] and [`gradcheck_params`]. `eval(k, j, x)`
/// sets entry `j` of input `k` to `x` and returns `f`; entries are restored to `base`.
fn compare(
    value: f64,
    names: &[String],
    base: &[Tensor<f64>],
    analytic: &[Tensor<f64>],
    opts: &GradcheckOptions,
    mut eval: impl FnMut(usize, usize, f64) -> Result<f64, GradcheckError>,
) -> Result<GradcheckReport, GradcheckError> {
    // f must be a function of its inputs: evaluate it again at the same point (entry 0 of
    // the first non-empty input set to its own value).
    if let Some(k) = base.iter().position(|x| x.numel() > 0) {
        let again = eval(k, 0, base[k].as_slice()[0])?;
        if again.to_bits() != value.to_bits() && !(again.is_nan() && value.is_nan()) {
            return Err(GradcheckError::NotDeterministic {
                first: value,
                second: again,
            });
        }
    }

    let mut report = GradcheckReport { inputs: Vec::new() };
    // (badness = err / tol, input, flat index, analytic, numeric, abs err, tol)
    let mut worst: Option<(f64, usize, usize, f64, f64, f64, f64)> = None;
    for k in 0..base.len() {
        let mut r = InputReport {
            name: names[k].clone(),
            shape: base[k].shape().to_vec(),
            max_abs_err: 0.0,
            max_rel_err: 0.0,
            worst: None,
        };
        let mut worst_here = -1.0;
        for j in 0..base[k].numel() {
            let x0 = base[k].as_slice()[j];
            let plus = eval(k, j, x0 + opts.eps);
            let minus = eval(k, j, x0 - opts.eps);
            eval(k, j, x0)?; // restore (and check nothing was left perturbed)
            let n = (plus? - minus?) / (2.0 * opts.eps);
            let a = analytic[k].as_slice()[j];
            let abs_err = if (a - n).is_nan() {
                f64::INFINITY
            } else {
                (a - n).abs()
            };
            let scale = a.abs().max(n.abs());
            let rel_err = if scale > 0.0 { abs_err / scale } else { 0.0 };
            let tol = opts.atol + opts.rtol * n.abs();
            let badness = abs_err / tol;
            r.max_abs_err = r.max_abs_err.max(abs_err);
            r.max_rel_err = r.max_rel_err.max(rel_err);
            if badness > worst_here {
                worst_here = badness;
                r.worst = Some(j);
            }
            if badness > 1.0 && worst.is_none_or(|w| badness > w.0) {
                worst = Some((badness, k, j, a, n, abs_err, tol));
            }
        }
        report.inputs.push(r);
    }
    match worst {
        None => Ok(report),
        Some((_, input, j, analytic, numeric, abs_err, tol)) => {
            Err(GradcheckError::Mismatch(Box::new(Mismatch {
                input,
                name: names[input].clone(),
                shape: base[input].shape().to_vec(),
                index: unflatten(j, base[input].shape()),
                analytic,
                numeric,
                abs_err,
                tol,
                report,
            })))
        }
    }
}

/// The multi-index of flat index `j` in a row-major `shape`.
fn unflatten(mut j: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (d, &n) in shape.iter().enumerate().rev() {
        idx[d] = j % n;
        j /= n;
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    fn t(shape: &[usize], v: &[f64]) -> Tensor<f64> {
        Tensor::new(shape, v.to_vec()).unwrap()
    }

    /// A custom op with a deliberately wrong derivative: y = x^2 elementwise, but the
    /// backward claims dy/dx = 2x + 1 at entry (1, 0) only.
    fn bad_square<'t>(x: Var<'t, f64>) -> gumbel_tensor::Result<Var<'t, f64>> {
        let xv = x.value()?;
        let y = Tensor::new(xv.shape(), xv.as_slice().iter().map(|v| v * v).collect())?;
        let ix = x.id();
        x.tape().op("bad_square", y, &[x], move |_, dy, g| {
            let mut dx: Vec<f64> = dy
                .as_slice()
                .iter()
                .zip(xv.as_slice())
                .map(|(d, v)| d * 2.0 * v)
                .collect();
            dx[2] += dy.as_slice()[2]; // the bug, at flat index 2 = (1, 0) of [2, 2]
            g.add(ix, Tensor::new(dy.shape(), dx)?)
        })
    }

    fn sum<'t>(x: Var<'t, f64>) -> gumbel_tensor::Result<Var<'t, f64>> {
        let xv = x.value()?;
        let shape = xv.shape().to_vec();
        let ix = x.id();
        x.tape().op(
            "sum",
            Tensor::scalar(xv.as_slice().iter().sum()),
            &[x],
            move |_, dy, g| g.add(ix, Tensor::full(shape, dy.item()?)),
        )
    }

    #[test]
    fn a_wrong_derivative_is_caught_and_named() {
        let x = t(&[2, 2], &[0.5, -1.0, 2.0, 0.25]);
        let err = gradcheck(|_, v| sum(bad_square(v[0])?), &[x]).unwrap_err();
        match &err {
            GradcheckError::Mismatch(m) => {
                let Mismatch {
                    input,
                    index,
                    analytic,
                    numeric,
                    ..
                } = &**m;
                assert_eq!(*input, 0);
                assert_eq!(index, &[1, 0]);
                // analytic 2*2 + 1 = 5, numeric 2*2 = 4
                assert_abs_diff_eq!(*analytic, 5.0, epsilon = 1e-12);
                assert_abs_diff_eq!(*numeric, 4.0, epsilon = 1e-6);
            }
            e => panic!("expected a mismatch, got {e}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains("entry [1, 0]") && msg.contains("input 0"),
            "{msg}"
        );
    }

    #[test]
    fn a_nondeterministic_function_is_reported() {
        use std::cell::Cell;
        let calls = Cell::new(0.0);
        let x = t(&[1], &[1.0]);
        let err = gradcheck(
            |tape, v| {
                calls.set(calls.get() + 1.0);
                let c = tape.constant(Tensor::scalar(calls.get()));
                let xv = v[0].value()?;
                let (ix, ic) = (v[0].id(), c.id());
                let y = xv.as_slice()[0] + calls.get();
                tape.op(
                    "add_noise",
                    Tensor::new([1], vec![y])?,
                    &[v[0], c],
                    move |_, dy, g| {
                        g.add(ix, dy.clone())?;
                        g.add(ic, Tensor::new([], dy.into_vec())?)
                    },
                )
            },
            &[x],
        )
        .unwrap_err();
        assert!(
            matches!(err, GradcheckError::NotDeterministic { .. }),
            "{err}"
        );
    }

    #[test]
    fn non_scalar_output_is_an_error() {
        let x = t(&[2], &[1.0, 2.0]);
        let err = gradcheck(|_, v| Ok(v[0]), &[x]).unwrap_err();
        assert!(err.to_string().contains("scalar"), "{err}");
    }

    #[test]
    fn unflatten_is_row_major() {
        assert_eq!(unflatten(5, &[2, 3]), vec![1, 2]);
        assert_eq!(unflatten(0, &[]), Vec::<usize>::new());
        assert_eq!(unflatten(7, &[2, 2, 2]), vec![1, 1, 1]);
    }
}
