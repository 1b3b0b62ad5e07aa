//! `gumbel_softmax`: the Gumbel-Softmax (Concrete) relaxation as **one tape node** on the
//! fused kernels of `gumbel_tensor::ops::gumbel`.
//!
//! For logits `l`, Gumbel noise `g` and temperature `tau` (or inverse temperature `beta`):
//!
//! ```text
//! y     = softmax((l + g) / tau)                         the relaxed sample (forward)
//! index = argmax(l + g)                                  the Gumbel-max sample, same noise
//! dl    = y * (dy - <dy, y>) / tau                       (fused backward kernel)
//! dtau  = -(1/tau) sum_rows sum_i y_i (dy_i - <dy, y>) ln y_i   (if tau is learned)
//! ```
//! (with `beta`: `dl = beta y (dy - <dy, y>)`, `dbeta = (1/beta) sum ... ln y`).
//!
//! **Straight-through** ([`Output::Hard`]): the forward value is `one_hot(index)`, and the
//! backward treats the incoming gradient as the gradient of the soft `y` and applies the
//! formula above. When the soft sample and its hard version of the same draw are both
//! needed, sample soft and call [`GumbelSample::straight_through`] (one more node, whose
//! backward passes its gradient to the soft node). This is *not* the derivative of the hard forward (which is zero almost
//! everywhere) but of its soft surrogate, by design; the tests check exactly that.
//!
//! **Randomness** is explicit: the caller passes a [`GumbelRng`]; each call consumes one
//! counter value, and a row's noise depends only on `(seed, counter, row)`, so a training
//! run is reproducible for any thread count. [`gumbel_softmax_with_noise`] takes the noise
//! itself (studies, cross-checks). The noise is not stored: the backward needs only `y`.
//!
//! The temperature is a constant ([`GumbelTemp::Fixed`]) or a learnable one-element value
//! ([`GumbelTemp::Tau`], [`GumbelTemp::Beta`]) that receives `dtau` / `dbeta`.
//!
//! **Higher-order gradients.** The soft node has a Var-level backward: the formulas above
//! written with ops, `u = y * (dy - sum_row(dy * y))` (softmax's backward, `dL/dz`), then
//! `dl = u / tau` (`u * beta`) and `dtau = -sum(u * ln y) / tau` (`dbeta = sum(u * ln y) /
//! beta`), with `y` the node itself and the temperature as its `Var`, so both are
//! differentiable in the logits, the temperature and `dy`. The noise is a constant (it enters
//! only through `y`). `ln y` is taken as `ln(y + m)` with the constant mask `m = [y == 0]`:
//! `0` (not `-inf`) at masked classes, where `u = 0` anyway, and `ln y` elsewhere. The hard
//! (straight-through) node has none: its soft sample is not on the tape. For a
//! straight-through sample that can be differentiated twice, sample [`Output::Soft`] and
//! apply [`straight_through`] (whose Var-level backward passes `dy` on).

/// The node's value: the soft sample ([`Output::Soft`]) or its one-hot with the gradient
/// taken through the soft sample ([`Output::Hard`], straight-through).
pub use gumbel_tensor::ops::gumbel::Output;
use gumbel_tensor::ops::gumbel::{
    GumbelRng, GumbelSoftmax, Noise, TempGrad, Temperature, gumbel_softmax as fused_forward,
    gumbel_softmax_backward, gumbel_softmax_with_noise as fused_forward_with_noise,
};
use gumbel_tensor::{Element, Error, Result, Tensor};

use crate::ops::softmax::softmax_backward_var;
use crate::tape::{NodeId, Var, VarGrads};

/// The temperature of [`gumbel_softmax`]: a constant, or a learnable one-element value
/// holding `tau` or `beta`.
#[derive(Clone, Copy, Debug)]
pub enum GumbelTemp<'t, T: Element> {
    /// A constant `tau` or `beta` (no gradient).
    Fixed(Temperature<T>),
    /// A learnable temperature `tau` (a one-element value, e.g. a parameter).
    Tau(Var<'t, T>),
    /// A learnable inverse temperature `beta`.
    Beta(Var<'t, T>),
}

impl<T: Element> From<Temperature<T>> for GumbelTemp<'_, T> {
    fn from(t: Temperature<T>) -> Self {
        GumbelTemp::Fixed(t)
    }
}

