//! `concrete_log_prob`: the density of a Gumbel-Softmax (Concrete) sample as one tape node,
//! differentiable in the logits, the sample and a learned temperature (Maddison, Mnih and
//! Teh, ICLR 2017, "The Concrete Distribution"; PyTorch's `ExpRelaxedCategorical` and
//! `RelaxedOneHotCategorical`).
//!
//! Over the `k` unmasked classes of a row, with `a = l - tau v`, `s = softmax(a)`:
//!
//! ```text
//! log p(v) = lgamma(k) + (k - 1) ln tau + sum_i a_i - k lse(a)        v = ln y (ExpConcrete)
//! log p(y) = log p(ln y) - sum_i ln y_i                               y on the simplex (Concrete)
//!
//! d log p(v) / d l_i   = 1 - k s_i
//! d log p(v) / d v_i   = -tau (1 - k s_i)
//! d log p(v) / d tau   = (k - 1) / tau - sum_i v_i (1 - k s_i)
//! d log p(y) / d y_i   = (d log p(v) / d v_i - 1) / y_i
//! ```
//!
//! (and `d/d beta = -(1/beta^2) d/d tau` for a learned inverse temperature). Masked classes
//! (`-inf` logits) are left out of the density, their sample entries are ignored, and their
//! gradients are 0. The forward value is the tensor crate's
//! [`exp_concrete_log_density`]
//! (docs/math.md derives it and the tests integrate it); the backward recomputes `s` in
//! `f64` per row.

use gumbel_tensor::ops::gumbel::{Temperature, exp_concrete_log_density};
use gumbel_tensor::{Element, Error, Result, Tensor};

use crate::ops::gumbel::GumbelTemp;
use crate::tape::Var;

/// Which form of the sample [`concrete_log_prob`] is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    /// `v = ln y`, the ExpConcrete density (PyTorch's `ExpRelaxedCategorical.log_prob`).
    Log,
    /// `y` itself, on the simplex (PyTorch's `RelaxedOneHotCategorical.log_prob`).
    Simplex,
}

/// The log-density of a Concrete sample, one value per row (the shape of `logits` without
/// its last dimension): of `v = ln y` ([`Space::Log`]) or of `y` ([`Space::Simplex`]), for
/// logits `l` and temperature `temp` (fixed or learned; `Beta(b)` means `tau = 1/b`).
/// See the module docs for the formula and its derivatives.
///
/// Errors: shapes that differ, a NaN or `+inf` logit, an all-masked row, a bad
/// temperature, a sample that is not finite (`Log`) or not `> 0` (`Simplex`) at an
/// unmasked class.
pub fn concrete_log_prob<'t, T: Element>(
    logits: &Var<'t, T>,
    sample: &Var<'t, T>,
    temp: GumbelTemp<'t, T>,
    space: Space,
) -> Result<Var<'t, T>> {
    const OP: &str = "concrete_log_prob";
    let (t, tvar) = temp.resolve(OP)?;
    let tau = match t {
        Temperature::Tau(tau) => tau,
        Temperature::Beta(beta) => T::ONE / beta,
    };
    Temperature::Tau(tau).scale(OP)?; // 1/beta may overflow or vanish
    let (l, x) = (logits.value()?, sample.value()?);
    l.expect_same_shape(OP, &x)?;
    let v = match space {
        Space::Log => (*x).clone(),
        Space::Simplex => {
            if let Some(i) = x.as_slice().iter().enumerate().position(|(i, &y)| {
                l.as_slice()[i] != T::NEG_INFINITY && (y.is_nan() || y <= T::ZERO)
            }) {
                return Err(Error::invalid_argument(
                    OP,
                    format!(
                        "element {i} of the sample is {} at an unmasked class: a point of the \
                         open simplex has every entry > 0",
                        x.as_slice()[i]
                    ),
                ));
            }
            Tensor::from_fn(x.shape(), |i| {
                if l.as_slice()[i] == T::NEG_INFINITY {
                    T::ZERO
                } else {
                    x.as_slice()[i].ln()
                }
            })
        }
    };
    let mut value = exp_concrete_log_density(&l, &v, tau)?;
    if space == Space::Simplex {
        for (r, out) in value.as_mut_slice().iter_mut().enumerate() {
            let jac: f64 = unmasked(l.row(r), v.row(r), 0.0).map(|(_, _, vi)| vi).sum();
            *out = T::from_f64(out.to_f64() - jac);
        }
    }
    let (il, ix) = (logits.id(), sample.id());
    let it = match tvar {
        Some(var) => Some((var.id(), var.shape()?, t)),
        None => None,
    };
    let mut inputs = vec![*logits, *sample];
    inputs.extend(tvar);
    logits.push(OP, value, &inputs, move |_, dy, g| {
        let (want_l, want_x) = (g.wants(il), g.wants(ix));
        let mut dl = Tensor::<T>::zeros(l.shape());
        let mut dx = Tensor::<T>::zeros(l.shape());
        let tau64 = tau.to_f64();
        let mut dtau = 0.0f64;
        let cols = l.cols();
        for (r, &dyr) in dy.as_slice().iter().enumerate() {
            let dyr = dyr.to_f64();
            let (lr, vr) = (l.row(r), v.row(r));
            let terms: Vec<(usize, f64, f64)> = unmasked(lr, vr, tau64).collect();
            let k = terms.len() as f64;
            let m = terms
                .iter()
                .map(|&(_, a, _)| a)
                .fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = terms.iter().map(|&(_, a, _)| (a - m).exp()).sum();
            let mut dt = (k - 1.0) / tau64;
            for &(c, a, vi) in &terms {
                let w = 1.0 - k * (a - m).exp() / z; // 1 - k s_i
                let at = r * cols + c;
                dl.as_mut_slice()[at] = T::from_f64(dyr * w);
                let dv = -tau64 * w;
                dx.as_mut_slice()[at] = T::from_f64(match space {
                    Space::Log => dyr * dv,
                    Space::Simplex => dyr * (dv - 1.0) / x.as_slice()[at].to_f64(),
                });
                dt -= vi * w;
            }
            dtau += dyr * dt;
        }
        if want_l {
            g.add(il, dl)?;
        }
        if want_x {
            g.add(ix, dx)?;
        }
        if let Some((id, shape, form)) = it {
            let d = match form {
                Temperature::Tau(_) => dtau,
                Temperature::Beta(beta) => -dtau / (beta.to_f64() * beta.to_f64()),
            };
            g.add(id, Tensor::full(shape, T::from_f64(d)))?;
        }
        Ok(())
    })
}

