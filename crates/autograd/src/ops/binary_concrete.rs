//! The binary Concrete (RelaxedBernoulli) relaxation as tape nodes on the fused kernels of
//! `gumbel_tensor::ops::gumbel` (`binary.rs` there derives the kernels):
//!
//! ```text
//! binary_concrete:           y = sigmoid((l + L) / tau),  L = ln(u / (1 - u))        one node
//!                            dl = dy y (1 - y) / tau,  dtau = -(1/tau) sum dy y (1 - y) logit(y)
//! binary_concrete_log_prob:  ln p(x) = ln tau - |s| - 2 ln(1 + e^-|s|),  s = l - tau x
//!                            ln p(y) = ln p(logit y) - ln y - ln(1 - y)
//!                            d/dl = -tanh(s/2),  d/dtau = 1/tau + x tanh(s/2),
//!                            d/dx = tau tanh(s/2),  d/dy = (tau tanh(s/2) - (1 - 2y)) / (y (1 - y))
//! ```
//!
//! Every element is its own Bernoulli variable. With [`Output::Hard`] the value of the
//! sample node is `[l + L > 0]` and its backward goes through the soft `y`
//! (straight-through). A learned temperature (`GumbelTemp::Tau` / `Beta`) gets its gradient
//! from both nodes.

use gumbel_tensor::ops::gumbel::{
    BinaryConcrete, GumbelRng, Output, Space, TempGrad, Temperature, binary_concrete as fused,
    binary_concrete_backward, binary_concrete_log_density, binary_concrete_log_density_backward,
};
use gumbel_tensor::{Element, Result, Tensor};

use crate::ops::gumbel::GumbelTemp;
use crate::tape::{NodeId, Var};

/// A binary Concrete sample of `logits` (any shape; one variable per element), with noise
/// from `rng` (one counter value per call): the soft `y` ([`Output::Soft`]) or the hard
/// `[l + L > 0]` with the gradient of `y` ([`Output::Hard`]).
///
/// Errors (from the kernel): a NaN logit, a bad temperature, a learned temperature with
/// more than one element. `+inf` / `-inf` logits are certain outcomes (`y` exactly 1 / 0,
/// gradient 0).
pub fn binary_concrete<'t, T: Element>(
    logits: &Var<'t, T>,
    temp: GumbelTemp<'t, T>,
    rng: &mut GumbelRng,
    output: Output,
) -> Result<Var<'t, T>> {
    const OP: &str = "binary_concrete";
    let (t, tvar) = temp.resolve(OP)?;
    let BinaryConcrete { y, hard } = fused(&*logits.value()?, t, rng, output)?;
    let (value, soft) = match hard {
        Some(h) => (h, Some(y)),
        None => (y, None),
    };
    let il = logits.id();
    let it = learned(tvar)?;
    let mut inputs = vec![*logits];
    inputs.extend(tvar);
    logits.push(OP, value, &inputs, move |out, dy, g| {
        let y = soft.as_ref().unwrap_or(out);
        let temp_grad = match &it {
            Some((i, _)) if g.wants(*i) => TempGrad::Compute,
            _ => TempGrad::Skip,
        };
        let (dl, dtemp) = binary_concrete_backward(y, &dy, t, temp_grad)?;
        if let (Some((i, shape)), Some(d)) = (it, dtemp) {
            g.add(i, Tensor::full(shape, d))?;
        }
        g.add(il, dl)
    })
}

/// The binary Concrete log-density of `sample`, elementwise (the shape of `logits`): of the
/// logit `x` ([`Space::Logit`], the stable form) or of `y` in `(0, 1)` ([`Space::Unit`]).
/// Differentiable in the logits, the sample and a learned temperature (module docs).
///
/// Errors (from the kernel): shapes that differ, a NaN or infinite logit (an infinite
/// logit is a point mass, without a density), a non-finite `x` or a `y` outside `(0, 1)`,
/// a bad temperature.
pub fn binary_concrete_log_prob<'t, T: Element>(
    logits: &Var<'t, T>,
    sample: &Var<'t, T>,
    temp: GumbelTemp<'t, T>,
    space: Space,
) -> Result<Var<'t, T>> {
    const OP: &str = "binary_concrete_log_prob";
    let (t, tvar) = temp.resolve(OP)?;
    let (l, x) = (logits.value()?, sample.value()?);
    let value = binary_concrete_log_density(&l, &x, t, space)?;
    let tau = match t {
        Temperature::Tau(tau) => tau.to_f64(),
        Temperature::Beta(beta) => 1.0 / beta.to_f64(),
    };
    let (il, ix) = (logits.id(), sample.id());
    let it = learned(tvar)?;
    let mut inputs = vec![*logits, *sample];
    inputs.extend(tvar);
    logits.push(OP, value, &inputs, move |_, dy, g| {
        let (dl, dtemp) = binary_concrete_log_density_backward(&l, &x, t, space, &dy)?;
        if g.wants(ix) {
            let dx = Tensor::from_fn(x.shape(), |i| {
                let (li, xi) = (l.as_slice()[i].to_f64(), x.as_slice()[i].to_f64());
                let logit = match space {
                    Space::Logit => xi,
                    Space::Unit => xi.ln() - (-xi).ln_1p(),
                };
                let th = (0.5 * (li - tau * logit)).tanh();
                let d = match space {
                    Space::Logit => tau * th,
                    Space::Unit => (tau * th - (1.0 - 2.0 * xi)) / (xi * (1.0 - xi)),
                };
                T::from_f64(dy.as_slice()[i].to_f64() * d)
            });
            g.add(ix, dx)?;
        }
        if let Some((i, shape)) = it {
            g.add(i, Tensor::full(shape, dtemp))?;
        }
        g.add(il, dl)
    })
}

