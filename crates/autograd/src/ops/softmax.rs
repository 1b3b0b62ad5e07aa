//! `softmax` and `log_softmax` over the last axis (each row of the `rows x cols` view).
//!
//! Derivatives, with `y = softmax(x)` and `l = log_softmax(x) = x - logsumexp(x)`:
//!
//! ```text
//! dy_j/dx_i = y_j (delta_ij - y_i)      =>  dx = y * (dy - sum(dy * y))
//! dl_j/dx_i = delta_ij - y_i            =>  dx = dy - exp(l) * sum(dy)
//! ```
//! (sums over the row). Both are kernels of the tensor crate.
//!
//! The Var-level backwards (higher-order gradients) write the same formulas with ops, the
//! row sum spread back over the row as `sum_axis(last)` then `broadcast_axis(last, cols)`
//! (`row_sum_spread`); `y` (or `exp(l)`) is the op's own output, so differentiating them
//! again goes through the op. Second derivative of softmax, for reference (the closed-form
//! test checks it):
//!
//! ```text
//! d^2 y_i / dx_j dx_k = y_i (delta_ik - y_k)(delta_ij - y_j) - y_i y_j (delta_jk - y_k)
//! ```

use gumbel_tensor::{Element, Result};

use crate::tape::Var;
use gumbel_tensor::ops as k;

/// `s[.., j] = sum_i v[.., i]` for every `j`: each row's sum spread back over the row, as
/// differentiable ops (`sum_axis` and `broadcast_axis` over the last axis). A rank-0 value
/// is its own one-element row.
pub(crate) fn row_sum_spread<'t, T: Element>(v: Var<'t, T>) -> Result<Var<'t, T>> {
    let shape = v.shape()?;
    let Some(&cols) = shape.last() else {
        return Ok(v);
    };
    let last = shape.len() - 1;
    v.sum_axis(last)?.broadcast_axis(last, cols)
}

/// `J(p) v = p * (v - sum_row(v * p))` as ops: softmax's backward at the point `p` of the
/// simplex (`J(p) = diag(p) - p p^T` row by row). The Var-level backward of `softmax` (with
/// `p = y`), and of the Gumbel-Softmax and straight-through estimator nodes.
pub(crate) fn softmax_backward_var<'t, T: Element>(
    p: Var<'t, T>,
    v: Var<'t, T>,
) -> Result<Var<'t, T>> {
    p.mul(&v.sub(&row_sum_spread(v.mul(&p)?)?)?)
}

impl<'t, T: Element> Var<'t, T> {
    /// Softmax over the last axis. Derivative: `dx = y * (dy - sum_row(dy * y))`.
    pub fn softmax(&self) -> Result<Var<'t, T>> {
        let ix = self.id();
        let x = self.value()?;
        self.push("softmax", k::softmax(&x)?, &[*self], move |y, dy, g| {
            g.add(ix, k::softmax_backward(y, &dy)?)
        })?
        .with_var_backward(|y, dy, g| g.add(0, softmax_backward_var(y, dy)?))
    }

    /// Log-softmax over the last axis. Derivative: `dx = dy - exp(y) * sum_row(dy)`.
    pub fn log_softmax(&self) -> Result<Var<'t, T>> {
        let ix = self.id();
        let x = self.value()?;
        self.push(
            "log_softmax",
            k::log_softmax(&x)?,
            &[*self],
            move |y, dy, g| g.add(ix, k::log_softmax_backward(y, &dy)?),
        )?
        .with_var_backward(|l, dy, g| {
            // dy - exp(l) * sum_row(dy)
            let s = row_sum_spread(dy)?;
            g.add(0, dy.sub(&l.exp()?.mul(&s)?)?)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testutil::{check, check2, rand_in, weighted_square_sum, weighted_sum};

    #[test]
    fn softmax_and_log_softmax_gradcheck() {
        let x = rand_in(&[3, 6], 51, -3.0, 3.0);
        check(
            |_, v| weighted_sum(v[0].softmax()?, 1),
            std::slice::from_ref(&x),
        );
        check(
            |_, v| weighted_sum(v[0].log_softmax()?, 1),
            std::slice::from_ref(&x),
        );
        // 3-D input: softmax over the last axis of every row
        let x3 = rand_in(&[2, 2, 5], 52, -3.0, 3.0);
        check(|_, v| weighted_sum(v[0].log_softmax()?, 2), &[x3]);
    }

    #[test]
    fn softmax_and_log_softmax_second_order() {
        let x = rand_in(&[3, 6], 51, -3.0, 3.0);
        let xs = std::slice::from_ref(&x);
        check2(|_, v| weighted_sum(v[0].softmax()?, 1), xs);
        check2(|_, v| weighted_sum(v[0].log_softmax()?, 1), xs);
        check2(|_, v| weighted_square_sum(v[0].log_softmax()?, 3), xs);
        let x3 = rand_in(&[2, 2, 5], 52, -3.0, 3.0);
        check2(
            |_, v| weighted_sum(v[0].softmax()?, 2),
            std::slice::from_ref(&x3),
        );
        check2(|_, v| weighted_sum(v[0].log_softmax()?, 2), &[x3]);
        // one row (rank 1)
        check2(
            |_, v| weighted_sum(v[0].softmax()?, 4),
            &[rand_in(&[5], 53, -2.0, 2.0)],
        );
    }
}
