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
//! In the forward pass the bias is either broadcast into the output, onto which gemm then
//! accumulates the product, or, when the output is much larger than the operands (the
//! generator's logits), carried through the product as one more inner index,
//! `[op(A) | 1] [op(B) ; bias]` (the private `bias_rides_in_product` decides which). gemm adds that last term to the
//! sum of the others with one rounding, as the accumulation onto the broadcast bias does:
//! on the GAN's shapes the two give the same bits, and the second skips a write and a read
//! of the whole output (docs/performance.md, "Figures behind the code", has the MLE step's
//! time with each).
//!
//! ## Var-level backward (higher-order gradients)
//! The same table with the products as `matmul` nodes on `Var`s ([`addmm`] with transpose
//! flags, so still no transposed copy), and the bias gradient as `sum_axis(0)`. A product is
//! bilinear, so its second derivative is a product again: `d(dA)/dB` flows through the
//! `dC op(B)^T` node.

use std::sync::Arc;

use gumbel_tensor::{Element, Error, Result, Tensor, parallel};

use crate::tape::{Grads, NodeId, Var, VarGrads};
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
pub(crate) fn matmul_backward<T: Element>(
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

/// The Var-level backward of `C = op(A) op(B)`, with `A`, `B` inputs `ka`, `kb` of the node:
/// the table of the module docs as recorded products (differentiable again).
fn matmul_var_backward<'t, T: Element>(
    g: &mut VarGrads<'t, T>,
    dc: Var<'t, T>,
    (ka, ta): (usize, bool),
    (kb, tb): (usize, bool),
) -> Result<()> {
    let (a, b) = (g.input(ka)?, g.input(kb)?);
    if g.wants(ka) {
        let da = if ta {
            addmm(None, &b, tb, &dc, true)? // op(B) dC^T
        } else {
            addmm(None, &dc, false, &b, !tb)? // dC op(B)^T
        };
        g.add(ka, da)?;
    }
    if g.wants(kb) {
        let db = if tb {
            addmm(None, &dc, true, &a, ta)? // dC^T op(A)
        } else {
            addmm(None, &a, !ta, &dc, false)? // op(A)^T dC
        };
        g.add(kb, db)?;
    }
    Ok(())
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

/// Whether `op(a) op(b) + bias` (`[m, k] x [k, n]`, a row bias) is computed as one product
/// with the inner dimension extended by one, `[op(a) | 1] [op(b) ; bias]`, instead of
/// broadcasting the bias into the output and accumulating the product onto it: when copying
/// both operands (`(m + n) (k + 1)` elements) costs less than the broadcast, which writes the
/// `m n` output once more and makes gemm read it back. For the generator's logits
/// (`[64, 32] x [32, 5000]`, or `[1280, 32]` in the MLE step) that saves a pass over the
/// largest tensor of the step; small outputs keep the broadcast.
fn bias_rides_in_product(m: usize, k: usize, n: usize) -> bool {
    (m + n).saturating_mul(k + 1) <= m.saturating_mul(n)
}

/// The stored `a` of `op(a) = [m, k]` extended to `[op(a) | 1]` (`[m, k + 1]`, or a row of
/// ones appended to the stored `[k, m]` when transposed).
fn with_ones<T: Element>(a: &Tensor<T>, trans: bool) -> Result<Tensor<T>> {
    let (r, c) = (a.shape()[0], a.shape()[1]);
    if trans {
        let mut d = Vec::with_capacity((r + 1) * c);
        d.extend_from_slice(a.as_slice());
        d.resize((r + 1) * c, T::ONE);
        return Tensor::new([r + 1, c], d);
    }
    let mut d = Vec::with_capacity(r * (c + 1));
    for row in a.as_slice().chunks_exact(c.max(1)).take(r) {
        d.extend_from_slice(row);
        d.push(T::ONE);
    }
    d.resize(r * (c + 1), T::ONE); // c = 0: rows of a single one
    Tensor::new([r, c + 1], d)
}

/// The stored `b` of `op(b) = [k, n]` extended to `[op(b) ; bias]` (`[k + 1, n]`: the bias
/// appended as a row, or as a column of the stored `[n, k]` when transposed).
fn with_bias<T: Element>(b: &Tensor<T>, trans: bool, bias: &Tensor<T>) -> Result<Tensor<T>> {
    let (r, c) = (b.shape()[0], b.shape()[1]);
    if !trans {
        let mut d = Vec::with_capacity((r + 1) * c);
        d.extend_from_slice(b.as_slice());
        d.extend_from_slice(bias.as_slice());
        return Tensor::new([r + 1, c], d);
    }
    // Rows in parallel (the generator's [5000, 33] is copied at every time step).
    let (bs, biases) = (b.as_slice(), bias.as_slice());
    let mut d = Vec::with_capacity(r * (c + 1));
    parallel::for_each_row_mut(
        &mut d.spare_capacity_mut()[..r * (c + 1)],
        c + 1,
        |j, row| {
            for (o, &v) in row.iter_mut().zip(&bs[j * c..(j + 1) * c]) {
                o.write(v);
            }
            row[c].write(biases[j]);
        },
    );
    // SAFETY: every row (all r * (c + 1) elements) was written above.
    unsafe { d.set_len(r * (c + 1)) };
    Tensor::new([r, c + 1], d)
}

/// The value `c + op(a) op(b)` for shapes already checked (`op(a): [m, k]`, `op(b): [k, n]`,
/// `c: [m, n]`, or `[n]` added to every row when `row_bias`), without a tape: a linear
/// layer's output `x W^T + b` is `plus_product(b, true, (x, false), (W, true))`, the value
/// [`Var::linear`] computes.
pub fn plus_product<T: Element>(
    c: &Tensor<T>,
    row_bias: bool,
    (a, ta): (&Tensor<T>, bool),
    (b, tb): (&Tensor<T>, bool),
) -> Result<Tensor<T>> {
    let (m, inner) = dims("matmul", a, ta)?;
    let n = c.cols();
    if row_bias && bias_rides_in_product(m, inner, n) {
        // out = [op(a) | 1] [op(b) ; c]: the bias is one more term of the inner dimension.
        let (aa, ba) = (with_ones(a, ta)?, with_bias(b, tb, c)?);
        return k::matmul(&aa, ta, &ba, tb);
    }
    // out = c (broadcast), then out += op(a) op(b) in place.
    let mut out = if row_bias {
        let mut o = Vec::with_capacity(m * n);
        for _ in 0..m {
            o.extend_from_slice(c.as_slice());
        }
        Tensor::new([m, n], o)?
    } else {
        c.clone()
    };
    k::matmul_acc(&mut out, a, ta, b, tb, T::ONE, T::ONE)?;
    Ok(out)
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
        return a
            .push("matmul", out, &[*a, *b], move |_, dy, g| {
                matmul_backward(g, &dy, (ia, &av, ta), (ib, &bv, tb))
            })?
            .with_var_backward(move |_, dy, g| matmul_var_backward(g, dy, (0, ta), (1, tb)));
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
    let out = plus_product(&cv, row_bias, (&av, ta), (&bv, tb))?;
    let ic = c.id();
    a.push("addmm", out, &[*c, *a, *b], move |_, dy, g| {
        matmul_backward(g, &dy, (ia, &av, ta), (ib, &bv, tb))?;
        if g.wants(ic) {
            g.add(ic, if row_bias { k::sum_rows(&dy) } else { dy })?;
        }
        Ok(())
    })?
    .with_var_backward(move |_, dy, g| {
        matmul_var_backward(g, dy, (1, ta), (2, tb))?;
        if g.wants(0) {
            g.add(0, if row_bias { dy.sum_axis(0)? } else { dy })?;
        }
        Ok(())
    })
}

/// A weight `W: [out, in]` (PyTorch's `nn.Linear` layout) and an optional bias `[out]`,
/// prepared for many products `x W^T + bias` with a short `x` (the generator's logits
/// `[64, 32] x [32, 5000]` at each of 20 time steps): the transposed copy
/// `[W^T ; bias]` (`[in + 1, out]`, or `W^T` `[in, out]` without a bias) is made once, and
/// each [`PreparedLinear::apply`] is the product `[x | 1] [W^T ; bias]` on it.
///
/// The value and the gradients are those of [`Var::linear`]: the same sums (`in`
/// products, then the bias as the last term), bitwise the same where gemm runs its blocked
/// kernels (tested on `[64, 32] x [32, 600]`; the GAN's fingerprint is unchanged), within
/// rounding on tiny products, where gemm takes another path. What changes is the layout gemm
/// reads: for a short `x`, gemm computes the output's transpose and packs the long
/// operand for its micro-kernel at every call when it is stored `[out, in + 1]`, but reads
/// the stored `[in + 1, out]` as it is (its columns are contiguous), so each product skips
/// that packing (faster on the generator's shape, docs/performance.md), and the
/// `[out, in + 1]` copy [`Var::linear`] makes at every call is gone.
pub struct PreparedLinear<'t, T: Element> {
    w: Var<'t, T>,
    bias: Option<Var<'t, T>>,
    /// `[W^T ; bias]` (`[in + 1, out]`) or `W^T` (`[in, out]`).
    wt: Arc<Tensor<T>>,
}