impl<'t, T: Element> GumbelTemp<'t, T> {
    /// The temperature's current value, and its `Var` if learned.
    pub(crate) fn resolve(self, op: &'static str) -> Result<(Temperature<T>, Option<Var<'t, T>>)> {
        let read = |v: Var<'t, T>| -> Result<T> {
            let t = v.value()?;
            t.item().map_err(|_| {
                Error::invalid_shape(op, t.shape(), "a learned temperature must have one element")
            })
        };
        Ok(match self {
            GumbelTemp::Fixed(t) => (t, None),
            GumbelTemp::Tau(v) => (Temperature::Tau(read(v)?), Some(v)),
            GumbelTemp::Beta(v) => (Temperature::Beta(read(v)?), Some(v)),
        })
    }
}

/// The output of [`gumbel_softmax`]: the value on the tape (soft sample, or one-hot with
/// straight-through) and each row's Gumbel-max index (the sampled token).
#[derive(Clone, Debug)]
pub struct GumbelSample<'t, T: Element> {
    /// `softmax((l + g) / tau)`, or `one_hot(index)` with [`Output::Hard`].
    pub y: Var<'t, T>,
    /// `argmax(l + g)` per row: the discrete sample that `y` relaxes.
    pub index: Vec<usize>,
}

/// Gumbel-Softmax with noise drawn from `rng` (one counter value per call): one node whose
/// value is the relaxed sample ([`Output::Soft`]), or its one-hot ([`Output::Hard`],
/// straight-through). See the module docs for the math.
///
/// Errors (from the fused kernel): a NaN or `+inf` logit, a row with only `-inf` (masked)
/// logits, a temperature that is not finite and `> 0`, a learned temperature with more
/// than one element.
///
/// ```
/// use gumbel_autograd::{Tape, ops::gumbel::{gumbel_softmax, GumbelTemp, Output}, tensor::Tensor};
/// use gumbel_autograd::tensor::ops::gumbel::{GumbelRng, Temperature};
/// let tape = Tape::<f64>::new();
/// let logits = tape.leaf(Tensor::new([2, 3], vec![1.0, 0.0, -1.0, 0.0, 0.0, 0.0]).unwrap());
/// let mut rng = GumbelRng::new(7);
/// let tau = Temperature::Tau(0.5).into();
/// let s = gumbel_softmax(&logits, tau, &mut rng, Output::Hard).unwrap();
/// let y = s.y.value().unwrap();
/// assert_eq!(y.row(0)[s.index[0]], 1.0); // straight-through: one-hot forward
/// let g = tape.backward(s.y.slice(1, 0, 1).unwrap().sum().unwrap()).unwrap();
/// assert!(g.get(logits).is_some()); // ... gradient through the soft sample
/// ```
pub fn gumbel_softmax<'t, T: Element>(
    logits: &Var<'t, T>,
    temp: GumbelTemp<'t, T>,
    rng: &mut GumbelRng,
    output: Output,
) -> Result<GumbelSample<'t, T>> {
    let (t, tvar) = temp.resolve("gumbel_softmax")?;
    let l = logits.value()?;
    let out = fused_forward(&l, t, rng, output)?;
    record(logits, t, tvar, out)
}

/// [`gumbel_softmax`] with the caller's noise ([`Noise::Gumbel`] or [`Noise::Uniform`], the
/// logits' shape) instead of a generator: for studies, and cross-checks against other
/// implementations given the same noise.
pub fn gumbel_softmax_with_noise<'t, T: Element>(
    logits: &Var<'t, T>,
    noise: Noise<'_, T>,
    temp: GumbelTemp<'t, T>,
    output: Output,
) -> Result<GumbelSample<'t, T>> {
    let (t, tvar) = temp.resolve("gumbel_softmax_with_noise")?;
    let l = logits.value()?;
    let out = fused_forward_with_noise(&l, noise, t, output)?;
    record(logits, t, tvar, out)
}

