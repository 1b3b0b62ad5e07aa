//! Matrix products: `matmul` (`a b`), `matmul_t` (`a b^T`), `t_matmul` (`a^T b`), and the
//! fused affine maps `linear` (`x W^T + bias`) and [`addmm`] (`c + op(a) op(b)`), all on
//! 2-D values, through the tensor crate's gemm-backed `matmul` / `matmul_acc`.
//!
//! ## Derivative
//! For `C = op(A) op(B)` with `op` the identity or the transpose, the gradients of the
//! *operands as used* are `d op(A) = dC op(B)^T` and `d op(B) = op(A)^T dC`; transposing
//! back where `op` is a transpose gives the four cases
//!
//! ```text
//!             dA                          dB
//!   A B       dC B^T                      A^T dC
//!   A B^T     dC B                        dC^T A
//!   A^T B     B dC^T                      A dC
//!   A^T B^T   B^T dC^T                    dC^T A^T
//! ```
//!
//! Each is one more gemm call with transpose flags (no transposed copy is made). The first
//! contribution to an operand's gradient is written fresh; later ones accumulate straight
//! into it (`matmul_acc` with `beta = 1`), so a weight used at every step of an unrolled
//! LSTM collects its gradient in one buffer without temporaries.
//! The bias of an affine map gets the column sums of `dC` (the adjoint of broadcasting).

use gumbel_tensor::{Element, Error, Result, Tensor};

use crate::tape::{Grads, NodeId, Var};
use gumbel_tensor::ops as k;

/// `(rows, cols)` of `op(a)`, or an error if `a` is not 2-D.
fn dims<T: Element>(op: &'static str, a: &Tensor<T>, trans: bool) -> Result<(usize, usize)> {
    match *a.shape() {
        [r, c] => Ok(if trans { (c, r) } else { (r, c) }),
        _ => Err(Error::invalid_shape(
            op,
            a.shape(),
            "matmul operands must be 2-D",
        )),
    }
}

/// Adds `dA` and `dB` of `C = op(A) op(B)` into their slots (the table in the module docs).
fn matmul_backward<T: Element>(
    g: &mut Grads<'_, T>,
    dc: &Tensor<T>,
    (ia, a, ta): (NodeId, &Tensor<T>, bool),
    (ib, b, tb): (NodeId, &Tensor<T>, bool),
) -> Result<()> {
    if ta {
        add_product(g, ia, (b, tb), (dc, true))?; // op(B) dC^T
    } else {
        add_product(g, ia, (dc, false), (b, !tb))?; // dC op(B)^T
    }
    if tb {
        add_product(g, ib, (dc, true), (a, ta)) // dC^T op(A)
    } else {
        add_product(g, ib, (a, !ta), (dc, false)) // op(A)^T dC
    }
}

/// `grad(id) += op(x) op(y)`: accumulated in place by gemm (`beta = 1`) if the gradient
/// already holds something, else written fresh (`beta = 0`, so the gemm does not read a
/// zero-filled buffer) and moved in.
fn add_product<T: Element>(
    g: &mut Grads<'_, T>,
    id: NodeId,
    (x, tx): (&Tensor<T>, bool),
    (y, ty): (&Tensor<T>, bool),
) -> Result<()> {
    if !g.wants(id) {
        return Ok(());
    }
    match g.existing(id) {
        Some(acc) => k::matmul_acc(acc, x, tx, y, ty, T::ONE, T::ONE),
        None => g.add(id, k::matmul(x, tx, y, ty)?),
    }
}

/// `c + op(a) op(b)`, one node. `c` is `None`, a full `[m, n]` matrix, or a row `[n]` added
/// to every row (a bias). `op(x)` is `x^T` where the flag is set.
///
/// Derivative: `dc = dC` (or its column sums for a row `c`), and `da`, `db` as in the
/// module docs.
pub fn addmm<'t, T: Element>(
    c: Option<&Var<'t, T>>,
    a: &Var<'t, T>,
    ta: bool,
    b: &Var<'t, T>,
    tb: bool,
) -> Result<Var<'t, T>> {
    let (av, bv) = (a.value()?, b.value()?);
    let (m, ka) = dims("matmul", &av, ta)?;
    let (kb, n) = dims("matmul", &bv, tb)?;
    if ka != kb {
        return Err(Error::shape_mismatch(
            match (ta, tb) {
                (false, false) => "matmul (a b)",
                (false, true) => "matmul (a b^T)",
                (true, false) => "matmul (a^T b)",
                (true, true) => "matmul (a^T b^T)",
            },
            av.shape(),
            bv.shape(),
        ));
    }
    let (ia, ib) = (a.id(), b.id());
    let Some(c) = c else {
        let out = k::matmul(&av, ta, &bv, tb)?;
        return a.push("matmul", out, &[*a, *b], move |_, dy, g| {
            matmul_backward(g, &dy, (ia, &av, ta), (ib, &bv, tb))
        });
    };
    let cv = c.value()?;
    let row_bias = if cv.shape() == [m, n] {
        false
    } else if cv.shape() == [n] {
        true
    } else {
        return Err(Error::shape_mismatch(
            "addmm (bias vs product)",
            cv.shape(),
            &[m, n],
        ));
    };
    // out = c (broadcast), then out += op(a) op(b) in place.
    let mut out = if row_bias {
        let mut o = Vec::with_capacity(m * n);
        for _ in 0..m {
            o.extend_from_slice(cv.as_slice());
        }
        Tensor::new([m, n], o)?
    } else {
        (*cv).clone()
    };
    k::matmul_acc(&mut out, &av, ta, &bv, tb, T::ONE, T::ONE)?;
    let ic = c.id();
    a.push("addmm", out, &[*c, *a, *b], move |_, dy, g| {
        matmul_backward(g, &dy, (ia, &av, ta), (ib, &bv, tb))?;
        if g.wants(ic) {
            g.add(ic, if row_bias { k::sum_rows(&dy) } else { dy })?;
        }
        Ok(())
    })
}

