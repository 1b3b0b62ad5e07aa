//! Arithmetic: `add`, `sub`, `mul`, `div` with broadcasting of the right operand, and
//! `neg`, `scale`, `add_scalar`.
//!
//! Broadcasting (the tensor kernels' rule): the right operand `b` has the shape of `a`, or
//! shape `[a.cols()]` (one row, applied to every row of `a`: a bias), or one element.
//! Backward sums the gradient back down to `b`'s shape: broadcasting copies `b`, and the
//! adjoint of a copy is a sum (`unbroadcast`).
//!
//! Every op here also has a Var-level backward (for [`Tape::grad`](crate::Tape::grad) with
//! [`CreateGraph::Yes`](crate::CreateGraph::Yes)): the same formulas on `Var`s, with the
//! unbroadcast written as ops (`unbroadcast_var`: `sum_axis(0)` of the `[rows, cols]` view
//! for a row, `sum` for a scalar). Products keep their operands as `Var`s, so `d(da)/db`
//! flows: `mul`'s `da = dy * b` is bilinear in `(dy, b)`.

use gumbel_tensor::{Element, Error, Result, Tensor};

use crate::tape::{Var, VarGrads};
use gumbel_tensor::ops as k;

/// How the right operand lines up with the left one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Broadcast {
    Same,
    Row,
    Scalar,
}

pub(crate) fn broadcast<T: Element>(
    op: &'static str,
    a: &Tensor<T>,
    b: &Tensor<T>,
) -> Result<Broadcast> {
    if a.shape() == b.shape() {
        Ok(Broadcast::Same)
    } else if b.rank() == 1 && b.shape()[0] == a.cols() {
        Ok(Broadcast::Row)
    } else if b.numel() == 1 {
        Ok(Broadcast::Scalar)
    } else {
        Err(Error::shape_mismatch(op, a.shape(), b.shape()))
    }
}

/// The adjoint of broadcasting `b` (of shape `b_shape`) up to `g`'s shape: `g` itself, its
/// column sums (`Row`), or its total (`Scalar`).
pub(crate) fn unbroadcast<T: Element>(
    g: Tensor<T>,
    mode: Broadcast,
    b_shape: &[usize],
) -> Tensor<T> {
    match mode {
        Broadcast::Same => g,
        Broadcast::Row => k::sum_rows(&g),
        Broadcast::Scalar => Tensor::full(b_shape, k::sum_all(&g)),
    }
}

/// [`unbroadcast`] as ops on `Var`s (so it is differentiable): `g` itself (`Same`), the
/// column sums of its `[rows, cols]` view (`Row`: `reshape` then `sum_axis(0)`), or its
/// total under `b`'s shape (`Scalar`: `sum` then `reshape`).
pub(crate) fn unbroadcast_var<'t, T: Element>(
    g: Var<'t, T>,
    mode: Broadcast,
    b: Var<'t, T>,
) -> Result<Var<'t, T>> {
    match mode {
        Broadcast::Same => Ok(g),
        Broadcast::Row => {
            let s = g.shape()?;
            let cols = s.last().copied().unwrap_or(1);
            let g2 = if s.len() == 2 {
                g
            } else {
                g.reshape([s.iter().product::<usize>() / cols.max(1), cols])?
            };
            g2.sum_axis(0)
        }
        Broadcast::Scalar => g.sum()?.reshape(b.shape()?),
    }
}

/// The broadcast mode of a binary op's inputs, read again from their values (so that the
/// Var-level closures capture nothing and cost no allocation when recorded).
fn mode_of<T: Element>(op: &'static str, g: &VarGrads<'_, T>) -> Result<Broadcast> {
    broadcast(op, &*g.input(0)?.value()?, &*g.input(1)?.value()?)
}