impl<'t, T: Element> PreparedLinear<'t, T> {
    /// Prepares `x W^T + bias` for `W: [out, in]` and `bias: [out]`; `Err` if `W` is not
    /// 2-D or the bias is not `[out]`.
    pub fn new(w: &Var<'t, T>, bias: Option<&Var<'t, T>>) -> Result<Self> {
        let wv = w.value()?;
        let (out, inp) = dims("PreparedLinear", &wv, false)?;
        let bv = bias.map(|b| b.value()).transpose()?;
        if let Some(b) = &bv
            && b.shape() != [out]
        {
            return Err(Error::shape_mismatch(
                "PreparedLinear (bias vs weight)",
                b.shape(),
                wv.shape(),
            ));
        }
        // W^T, and the bias as row `in`.
        let rows = inp + usize::from(bv.is_some());
        let mut d = transposed(&wv).into_vec();
        if let Some(b) = &bv {
            d.extend_from_slice(b.as_slice());
        }
        Ok(PreparedLinear {
            w: *w,
            bias: bias.copied(),
            wt: Arc::new(Tensor::new([rows, out], d)?),
        })
    }

    /// `x W^T + bias` for `x: [m, in]`, one node.
    ///
    /// Derivative (as [`Var::linear`]): `dx = dy W`, `dW = dy^T x`, `dbias` = the column
    /// sums of `dy`.
    pub fn apply(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        let (xv, wv) = (x.value()?, self.w.value()?);
        let (_, kx) = dims("PreparedLinear::apply", &xv, false)?;
        let inp = wv.shape()[1];
        if kx != inp {
            return Err(Error::shape_mismatch(
                "PreparedLinear::apply (x W^T)",
                xv.shape(),
                wv.shape(),
            ));
        }
        let out = match self.bias {
            Some(_) => k::matmul(&with_ones(&xv, false)?, false, &self.wt, false)?,
            None => k::matmul(&xv, false, &self.wt, false)?,
        };
        let (ix, iw) = (x.id(), self.w.id());
        let mut inputs = vec![*x, self.w];
        inputs.extend(self.bias);
        let ib = self.bias.map(|b| b.id());
        x.push("linear", out, &inputs, move |_, dy, g| {
            matmul_backward(g, &dy, (ix, &xv, false), (iw, &wv, true))?;
            if let Some(ib) = ib
                && g.wants(ib)
            {
                g.add(ib, k::sum_rows(&dy))?;
            }
            Ok(())
        })?
        .with_var_backward(|_, dy, g| {
            matmul_var_backward(g, dy, (0, false), (1, true))?;
            if g.wants(2) {
                g.add(2, dy.sum_axis(0)?)?;
            }
            Ok(())
        })
    }
}