/// The node and shape of a learned temperature.
fn learned<T: Element>(tvar: Option<Var<'_, T>>) -> Result<Option<(NodeId, Vec<usize>)>> {
    Ok(match tvar {
        Some(v) => Some((v.id(), v.shape()?)),
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::{check, rand_in, weighted_sum};

    const SEED: u64 = 31;

    #[test]
    fn sample_gradcheck_with_fixed_noise_in_logits_and_a_learned_temperature() {
        let l = rand_in(&[3, 4], 1, -2.0, 2.0);
        for t in [Temperature::Tau(0.7), Temperature::Beta(1.4)] {
            check(
                |_, v| {
                    let mut rng = GumbelRng::new(SEED); // the same noise at every evaluation
                    weighted_sum(binary_concrete(&v[0], t.into(), &mut rng, Output::Soft)?, 2)
                },
                std::slice::from_ref(&l),
            );
        }
        for beta in [false, true] {
            check(
                |_, v| {
                    let mut rng = GumbelRng::new(SEED);
                    let temp = if beta {
                        GumbelTemp::Beta(v[1])
                    } else {
                        GumbelTemp::Tau(v[1])
                    };
                    weighted_sum(binary_concrete(&v[0], temp, &mut rng, Output::Soft)?, 3)
                },
                &[l.clone(), Tensor::scalar(0.9)],
            );
        }
    }

    #[test]
    fn log_prob_gradcheck_in_logits_sample_and_temperature_for_both_spaces() {
        let l = rand_in(&[2, 5], 4, -2.0, 2.0);
        for (space, x) in [
            (Space::Logit, rand_in(&[2, 5], 5, -3.0, 3.0)),
            (Space::Unit, rand_in(&[2, 5], 6, 0.05, 0.95)),
        ] {
            for beta in [false, true] {
                check(
                    |_, v| {
                        let temp = if beta {
                            GumbelTemp::Beta(v[2])
                        } else {
                            GumbelTemp::Tau(v[2])
                        };
                        weighted_sum(binary_concrete_log_prob(&v[0], &v[1], temp, space)?, 7)
                    },
                    &[l.clone(), x.clone(), Tensor::scalar(0.8)],
                );
            }
        }
    }

    #[test]
    fn hard_samples_are_the_soft_ones_rounded_with_the_soft_gradient() {
        let tape = crate::Tape::<f64>::new();
        let l = tape.leaf(rand_in(&[4, 8], 8, -3.0, 3.0));
        let t = GumbelTemp::Fixed(Temperature::Tau(0.5));
        let soft = binary_concrete(&l, t, &mut GumbelRng::new(9), Output::Soft).unwrap();
        let hard = binary_concrete(&l, t, &mut GumbelRng::new(9), Output::Hard).unwrap();
        let (s, h) = (soft.value().unwrap(), hard.value().unwrap());
        for (&y, &b) in s.as_slice().iter().zip(h.as_slice()) {
            assert_eq!(b, if y > 0.5 { 1.0 } else { 0.0 }, "y = {y}");
        }
        let gs = tape
            .backward(soft.add(&hard).unwrap().sum().unwrap())
            .unwrap();
        let g = gs.get(l).unwrap();
        // both nodes send dy y (1 - y) / tau with dy = 1: twice the soft node's alone
        for (i, &y) in s.as_slice().iter().enumerate() {
            approx::assert_relative_eq!(
                g.as_slice()[i],
                2.0 * y * (1.0 - y) / 0.5,
                max_relative = 1e-12
            );
        }
    }
}