/// Adds `sign * unbroadcast(g)` to the right operand (input 1) and `g` to the left one:
/// the Var-level backward of `add` (`sign = +1`) and `sub` (`-1`).
fn add_sub_var_backward<'t, T: Element>(
    dy: Var<'t, T>,
    g: &mut VarGrads<'t, T>,
    negate: bool,
) -> Result<()> {
    if g.wants(1) {
        let mode = mode_of(if negate { "sub" } else { "add" }, g)?;
        let db = unbroadcast_var(dy, mode, g.input(1)?)?;
        g.add(1, if negate { db.neg()? } else { db })?;
    }
    g.add(0, dy)
}

impl<'t, T: Element> Var<'t, T> {
    /// `a + b`, broadcasting `b` (see the module docs).
    ///
    /// Derivative: `da = dy`, `db = unbroadcast(dy)`.
    ///
    /// ```
    /// # use gumbel_autograd::{Tape, tensor::Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.constant(Tensor::new([2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap());
    /// let b = tape.constant(Tensor::new([2], vec![10.0, 20.0]).unwrap());
    /// assert_eq!(x.add(&b).unwrap().value().unwrap().as_slice(), &[11.0, 22.0, 13.0, 24.0]);
    /// ```
    pub fn add(&self, b: &Var<'t, T>) -> Result<Var<'t, T>> {
        let (av, bv) = (self.value()?, b.value()?);
        let mode = broadcast("add", &av, &bv)?;
        let out = k::add(&av, &bv)?;
        let (ia, ib) = (self.id(), b.id());
        let b_shape = bv.shape().to_vec();
        self.push("add", out, &[*self, *b], move |_, dy, g| {
            if g.wants(ib) {
                g.add(ib, unbroadcast(dy.clone(), mode, &b_shape))?;
            }
            g.add(ia, dy)
        })?
        .with_var_backward(|_, dy, g| add_sub_var_backward(dy, g, false))
    }

    /// `a - b`, broadcasting `b`.
    ///
    /// Derivative: `da = dy`, `db = -unbroadcast(dy)`.
    pub fn sub(&self, b: &Var<'t, T>) -> Result<Var<'t, T>> {
        let (av, bv) = (self.value()?, b.value()?);
        let mode = broadcast("sub", &av, &bv)?;
        let out = k::sub(&av, &bv)?;
        let (ia, ib) = (self.id(), b.id());
        let b_shape = bv.shape().to_vec();
        self.push("sub", out, &[*self, *b], move |_, dy, g| {
            if g.wants(ib) {
                g.add(ib, k::neg(&unbroadcast(dy.clone(), mode, &b_shape)))?;
            }
            g.add(ia, dy)
        })?
        .with_var_backward(|_, dy, g| add_sub_var_backward(dy, g, true))
    }

    /// `a * b` elementwise, broadcasting `b`.
    ///
    /// Derivative: `da = dy * b`, `db = unbroadcast(dy * a)`.
    pub fn mul(&self, b: &Var<'t, T>) -> Result<Var<'t, T>> {
        let (av, bv) = (self.value()?, b.value()?);
        let mode = broadcast("mul", &av, &bv)?;
        let out = k::mul(&av, &bv)?;
        let (ia, ib) = (self.id(), b.id());
        self.push("mul", out, &[*self, *b], move |_, dy, g| {
            if g.wants(ib) {
                g.add(ib, unbroadcast(k::mul(&dy, &av)?, mode, bv.shape()))?;
            }
            if g.wants(ia) {
                g.add(ia, k::mul(&dy, &bv)?)?;
            }
            Ok(())
        })?
        .with_var_backward(|_, dy, g| {
            let (a, b) = (g.input(0)?, g.input(1)?);
            if g.wants(1) {
                let mode = mode_of("mul", g)?;
                g.add(1, unbroadcast_var(dy.mul(&a)?, mode, b)?)?;
            }
            if g.wants(0) {
                g.add(0, dy.mul(&b)?)?;
            }
            Ok(())
        })
    }

    /// `a / b` elementwise, broadcasting `b` (IEEE: `x / 0` is `+-inf`).
    ///
    /// Derivative: with `y = a / b`, `da = dy / b` and `db = unbroadcast(-dy * a / b^2)
    /// = -unbroadcast(dy * y / b)`.
    pub fn div(&self, b: &Var<'t, T>) -> Result<Var<'t, T>> {
        let (av, bv) = (self.value()?, b.value()?);
        let mode = broadcast("div", &av, &bv)?;
        let out = k::div(&av, &bv)?;
        let (ia, ib) = (self.id(), b.id());
        self.push("div", out, &[*self, *b], move |y, dy, g| {
            if g.wants(ib) {
                let t = k::div(&k::mul(&dy, y)?, &bv)?;
                g.add(ib, k::neg(&unbroadcast(t, mode, bv.shape())))?;
            }
            if g.wants(ia) {
                g.add(ia, k::div(&dy, &bv)?)?;
            }
            Ok(())
        })?
        .with_var_backward(|y, dy, g| {
            let b = g.input(1)?;
            if g.wants(1) {
                let mode = mode_of("div", g)?;
                let t = dy.mul(&y)?.div(&b)?;
                g.add(1, unbroadcast_var(t, mode, b)?.neg()?)?;
            }
            if g.wants(0) {
                g.add(0, dy.div(&b)?)?;
            }
            Ok(())
        })
    }

    /// `-a`. Derivative: `da = -dy`.
    pub fn neg(&self) -> Result<Var<'t, T>> {
        let ia = self.id();
        let x = self.value()?;
        self.push("neg", k::neg(&x), &[*self], move |_, dy, g| {
            g.add(ia, k::neg(&dy))
        })?
        .with_var_backward(|_, dy, g| g.add(0, dy.neg()?))
    }

    /// `s * a` for a constant `s`. Derivative: `da = s * dy`.
    pub fn scale(&self, s: T) -> Result<Var<'t, T>> {
        let ia = self.id();
        let x = self.value()?;
        self.push("scale", k::scale(&x, s), &[*self], move |_, dy, g| {
            g.add(ia, k::scale(&dy, s))
        })?
        .with_var_backward(move |_, dy, g| g.add(0, dy.scale(s)?))
    }

    /// `a + s` for a constant `s`. Derivative: `da = dy`.
    pub fn add_scalar(&self, s: T) -> Result<Var<'t, T>> {
        let ia = self.id();
        let x = self.value()?;
        self.push(
            "add_scalar",
            k::add_scalar(&x, s),
            &[*self],
            move |_, dy, g| g.add(ia, dy),
        )?
        .with_var_backward(|_, dy, g| g.add(0, dy))
    }
}

#[cfg(test)]
mod tests {
    use crate::Tape;
    use crate::ops::testutil::{check, check2, rand, rand_in, weighted_square_sum, weighted_sum};
    use gumbel_tensor::Tensor;

