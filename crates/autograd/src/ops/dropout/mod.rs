//! `dropout` with an explicit seed (inverted dropout: kept entries are scaled by
//! `1 / (1 - p)` so the expected value is unchanged).
//!
//! ```text
//! m_i = [u(seed, i) >= p]        y = x * m / (1 - p)        dx = dy * m / (1 - p)
//! ```
//! `u(seed, i)` is a counter-based uniform number (`kernel.rs`): the mask depends only on
//! the seed and the element's index, so it is identical for any thread count and is
//! recomputed in backward rather than stored. Pass a different seed at every step (e.g.
//! `base_seed + step`).
//!
//! **Dropout is the identity** when the tape is in eval mode
//! ([`Tape::set_training(false)`](crate::Tape::set_training), or a
//! [`Tape::inference`](crate::Tape::inference) tape) or in no-grad mode
//! ([`Tape::no_grad`](crate::Tape::no_grad)), and when `p == 0`. (PyTorch keeps dropout
//! active under `no_grad` in training mode; here no-grad means inference.)

pub mod kernel;

use gumbel_tensor::{Element, Error, Result, Tensor};

use crate::tape::Var;

impl<'t, T: Element> Var<'t, T> {
    /// Zeroes each entry with probability `p` (`0 <= p <= 1`) and scales the rest by
    /// `1 / (1 - p)`; the mask is a function of `seed` and the entry's index. The identity
    /// in eval or no-grad mode. See the module docs.
    pub fn dropout(&self, p: f64, seed: u64) -> Result<Var<'t, T>> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::invalid_argument(
                "dropout",
                format!("p must be in [0, 1], got {p}"),
            ));
        }
        let tape = self.tape();
        if p == 0.0 || !tape.is_training() || !tape.is_grad_enabled() {
            return Ok(*self);
        }
        let x = self.value()?;
        // p == 1 drops everything (scale 0, not 1/0).
        let s = if p < 1.0 {
            T::from_f64(1.0 / (1.0 - p))
        } else {
            T::ZERO
        };
        let apply = move |src: &[T], dst: &mut [T]| {
            for (i, (d, &v)) in dst.iter_mut().zip(src).enumerate() {
                *d = if kernel::keep(seed, i, p) {
                    v * s
                } else {
                    T::ZERO
                };
            }
        };
        let mut y = Tensor::zeros(x.shape());
        apply(x.as_slice(), y.as_mut_slice());
        let ix = self.id();
        self.push("dropout", y, &[*self], move |_, dy, g| {
            let mut dx = Tensor::zeros(dy.shape());
            apply(dy.as_slice(), dx.as_mut_slice());
            g.add(ix, dx)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::Tape;
    use crate::ops::testutil::{check, rand, weighted_sum};
    use gumbel_tensor::Tensor;

    #[test]
    fn dropout_gradcheck_with_a_fixed_seed() {
        let x = rand(&[4, 6], 111);
        check(|_, v| weighted_sum(v[0].dropout(0.4, 17)?.tanh()?, 3), &[x]);
    }

    #[test]
    fn dropout_mask_scale_and_modes() {
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::ones([1000]));
        let y = x.dropout(0.25, 5).unwrap();
        let v = y.value().unwrap();
        // every entry is 0 or 1/(1-p) = 4/3
        assert!(
            v.as_slice()
                .iter()
                .all(|&e| e == 0.0 || (e - 4.0 / 3.0).abs() < 1e-15)
        );
        let kept = v.as_slice().iter().filter(|&&e| e != 0.0).count();
        // Binomial(1000, 0.75): sd 13.7, a 5 sd band
        assert!((kept as f64 - 750.0).abs() < 69.0, "{kept}");
        // same seed, same mask; the gradient uses the forward's mask
        assert_eq!(*x.dropout(0.25, 5).unwrap().value().unwrap(), *v);
        let g = tape.backward(y.sum().unwrap()).unwrap();
        assert_eq!(g.get(x).unwrap(), &*v);

        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::ones([10]));
        tape.set_training(false);
        assert_eq!(
            x.dropout(0.5, 1).unwrap().id(),
            x.id(),
            "identity in eval mode"
        );
        tape.set_training(true);
        {
            let _g = tape.no_grad();
            assert_eq!(
                x.dropout(0.5, 1).unwrap().id(),
                x.id(),
                "identity in no-grad mode"
            );
        }
        assert!(
            x.dropout(1.0, 1)
                .unwrap()
                .value()
                .unwrap()
                .as_slice()
                .iter()
                .all(|&e| e == 0.0)
        );
        assert!(
            x.dropout(1.5, 1)
                .unwrap_err()
                .to_string()
                .contains("[0, 1]")
        );
    }
}
