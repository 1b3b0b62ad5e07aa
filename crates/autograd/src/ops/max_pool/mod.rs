//! `max_axis`: the maximum along one axis, with the gradient routed to the argmax. Max
//! over time of a `[B, T, F]` feature map (the CNN discriminator's pooling) is
//! `max_axis(1)`.
//!
//! Derivative: `y = x[j*]` with `j* = argmax_j x[j]`, so `dx[j*] = dy` and 0 elsewhere (on
//! ties the first maximum takes the gradient: a subgradient, as in PyTorch).

pub mod kernel;

use gumbel_tensor::{Element, Error, Result, Tensor};

use crate::ops::reduce::split_at_axis;
use crate::tape::Var;

impl<'t, T: Element> Var<'t, T> {
    /// The maximum along `axis` (removed from the shape). See the module docs.
    ///
    /// ```
    /// # use gumbel_autograd::{Tape, tensor::Tensor};
    /// let tape = Tape::<f32>::new();
    /// // [B=1, T=3, F=2]: max over time per feature
    /// let x = tape.constant(Tensor::new([1, 3, 2], vec![3.0, 4.0, 7.0, 4.0, 5.0, -1.0]).unwrap());
    /// assert_eq!(x.max_axis(1).unwrap().value().unwrap().as_slice(), &[7.0, 4.0]);
    /// ```
    pub fn max_axis(&self, axis: usize) -> Result<Var<'t, T>> {
        let x = self.value()?;
        let (outer, n, inner) = split_at_axis("max_axis", x.shape(), axis)?;
        if n == 0 {
            return Err(Error::invalid_shape(
                "max_axis",
                x.shape(),
                "the maximum over an empty axis is undefined",
            ));
        }
        let mut shape = x.shape().to_vec();
        shape.remove(axis);
        let mut out = Tensor::zeros(shape);
        let mut arg = vec![0u32; outer * inner];
        kernel::max_axis(x.as_slice(), outer, n, inner, out.as_mut_slice(), &mut arg);
        let ix = self.id();
        self.push("max_axis", out, &[*self], move |_, dy, g| {
            if let Some(dx) = g.slot(ix) {
                kernel::max_axis_backward(dy.as_slice(), &arg, outer, n, inner, dx.as_mut_slice());
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testutil::{TestRng, check, weighted_sum};
    use gumbel_tensor::Tensor;

    /// Distinct values at least 0.01 apart (a permutation of a grid), so that no two
    /// entries are within gradcheck's eps of a tie, where the max has a kink.
    fn distinct(shape: &[usize], seed: u64) -> Tensor<f64> {
        let n: usize = shape.iter().product();
        let mut v: Vec<f64> = (0..n).map(|i| i as f64 * 0.01 - 0.3).collect();
        let mut r = TestRng::new(seed);
        for i in (1..n).rev() {
            v.swap(i, (r.next_u64() % (i as u64 + 1)) as usize);
        }
        Tensor::new(shape, v).unwrap()
    }

    #[test]
    fn max_over_each_axis_gradcheck() {
        let x = distinct(&[2, 4, 3], 101);
        for axis in 0..3 {
            check(
                |_, v| weighted_sum(v[0].max_axis(axis)?, 2),
                std::slice::from_ref(&x),
            );
        }
    }
}