    /// The three broadcast modes of the right operand, on [3, 4]: same shape, row [4],
    /// scalar [1] (and rank-0).
    fn rhs_shapes() -> [Vec<usize>; 4] {
        [vec![3, 4], vec![4], vec![1], vec![]]
    }

    #[test]
    fn add_sub_mul_gradcheck_with_broadcasting() {
        for (s, bshape) in rhs_shapes().iter().enumerate() {
            let a = rand(&[3, 4], 1);
            let b = rand(bshape, 2 + s as u64);
            check(
                |_, v| weighted_sum(v[0].add(&v[1])?, 9),
                &[a.clone(), b.clone()],
            );
            check(
                |_, v| weighted_sum(v[0].sub(&v[1])?, 9),
                &[a.clone(), b.clone()],
            );
            check(
                |_, v| weighted_sum(v[0].mul(&v[1])?, 9),
                &[a.clone(), b.clone()],
            );
        }
    }

    #[test]
    fn div_gradcheck_with_broadcasting() {
        for (s, bshape) in rhs_shapes().iter().enumerate() {
            let a = rand(&[3, 4], 3);
            // denominators in [0.5, 2): away from 0, where 1/b explodes
            let b = rand_in(bshape, 4 + s as u64, 0.5, 2.0);
            check(|_, v| weighted_sum(v[0].div(&v[1])?, 9), &[a, b]);
        }
    }