/// A right operand `W: [k, n]` with a long first dimension (a soft embedding table
/// `[vocab, dim]`), prepared for many products `a W` with short `a: [m, k]` (the GAN's
/// `[64, 5000] @ [5000, 64]` at each of 20 time steps). The forward product reads `W` as
/// stored; the gradient `da = dC W^T` (`[m, n] x [n, k]`, a short-and-wide output) reads
/// a transposed copy `W^T: [n, k]`, made once on the tape at the first backward call that
/// needs it and shared by all of them.
///
/// The value and the gradients are those of [`Var::matmul`] (bitwise where gemm runs its
/// blocked kernels, tested on `[64, 500] x [500, 64]`; within rounding on tiny products).
/// Why the copy: gemm computes that product's transpose and packs `W` for its
/// micro-kernel at every call, but reads `[n, k]` as it is. The copy is made once per tape
/// and costs less than the packing it saves over the 20 time steps (docs/performance.md,
/// "Figures behind the code", has the measurements).
pub struct PreparedRight<'t, T: Element> {
    w: Var<'t, T>,
    wt: Arc<std::sync::OnceLock<Tensor<T>>>,
}

impl<'t, T: Element> PreparedRight<'t, T> {
    /// Prepares products `a W` with `W: [k, n]`; `Err` if `W` is not 2-D.
    pub fn new(w: &Var<'t, T>) -> Result<Self> {
        dims("PreparedRight", &*w.value()?, false)?;
        Ok(PreparedRight {
            w: *w,
            wt: Arc::new(std::sync::OnceLock::new()),
        })
    }

