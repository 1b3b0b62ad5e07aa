//! `layer_norm`: each row of the `rows x cols` view (the last axis) shifted to mean 0 and
//! scaled to variance 1, without an affine part (a model multiplies by its gain and adds its
//! bias with `mul` / `add`, which broadcast a `[cols]` row; RelGAN's memory core normalizes a
//! whole `[slots, features]` block jointly by reshaping it to one row first).
//!
//! With `n = cols`, per row:
//!
//! ```text
//! mean = sum_i x_i / n
//! var  = sum_i (x_i - mean)^2 / n            (biased, as PyTorch's F.layer_norm)
//! rstd = 1 / sqrt(var + eps)
//! y_i  = (x_i - mean) * rstd
//! ```
//!
//! Derivative: `d rstd / d x_i = -rstd^3 (x_i - mean) / n`, so
//! `dy_j / dx_i = rstd (delta_ij - 1/n) - rstd y_i y_j / n`, and
//!
//! ```text
//! dx = rstd * (dy - mean(dy) - y * mean(dy * y))
//! ```
//! (exact for any `eps`: `eps` only enters through `rstd`). The backward keeps the output `y`
//! and one `rstd` per row.

pub mod kernel;

use gumbel_tensor::{Element, Error, Result, Tensor, parallel};

use crate::tape::Var;

impl<'t, T: Element> Var<'t, T> {
    /// Layer normalization over the last axis, `y = (x - mean) / sqrt(var + eps)` per row
    /// (see the module docs for the derivative). `Err` if the value has no elements in its
    /// last axis (or is rank 0), or `eps` is negative or not finite.
    ///
    /// ```
    /// # use gumbel_autograd::{Tape, tensor::Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.constant(Tensor::new([1, 4], vec![1.0, 2.0, 3.0, 6.0]).unwrap());
    /// let y = x.layer_norm(0.0).unwrap().value().unwrap();
    /// // mean 3, variance (4 + 1 + 0 + 9) / 4 = 3.5
    /// let s = 3.5f64.sqrt();
    /// assert_eq!(y.as_slice(), &[-2.0 / s, -1.0 / s, 0.0, 3.0 / s]);
    /// ```
    pub fn layer_norm(&self, eps: T) -> Result<Var<'t, T>> {
        const OP: &str = "layer_norm";
        let x = self.value()?;
        let cols = match x.shape().last() {
            Some(&c) if c > 0 => c,
            _ => {
                return Err(Error::invalid_shape(
                    OP,
                    x.shape(),
                    "needs a non-empty last axis to normalize over",
                ));
            }
        };
        if !(eps.is_finite() && eps >= T::ZERO) {
            return Err(Error::invalid_argument(
                OP,
                format!("eps must be finite and >= 0, got {}", eps.to_f64()),
            ));
        }
        let mut y = Tensor::zeros(x.shape());
        let xs = x.as_slice();
        let rstd = parallel::map_rows_mut(y.as_mut_slice(), cols, |r, row| {
            kernel::row_forward(&xs[r * cols..(r + 1) * cols], eps, row)
        });
        let ix = self.id();
        self.push(OP, y, &[*self], move |y, dy, g| {
            if let Some(dx) = g.slot(ix) {
                let (ys, dys) = (y.as_slice(), dy.as_slice());
                parallel::for_each_row_mut(dx.as_mut_slice(), cols, |r, row| {
                    let span = r * cols..(r + 1) * cols;
                    kernel::row_backward(&ys[span.clone()], &dys[span], rstd[r], row);
                });
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use approx::assert_relative_eq;
    use gumbel_tensor::Tensor;

    use crate::Tape;
    use crate::ops::testutil::{check, rand_in, weighted_sum};

    #[test]
    fn layer_norm_gradcheck() {
        // Rows of 7 (odd, so no lane-width coincidence) and of 1: a one-element row
        // normalizes to 0 with gradient 0, which gradcheck confirms numerically.
        for (shape, eps) in [(vec![3, 7], 1e-5), (vec![2, 2, 5], 0.0), (vec![4, 1], 1e-3)] {
            let x = rand_in(&shape, 61, -2.0, 3.0);
            check(|_, v| weighted_sum(v[0].layer_norm(eps)?, 62), &[x]);
        }
    }

    #[test]
    fn layer_norm_output_has_zero_mean_and_unit_variance() {
        let tape = Tape::<f64>::new();
        let x = tape.constant(rand_in(&[3, 64], 63, -5.0, 9.0));
        let y = x.layer_norm(0.0).unwrap().value().unwrap();
        for row in y.as_slice().chunks(64) {
            let mean = row.iter().sum::<f64>() / 64.0;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 64.0;
            assert_relative_eq!(mean, 0.0, epsilon = 1e-14);
            assert_relative_eq!(var, 1.0, max_relative = 1e-13);
        }
    }

    #[test]
    fn layer_norm_rejects_bad_input() {
        let tape = Tape::<f32>::new();
        let x = tape.leaf(Tensor::zeros([2, 3]));
        for eps in [-1e-5, f32::NAN, f32::INFINITY] {
            let msg = x.layer_norm(eps).unwrap_err().to_string();
            assert!(msg.contains("layer_norm") && msg.contains("eps"), "{msg}");
        }
        let empty = tape.leaf(Tensor::zeros([2, 0]));
        let msg = empty.layer_norm(1e-5).unwrap_err().to_string();
        assert!(
            msg.contains("layer_norm") && msg.contains("[2, 0]"),
            "{msg}"
        );
    }
}