/// Records the node: value `y` (or `hard`), inputs the logits and the learned temperature.
///
/// Derivative: `(dl, dtemp) = gumbel_softmax_backward(y_soft, dy)`, with `dy` the
/// gradient of the node's value (straight-through passes it to the soft sample as is).
fn record<'t, T: Element>(
    logits: &Var<'t, T>,
    temp: Temperature<T>,
    tvar: Option<Var<'t, T>>,
    out: GumbelSoftmax<T>,
) -> Result<GumbelSample<'t, T>> {
    let GumbelSoftmax { y, index, hard } = out;
    let (value, soft) = match hard {
        Some(h) => (h, Some(y)), // keep the soft sample for the backward
        None => (y, None),       // the node's own value is the soft sample
    };
    let il = logits.id();
    let it: Option<(NodeId, Vec<usize>)> = match tvar {
        Some(v) => Some((v.id(), v.shape()?)),
        None => None,
    };
    let mut inputs = vec![*logits];
    inputs.extend(tvar);
    let (learned, hard) = (tvar.is_some(), soft.is_some());
    let y = logits
        .push("gumbel_softmax", value, &inputs, move |out, dy, g| {
            let y_soft = soft.as_ref().unwrap_or(out);
            let temp_grad = match &it {
                Some((i, _)) if g.wants(*i) => TempGrad::Compute,
                _ => TempGrad::Skip,
            };
            let (dl, dtemp) = gumbel_softmax_backward(y_soft, &dy, temp, temp_grad)?;
            if let (Some((i, shape)), Some(d)) = (it, dtemp) {
                g.add(i, Tensor::full(shape, d))?;
            }
            g.add(il, dl)
        })?
        .with_var_backward(move |y, dy, g| {
            if hard {
                return Err(Error::invalid_argument(
                    "gumbel_softmax",
                    "gumbel_softmax with Output::Hard has no differentiable backward (its soft \
                 sample is not on the tape); for higher-order gradients sample Output::Soft \
                 and apply straight_through",
                ));
            }
            gumbel_var_backward(y, dy, g, temp, learned)
        })?;
    Ok(GumbelSample { y, index })
}

/// The Var-level backward of the soft node (see the module docs): `u = y (dy - <dy, y>)`,
/// `dl = u / tau` or `u beta`, and for a learned temperature (input 1)
/// `dtau = -sum(u ln y) / tau` or `dbeta = sum(u ln y) / beta`.
fn gumbel_var_backward<'t, T: Element>(
    y: Var<'t, T>,
    dy: Var<'t, T>,
    g: &mut VarGrads<'t, T>,
    temp: Temperature<T>,
    learned: bool,
) -> Result<()> {
    let u = softmax_backward_var(y, dy)?;
    if !learned {
        let dl = match temp {
            Temperature::Tau(t) => u.scale(T::ONE / t)?,
            Temperature::Beta(b) => u.scale(b)?,
        };
        return g.add(0, dl);
    }
    let t = g.input(1)?;
    let dl = match temp {
        Temperature::Tau(_) => u.div(&t)?,
        Temperature::Beta(_) => u.mul(&t)?,
    };
    g.add(0, dl)?;
    if g.wants(1) {
        // ln y, with 0 at masked classes (y = 0, where u = 0 too): ln(y + [y == 0]).
        let yv = y.value()?;
        let ln_y = if yv.as_slice().contains(&T::ZERO) {
            let m = Tensor::from_fn(yv.shape(), |i| {
                if yv.as_slice()[i] == T::ZERO {
                    T::ONE
                } else {
                    T::ZERO
                }
            });
            y.add(&y.tape().constant(m))?.ln()?
        } else {
            y.ln()?
        };
        let s = u.mul(&ln_y)?.sum()?.reshape(t.shape()?)?.div(&t)?;
        g.add(
            1,
            match temp {
                Temperature::Tau(_) => s.neg()?,
                Temperature::Beta(_) => s,
            },
        )?;
    }
    Ok(())
}

impl<'t, T: Element> GumbelSample<'t, T> {
    /// The straight-through version of this sample: see [`straight_through`].
    pub fn straight_through(&self) -> Result<Var<'t, T>> {
        straight_through(&self.y, &self.index)
    }
}