    /// `a W` for `a: [m, k]`, one node.
    ///
    /// Derivative (as [`Var::matmul`]): `da = dC W^T` (from the shared copy of `W^T`),
    /// `dW = a^T dC`.
    pub fn apply(&self, a: &Var<'t, T>) -> Result<Var<'t, T>> {
        let (av, wv) = (a.value()?, self.w.value()?);
        let (_, ka) = dims("PreparedRight::apply", &av, false)?;
        if ka != wv.shape()[0] {
            return Err(Error::shape_mismatch(
                "PreparedRight::apply (a W)",
                av.shape(),
                wv.shape(),
            ));
        }
        let out = k::matmul(&av, false, &wv, false)?;
        let (ia, iw, wt) = (a.id(), self.w.id(), Arc::clone(&self.wt));
        a.push("matmul", out, &[*a, self.w], move |_, dy, g| {
            if g.wants(ia) {
                let wt = wt.get_or_init(|| transposed(&wv));
                add_product(g, ia, (&dy, false), (wt, false))?; // dC W^T
            }
            add_product(g, iw, (&av, true), (&dy, false)) // a^T dC
        })?
        .with_var_backward(|_, dy, g| matmul_var_backward(g, dy, (0, false), (1, false)))
    }
}

/// `w^T` of a 2-D `w: [r, c]`, as a `[c, r]` tensor. Copied in square tiles of
/// [`TRANSPOSE_TILE`], so that the reads and the writes of a tile each stay within a few
/// cache lines per row (an element-by-element transpose writes one line per element, and
/// on the RMC's and the output layer's weights, transposed once per pass, cost several
/// times more).
fn transposed<T: Element>(w: &Tensor<T>) -> Tensor<T> {
    let (r, c) = (w.shape()[0], w.shape()[1]);
    let (ws, mut d) = (w.as_slice(), vec![T::ZERO; r * c]);
    for i0 in (0..r).step_by(TRANSPOSE_TILE) {
        for j0 in (0..c).step_by(TRANSPOSE_TILE) {
            for i in i0..(i0 + TRANSPOSE_TILE).min(r) {
                for j in j0..(j0 + TRANSPOSE_TILE).min(c) {
                    d[j * r + i] = ws[i * c + j];
                }
            }
        }
    }
    Tensor::new([c, r], d).expect("r * c elements for [c, r]")
}

/// The side of [`transposed`]'s tiles: 16 `f32` are one cache line.
const TRANSPOSE_TILE: usize = 16;

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
    use crate::ops::testutil::{check, check2, rand, weighted_square_sum, weighted_sum};

