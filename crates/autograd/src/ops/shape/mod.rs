//! Shape ops: `reshape`, `concat` and `stack` (several values into one), `slice` (a range
//! along an axis).
//!
//! Derivatives are bookkeeping: `reshape` passes `dy` back under the input's shape;
//! `concat`/`stack` hand each input its block of `dy`; `slice` adds `dy` into its block of
//! a zero gradient. All use the block copy in `kernel.rs`.
//!
//! `pad_axis` (a value placed in a block of zeros along an axis) is the adjoint of `slice`.
//!
//! Every op here also has a Var-level backward (for higher-order gradients), the same
//! bookkeeping as ops: `reshape(dy)`; `concat`: input `k` gets `slice(dy)` of its block;
//! `stack`: `reshape(slice(dy, axis, k, k + 1))`; `slice` and `pad_axis` are each other's.

pub mod kernel;

use gumbel_tensor::{Element, Error, Result, Tensor};

use self::kernel::{AxisBlock, copy_block};
use crate::ops::reduce::split_at_axis;
use crate::tape::Var;

impl<'t, T: Element> Var<'t, T> {
    /// The same elements under a new shape with the same number of elements. Copies the
    /// data (a node owns its value), O(numel).
    ///
    /// Derivative: `dx = reshape(dy, shape of x)`.
    pub fn reshape(&self, shape: impl Into<Vec<usize>>) -> Result<Var<'t, T>> {
        let x = self.value()?;
        let shape = shape.into();
        if shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(x.numel()) {
            return Err(Error::shape_mismatch("reshape", x.shape(), &shape));
        }
        let out = Tensor::new(shape, x.as_slice().to_vec())?;
        let (ix, in_shape) = (self.id(), x.shape().to_vec());
        self.push("reshape", out, &[*self], move |_, dy, g| {
            g.add(ix, dy.reshape(in_shape)?)
        })?
        .with_var_backward(|_, dy, g| g.add(0, dy.reshape(g.input(0)?.shape()?)?))
    }

    /// Concatenates values along `axis`; all other dimensions must agree.
    ///
    /// Derivative: input `k` receives the block of `dy` it filled.
    ///
    /// ```
    /// # use gumbel_autograd::{Tape, Var, tensor::Tensor};
    /// let tape = Tape::<f32>::new();
    /// let a = tape.constant(Tensor::new([2, 1], vec![1.0, 2.0]).unwrap());
    /// let b = tape.constant(Tensor::new([2, 2], vec![3.0, 4.0, 5.0, 6.0]).unwrap());
    /// let c = Var::concat(&[a, b], 1).unwrap();
    /// assert_eq!(c.value().unwrap().as_slice(), &[1.0, 3.0, 4.0, 2.0, 5.0, 6.0]);
    /// ```
    pub fn concat(vars: &[Var<'t, T>], axis: usize) -> Result<Var<'t, T>> {
        let Some(first) = vars.first() else {
            return Err(Error::invalid_argument(
                "concat",
                "needs at least one value",
            ));
        };
        let values = vars.iter().map(|v| v.value()).collect::<Result<Vec<_>>>()?;
        let s0 = values[0].shape().to_vec();
        let (outer, _, inner) = split_at_axis("concat", &s0, axis)?;
        let mut lens = Vec::with_capacity(vars.len());
        for v in &values {
            let s = v.shape();
            if s.len() != s0.len() || s[..axis] != s0[..axis] || s[axis + 1..] != s0[axis + 1..] {
                return Err(Error::shape_mismatch("concat", &s0, s));
            }
            lens.push(s[axis]);
        }
        let total: usize = lens.iter().sum();
        let mut out_shape = s0.clone();
        out_shape[axis] = total;
        let mut out = Tensor::zeros(out_shape);
        let mut off = 0;
        for (v, &len) in values.iter().zip(&lens) {
            let (s, d) = (AxisBlock { n: len, off: 0 }, AxisBlock { n: total, off });
            copy_block(
                v.as_slice(),
                s,
                out.as_mut_slice(),
                d,
                outer,
                len,
                inner,
                false,
            );
            off += len;
        }
        let ids: Vec<_> = vars.iter().map(|v| v.id()).collect();
        first
            .push("concat", out, vars, move |_, dy, g| {
                let mut off = 0;
                for (&id, &len) in ids.iter().zip(&lens) {
                    if let Some(dx) = g.slot(id) {
                        let (s, d) = (AxisBlock { n: total, off }, AxisBlock { n: len, off: 0 });
                        copy_block(
                            dy.as_slice(),
                            s,
                            dx.as_mut_slice(),
                            d,
                            outer,
                            len,
                            inner,
                            true,
                        );
                    }
                    off += len;
                }
                Ok(())
            })?
            .with_var_backward(move |_, dy, g| {
                let mut off = 0;
                for k in 0..g.inputs() {
                    let len = g.input(k)?.shape()?[axis];
                    if g.wants(k) {
                        g.add(k, dy.slice(axis, off, off + len)?)?;
                    }
                    off += len;
                }
                Ok(())
            })
    }

    /// Stacks values of equal shape along a new axis `axis` (`0 ..= rank`).
    ///
    /// Derivative: input `k` receives `dy[.., k, ..]`.
    pub fn stack(vars: &[Var<'t, T>], axis: usize) -> Result<Var<'t, T>> {
        let Some(first) = vars.first() else {
            return Err(Error::invalid_argument("stack", "needs at least one value"));
        };
        let values = vars.iter().map(|v| v.value()).collect::<Result<Vec<_>>>()?;
        let s0 = values[0].shape().to_vec();
        if axis > s0.len() {
            return Err(Error::invalid_argument(
                "stack",
                format!("axis {axis} is out of range for stacking values of shape {s0:?}"),
            ));
        }
        for v in &values {
            if v.shape() != s0 {
                return Err(Error::shape_mismatch("stack", &s0, v.shape()));
            }
        }
        // Stacking along `axis` is concatenating blocks of length 1 along it.
        let outer: usize = s0[..axis].iter().product();
        let inner: usize = s0[axis..].iter().product();
        let m = vars.len();
        let mut out_shape = s0.clone();
        out_shape.insert(axis, m);
        let mut out = Tensor::zeros(out_shape);
        for (k, v) in values.iter().enumerate() {
            let (s, d) = (AxisBlock { n: 1, off: 0 }, AxisBlock { n: m, off: k });
            copy_block(
                v.as_slice(),
                s,
                out.as_mut_slice(),
                d,
                outer,
                1,
                inner,
                false,
            );
        }
        let ids: Vec<_> = vars.iter().map(|v| v.id()).collect();
        first
            .push("stack", out, vars, move |_, dy, g| {
                for (k, &id) in ids.iter().enumerate() {
                    if let Some(dx) = g.slot(id) {
                        let (s, d) = (AxisBlock { n: m, off: k }, AxisBlock { n: 1, off: 0 });
                        copy_block(
                            dy.as_slice(),
                            s,
                            dx.as_mut_slice(),
                            d,
                            outer,
                            1,
                            inner,
                            true,
                        );
                    }
                }
                Ok(())
            })?
            .with_var_backward(move |_, dy, g| {
                for k in 0..g.inputs() {
                    if g.wants(k) {
                        let shape = g.input(k)?.shape()?;
                        g.add(k, dy.slice(axis, k, k + 1)?.reshape(shape)?)?;
                    }
                }
                Ok(())
            })
    }

    /// Indices `start .. end` along `axis` (the axis keeps its place, with length
    /// `end - start`).
    ///
    /// Derivative: `dx` is zero except on the block, where it is `dy`.
    pub fn slice(&self, axis: usize, start: usize, end: usize) -> Result<Var<'t, T>> {
        let x = self.value()?;
        let (outer, n, inner) = split_at_axis("slice", x.shape(), axis)?;
        if start > end || end > n {
            return Err(Error::invalid_argument(
                "slice",
                format!(
                    "range {start}..{end} is out of bounds for axis {axis} of shape {:?}",
                    x.shape()
                ),
            ));
        }
        let len = end - start;
        let mut out_shape = x.shape().to_vec();
        out_shape[axis] = len;
        let mut out = Tensor::zeros(out_shape);
        let (s, d) = (AxisBlock { n, off: start }, AxisBlock { n: len, off: 0 });
        copy_block(
            x.as_slice(),
            s,
            out.as_mut_slice(),
            d,
            outer,
            len,
            inner,
            false,
        );
        let ix = self.id();
        self.push("slice", out, &[*self], move |_, dy, g| {
            if let Some(dx) = g.slot(ix) {
                let (s, d) = (AxisBlock { n: len, off: 0 }, AxisBlock { n, off: start });
                copy_block(
                    dy.as_slice(),
                    s,
                    dx.as_mut_slice(),
                    d,
                    outer,
                    len,
                    inner,
                    true,
                );
            }
            Ok(())
        })?
        .with_var_backward(move |_, dy, g| g.add(0, dy.pad_axis(axis, start, n)?))
    }

    /// The value placed at indices `start .. start + len` of a new length `n` along `axis`,
    /// zeros elsewhere (`len` the value's length along `axis`; PyTorch's `F.pad` along one
    /// axis). The adjoint of [`Var::slice`], and its Var-level backward.
    ///
    /// Derivative: `dx = slice(dy, axis, start, start + len)`.
    ///
    /// ```
    /// # use gumbel_autograd::{Tape, tensor::Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.constant(Tensor::new([1, 2], vec![1.0, 2.0]).unwrap());
    /// let y = x.pad_axis(1, 1, 4).unwrap();
    /// assert_eq!(y.value().unwrap().as_slice(), &[0.0, 1.0, 2.0, 0.0]);
    /// ```
    pub fn pad_axis(&self, axis: usize, start: usize, n: usize) -> Result<Var<'t, T>> {
        let x = self.value()?;
        let (outer, len, inner) = split_at_axis("pad_axis", x.shape(), axis)?;
        if start.checked_add(len).is_none_or(|end| end > n) {
            return Err(Error::invalid_argument(
                "pad_axis",
                format!(
                    "a block of length {len} at {start} does not fit in length {n} along axis \
                     {axis} (shape {:?})",
                    x.shape()
                ),
            ));
        }
        let mut out_shape = x.shape().to_vec();
        out_shape[axis] = n;
        let mut out = Tensor::zeros(out_shape);
        let (s, d) = (AxisBlock { n: len, off: 0 }, AxisBlock { n, off: start });
        copy_block(
            x.as_slice(),
            s,
            out.as_mut_slice(),
            d,
            outer,
            len,
            inner,
            false,
        );
        let ix = self.id();
        self.push("pad_axis", out, &[*self], move |_, dy, g| {
            if let Some(dx) = g.slot(ix) {
                let (s, d) = (AxisBlock { n, off: start }, AxisBlock { n: len, off: 0 });
                copy_block(
                    dy.as_slice(),
                    s,
                    dx.as_mut_slice(),
                    d,
                    outer,
                    len,
                    inner,
                    true,
                );
            }
            Ok(())
        })?
        .with_var_backward(move |_, dy, g| g.add(0, dy.slice(axis, start, start + len)?))
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testutil::{check, check2, rand, weighted_square_sum, weighted_sum};
    use crate::{Tape, Var};
    use gumbel_tensor::Tensor;

    #[test]
    fn reshape_gradcheck() {
        let x = rand(&[2, 6], 41);
        check(|_, v| weighted_sum(v[0].reshape([3, 4])?.tanh()?, 2), &[x]);
    }

    #[test]
    fn reshape_second_order() {
        let x = rand(&[2, 6], 41);
        check2(
            |_, v| weighted_square_sum(v[0].reshape([3, 4])?, 2),
            std::slice::from_ref(&x),
        );
        check2(|_, v| weighted_sum(v[0].reshape([12])?.tanh()?, 2), &[x]);
    }

    #[test]
    fn pad_axis_gradcheck_and_errors() {
        let x = rand(&[2, 3, 2], 47);
        for axis in 0..3 {
            check(
                |_, v| weighted_sum(v[0].pad_axis(axis, 1, 5)?.tanh()?, 3),
                std::slice::from_ref(&x),
            );
        }
        let tape = Tape::<f64>::new();
        let a = tape.leaf(rand(&[2, 3], 48));
        let msg = a.pad_axis(1, 2, 4).unwrap_err().to_string();
        assert!(
            msg.contains("length 3 at 2") && msg.contains("length 4"),
            "{msg}"
        );
        assert!(a.pad_axis(2, 0, 4).is_err());
    }

    #[test]
    fn slice_pad_concat_stack_second_order() {
        let x = rand(&[4, 5], 46);
        for axis in 0..2 {
            check2(
                |_, v| weighted_square_sum(v[0].slice(axis, 1, 3)?, 5),
                std::slice::from_ref(&x),
            );
            check2(
                |_, v| weighted_square_sum(v[0].pad_axis(axis, 2, 7)?, 5),
                std::slice::from_ref(&x),
            );
        }
        check2(
            |_, v| weighted_sum(v[0].slice(1, 0, 3)?.mul(&v[0].slice(1, 2, 5)?)?, 6),
            std::slice::from_ref(&x),
        );
        for axis in 0..3 {
            let mut sa = vec![2, 3, 2];
            let mut sb = sa.clone();
            sa[axis] = 1;
            sb[axis] = 3;
            check2(
                |_, v| weighted_square_sum(Var::concat(&[v[0], v[1], v[0]], axis)?, 3),
                &[rand(&sa, 42), rand(&sb, 43)],
            );
            check2(
                |_, v| weighted_square_sum(Var::stack(&[v[0], v[1], v[0]], axis)?, 4),
                &[rand(&[2, 3], 44), rand(&[2, 3], 45)],
            );
        }
    }

    /// More than four inputs: the node's input list is stored on the heap, not inline.
    #[test]
    fn concat_of_six_values_second_order() {
        let xs: Vec<_> = (0..6)
            .map(|k| rand(&[2, 1 + k % 3], 60 + k as u64))
            .collect();
        check2(
            |_, v| {
                weighted_square_sum(
                    Var::concat(&[v[0], v[1], v[2], v[3], v[4], v[5], v[0]], 1)?,
                    7,
                )
            },
            &xs,
        );
    }

    #[test]
    fn concat_along_each_axis_gradcheck() {
        for axis in 0..3 {
            let mut sa = vec![2, 3, 2];
            let mut sb = sa.clone();
            sa[axis] = 1;
            sb[axis] = 3;
            let (a, b) = (rand(&sa, 42), rand(&sb, 43));
            // the same input twice: fan-out through concat
            check(
                |_, v| weighted_sum(Var::concat(&[v[0], v[1], v[0]], axis)?, 3),
                &[a, b],
            );
        }
    }

    #[test]
    fn stack_along_each_axis_gradcheck() {
        for axis in 0..3 {
            let (a, b) = (rand(&[2, 3], 44), rand(&[2, 3], 45));
            check(
                |_, v| weighted_sum(Var::stack(&[v[0], v[1]], axis)?, 4),
                &[a, b],
            );
        }
    }

    #[test]
    fn slice_gradcheck_and_overlapping_slices_accumulate() {
        let x = rand(&[4, 5], 46);
        for axis in 0..2 {
            check(
                |_, v| weighted_sum(v[0].slice(axis, 1, 3)?, 5),
                std::slice::from_ref(&x),
            );
        }
        // two overlapping slices of the same value
        check(
            |_, v| weighted_sum(v[0].slice(1, 0, 3)?.mul(&v[0].slice(1, 2, 5)?)?, 6),
            &[x],
        );
    }

    #[test]
    fn shape_errors() {
        let tape = Tape::<f32>::new();
        let a = tape.leaf(Tensor::zeros([2, 3]));
        let b = tape.leaf(Tensor::zeros([3, 3]));
        let msg = Var::concat(&[a, b], 1).unwrap_err().to_string();
        assert!(msg.contains("[2, 3]") && msg.contains("[3, 3]"), "{msg}");
        assert_eq!(
            Var::concat(&[a, b], 0).unwrap().shape().unwrap(),
            vec![5, 3]
        );
        assert!(Var::stack(&[a, b], 0).is_err());
        assert!(a.slice(1, 2, 4).unwrap_err().to_string().contains("2..4"));
        assert!(a.reshape([4]).unwrap_err().to_string().contains("reshape"));
        assert!(Var::<f32>::concat(&[], 0).is_err());
    }
}