/// The straight-through estimator of a sample `y: [rows, classes]` and its indices: one
/// node whose value is `one_hot(index)` and whose backward passes `dy` to `y` unchanged
/// (`dy/dy_soft = identity`, by design, not the derivative of the one-hot).
///
/// `gumbel_softmax(.., Output::Hard)` is this applied inside the Gumbel node. Use this
/// function when both the soft sample and its hard version of the *same draw* are needed,
/// e.g. soft feedback into the generator and one-hots into the discriminator: both
/// gradients reach the soft node, and its fused backward runs once on their sum.
pub fn straight_through<'t, T: Element>(y: &Var<'t, T>, index: &[usize]) -> Result<Var<'t, T>> {
    const OP: &str = "straight_through";
    let yv = y.value()?;
    let (rows, cols) = (yv.rows(), yv.cols());
    if yv.rank() == 0 || index.len() != rows {
        return Err(Error::invalid_argument(
            OP,
            format!(
                "{} indices for a sample of shape {:?}",
                index.len(),
                yv.shape()
            ),
        ));
    }
    if let Some((r, &k)) = index.iter().enumerate().find(|&(_, &k)| k >= cols) {
        return Err(Error::invalid_argument(
            OP,
            format!("row {r}: index {k} is out of range for {cols} classes"),
        ));
    }
    let mut hard = Tensor::zeros(yv.shape());
    for (r, &k) in index.iter().enumerate() {
        hard.row_mut(r)[k] = T::ONE;
    }
    let iy = y.id();
    y.push(OP, hard, &[*y], move |_, dy, g| g.add(iy, dy))?
        .with_var_backward(|_, dy, g| g.add(0, dy))
}

