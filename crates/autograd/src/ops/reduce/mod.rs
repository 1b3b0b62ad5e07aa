//! Reductions: `sum` and `mean` of all elements, or along one axis; and their adjoint,
//! `broadcast_axis` (copy along a new axis).
//!
//! Derivative: a sum copies `dy` back to every element it summed (`dx[.., j, ..] = dy`);
//! a mean does the same divided by the count. The copy is `broadcast_axis`, and the
//! adjoint of a copy is a sum: the two ops are each other's backward, which is also how
//! their Var-level backwards (for higher-order gradients) are written.

pub mod kernel;

use gumbel_tensor::{Element, Error, Result, Tensor};

use crate::tape::Var;
use gumbel_tensor::ops as k;

/// `(outer, n, inner)`: the shape viewed as `[prod(before), shape[axis], prod(after)]`.
pub(crate) fn split_at_axis(
    op: &'static str,
    shape: &[usize],
    axis: usize,
) -> Result<(usize, usize, usize)> {
    if axis >= shape.len() {
        return Err(Error::invalid_argument(
            op,
            format!("axis {axis} is out of range for shape {shape:?}"),
        ));
    }
    Ok((
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    ))
}

impl<'t, T: Element> Var<'t, T> {
    /// The sum of all elements, a rank-0 value. Derivative: `dx = dy` everywhere.
    pub fn sum(&self) -> Result<Var<'t, T>> {
        let x = self.value()?;
        let (ix, shape) = (self.id(), x.shape().to_vec());
        self.push(
            "sum",
            Tensor::scalar(k::sum_all(&x)),
            &[*self],
            move |_, dy, g| g.add(ix, Tensor::full(shape, dy.item()?)),
        )?
        .with_var_backward(|_, dy, g| {
            let shape = g.input(0)?.shape()?;
            g.add(0, broadcast_all(dy, &shape)?)
        })
    }

    /// The mean of all elements, a rank-0 value. Derivative: `dx = dy / numel` everywhere.
    pub fn mean(&self) -> Result<Var<'t, T>> {
        let x = self.value()?;
        if x.numel() == 0 {
            return Err(Error::invalid_shape(
                "mean",
                x.shape(),
                "the mean of no elements is undefined",
            ));
        }
        let (ix, shape) = (self.id(), x.shape().to_vec());
        let n = T::from_usize(x.numel());
        self.push(
            "mean",
            Tensor::scalar(k::sum_all(&x) / n),
            &[*self],
            move |_, dy, g| g.add(ix, Tensor::full(shape, dy.item()? / n)),
        )?
        .with_var_backward(move |_, dy, g| {
            let shape = g.input(0)?.shape()?;
            g.add(0, broadcast_all(dy, &shape)?.scale(T::ONE / n)?)
        })
    }

    /// Sum along `axis`, which is removed from the shape (PyTorch's `sum(dim)`).
    ///
    /// Derivative: `dx[.., j, ..] = dy[.., ..]` for every `j` along `axis`.
    ///
    /// ```
    /// # use gumbel_autograd::{Tape, tensor::Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.constant(Tensor::new([2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap());
    /// assert_eq!(x.sum_axis(0).unwrap().value().unwrap().as_slice(), &[5.0, 7.0, 9.0]);
    /// assert_eq!(x.sum_axis(1).unwrap().value().unwrap().as_slice(), &[6.0, 15.0]);
    /// ```
    pub fn sum_axis(&self, axis: usize) -> Result<Var<'t, T>> {
        self.reduce_axis("sum_axis", axis, false)
    }

    /// Mean along `axis`, which is removed from the shape.
    ///
    /// Derivative: `dx[.., j, ..] = dy[.., ..] / n` with `n = shape[axis]`.
    pub fn mean_axis(&self, axis: usize) -> Result<Var<'t, T>> {
        self.reduce_axis("mean_axis", axis, true)
    }

    fn reduce_axis(&self, op: &'static str, axis: usize, mean: bool) -> Result<Var<'t, T>> {
        let x = self.value()?;
        let (outer, n, inner) = split_at_axis(op, x.shape(), axis)?;
        if mean && n == 0 {
            return Err(Error::invalid_shape(
                op,
                x.shape(),
                "the mean over an empty axis is undefined",
            ));
        }
        let s = if mean {
            T::ONE / T::from_usize(n)
        } else {
            T::ONE
        };
        let mut out_shape = x.shape().to_vec();
        out_shape.remove(axis);
        let mut out = Tensor::zeros(out_shape);
        kernel::sum_axis(x.as_slice(), outer, n, inner, out.as_mut_slice());
        if mean {
            out.as_mut_slice().iter_mut().for_each(|v| *v *= s);
        }
        let (ix, shape) = (self.id(), x.shape().to_vec());
        self.push(op, out, &[*self], move |_, dy, g| {
            let mut dx = Tensor::zeros(shape);
            kernel::broadcast_axis(dy.as_slice(), outer, n, inner, s, dx.as_mut_slice());
            g.add(ix, dx)
        })?
        .with_var_backward(move |_, dy, g| {
            let b = dy.broadcast_axis(axis, n)?;
            g.add(0, if mean { b.scale(s)? } else { b })
        })
    }

    /// Copies the value `n` times along a new axis `axis` (`0 ..= rank`), which is inserted
    /// into the shape: `y[.., j, ..] = x[.., ..]` for `j < n` (PyTorch's
    /// `x.unsqueeze(axis).expand(..)`, materialised). The adjoint of [`Var::sum_axis`];
    /// softmax's Var-level backward uses it to spread a row sum over the row's columns.
    ///
    /// Derivative: `dx = sum_axis(dy, axis)`.
    ///
    /// ```
    /// # use gumbel_autograd::{Tape, tensor::Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.constant(Tensor::new([2], vec![1.0, 2.0]).unwrap());
    /// let y = x.broadcast_axis(1, 3).unwrap(); // [2, 3]: each entry copied along columns
    /// assert_eq!(y.value().unwrap().as_slice(), &[1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
    /// ```
    pub fn broadcast_axis(&self, axis: usize, n: usize) -> Result<Var<'t, T>> {
        const OP: &str = "broadcast_axis";
        let x = self.value()?;
        if axis > x.rank() {
            return Err(Error::invalid_argument(
                OP,
                format!(
                    "axis {axis} is out of range for inserting into shape {:?}",
                    x.shape()
                ),
            ));
        }
        let outer: usize = x.shape()[..axis].iter().product();
        let inner: usize = x.shape()[axis..].iter().product();
        let mut out_shape = x.shape().to_vec();
        out_shape.insert(axis, n);
        let mut out = Tensor::zeros(out_shape);
        kernel::broadcast_axis(x.as_slice(), outer, n, inner, T::ONE, out.as_mut_slice());
        let (ix, shape) = (self.id(), x.shape().to_vec());
        self.push(OP, out, &[*self], move |_, dy, g| {
            let mut dx = Tensor::zeros(shape);
            kernel::sum_axis(dy.as_slice(), outer, n, inner, dx.as_mut_slice());
            g.add(ix, dx)
        })?
        .with_var_backward(move |_, dy, g| g.add(0, dy.sum_axis(axis)?))
    }
}