/// `(column, a = l - tau v, v)` over the unmasked classes of a row, in `f64`.
fn unmasked<'a, T: Element>(
    l: &'a [T],
    v: &'a [T],
    tau: f64,
) -> impl Iterator<Item = (usize, f64, f64)> + 'a {
    l.iter()
        .zip(v)
        .enumerate()
        .filter(|(_, (li, _))| **li != T::NEG_INFINITY)
        .map(move |(c, (li, vi))| (c, li.to_f64() - tau * vi.to_f64(), vi.to_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tape;
    use crate::ops::testutil::{check, rand_in, weighted_sum};
    use approx::assert_relative_eq;

    /// A point strictly inside the simplex per row (softmax of random values).
    fn simplex(rows: usize, cols: usize, seed: u64) -> Tensor<f64> {
        let x = rand_in(&[rows, cols], seed, -1.5, 1.5);
        gumbel_tensor::ops::softmax::softmax(&x).unwrap()
    }

    #[test]
    fn gradcheck_in_logits_and_sample_for_both_spaces() {
        let l = rand_in(&[3, 5], 1, -2.0, 2.0);
        for (space, x) in [
            (Space::Log, rand_in(&[3, 5], 2, -3.0, 0.0)),
            (Space::Simplex, simplex(3, 5, 3)),
        ] {
            for t in [Temperature::Tau(0.6), Temperature::Beta(1.7)] {
                check(
                    |_, v| {
                        let lp = concrete_log_prob(&v[0], &v[1], t.into(), space)?;
                        weighted_sum(lp, 4)
                    },
                    &[l.clone(), x.clone()],
                );
            }
        }
    }

    #[test]
    fn gradcheck_in_a_learned_temperature() {
        let l = rand_in(&[2, 4], 5, -2.0, 2.0);
        let x = simplex(2, 4, 6);
        for (space, sample) in [
            (Space::Simplex, x.clone()),
            (Space::Log, gumbel_tensor::ops::ln(&x)),
        ] {
            for beta in [false, true] {
                check(
                    |_, v| {
                        let temp = if beta {
                            GumbelTemp::Beta(v[2])
                        } else {
                            GumbelTemp::Tau(v[2])
                        };
                        weighted_sum(concrete_log_prob(&v[0], &v[1], temp, space)?, 7)
                    },
                    &[l.clone(), sample.clone(), Tensor::scalar(0.8)],
                );
            }
        }
    }

    #[test]
    fn the_simplex_density_is_the_log_density_minus_the_jacobian() {
        let tape = Tape::<f64>::new();
        let l = tape.leaf(rand_in(&[4, 6], 8, -2.0, 2.0));
        let y = simplex(4, 6, 9);
        let v = gumbel_tensor::ops::ln(&y);
        let t = GumbelTemp::Fixed(Temperature::Tau(0.5));
        let py = concrete_log_prob(&l, &tape.constant(y.clone()), t, Space::Simplex).unwrap();
        let pv = concrete_log_prob(&l, &tape.constant(v.clone()), t, Space::Log).unwrap();
        let kernel = exp_concrete_log_density(&l.value().unwrap(), &v, 0.5).unwrap();
        let (py, pv) = (py.value().unwrap(), pv.value().unwrap());
        for r in 0..4 {
            assert_relative_eq!(pv.as_slice()[r], kernel.as_slice()[r], max_relative = 1e-15);
            let jac: f64 = v.row(r).iter().sum();
            assert_relative_eq!(
                py.as_slice()[r],
                pv.as_slice()[r] - jac,
                max_relative = 1e-13
            );
        }
    }

    /// A masked class is not part of the distribution: the row's density and gradients
    /// equal those of the row without it, and its own gradients are exactly 0.
    #[test]
    fn masked_classes_are_left_out() {
        let grads = |l: Tensor<f64>, y: Tensor<f64>| {
            let tape = Tape::<f64>::new();
            let (lv, yv) = (tape.leaf(l), tape.leaf(y));
            let tau = tape.leaf(Tensor::scalar(0.7));
            let lp = concrete_log_prob(&lv, &yv, GumbelTemp::Tau(tau), Space::Simplex).unwrap();
            let value = lp.value().unwrap().item().unwrap();
            let g = tape.backward(lp).unwrap();
            let (dl, dy) = (g.get(lv).unwrap().clone(), g.get(yv).unwrap().clone());
            (value, dl, dy, g.get(tau).unwrap().item().unwrap())
        };
        let ninf = f64::NEG_INFINITY;
        let (l3, y3) = ([0.3, -0.4, 1.1], [0.2, 0.5, 0.3]);
        let full = grads(
            Tensor::new([4], vec![l3[0], ninf, l3[1], l3[2]]).unwrap(),
            Tensor::new([4], vec![y3[0], 0.0, y3[1], y3[2]]).unwrap(),
        );
        let three = grads(
            Tensor::new([3], l3.to_vec()).unwrap(),
            Tensor::new([3], y3.to_vec()).unwrap(),
        );
        assert_relative_eq!(full.0, three.0, max_relative = 1e-15);
        assert_relative_eq!(full.3, three.3, max_relative = 1e-14);
        for (d4, d3) in [(&full.1, &three.1), (&full.2, &three.2)] {
            assert_eq!(d4.as_slice()[1], 0.0);
            let kept = [d4.as_slice()[0], d4.as_slice()[2], d4.as_slice()[3]];
            for (a, b) in kept.iter().zip(d3.as_slice()) {
                assert_relative_eq!(a, b, max_relative = 1e-14);
            }
        }
    }

    #[test]
    fn bad_samples_and_shapes_are_errors() {
        let tape = Tape::<f64>::new();
        let l = tape.leaf(Tensor::new([3], vec![0.0, 1.0, 2.0]).unwrap());
        let t = GumbelTemp::Fixed(Temperature::Tau(1.0));
        let zero = tape.constant(Tensor::new([3], vec![0.0, 0.5, 0.5]).unwrap());
        let err = concrete_log_prob(&l, &zero, t, Space::Simplex).unwrap_err();
        assert!(err.to_string().contains("element 0"), "{err}");
        let short = tape.constant(Tensor::new([2], vec![0.5, 0.5]).unwrap());
        assert!(concrete_log_prob(&l, &short, t, Space::Log).is_err());
        let bad_t = GumbelTemp::Fixed(Temperature::Tau(0.0));
        let y = tape.constant(Tensor::new([3], vec![0.2, 0.3, 0.5]).unwrap());
        assert!(concrete_log_prob(&l, &y, bad_t, Space::Simplex).is_err());
    }
}