impl<'t, T: Element> Var<'t, T> {
    /// Method form of [`gumbel_softmax`]: `logits.gumbel_softmax(temp, &mut rng, output)`.
    pub fn gumbel_softmax(
        &self,
        temp: GumbelTemp<'t, T>,
        rng: &mut GumbelRng,
        output: Output,
    ) -> Result<GumbelSample<'t, T>> {
        gumbel_softmax(self, temp, rng, output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CreateGraph;
    use crate::Tape;
    use crate::ops::testutil::{check, check2, rand, rand_in, weighted_square_sum, weighted_sum};
    use gumbel_tensor::ops::gumbel::gumbel_noise;

    const SEED: u64 = 2024;

    #[test]
    fn soft_sample_gradcheck_with_a_fixed_seed() {
        let l = rand_in(&[3, 5], 121, -2.0, 2.0);
        for t in [Temperature::Tau(0.7), Temperature::Beta(1.3)] {
            check(
                |_, v| {
                    let mut rng = GumbelRng::new(SEED); // same noise at every evaluation
                    weighted_sum(
                        gumbel_softmax(&v[0], t.into(), &mut rng, Output::Soft)?.y,
                        1,
                    )
                },
                std::slice::from_ref(&l),
            );
        }
    }

    #[test]
    fn learned_tau_and_beta_gradcheck() {
        let l = rand_in(&[4, 6], 122, -2.0, 2.0);
        let tau = Tensor::new([1], vec![0.8]).unwrap();
        check(
            |_, v| {
                let mut rng = GumbelRng::new(SEED);
                weighted_sum(
                    gumbel_softmax(&v[0], GumbelTemp::Tau(v[1]), &mut rng, Output::Soft)?.y,
                    2,
                )
            },
            &[l.clone(), tau],
        );
        let beta = Tensor::scalar(1.7);
        check(
            |_, v| {
                let mut rng = GumbelRng::new(SEED);
                weighted_sum(
                    gumbel_softmax(&v[0], GumbelTemp::Beta(v[1]), &mut rng, Output::Soft)?.y,
                    3,
                )
            },
            &[l, beta],
        );
    }

    /// Second order through the soft node with the noise fixed: in the logits for a fixed
    /// `tau` or `beta`, and in the logits and a learned `tau` / `beta` (the temperature's
    /// Var-level gradient `-sum(u ln y) / tau` is differentiated too).
    #[test]
    fn soft_sample_second_order() {
        let l = rand_in(&[3, 5], 121, -2.0, 2.0);
        for t in [Temperature::Tau(0.7), Temperature::Beta(1.3)] {
            check2(
                |_, v| {
                    let mut rng = GumbelRng::new(SEED);
                    let y = gumbel_softmax(&v[0], t.into(), &mut rng, Output::Soft)?.y;
                    weighted_square_sum(y, 1)
                },
                std::slice::from_ref(&l),
            );
        }
        check2(
            |_, v| {
                let mut rng = GumbelRng::new(SEED);
                let y = gumbel_softmax(&v[0], GumbelTemp::Tau(v[1]), &mut rng, Output::Soft)?.y;
                weighted_square_sum(y, 2)
            },
            &[l.clone(), Tensor::new([1], vec![0.8]).unwrap()],
        );
    }

    #[test]
    fn learned_beta_second_order() {
        let l = rand_in(&[3, 5], 121, -2.0, 2.0);
        check2(
            |_, v| {
                let mut rng = GumbelRng::new(SEED);
                let y = gumbel_softmax(&v[0], GumbelTemp::Beta(v[1]), &mut rng, Output::Soft)?.y;
                weighted_sum(y, 3)
            },
            &[l.clone(), Tensor::scalar(1.7)],
        );
    }

    #[test]
    fn masked_class_second_order() {
        // a masked class (-inf logit) with a learned tau: ln y taken as 0 there
        let mut lm = rand(&[2, 4], 123);
        lm.as_mut_slice()[1] = f64::NEG_INFINITY;
        check2(
            |_, v| {
                let mut rng = GumbelRng::new(SEED);
                let y = gumbel_softmax(&v[0], GumbelTemp::Tau(v[1]), &mut rng, Output::Soft)?.y;
                weighted_square_sum(y, 4)
            },
            &[lm, Tensor::scalar(0.9)],
        );
    }

    #[test]
    fn straight_through_of_soft_second_order() {
        let l = rand_in(&[3, 5], 121, -2.0, 2.0);
        // straight_through of a soft sample, beside the soft sample itself (the GAN's use):
        // differentiable twice through the soft node. The hard value enters linearly here
        // on purpose: straight-through's surrogate derivative (identity) applies at every
        // order, like PyTorch's `y_hard - y.detach() + y`, so where the one-hot is a factor
        // of something differentiated again (`sum(w * hard * y)`), the double backward
        // differs by design from finite differences of the first gradient, which see the
        // one-hot as the constant it is.
        check2(
            |_, v| {
                let mut rng = GumbelRng::new(SEED);
                let s = gumbel_softmax(&v[0], GumbelTemp::Tau(v[1]), &mut rng, Output::Soft)?;
                weighted_sum(s.straight_through()?, 5)?.add(&weighted_square_sum(s.y, 6)?)
            },
            &[l, Tensor::scalar(0.6)],
        );
    }

    #[test]
    fn hard_output_has_no_differentiable_backward() {
        let tape = Tape::<f64>::new();
        let l = tape.leaf(rand(&[2, 3], 127));
        let s = gumbel_softmax(
            &l,
            Temperature::Tau(0.5).into(),
            &mut GumbelRng::new(SEED),
            Output::Hard,
        )
        .unwrap();
        let f = weighted_sum(s.y, 1).unwrap();
        let msg = tape
            .grad(f, &[l], CreateGraph::Yes)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("Output::Hard") && msg.contains("straight_through"),
            "{msg}"
        );
        // the ordinary backward still works on the same tape
        assert!(tape.backward(f).unwrap().get(l).is_some());
    }

    #[test]
    fn masked_classes_get_zero_gradient() {
        let mut l = rand(&[2, 4], 123);
        l.as_mut_slice()[1] = f64::NEG_INFINITY;
        let tau = Tensor::scalar(0.9);
        check(
            |_, v| {
                let mut rng = GumbelRng::new(SEED);
                weighted_sum(
                    gumbel_softmax(&v[0], GumbelTemp::Tau(v[1]), &mut rng, Output::Soft)?.y,
                    4,
                )
            },
            &[l.clone(), tau],
        );
        let tape = Tape::new();
        let lv = tape.leaf(l);
        let s = gumbel_softmax(
            &lv,
            Temperature::Tau(0.9).into(),
            &mut GumbelRng::new(1),
            Output::Soft,
        )
        .unwrap();
        assert_eq!(s.y.value().unwrap().row(0)[1], 0.0);
        let g = tape.backward(weighted_sum(s.y, 5).unwrap()).unwrap();
        assert_eq!(g.get(lv).unwrap().row(0)[1], 0.0);
    }