    #[test]
    fn unary_arith_gradcheck() {
        let a = rand(&[2, 5], 5);
        check(
            |_, v| weighted_sum(v[0].neg()?, 3),
            std::slice::from_ref(&a),
        );
        check(
            |_, v| weighted_sum(v[0].scale(-2.5)?, 3),
            std::slice::from_ref(&a),
        );
        check(
            |_, v| weighted_sum(v[0].add_scalar(0.75)?, 3),
            std::slice::from_ref(&a),
        );
    }

    /// Second order (Var-level backwards), every broadcast mode: `sum(w * op(a, b)^2)` has
    /// a non-zero Hessian even for the linear ops, and the incoming gradient `2 w op(a, b)`
    /// makes the unbroadcast of a non-constant `dy` part of what is differentiated.
    #[test]
    fn binary_arith_second_order_with_broadcasting() {
        for (s, bshape) in rhs_shapes().iter().enumerate() {
            let a = rand(&[3, 4], 1);
            let b = rand(bshape, 2 + s as u64);
            let d = rand_in(bshape, 4 + s as u64, 0.5, 2.0);
            check2(
                |_, v| weighted_square_sum(v[0].add(&v[1])?, 9),
                &[a.clone(), b.clone()],
            );
            check2(
                |_, v| weighted_square_sum(v[0].sub(&v[1])?, 9),
                &[a.clone(), b.clone()],
            );
            check2(
                |_, v| weighted_sum(v[0].mul(&v[1])?, 9),
                &[a.clone(), b.clone()],
            );
            check2(
                |_, v| weighted_square_sum(v[0].mul(&v[1])?, 9),
                &[a.clone(), b.clone()],
            );
            check2(
                |_, v| weighted_sum(v[0].div(&v[1])?, 9),
                &[a.clone(), d.clone()],
            );
        }
        // a 3-D left operand: the row unbroadcast sums over both leading axes
        let a = rand(&[2, 3, 4], 7);
        let b = rand(&[4], 8);
        check2(|_, v| weighted_square_sum(v[0].mul(&v[1])?, 9), &[a, b]);
    }

    #[test]
    fn unary_arith_second_order() {
        let a = rand(&[2, 5], 5);
        let xs = std::slice::from_ref(&a);
        check2(|_, v| weighted_square_sum(v[0].neg()?, 3), xs);
        check2(|_, v| weighted_square_sum(v[0].scale(-2.5)?, 3), xs);
        check2(|_, v| weighted_square_sum(v[0].add_scalar(0.75)?, 3), xs);
    }

    #[test]
    fn fan_out_same_var_on_both_sides() {
        // L = sum(x * x + x / x + x - x): dL/dx = 2x + 0 + 0
        let x = rand_in(&[4], 6, 0.5, 1.5);
        check(
            |_, v| {
                let x = v[0];
                x.mul(&x)?.add(&x.div(&x)?)?.add(&x.sub(&x)?)?.sum()
            },
            std::slice::from_ref(&x),
        );
        let tape = Tape::new();
        let xv = tape.leaf(x.clone());
        let l = xv.mul(&xv).unwrap().sum().unwrap();
        let grads = tape.backward(l).unwrap();
        let want: Vec<f64> = x.as_slice().iter().map(|v| 2.0 * v).collect();
        assert_eq!(grads.get(xv).unwrap().as_slice(), &want[..]);
    }

    #[test]
    fn shape_errors_name_the_op_and_both_shapes() {
        let tape = Tape::<f32>::new();
        let a = tape.leaf(Tensor::zeros([2, 3]));
        let b = tape.leaf(Tensor::zeros([2]));
        for (name, r) in [
            ("add", a.add(&b)),
            ("sub", a.sub(&b)),
            ("mul", a.mul(&b)),
            ("div", a.div(&b)),
        ] {
            let msg = r.unwrap_err().to_string();
            assert!(
                msg.starts_with(name) && msg.contains("[2, 3]") && msg.contains("[2]"),
                "{msg}"
            );
        }
    }
}