    #[test]
    fn transposed_moves_every_element_once() {
        // sides below, at and across the tile, and empty ones
        for (r, c) in [(37, 50), (16, 16), (1, 5), (5, 1), (0, 3), (3, 0)] {
            let w = Tensor::from_fn([r, c], |i| i as f64);
            let t = transposed(&w);
            assert_eq!(t.shape(), [c, r]);
            for i in 0..r {
                for j in 0..c {
                    assert_eq!(t.as_slice()[j * r + i], w.as_slice()[i * c + j]);
                }
            }
        }
    }

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
    fn row_bias_in_the_product_gradcheck_and_values_for_all_transposes() {
        // op(a): [8, 3], op(b): [3, 10], bias [10]: (8 + 10) * 4 <= 80, so the bias rides
        // in the product as a fourth inner index; [3, 4] x [4, 5] above keeps the broadcast.
        assert!(bias_rides_in_product(8, 3, 10) && !bias_rides_in_product(3, 4, 5));
        let bias = rand(&[10], 28);
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            let a = rand(if ta { &[3, 8] } else { &[8, 3] }, 29);
            let b = rand(if tb { &[10, 3] } else { &[3, 10] }, 30);
            check(
                |_, v| weighted_sum(addmm(Some(&v[2]), &v[0], ta, &v[1], tb)?, 6),
                &[a.clone(), b.clone(), bias.clone()],
            );
            // The value is the product plus the bias (f64, 4 terms of magnitude <= 1: the
            // difference is a few ulps).
            let tape = Tape::<f64>::new();
            let (av, bv, cv) = (tape.leaf(a), tape.leaf(b), tape.leaf(bias.clone()));
            let y = addmm(Some(&cv), &av, ta, &bv, tb).unwrap().value().unwrap();
            let p = addmm(None, &av, ta, &bv, tb).unwrap().value().unwrap();
            for i in 0..8 {
                for j in 0..10 {
                    let want = p.row(i)[j] + bias.as_slice()[j];
                    assert!(
                        (y.row(i)[j] - want).abs() <= 1e-15,
                        "({ta}, {tb}) [{i}, {j}]"
                    );
                }
            }
        }
    }

    #[test]
    fn prepared_linear_gradcheck_and_the_bits_of_linear() {
        for bias in [true, false] {
            check(
                |_, v| {
                    let p = PreparedLinear::new(&v[1], bias.then_some(&v[2]))?;
                    weighted_sum(p.apply(&v[0])?, 7)
                },
                &[rand(&[8, 3], 31), rand(&[10, 3], 32), rand(&[10], 33)],
            );
            // [x | 1] [W^T ; b] is Var::linear's product with the bias as the last inner
            // term, read from the other layout: on a shape where gemm runs its blocked
            // kernels (not its path for tiny products) and the bias rides in linear's
            // product ((64 + 600) * 33 <= 64 * 600), the same bits.
            let f = |t: Tensor<f64>| {
                Tensor::new(t.shape(), t.as_slice().iter().map(|&v| v as f32).collect()).unwrap()
            };
            let tape = Tape::<f32>::new();
            let xv = tape.leaf(f(rand(&[64, 32], 37)));
            let wv = tape.leaf(f(rand(&[600, 32], 38)));
            let bv = tape.leaf(f(rand(&[600], 39)));
            let bias_var = bias.then_some(&bv);
            let want = xv.linear(&wv, bias_var).unwrap().value().unwrap();
            let p = PreparedLinear::new(&wv, bias_var).unwrap();
            let got = p.apply(&xv).unwrap().value().unwrap();
            let same = |a: &f32, b: &f32| a.to_bits() == b.to_bits();
            assert!(
                want.as_slice()
                    .iter()
                    .zip(got.as_slice())
                    .all(|(a, b)| same(a, b)),
                "bias {bias}"
            );
        }
        let tape = Tape::<f64>::new();
        let w = tape.leaf(rand(&[10, 3], 34));
        let msg = PreparedLinear::new(&w, Some(&tape.leaf(rand(&[3], 35))))
            .err()
            .unwrap()
            .to_string();
        assert!(msg.contains("[3]") && msg.contains("[10, 3]"), "{msg}");
        let p = PreparedLinear::new(&w, None).unwrap();
        let msg = p
            .apply(&tape.leaf(rand(&[2, 4], 36)))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("[2, 4]") && msg.contains("[10, 3]"), "{msg}");
    }

    #[test]
    fn prepared_right_gradcheck_and_the_bits_of_matmul() {
        // Two products share one W (and its transposed copy), as the time steps do.
        check(
            |_, v| {
                let p = PreparedRight::new(&v[2])?;
                let y = p.apply(&v[0])?.add(&p.apply(&v[1])?.tanh()?)?;
                weighted_sum(y, 8)
            },
            &[rand(&[3, 7], 41), rand(&[3, 7], 42), rand(&[7, 4], 43)],
        );
        // The value and both gradients bitwise as Var::matmul's, on a shape where gemm
        // runs its blocked kernels (f32; [64, 500] x [500, 64]).
        let f = |t: Tensor<f64>| {
            Tensor::new(t.shape(), t.as_slice().iter().map(|&v| v as f32).collect()).unwrap()
        };
        let (a, w, dc) = (
            f(rand(&[64, 500], 44)),
            f(rand(&[500, 64], 45)),
            f(rand(&[64, 64], 46)),
        );
        let run = |prepared: bool| {
            let tape = Tape::<f32>::new();
            let (av, wv) = (tape.leaf(a.clone()), tape.leaf(w.clone()));
            let y = if prepared {
                PreparedRight::new(&wv).unwrap().apply(&av).unwrap()
            } else {
                av.matmul(&wv).unwrap()
            };
            let loss = y.mul(&tape.constant(dc.clone())).unwrap().sum().unwrap();
            let value = y.value().unwrap().as_slice().to_vec();
            let mut g = tape.backward(loss).unwrap();
            let bits = |t: Tensor<f32>| t.as_slice().iter().map(|v| v.to_bits()).collect();
            let (da, dw): (Vec<u32>, Vec<u32>) =
                (bits(g.take(av).unwrap()), bits(g.take(wv).unwrap()));
            (
                value.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                da,
                dw,
            )
        };
        assert!(run(true) == run(false));
        let tape = Tape::<f64>::new();
        let p = PreparedRight::new(&tape.leaf(rand(&[7, 4], 47))).unwrap();
        let msg = p
            .apply(&tape.leaf(rand(&[3, 6], 48)))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("[3, 6]") && msg.contains("[7, 4]"), "{msg}");
    }

    /// Second order: a product is bilinear, so `weighted_sum` alone has a non-zero
    /// (cross) Hessian; the square adds the `J^T H J` part through a non-constant `dC`.
    #[test]
    fn matmul_family_second_order() {
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            let a = rand(if ta { &[4, 3] } else { &[3, 4] }, 21);
            let b = rand(if tb { &[5, 4] } else { &[4, 5] }, 22);
            check2(
                |_, v| weighted_sum(addmm(None, &v[0], ta, &v[1], tb)?, 3),
                &[a.clone(), b.clone()],
            );
            check2(
                |_, v| weighted_square_sum(addmm(None, &v[0], ta, &v[1], tb)?, 3),
                &[a.clone(), b.clone()],
            );
            // a row bias, small (broadcast) and riding in the product
            let bias = rand(&[5], 25);
            check2(
                |_, v| weighted_square_sum(addmm(Some(&v[2]), &v[0], ta, &v[1], tb)?, 4),
                &[a.clone(), b.clone(), bias],
            );
            let (a8, b10) = (
                rand(if ta { &[3, 8] } else { &[8, 3] }, 29),
                rand(if tb { &[10, 3] } else { &[3, 10] }, 30),
            );
            check2(
                |_, v| weighted_square_sum(addmm(Some(&v[2]), &v[0], ta, &v[1], tb)?, 6),
                &[a8, b10, rand(&[10], 28)],
            );
        }
        let (x, w) = (rand(&[3, 4], 23), rand(&[5, 4], 24));
        check2(
            |_, v| weighted_square_sum(v[0].linear(&v[1], Some(&v[2]))?.tanh()?, 4),
            &[x.clone(), w.clone(), rand(&[5], 25)],
        );
        check2(
            |_, v| weighted_square_sum(addmm(Some(&v[2]), &v[0], false, &v[1], true)?, 4),
            &[x.clone(), w.clone(), rand(&[3, 5], 26)],
        );
        check2(
            |_, v| weighted_sum(v[0].matmul_t(&v[0])?, 5),
            &[rand(&[3, 2], 27)],
        );
        check2(
            |_, v| weighted_square_sum(v[0].t_matmul(&v[1])?, 5),
            &[rand(&[3, 2], 27), rand(&[3, 4], 28)],
        );
        for bias in [true, false] {
            check2(
                |_, v| {
                    let p = PreparedLinear::new(&v[1], bias.then_some(&v[2]))?;
                    weighted_square_sum(p.apply(&v[0])?, 7)
                },
                &[rand(&[8, 3], 31), rand(&[10, 3], 32), rand(&[10], 33)],
            );
        }
        check2(
            |_, v| {
                let p = PreparedRight::new(&v[2])?;
                let y = p.apply(&v[0])?.add(&p.apply(&v[1])?.tanh()?)?;
                weighted_square_sum(y, 8)
            },
            &[rand(&[3, 7], 41), rand(&[3, 7], 42), rand(&[7, 4], 43)],
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