impl<'t, T: Element> Var<'t, T> {
    /// `a b` for 2-D `a: [m, k]`, `b: [k, n]`.
    ///
    /// Derivative: `da = dC b^T`, `db = a^T dC`.
    ///
    /// ```
    /// # use gumbel_autograd::{Tape, tensor::Tensor};
    /// let tape = Tape::<f64>::new();
    /// let a = tape.constant(Tensor::new([1, 2], vec![1.0, 2.0]).unwrap());
    /// let b = tape.constant(Tensor::new([2, 1], vec![3.0, 4.0]).unwrap());
    /// assert_eq!(a.matmul(&b).unwrap().item().unwrap(), 11.0);
    /// ```
    pub fn matmul(&self, b: &Var<'t, T>) -> Result<Var<'t, T>> {
        addmm(None, self, false, b, false)
    }

    /// `a b^T` for `a: [m, k]`, `b: [n, k]` (a weight in PyTorch's `[out, in]` layout).
    pub fn matmul_t(&self, b: &Var<'t, T>) -> Result<Var<'t, T>> {
        addmm(None, self, false, b, true)
    }

    /// `a^T b` for `a: [k, m]`, `b: [k, n]`.
    pub fn t_matmul(&self, b: &Var<'t, T>) -> Result<Var<'t, T>> {
        addmm(None, self, true, b, false)
    }

    /// `x W^T + bias` with `x: [m, in]`, `W: [out, in]` (PyTorch's `nn.Linear` layout) and
    /// `bias: [out]`, as one node.
    pub fn linear(&self, w: &Var<'t, T>, bias: Option<&Var<'t, T>>) -> Result<Var<'t, T>> {
        addmm(bias, self, false, w, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tape;
    use crate::ops::testutil::{check, rand, weighted_sum};

    #[test]
    fn matmul_all_four_transposes_gradcheck() {
        // op(A): [3, 4], op(B): [4, 5]
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            let a = rand(if ta { &[4, 3] } else { &[3, 4] }, 21);
            let b = rand(if tb { &[5, 4] } else { &[4, 5] }, 22);
            check(
                |_, v| weighted_sum(addmm(None, &v[0], ta, &v[1], tb)?, 3),
                &[a, b],
            );
        }
    }

    #[test]
    fn addmm_with_row_and_full_bias_gradcheck() {
        let x = rand(&[3, 4], 23);
        let w = rand(&[5, 4], 24);
        let b = rand(&[5], 25);
        check(
            |_, v| weighted_sum(v[0].linear(&v[1], Some(&v[2]))?, 4),
            &[x.clone(), w.clone(), b],
        );
        let c = rand(&[3, 5], 26);
        check(
            |_, v| weighted_sum(addmm(Some(&v[2]), &v[0], false, &v[1], true)?, 4),
            &[x, w, c],
        );
    }

    #[test]
    fn matmul_fan_out_gram_matrix() {
        // L = sum(W (x x^T)): x used as both operands
        let x = rand(&[3, 2], 27);
        check(|_, v| weighted_sum(v[0].matmul_t(&v[0])?, 5), &[x]);
    }

    #[test]
    fn matmul_values_and_errors() {
        let tape = Tape::<f32>::new();
        let a = tape.leaf(Tensor::new([2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap());
        let b = tape.leaf(Tensor::new([2, 2], vec![5.0, 6.0, 7.0, 8.0]).unwrap());
        assert_eq!(
            a.matmul(&b).unwrap().value().unwrap().as_slice(),
            &[19.0, 22.0, 43.0, 50.0]
        );
        assert_eq!(
            a.matmul_t(&b).unwrap().value().unwrap().as_slice(),
            &[17.0, 23.0, 39.0, 53.0]
        );
        assert_eq!(
            a.t_matmul(&b).unwrap().value().unwrap().as_slice(),
            &[26.0, 30.0, 38.0, 44.0]
        );
        let c = tape.leaf(Tensor::zeros([3, 2]));
        let msg = a.matmul(&c).unwrap_err().to_string();
        assert!(msg.contains("[2, 2]") && msg.contains("[3, 2]"), "{msg}");
        let v = tape.leaf(Tensor::zeros([4]));
        assert!(a.matmul(&v).unwrap_err().to_string().contains("2-D"));
        let bad_bias = tape.leaf(Tensor::zeros([3]));
        let msg = a.linear(&b, Some(&bad_bias)).unwrap_err().to_string();
        assert!(msg.contains("[3]") && msg.contains("[2, 2]"), "{msg}");
    }
}
