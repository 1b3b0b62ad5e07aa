//! `softmax` and `log_softmax` over the last axis (each row of the `rows x cols` view).
//!
//! Derivatives, with `y = softmax(x)` and `l = log_softmax(x) = x - logsumexp(x)`:
//!
//! ```text
//! dy_j/dx_i = y_j (delta_ij - y_i)      =>  dx = y * (dy - sum(dy * y))
//! dl_j/dx_i = delta_ij - y_i            =>  dx = dy - exp(l) * sum(dy)
//! ```
//! (sums over the row). Both are kernels of the tensor crate.

use gumbel_tensor::{Element, Result};

use crate::tape::Var;
use gumbel_tensor::ops as k;

impl<'t, T: Element> Var<'t, T> {
    /// Softmax over the last axis. Derivative: `dx = y * (dy - sum_row(dy * y))`.
    pub fn softmax(&self) -> Result<Var<'t, T>> {
        let ix = self.id();
        let x = self.value()?;
        self.push("softmax", k::softmax(&x)?, &[*self], move |y, dy, g| {
            g.add(ix, k::softmax_backward(y, &dy)?)
        })
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
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testutil::{check, rand_in, weighted_sum};

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
}