    /// Straight-through is checked against its soft surrogate: with a downstream that is
    /// linear in the sample (so the incoming gradient is the same constant for both), the
    /// hard node's gradients equal the soft node's bit for bit, and the soft node's are
    /// the gradchecked derivative. The hard forward itself is one-hot at `index`.
    #[test]
    fn straight_through_gradient_is_the_soft_surrogates() {
        let lt = rand_in(&[5, 7], 124, -2.0, 2.0);
        let run = |output: Output| {
            let tape = Tape::new();
            let (l, tau) = (tape.leaf(lt.clone()), tape.leaf(Tensor::scalar(0.6)));
            let mut rng = GumbelRng::new(SEED);
            let s = gumbel_softmax(&l, GumbelTemp::Tau(tau), &mut rng, output).unwrap();
            let y = (*s.y.value().unwrap()).clone();
            let mut g = tape.backward(weighted_sum(s.y, 6).unwrap()).unwrap();
            (y, s.index, g.take(l).unwrap(), g.take(tau).unwrap())
        };
        let (y_hard, idx_hard, dl_hard, dtau_hard) = run(Output::Hard);
        let (y_soft, idx_soft, dl_soft, dtau_soft) = run(Output::Soft);
        assert_eq!(idx_hard, idx_soft);
        for (r, &k) in idx_hard.iter().enumerate() {
            let want: Vec<f64> = (0..7).map(|j| if j == k { 1.0 } else { 0.0 }).collect();
            assert_eq!(y_hard.row(r), &want[..]);
            // the soft sample's largest entry is the Gumbel-max index
            let am = y_soft
                .row(r)
                .iter()
                .enumerate()
                .fold(0, |b, (j, &v)| if v > y_soft.row(r)[b] { j } else { b });
            assert_eq!(am, k);
        }
        assert_eq!(dl_hard, dl_soft);
        assert_eq!(dtau_hard, dtau_soft);
    }

    /// The same draw used soft and hard: `straight_through` of the soft sample equals the
    /// hard node alone, and used together with the soft sample its gradients equal those
    /// of the composition `one_hot + y - detach(y)`.
    #[test]
    fn straight_through_of_a_soft_sample() {
        let lt = rand_in(&[3, 6], 126, -2.0, 2.0);
        // (a) hard node vs straight_through(soft), hard value only downstream
        let run = |split: bool| {
            let tape = Tape::new();
            let l = tape.leaf(lt.clone());
            let mut rng = GumbelRng::new(SEED);
            let y = if split {
                gumbel_softmax(&l, Temperature::Tau(0.5).into(), &mut rng, Output::Soft)
                    .unwrap()
                    .straight_through()
                    .unwrap()
            } else {
                gumbel_softmax(&l, Temperature::Tau(0.5).into(), &mut rng, Output::Hard)
                    .unwrap()
                    .y
            };
            let v = (*y.value().unwrap()).clone();
            (
                v,
                tape.backward(weighted_sum(y, 8).unwrap())
                    .unwrap()
                    .get(l)
                    .unwrap()
                    .clone(),
            )
        };
        assert_eq!(run(true), run(false));
        // (b) soft and hard of the same draw, both downstream, vs the 3-node composition
        let both = |composed: bool| {
            let tape = Tape::new();
            let l = tape.leaf(lt.clone());
            let s = gumbel_softmax(
                &l,
                Temperature::Tau(0.5).into(),
                &mut GumbelRng::new(SEED),
                Output::Soft,
            )
            .unwrap();
            let hard = if composed {
                let oh =
                    Tensor::from_fn([3, 6], |i| if s.index[i / 6] == i % 6 { 1.0 } else { 0.0 });
                tape.constant(oh)
                    .add(&s.y.sub(&s.y.detach().unwrap()).unwrap())
                    .unwrap()
            } else {
                s.straight_through().unwrap()
            };
            let loss = weighted_sum(hard, 9)
                .unwrap()
                .add(&weighted_sum(s.y.tanh().unwrap(), 10).unwrap())
                .unwrap();
            tape.backward(loss).unwrap().get(l).unwrap().clone()
        };
        // the composition adds dy through add/sub (exact): the same bits
        assert_eq!(both(false), both(true));
        let tape = Tape::<f64>::new();
        let y = tape.leaf(Tensor::zeros([2, 3]));
        assert!(
            straight_through(&y, &[0])
                .unwrap_err()
                .to_string()
                .contains("1 indices")
        );
        assert!(
            straight_through(&y, &[0, 3])
                .unwrap_err()
                .to_string()
                .contains("row 1: index 3")
        );
    }