/// A one-element `dy` copied to `shape` as ops (`broadcast_axis` then `reshape`): the
/// Var-level backward of `sum` and `mean`.
fn broadcast_all<'t, T: Element>(dy: Var<'t, T>, shape: &[usize]) -> Result<Var<'t, T>> {
    let n: usize = shape.iter().product();
    dy.reshape(Vec::<usize>::new())?
        .broadcast_axis(0, n)?
        .reshape(shape.to_vec())
}

#[cfg(test)]
mod tests {
    use crate::Tape;
    use crate::ops::testutil::{check, check2, rand, weighted_square_sum, weighted_sum};
    use gumbel_tensor::Tensor;

    #[test]
    fn sum_and_mean_all_gradcheck() {
        let x = rand(&[3, 4], 31);
        check(|_, v| v[0].sum(), std::slice::from_ref(&x));
        check(|_, v| v[0].mean(), std::slice::from_ref(&x));
        // a non-trivial function of the mean, so the 1/n factor is tested
        check(|_, v| v[0].mean()?.exp()?.sum(), &[x]);
    }

    #[test]
    fn sum_and_mean_along_every_axis_gradcheck() {
        let x = rand(&[2, 3, 4], 32);
        for axis in 0..3 {
            check(
                |_, v| weighted_sum(v[0].sum_axis(axis)?, 7),
                std::slice::from_ref(&x),
            );
            check(
                |_, v| weighted_sum(v[0].mean_axis(axis)?, 7),
                std::slice::from_ref(&x),
            );
        }
    }

    #[test]
    fn broadcast_axis_gradcheck_and_values() {
        let x = rand(&[2, 3], 33);
        for axis in 0..3 {
            check(
                |_, v| weighted_sum(v[0].broadcast_axis(axis, 4)?.tanh()?, 8),
                std::slice::from_ref(&x),
            );
        }
        // rank 0 and n = 0
        check(
            |_, v| weighted_sum(v[0].broadcast_axis(0, 3)?, 2),
            &[rand(&[], 34)],
        );
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::new([2], vec![1.0, 2.0]).unwrap());
        let y = x.broadcast_axis(0, 2).unwrap();
        assert_eq!(y.value().unwrap().as_slice(), &[1.0, 2.0, 1.0, 2.0]);
        assert_eq!(x.broadcast_axis(1, 0).unwrap().shape().unwrap(), vec![2, 0]);
        let msg = x.broadcast_axis(2, 3).unwrap_err().to_string();
        assert!(msg.contains("axis 2") && msg.contains("[2]"), "{msg}");
    }

    #[test]
    fn reductions_second_order() {
        let x = rand(&[3, 4], 31);
        let xs = std::slice::from_ref(&x);
        check2(|_, v| weighted_square_sum(v[0].sum()?, 1), xs);
        check2(|_, v| v[0].mean()?.exp()?.sum(), xs);
        check2(|_, v| weighted_square_sum(v[0].mean()?, 1), xs);
        let x3 = rand(&[2, 3, 4], 32);
        for axis in 0..3 {
            let xs = std::slice::from_ref(&x3);
            check2(|_, v| weighted_square_sum(v[0].sum_axis(axis)?, 7), xs);
            check2(|_, v| weighted_square_sum(v[0].mean_axis(axis)?, 7), xs);
            check2(
                |_, v| weighted_square_sum(v[0].broadcast_axis(axis, 2)?, 7),
                xs,
            );
        }
    }

    #[test]
    fn axis_out_of_range_is_an_error() {
        let tape = Tape::<f32>::new();
        let x = tape.leaf(Tensor::zeros([2, 3]));
        let msg = x.sum_axis(2).unwrap_err().to_string();
        assert!(msg.contains("axis 2") && msg.contains("[2, 3]"), "{msg}");
        assert_eq!(x.mean_axis(1).unwrap().shape().unwrap(), vec![2]);
    }
}