    /// The fused node against its composed twin on the same noise: `softmax((l + g) / tau)`
    /// built from add, div and softmax, in value and in the gradients of `l` and `tau`.
    #[test]
    fn fused_node_matches_composed_ops() {
        let lt = rand_in(&[3, 9], 125, -3.0, 3.0);
        let g = gumbel_noise::<f64>(&[3, 9], &mut GumbelRng::new(5));
        let run = |fused: bool| {
            let tape = Tape::new();
            let (l, tau) = (tape.leaf(lt.clone()), tape.leaf(Tensor::scalar(0.75)));
            let y = if fused {
                gumbel_softmax_with_noise(&l, Noise::Gumbel(&g), GumbelTemp::Tau(tau), Output::Soft)
                    .unwrap()
                    .y
            } else {
                l.add(&tape.constant(g.clone()))
                    .unwrap()
                    .div(&tau)
                    .unwrap()
                    .softmax()
                    .unwrap()
            };
            let val = (*y.value().unwrap()).clone();
            let mut gr = tape.backward(weighted_sum(y, 7).unwrap()).unwrap();
            (val, gr.take(l).unwrap(), gr.take(tau).unwrap())
        };
        let (y1, dl1, dt1) = run(true);
        let (y2, dl2, dt2) = run(false);
        // Both compute in f64 with polynomial exp/ln approximations accurate to ~1 ulp;
        // values O(1), so 1e-13 leaves a wide margin without hiding a wrong formula (an
        // error in dtau or a missing 1/tau would be O(0.1)).
        assert!(y1.max_abs_diff(&y2) < 1e-13, "{y1:?} vs {y2:?}");
        assert!(dl1.max_abs_diff(&dl2) < 1e-13, "{dl1:?} vs {dl2:?}");
        assert!(dt1.max_abs_diff(&dt2) < 1e-13, "{dt1:?} vs {dt2:?}");
    }

    #[test]
    fn each_call_draws_new_noise_and_errors_are_reported() {
        let tape = Tape::<f32>::new();
        let l = tape.leaf(Tensor::zeros([4, 8]));
        let mut rng = GumbelRng::new(3);
        let a = gumbel_softmax(&l, Temperature::Tau(1.0).into(), &mut rng, Output::Soft).unwrap();
        let b = gumbel_softmax(&l, Temperature::Tau(1.0).into(), &mut rng, Output::Soft).unwrap();
        assert_ne!(*a.y.value().unwrap(), *b.y.value().unwrap());
        assert_eq!(rng.counter(), 2);
        let bad =
            gumbel_softmax(&l, Temperature::Tau(0.0).into(), &mut rng, Output::Soft).unwrap_err();
        assert!(bad.to_string().contains("tau"), "{bad}");
        let two = tape.leaf(Tensor::zeros([2]));
        let msg = gumbel_softmax(&l, GumbelTemp::Tau(two), &mut rng, Output::Soft)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("one element"), "{msg}");
        let nan = tape.leaf(Tensor::new([1, 2], vec![f32::NAN, 0.0]).unwrap());
        assert!(
            gumbel_softmax(&nan, Temperature::Tau(1.0).into(), &mut rng, Output::Soft).is_err()
        );
    }
}
