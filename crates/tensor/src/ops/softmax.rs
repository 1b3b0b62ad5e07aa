//! Softmax and log-softmax over the last dimension, forward and backward side by side.
//!
//! ## The contract
//! - `-inf` logits are masked classes: probability exactly 0, log-probability `-inf`, and
//!   a gradient of exactly 0, never NaN.
//! - A NaN or `+inf` logit is an [`Error::NonFiniteLogit`] naming the first bad row and
//!   column; a row whose logits are all `-inf` is an [`Error::AllMasked`]; an empty last
//!   dimension is an [`Error::InvalidShape`]. The lowest bad row is reported, whatever the
//!   thread count.
//! - Finite logits never give NaN or inf (the row max is subtracted before `exp`, so every
//!   term lies in `[0, 1]` and the largest is exactly 1), and each row of a softmax sums to
//!   1 within `(n / 32 + 7)` units of rounding (see the row-sum test).
//!
//! ## The math
//! `y_i = exp(x_i - m) / s` with `m = max_j x_j` and `s = sum_j exp(x_j - m)`, and
//! `log y_i = (x_i - m) - ln s`. The backward passes:
//!
//! ```text
//! softmax:      dy_i/dx_k = y_i (d_ik - y_k)
//!               => dx_k = sum_i dy_i y_i (d_ik - y_k) = y_k (dy_k - <dy, y>)
//! log_softmax:  d log y_i / dx_k = d_ik - y_k
//!               => dx_k = sum_i dy_i (d_ik - y_k) = dy_k - y_k sum_i dy_i,  y_k = exp(log y_k)
//! ```
//!
//! Masked classes are skipped in the backward passes: `dx_k` is 0 where `y_k = 0`
//! (softmax) or `log y_k = -inf` (log-softmax), and those classes add nothing to
//! `<dy, y>` or `sum dy`, even when their `dy` is not finite. A loss that stays finite
//! cannot depend on a `-inf` log-probability except through terms that vanish, and a
//! composed expression such as `sum(exp(logp) * logp)` produces `0 * -inf = NaN` upstream
//! exactly there: skipping the class gives the gradient of the loss restricted to the live
//! classes, which is the meaning of a mask.
//!
//! ## Kernels
//! Forward, per row, the row stays in cache across the passes: (1) the row max, with
//! `fast_max` and a sentinel sum that turns NaN or `+inf` exactly when some element is
//! (then the row is scanned for the column to name), (2) `exp(x - m)` written to the
//! output and summed in the same pass with four accumulators, (3) scaling by `1 / s`.
//! The SIMD kernels run on the 512-bit vectors [`Element::Lanes`] (`f32x16`,
//! `f64x8`) with the `exp` polynomial of `poly.rs`, shared with the Gumbel kernels:
//! <= 2 ulp (`f32`; <= 2 ulp of std in `f64`) on its domain `(-inf, 0]`, which holds every
//! `x - m`; results below the smallest normal number flush to 0, so a probability below
//! `2^-126` (`2^-1022`) may be 0 instead of subnormal. Log-softmax takes `exp` only for
//! `s`, so its outputs stay exact however negative. The `exp` passes pad their tail to one
//! vector with `-inf`, so every element takes the same polynomial; the arithmetic passes
//! end with a scalar `// tail`. [`scalar`] holds the twins with std's `exp`/`ln`, left to
//! right: the twin tests compare against them within budgets that carry the polynomial's
//! error and its flush (see `prob_ulps` and `tiny_floor` in the tests).

use crate::ops::reduce;
use crate::{Element, Error, Result, Tensor, parallel};

/// Why a row of logits was rejected, by a softmax or a fused Gumbel-Softmax row kernel; the
/// tensor-level functions add the op and the row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RowFault {
    /// The first NaN or `+inf` logit of the row.
    NonFinite { col: usize, value: f64 },
    /// Every logit of the row is `-inf`.
    AllMasked,
    /// `logit + noise` overflows to `+inf` at this column (only the Gumbel kernels, and only
    /// with caller-given noise).
    Overflow { col: usize },
}

impl RowFault {
    /// The tensor-level error for row `row` of op `op`.
    pub fn into_error(self, op: &'static str, row: usize) -> Error {
        match self {
            RowFault::NonFinite { col, value } => Error::NonFiniteLogit {
                op,
                row,
                col,
                value,
            },
            RowFault::AllMasked => Error::AllMasked { op, row },
            RowFault::Overflow { col } => Error::invalid_argument(
                op,
                format!("row {row}, column {col}: logit + noise overflows to +inf"),
            ),
        }
    }
}

/// Checks a row given its max `m` (NaN if the row holds a NaN): `Ok(m)` if `m` is finite,
/// else the fault. Shared by both twins; only the max itself is computed differently.
fn check_row<T: Element>(x: &[T], m: T) -> Result<T, RowFault> {
    if m.is_finite() {
        Ok(m)
    } else if m == T::NEG_INFINITY {
        Err(RowFault::AllMasked)
    } else {
        let col = x
            .iter()
            .position(|&v| v.is_nan() || v == T::INFINITY)
            .expect("a NaN or +inf max comes from a NaN or +inf element");
        Err(RowFault::NonFinite {
            col,
            value: x[col].to_f64(),
        })
    }
}

/// Runs a forward row kernel over every row of `a` into a new tensor, after checking the
/// last dimension; the first bad row (in row order) becomes the error.
fn forward<T: Element>(
    op: &'static str,
    a: &Tensor<T>,
    kernel: fn(&[T], &mut [T]) -> Result<(), RowFault>,
) -> Result<Tensor<T>> {
    if a.rank() > 0 && a.cols() == 0 {
        return Err(Error::invalid_shape(
            op,
            a.shape(),
            "the last dimension (classes) is empty",
        ));
    }
    let mut out = Tensor::zeros_like(a);
    let faults = parallel::map_rows_mut(out.as_mut_slice(), a.cols(), |i, row| {
        kernel(a.row(i), row).map_err(|f| f.into_error(op, i))
    });
    parallel::first_error(faults)?;
    Ok(out)
}

/// Runs a backward row kernel `(saved, dy) -> dx` over every row, after a shape check.
fn backward<T: Element>(
    op: &'static str,
    saved: &Tensor<T>,
    dy: &Tensor<T>,
    kernel: fn(&[T], &[T], &mut [T]),
) -> Result<Tensor<T>> {
    saved.expect_same_shape(op, dy)?;
    let mut dx = Tensor::zeros_like(saved);
    parallel::for_each_row_mut(dx.as_mut_slice(), saved.cols(), |i, row| {
        kernel(saved.row(i), dy.row(i), row)
    });
    Ok(dx)
}

/// Softmax over the last dimension: `y_i = exp(x_i - m) / sum_j exp(x_j - m)`, `m` the
/// row max. Errors and masking as in the [module docs](self).
///
/// ```
/// use gumbel_tensor::{Tensor, ops};
/// let x = Tensor::new([2, 2], vec![0.0f64, 0.0, 1e4, f64::NEG_INFINITY]).unwrap();
/// assert_eq!(ops::softmax(&x).unwrap().as_slice(), &[0.5, 0.5, 1.0, 0.0]);
/// let bad = Tensor::new([1, 3], vec![0.0f32, f32::NAN, 1.0]).unwrap();
/// assert_eq!(
///     ops::softmax(&bad).unwrap_err().to_string(),
///     "softmax: row 0, column 1: logit is NaN; logits must be finite or -inf"
/// );
/// ```
pub fn softmax<T: Element>(a: &Tensor<T>) -> Result<Tensor<T>> {
    forward("softmax", a, simd::softmax)
}

/// Backward of [`softmax`] from its output: `dx = y * (dy - <dy, y>)` per row, with classes
/// where `y = 0` skipped (see the [module docs](self)). `y` and `dy` must have the same
/// shape.
///
/// ```
/// use gumbel_tensor::{Tensor, ops};
/// // y = (1/4, 3/4), dy = (1, 0): <dy, y> = 1/4, dx = (1/4 * 3/4, 3/4 * -1/4).
/// let y = Tensor::new([1, 2], vec![0.25f64, 0.75]).unwrap();
/// let dy = Tensor::new([1, 2], vec![1.0f64, 0.0]).unwrap();
/// assert_eq!(ops::softmax_backward(&y, &dy).unwrap().as_slice(), &[0.1875, -0.1875]);
/// ```
pub fn softmax_backward<T: Element>(y: &Tensor<T>, dy: &Tensor<T>) -> Result<Tensor<T>> {
    backward("softmax_backward", y, dy, simd::softmax_backward)
}

/// Log-softmax over the last dimension: `(x_i - m) - ln sum_j exp(x_j - m)`. Errors and
/// masking as in the [module docs](self); masked classes get `-inf`.
///
/// ```
/// use gumbel_tensor::{Tensor, ops};
/// let x = Tensor::new([1, 3], vec![0.0f64, 0.0, f64::NEG_INFINITY]).unwrap();
/// let lp = ops::log_softmax(&x).unwrap();
/// assert_eq!(lp.as_slice(), &[-(2f64.ln()), -(2f64.ln()), f64::NEG_INFINITY]);
/// ```
pub fn log_softmax<T: Element>(a: &Tensor<T>) -> Result<Tensor<T>> {
    forward("log_softmax", a, simd::log_softmax)
}

/// Backward of [`log_softmax`] from its output: `dx = dy - exp(logp) * sum(dy)` per row,
/// with masked classes (`logp = -inf`) skipped (see the [module docs](self)). `logp` and
/// `dy` must have the same shape.
pub fn log_softmax_backward<T: Element>(logp: &Tensor<T>, dy: &Tensor<T>) -> Result<Tensor<T>> {
    backward("log_softmax_backward", logp, dy, simd::log_softmax_backward)
}

/// SIMD row kernels on the 512-bit [`Element::Lanes`] (`f32x16` / `f64x8`)
/// with the `exp` polynomial of `poly.rs`; four accumulators (see the module docs for the
/// loop shapes).
// The accumulators are written `a = a + v`, not `a += v`: the same arithmetic, but through
// `AddAssign` LLVM allocated registers differently in these long kernels (`softmax` grew by
// 8 instructions and spilled other registers), and they keep the code they were measured
// with.
#[expect(
    clippy::assign_op_pattern,
    reason = "a = a + v keeps the measured code generation (see above)"
)]
pub mod simd {
    use super::{Element, RowFault, check_row};
    use crate::simd::SimdFloat;

    /// `max_i x_i`, or NaN if some `x_i` is NaN or `+inf` (then [`check_row`] names it).
    ///
    /// `fast_max` (x86 `maxps`) drops NaNs, so they are caught by a *sentinel*: every
    /// element is also added into one vector, which ends NaN or `+inf` whenever some
    /// element is NaN or `+inf` (`+inf + -inf = NaN`, `NaN + v = NaN`, `+inf + v = +inf` for
    /// any other `v`). A sum of finite elements may overflow to `+inf` too (a false alarm):
    /// then the row is scanned, and only a NaN or `+inf` found there makes the result NaN.
    fn row_max<T: Element>(x: &[T]) -> T {
        let n = T::Lanes::LANES;
        let ninf = T::Lanes::splat(T::NEG_INFINITY);
        let (mut m0, mut m1, mut m2, mut m3) = (ninf, ninf, ninf, ninf);
        let mut sentinel = T::Lanes::splat(T::ZERO);
        let mut blocks = x.chunks_exact(4 * n);
        for b in &mut blocks {
            let (v0, v1) = (T::Lanes::load(b), T::Lanes::load(&b[n..]));
            let (v2, v3) = (T::Lanes::load(&b[2 * n..]), T::Lanes::load(&b[3 * n..]));
            m0 = m0.fast_max(v0);
            m1 = m1.fast_max(v1);
            m2 = m2.fast_max(v2);
            m3 = m3.fast_max(v3);
            sentinel = sentinel + ((v0 + v1) + (v2 + v3));
        }
        let mut vectors = blocks.remainder().chunks_exact(n);
        for v in &mut vectors {
            let v = T::Lanes::load(v);
            m0 = m0.fast_max(v);
            sentinel = sentinel + v;
        }
        // tail: padded with -inf, which leaves the max and the sentinel's verdict alone
        let rest = vectors.remainder();
        if !rest.is_empty() {
            let v = T::Lanes::load_or(rest, T::NEG_INFINITY);
            m1 = m1.fast_max(v);
            sentinel = sentinel + v;
        }
        let s = sentinel.reduce_add();
        if (s.is_nan() || s == T::INFINITY) && x.iter().any(|&v| v.is_nan() || v == T::INFINITY) {
            return T::NAN;
        }
        (m0.fast_max(m1))
            .fast_max(m2.fast_max(m3))
            .reduce_fast_max()
    }

    /// `sum_i exp(x_i - m)` for the finite row max `m`, and, if `STORE`, `y_i = exp(x_i - m)`.
    /// Four accumulators, whole vectors into the first; the tail is padded with `-inf`
    /// (`exp(-inf) = 0` exactly, so it adds nothing) and only its real lanes are stored.
    /// Every argument `x_i - m` lies in `[-inf, 0]`, the polynomial's domain.
    #[inline(always)]
    fn exp_shifted<T: Element, const STORE: bool>(x: &[T], m: T, y: &mut [T]) -> T {
        debug_assert!(!STORE || x.len() == y.len());
        let n = T::Lanes::LANES;
        let mv = T::Lanes::splat(m);
        let e = |v: &[T]| T::exp_lanes(T::Lanes::load(v) - mv);
        let zero = T::Lanes::splat(T::ZERO);
        let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
        let body = x.len() - x.len() % (4 * n);
        for (k, b) in x[..body].chunks_exact(4 * n).enumerate() {
            let (e0, e1) = (e(b), e(&b[n..]));
            let (e2, e3) = (e(&b[2 * n..]), e(&b[3 * n..]));
            if STORE {
                let yb = &mut y[k * 4 * n..(k + 1) * 4 * n];
                e0.store(yb);
                e1.store(&mut yb[n..]);
                e2.store(&mut yb[2 * n..]);
                e3.store(&mut yb[3 * n..]);
            }
            a0 = a0 + e0;
            a1 = a1 + e1;
            a2 = a2 + e2;
            a3 = a3 + e3;
        }
        let vectors = body + (x.len() - body) / n * n;
        for i in (body..vectors).step_by(n) {
            let ev = e(&x[i..]);
            if STORE {
                ev.store(&mut y[i..]);
            }
            a0 = a0 + ev;
        }
        // tail: padded with -inf to one vector
        if vectors < x.len() {
            let ev = T::exp_lanes(T::Lanes::load_or(&x[vectors..], T::NEG_INFINITY) - mv);
            if STORE {
                ev.store_part(&mut y[vectors..]);
            }
            a1 = a1 + ev;
        }
        ((a0 + a1) + (a2 + a3)).reduce_add()
    }

    /// `y *= s` in place, then a scalar tail.
    fn scale_in_place<T: Element>(y: &mut [T], s: T) {
        let n = T::Lanes::LANES;
        let sv = T::Lanes::splat(s);
        let mut vectors = y.chunks_exact_mut(n);
        for v in &mut vectors {
            (T::Lanes::load(v) * sv).store(v);
        }
        // tail
        for v in vectors.into_remainder() {
            *v *= s;
        }
    }

    /// One row of softmax: max (with the NaN / +inf / all-masked checks), exp and sum in one
    /// pass, then scaling by `1 / s` (`s >= 1`: the max's own term is exactly 1). The row
    /// is read from L1 or L2 by the second pass and `y` rescaled there by the third.
    pub fn softmax<T: Element>(x: &[T], y: &mut [T]) -> Result<(), RowFault> {
        debug_assert_eq!(x.len(), y.len());
        let m = check_row(x, row_max(x))?;
        let s = exp_shifted::<T, true>(x, m, y);
        scale_in_place(y, T::ONE / s);
        Ok(())
    }

    /// One row of log-softmax: `out = (x - m) - ln s`. `exp` enters only through `s`, so
    /// every output is exact up to the two roundings of the subtractions and the error of
    /// `ln s`, however negative `x - m` is (no flush to zero here).
    pub fn log_softmax<T: Element>(x: &[T], out: &mut [T]) -> Result<(), RowFault> {
        debug_assert_eq!(x.len(), out.len());
        let m = check_row(x, row_max(x))?;
        let ln_s = exp_shifted::<T, false>(x, m, &mut []).ln();
        let n = T::Lanes::LANES;
        let (mv, lv) = (T::Lanes::splat(m), T::Lanes::splat(ln_s));
        let body = x.len() - x.len() % n;
        for (xv, ov) in x[..body]
            .chunks_exact(n)
            .zip(out[..body].chunks_exact_mut(n))
        {
            ((T::Lanes::load(xv) - mv) - lv).store(ov);
        }
        // tail
        for (o, &v) in out[body..].iter_mut().zip(&x[body..]) {
            *o = (v - m) - ln_s;
        }
        Ok(())
    }

    /// `sum_i f(a_i, b_i)` with four accumulators over blocks of `4 N`, whole vectors into
    /// the first, a tree reduction; returns the sum and where the scalar tail starts.
    #[inline(always)]
    fn sum4<T: Element>(
        a: &[T],
        b: &[T],
        f: impl Fn(T::Lanes, T::Lanes) -> T::Lanes,
    ) -> (T, usize) {
        let n = T::Lanes::LANES;
        let ld = |s: &[T], i: usize| T::Lanes::load(&s[i..]);
        let zero = T::Lanes::splat(T::ZERO);
        let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
        let body4 = a.len() - a.len() % (4 * n);
        for i in (0..body4).step_by(4 * n) {
            a0 = a0 + f(ld(a, i), ld(b, i));
            a1 = a1 + f(ld(a, i + n), ld(b, i + n));
            a2 = a2 + f(ld(a, i + 2 * n), ld(b, i + 2 * n));
            a3 = a3 + f(ld(a, i + 3 * n), ld(b, i + 3 * n));
        }
        let body = a.len() - a.len() % n;
        for i in (body4..body).step_by(n) {
            a0 = a0 + f(ld(a, i), ld(b, i));
        }
        (((a0 + a1) + (a2 + a3)).reduce_add(), body)
    }

    /// One row of the softmax backward: `d = sum_{y_i > 0} y_i dy_i` (four accumulators),
    /// then `dx_i = y_i > 0 ? y_i (dy_i - d) : 0`.
    pub fn softmax_backward<T: Element>(y: &[T], dy: &[T], dx: &mut [T]) {
        debug_assert!(y.len() == dy.len() && y.len() == dx.len());
        let n = T::Lanes::LANES;
        let zero = T::Lanes::splat(T::ZERO);
        // y_i * dy_i where the class is live, else 0 (even if dy_i is inf or NaN).
        let live = |y: T::Lanes, dy: T::Lanes| y.select_gt(zero, y * dy, zero);
        let (mut d, body) = sum4(y, dy, live);
        // tail
        for (&yi, &di) in y[body..].iter().zip(&dy[body..]) {
            if yi > T::ZERO {
                d += yi * di;
            }
        }
        let dv = T::Lanes::splat(d);
        for ((yv, gv), ov) in y[..body]
            .chunks_exact(n)
            .zip(dy[..body].chunks_exact(n))
            .zip(dx[..body].chunks_exact_mut(n))
        {
            let yv = T::Lanes::load(yv);
            yv.select_gt(zero, yv * (T::Lanes::load(gv) - dv), zero)
                .store(ov);
        }
        // tail
        for ((&yi, &di), o) in y[body..].iter().zip(&dy[body..]).zip(&mut dx[body..]) {
            *o = if yi > T::ZERO { yi * (di - d) } else { T::ZERO };
        }
    }

    /// One row of the log-softmax backward: `s = sum_{logp_i > -inf} dy_i`, then
    /// `dx_i = logp_i > -inf ? dy_i - exp(logp_i) s : 0`. `logp` is a log-softmax output,
    /// so `<= 0`: the polynomial's domain (it stays valid up to `+88` / `+709`; larger
    /// values are not log-probabilities and give meaningless gradients).
    pub fn log_softmax_backward<T: Element>(logp: &[T], dy: &[T], dx: &mut [T]) {
        debug_assert!(logp.len() == dy.len() && logp.len() == dx.len());
        let n = T::Lanes::LANES;
        let zero = T::Lanes::splat(T::ZERO);
        let ninf = T::Lanes::splat(T::NEG_INFINITY);
        let live = |lp: T::Lanes, dy: T::Lanes| lp.select_gt(ninf, dy, zero);
        let (mut s, body) = sum4(logp, dy, live);
        // tail
        for (&p, &d) in logp[body..].iter().zip(&dy[body..]) {
            if p > T::NEG_INFINITY {
                s += d;
            }
        }
        let sv = T::Lanes::splat(s);
        let grad = |p: T::Lanes, d: T::Lanes| p.select_gt(ninf, d - T::exp_lanes(p) * sv, zero);
        for ((pv, gv), ov) in logp[..body]
            .chunks_exact(n)
            .zip(dy[..body].chunks_exact(n))
            .zip(dx[..body].chunks_exact_mut(n))
        {
            grad(T::Lanes::load(pv), T::Lanes::load(gv)).store(ov);
        }
        // tail: padded with -inf (a masked class) to one vector, for the same exp as the body
        if body < logp.len() {
            let p = T::Lanes::load_or(&logp[body..], T::NEG_INFINITY);
            let d = T::Lanes::load_or(&dy[body..], T::ZERO);
            grad(p, d).store_part(&mut dx[body..]);
        }
    }
}

/// Scalar reference row kernels: the same passes, left to right, with std's `exp`/`ln`.
pub mod scalar {
    use super::{Element, RowFault, check_row, reduce};

    /// One row of softmax.
    pub fn softmax<T: Element>(x: &[T], y: &mut [T]) -> Result<(), RowFault> {
        let m = check_row(x, reduce::scalar::max(x))?;
        let mut s = T::ZERO;
        for (o, &v) in y.iter_mut().zip(x) {
            *o = (v - m).exp();
            s += *o;
        }
        let inv = T::ONE / s;
        for o in y.iter_mut() {
            *o *= inv;
        }
        Ok(())
    }

    /// One row of log-softmax.
    pub fn log_softmax<T: Element>(x: &[T], out: &mut [T]) -> Result<(), RowFault> {
        let m = check_row(x, reduce::scalar::max(x))?;
        let ln_s = reduce::scalar::sum_exp_shifted(x, m).ln();
        for (o, &v) in out.iter_mut().zip(x) {
            *o = (v - m) - ln_s;
        }
        Ok(())
    }

    /// One row of the softmax backward.
    pub fn softmax_backward<T: Element>(y: &[T], dy: &[T], dx: &mut [T]) {
        let mut d = T::ZERO;
        for (&yi, &di) in y.iter().zip(dy) {
            if yi > T::ZERO {
                d += yi * di;
            }
        }
        for ((&yi, &di), o) in y.iter().zip(dy).zip(dx.iter_mut()) {
            *o = if yi > T::ZERO { yi * (di - d) } else { T::ZERO };
        }
    }

    /// One row of the log-softmax backward.
    pub fn log_softmax_backward<T: Element>(logp: &[T], dy: &[T], dx: &mut [T]) {
        let mut s = T::ZERO;
        for (&p, &d) in logp.iter().zip(dy) {
            if p > T::NEG_INFINITY {
                s += d;
            }
        }
        for ((&p, &d), o) in logp.iter().zip(dy).zip(dx.iter_mut()) {
            *o = if p > T::NEG_INFINITY {
                d - p.exp() * s
            } else {
                T::ZERO
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{LENGTHS, assert_bitwise, put, uniform, with_threads};
    use crate::simd::SimdFloat;
    use approx::abs_diff_eq;

    const EPS_F64: f64 = f64::EPSILON;

    /// The shared LENGTHS (built around 8-lane vectors) plus the block of four 16-lane
    /// vectors and one either side, and two blocks and one: every path of the 512-bit
    /// loops here (`f32x16`: blocks of 64; `f64x8`: blocks of 32, covered by LENGTHS).
    fn lengths() -> Vec<usize> {
        let mut v = LENGTHS.to_vec();
        v.extend([63, 64, 65, 129]);
        v
    }

    /// Logit rows for every test length: moderate, wide (+-1e4), reaching below the flush
    /// threshold of the `exp` polynomial (`1.3 ln MIN_POSITIVE`, about -113 in f32 and -921
    /// in f64, so that many terms are subnormal or flushed to 0), and with masked classes in
    /// a block, in a whole vector and in the tail.
    fn logit_rows<T: Element>(seed: u64) -> Vec<Vec<T>> {
        let mut rows = Vec::new();
        let deep = 1.3 * T::MIN_POSITIVE.to_f64().ln();
        for n in lengths().into_iter().filter(|&n| n > 0) {
            for (lo, hi) in [(-5.0, 5.0), (-1e4, 1e4), (deep, 0.0)] {
                rows.push(uniform::<T>(n, seed + n as u64, lo, hi));
            }
            let mut x = uniform::<T>(n, seed + 1000 + n as u64, -20.0, 20.0);
            let ninf = T::NEG_INFINITY;
            put(
                &mut x,
                &[
                    (1, ninf),
                    (4 * T::Lanes::LANES + 1, ninf),
                    (n.wrapping_sub(2), ninf),
                ],
            );
            if x.iter().any(|v| v.is_finite()) {
                rows.push(x);
            }
        }
        rows
    }

    /// Error of an `exp` against the exact value, in ulps, for normal results: std's is
    /// <= 1 ulp; the SIMD kernels' polynomial (`poly.rs`) is <= 2 ulp (`f32`, against the
    /// exact value) or <= 2 ulp of std (`f64`), so <= 3 ulp of the exact value there.
    const STD_EXP_ULPS: f64 = 1.0;
    fn poly_exp_ulps<T: Element>() -> f64 {
        if T::EPSILON.to_f64() > 1e-10 {
            2.0
        } else {
            3.0
        }
    }

    /// Relative error of one softmax probability `y_i = e_i / s` in units of EPSILON, for a
    /// twin whose `exp` is within `exp_ulps` ulps (relative error <= exp_ulps eps): the
    /// `exp` of `e_i` (exp_ulps), the same relative error carried into `s` by its terms
    /// (exp_ulps), the sum `s` of non-negative terms ((n - 1) u in any order: each term
    /// passes through at most n - 1 additions, and adding the zero padding is exact), and
    /// the division `1 / s` and the final multiply (u each).
    fn prob_ulps(n: usize, exp_ulps: f64) -> f64 {
        2.0 * exp_ulps + 0.5 * (n as f64 - 1.0) + 1.0
    }

    /// Absolute error floor for probabilities near or below the smallest normal number:
    /// the polynomial flushes every `e_i` below `MIN_POSITIVE` to 0 (std keeps it
    /// subnormal), an absolute error < MIN_POSITIVE, and `y_i = e_i / s` with `s >= 1` does
    /// not enlarge it; a few units of the subnormal spacing (MIN_POSITIVE EPSILON) cover
    /// the roundings of subnormal results.
    fn tiny_floor<T: Element>() -> f64 {
        T::MIN_POSITIVE.to_f64() * (1.0 + 4.0 * T::EPSILON.to_f64())
    }

    fn softmax_twins_agree<T: Element>() {
        for x in logit_rows::<T>(1) {
            let n = x.len();
            let (mut a, mut b) = (vec![T::NAN; n], vec![T::NAN; n]);
            simd::softmax(&x, &mut a).unwrap();
            scalar::softmax(&x, &mut b).unwrap();
            // Each twin's y_i is within prob_ulps(n, its exp's ulps) ulps of the true value,
            // relative, so the two are within the sum of the two bounds.
            let tol = (prob_ulps(n, poly_exp_ulps::<T>()) + prob_ulps(n, STD_EXP_ULPS))
                * T::EPSILON.to_f64();
            for i in 0..n {
                let (s, r) = (a[i].to_f64(), b[i].to_f64());
                assert!(
                    s.is_finite() && r.is_finite(),
                    "n = {n}, i = {i}: {s} / {r}"
                );
                if x[i] == T::NEG_INFINITY {
                    assert!(s == 0.0 && r == 0.0, "masked class {i}: {s} / {r}");
                }
                assert!(
                    (s - r).abs() <= tol * r.abs() + tiny_floor::<T>(),
                    "n = {n}, i = {i}: {s:e} vs {r:e}"
                );
            }
            let (mut a, mut b) = (vec![T::NAN; n], vec![T::NAN; n]);
            simd::log_softmax(&x, &mut a).unwrap();
            scalar::log_softmax(&x, &mut b).unwrap();
            // log y = (x - m) - ln s: (x - m) is the same in both (one rounding); ln s
            // differs by the relative error of s, twice, and 1 ulp of ln s <= ln n each; the
            // final subtraction rounds by half an ulp of |log y|. The relative error of s
            // is each twin's (exp_ulps + 0.5 (n - 1)) eps (its exp and its sum), <=
            // prob_ulps(n, exp_ulps) eps, which is what is used here; the flush of terms
            // below MIN_POSITIVE changes s (>= 1) by less than n MIN_POSITIVE, negligible.
            for i in 0..n {
                let (s, r) = (a[i].to_f64(), b[i].to_f64());
                if x[i] == T::NEG_INFINITY {
                    assert!(s == f64::NEG_INFINITY && r == f64::NEG_INFINITY);
                    continue;
                }
                let eps = T::EPSILON.to_f64();
                let s_rel = (prob_ulps(n, poly_exp_ulps::<T>()) + prob_ulps(n, STD_EXP_ULPS)) * eps;
                let tol = s_rel + 2.0 * eps * (n as f64).ln().max(1.0) + eps * r.abs();
                assert!(
                    s.is_finite() && (s - r).abs() <= tol,
                    "logp n = {n}, i = {i}: {s:e} vs {r:e}"
                );
            }
        }
    }

    fn backward_twins_agree<T: Element>() {
        for (k, x) in logit_rows::<T>(3).into_iter().enumerate() {
            let n = x.len();
            let mut y = vec![T::ZERO; n];
            scalar::softmax(&x, &mut y).unwrap();
            let mut logp = vec![T::ZERO; n];
            scalar::log_softmax(&x, &mut logp).unwrap();
            // Upstream gradients in multiples of 1/8 within [-1, 1]: every partial sum of
            // up to 1023 of them is a multiple of 1/8 below 2^10, exact in f32 and f64, so
            // `sum dy` is exact in both twins and the tolerances below stay tight.
            let mut dy: Vec<T> = uniform::<f64>(n, 50 + k as u64, -1.0, 1.0)
                .into_iter()
                .map(|v| T::from_f64((v * 8.0).round() / 8.0))
                .collect();
            // At masked classes the upstream gradient may be anything, even NaN or inf.
            for i in 0..n {
                if x[i] == T::NEG_INFINITY {
                    dy[i] = if i % 2 == 0 { T::NAN } else { T::INFINITY };
                }
            }
            let eps = T::EPSILON.to_f64();
            let (mut a, mut b) = (vec![T::NAN; n], vec![T::NAN; n]);
            simd::softmax_backward(&y, &dy, &mut a);
            scalar::softmax_backward(&y, &dy, &mut b);
            // dx_i = y_i (dy_i - d), d = sum y_i dy_i. Each twin's d is within
            // (n - 1) u sum |y_i dy_i| of the exact value (products exact to u, folded into
            // the same bound to first order), so the twins' d differ by at most
            // (n - 1) eps sum |y_i dy_i|. Then dy_i - d and the product round once each per
            // twin: 2 eps |dx_i| between the twins.
            let live_abs: f64 = (0..n)
                .filter(|&i| y[i] > T::ZERO)
                .map(|i| (y[i].to_f64() * dy[i].to_f64()).abs())
                .sum();
            let d_tol = (n as f64) * eps * live_abs;
            for i in 0..n {
                let (s, r) = (a[i].to_f64(), b[i].to_f64());
                if x[i] == T::NEG_INFINITY {
                    assert!(s == 0.0 && r == 0.0, "masked dx must be 0: {s} / {r}");
                }
                let tol = y[i].to_f64() * d_tol + 2.0 * eps * r.abs();
                assert!(
                    (s - r).abs() <= tol,
                    "softmax_backward n = {n}, i = {i}: {s:e} vs {r:e}"
                );
            }
            simd::log_softmax_backward(&logp, &dy, &mut a);
            scalar::log_softmax_backward(&logp, &dy, &mut b);
            // dx_i = dy_i - p_i s with s = sum dy (exact, see above) and p_i = exp(logp_i):
            // the twins' p_i differ by <= poly_exp_ulps + 1 ulp (the polynomial and std
            // against the exact value: (exp_ulps + 1) eps p_i), the product rounds once in
            // each (eps p_i |s| between them) and the subtraction once (eps |dx_i|). Where
            // p_i is below MIN_POSITIVE the polynomial flushes it to 0: an absolute error
            // < MIN_POSITIVE in p_i, so MIN_POSITIVE |s| in dx_i.
            let s_live: f64 = (0..n)
                .filter(|&i| logp[i] > T::NEG_INFINITY)
                .map(|i| dy[i].to_f64())
                .sum();
            for i in 0..n {
                let (s, r) = (a[i].to_f64(), b[i].to_f64());
                if x[i] == T::NEG_INFINITY {
                    assert!(s == 0.0 && r == 0.0, "masked dx must be 0: {s} / {r}");
                    continue;
                }
                let p = logp[i].to_f64().exp();
                let tol = (poly_exp_ulps::<T>() + STD_EXP_ULPS + 1.0) * eps * p * s_live.abs()
                    + eps * r.abs()
                    + T::MIN_POSITIVE.to_f64() * s_live.abs();
                assert!(
                    (s - r).abs() <= tol,
                    "log_softmax_backward n = {n}, i = {i}: {s:e} vs {r:e} (tol {tol:e})"
                );
            }
        }
    }

    fn rows_sum_to_one<T: Element>() {
        // sum_i fl(e_i * inv) = inv sum_i e_i (1 + d_i), |d_i| <= u, and inv = (1 / s)(1 + d),
        // so the y_i sum to (sum_i e_i / s) within 2 u, where s is the computed sum of the
        // same e_i: the exp errors cancel (whatever the exp's accuracy, and terms flushed
        // to 0 are 0 in both), only the summation error of s remains. The SIMD sum has
        // 4 partial-sum vectors of N lanes (N = 16 in f32, 8 in f64), each lane summing at
        // most n / (4 N) + 4 terms, and a tree of 2 + log2(N) levels: at most
        // (n / (4 N) + 4 + 2 + log2 N) u. For n <= 4096: (64 + 10 + 2) u = 4.5e-6 in f32 and
        // (128 + 9 + 2) u = 1.5e-14 in f64, under the contract's 1e-5 / 1e-12. The check
        // sum is taken in f64 (error <= 4096 u_f64 = 4.5e-13, still inside the f64 bound).
        let bound = if T::EPSILON.to_f64() > 1e-10 {
            1e-5
        } else {
            1e-12
        };
        for n in [1, 7, 33, 1023, 4096] {
            for (lo, hi) in [(-3.0, 3.0), (-1e4, 1e4), (-30.0, 0.0)] {
                let x = uniform::<T>(n, 7 + n as u64, lo, hi);
                let mut y = vec![T::ZERO; n];
                simd::softmax(&x, &mut y).unwrap();
                let total: f64 = y.iter().map(|v| v.to_f64()).sum();
                assert!(
                    (total - 1.0).abs() <= bound,
                    "n = {n} in [{lo}, {hi}]: sum {total}"
                );
            }
        }
    }

    fn matches_an_f64_reference<T: Element>() {
        // Against softmax computed in f64 from the same logits (error ~1e-16). Besides
        // prob_ulps(n, poly_exp_ulps) and the flush floor, the kernel rounds its argument: fl(x_i - m) is off by up to
        // u |x_i - m|, which exp turns into a relative error of u |x_i - m| in e_i, and into
        // sum_j e_j u |x_j - m| / sum_j e_j in s. (The twins share that rounding, so the twin
        // test does not need it.)
        let u = T::EPSILON.to_f64() / 2.0;
        for x in logit_rows::<T>(5) {
            let n = x.len();
            let mut y = vec![T::ZERO; n];
            simd::softmax(&x, &mut y).unwrap();
            let xf: Vec<f64> = x.iter().map(|v| v.to_f64()).collect();
            let m = xf.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = xf.iter().map(|v| (v - m).exp()).collect();
            let s: f64 = e.iter().sum();
            let s_arg: f64 = (0..n)
                .filter(|&j| e[j] > 0.0)
                .map(|j| e[j] * u * (xf[j] - m).abs())
                .sum::<f64>()
                / s;
            for i in 0..n {
                let want = e[i] / s;
                if want == 0.0 {
                    assert_eq!(y[i], T::ZERO);
                    continue;
                }
                let rel = prob_ulps(n, poly_exp_ulps::<T>()) * T::EPSILON.to_f64()
                    + u * (xf[i] - m).abs()
                    + s_arg
                    + 64.0 * EPS_F64;
                let got = y[i].to_f64();
                assert!(
                    (got - want).abs() <= rel * want + tiny_floor::<T>(),
                    "n = {n}, i = {i}: {got:e} vs {want:e}"
                );
            }
        }
    }

    fn tiny_probabilities_flush_but_log_probabilities_stay_exact<T: Element>() {
        // Logits (relative to the max 0) from moderate to far below the exp polynomial's
        // flush threshold ln MIN_POSITIVE (-87.3 in f32, -708.4 in f64), in every position
        // of a 16-lane vector and its tail.
        let t = T::MIN_POSITIVE.to_f64().ln();
        let offsets = [0.5, 0.9, 0.99, 1.0, 1.01, 1.05, 1.2, 2.0, 50.0];
        let mut xf: Vec<f64> = vec![0.0];
        for k in 1..37 {
            xf.push((offsets[k % offsets.len()] * t).round() - (k % 3) as f64);
        }
        let x: Vec<T> = xf.iter().map(|&v| T::from_f64(v)).collect();
        // The rounded logits are integers, exact in both types.
        assert!(x.iter().zip(&xf).all(|(a, b)| a.to_f64() == *b));
        let n = x.len();
        let (mut y, mut lp) = (vec![T::NAN; n], vec![T::NAN; n]);
        simd::softmax(&x, &mut y).unwrap();
        simd::log_softmax(&x, &mut lp).unwrap();
        // s = 1 + (terms below e^-43 / e^-354) rounds to exactly 1 in both types, ln s = 0,
        // so log_softmax returns the logits themselves, however far below the flush
        // threshold: its outputs never go through exp.
        let s: f64 = xf.iter().map(|v| v.exp()).sum();
        for i in 0..n {
            assert_eq!(lp[i], x[i], "log_softmax at {}", xf[i]);
            // Probabilities: relative error as for any row above the normals, and at most
            // MIN_POSITIVE absolute below them (flushed to 0 or subnormal, never negative).
            let want = xf[i].exp() / s;
            let got = y[i].to_f64();
            // (x_i - m = x_i is exact here; 64 EPS_F64 covers the f64 reference.)
            let rel = prob_ulps(n, poly_exp_ulps::<T>()) * T::EPSILON.to_f64() + 64.0 * EPS_F64;
            assert!(
                got >= 0.0 && (got - want).abs() <= rel * want + tiny_floor::<T>(),
                "softmax at {}: {got:e} vs {want:e}",
                xf[i]
            );
        }
        // Every other term is below e^-43 (f32) / e^-354 (f64): s rounds to exactly 1.
        assert_eq!((y[0], lp[0]), (T::ONE, T::ZERO));
    }

    fn errors_name_the_first_bad_row_and_column<T: Element>() {
        let (rows, cols) = (300, 257);
        let mut x = uniform::<T>(rows * cols, 9, -3.0, 3.0);
        // Row 120 has a +inf at column 200 and a NaN at 250; row 200 has a NaN at 3;
        // row 40 is entirely masked, but row 7 comes first with a NaN in the tail.
        put(
            &mut x,
            &[(120 * cols + 200, T::INFINITY), (120 * cols + 250, T::NAN)],
        );
        put(
            &mut x,
            &[(200 * cols + 3, T::NAN), (7 * cols + 256, T::NAN)],
        );
        let a = Tensor::new([rows, cols], x.clone()).unwrap();
        for threads in [1, 2, 7] {
            let e = with_threads(threads, || softmax(&a)).unwrap_err();
            match e {
                Error::NonFiniteLogit {
                    op: "softmax",
                    row: 7,
                    col: 256,
                    value,
                } => {
                    assert!(value.is_nan())
                }
                other => panic!("{other:?}"),
            }
        }
        put(&mut x, &[(7 * cols + 256, T::ZERO)]);
        for v in &mut x[40 * cols..41 * cols] {
            *v = T::NEG_INFINITY;
        }
        let a = Tensor::new([rows, cols], x.clone()).unwrap();
        assert_eq!(
            log_softmax(&a).unwrap_err(),
            Error::AllMasked {
                op: "log_softmax",
                row: 40
            }
        );
        for v in &mut x[40 * cols..41 * cols] {
            *v = T::ZERO;
        }
        let a = Tensor::new([rows, cols], x).unwrap();
        assert_eq!(
            softmax(&a).unwrap_err(),
            Error::NonFiniteLogit {
                op: "softmax",
                row: 120,
                col: 200,
                value: f64::INFINITY
            }
        );
        // Empty last dimension; mismatched backward shapes.
        let empty = Tensor::<T>::zeros([3, 0]);
        assert!(matches!(
            softmax(&empty),
            Err(Error::InvalidShape { op: "softmax", .. })
        ));
        assert!(matches!(
            log_softmax(&empty),
            Err(Error::InvalidShape { .. })
        ));
        let y = Tensor::<T>::zeros([2, 3]);
        let dy = Tensor::<T>::zeros([3, 2]);
        assert!(matches!(
            softmax_backward(&y, &dy),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            log_softmax_backward(&y, &dy),
            Err(Error::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn backward_matches_finite_differences_in_f64() {
        // L = sum_i w_i y_i (softmax) and L = sum_i w_i logp_i (log-softmax): central
        // differences in f64 with step h have error O(h^2 |L'''|) + O(eps / h); h = 1e-5
        // gives about 1e-10, compared at 1e-7 (f64 only, as every gradient check here).
        let n = 13;
        let x: Vec<f64> = uniform::<f64>(n, 17, -2.0, 2.0);
        let w: Vec<f64> = uniform::<f64>(n, 18, -1.0, 1.0);
        let loss = |x: &[f64], log: bool| -> f64 {
            let mut y = vec![0.0; x.len()];
            if log {
                scalar::log_softmax(x, &mut y).unwrap();
            } else {
                scalar::softmax(x, &mut y).unwrap();
            }
            y.iter().zip(&w).map(|(a, b)| a * b).sum()
        };
        for log in [false, true] {
            let mut y = vec![0.0; n];
            let mut dx = vec![0.0; n];
            if log {
                simd::log_softmax(&x, &mut y).unwrap();
                simd::log_softmax_backward(&y, &w, &mut dx);
            } else {
                simd::softmax(&x, &mut y).unwrap();
                simd::softmax_backward(&y, &w, &mut dx);
            }
            let h = 1e-5;
            for k in 0..n {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[k] += h;
                xm[k] -= h;
                let fd = (loss(&xp, log) - loss(&xm, log)) / (2.0 * h);
                assert!(
                    abs_diff_eq!(fd, dx[k], epsilon = 1e-7),
                    "log = {log}, k = {k}: {fd} vs {}",
                    dx[k]
                );
            }
        }
    }

    fn masked_classes_are_exact_zeros_and_never_nan<T: Element>() {
        let ninf = T::NEG_INFINITY;
        let x = Tensor::new(
            [2, 3],
            vec![
                ninf,
                T::ONE,
                ninf,
                T::from_f64(-1e4),
                ninf,
                T::from_f64(1e4),
            ],
        )
        .unwrap();
        let y = softmax(&x).unwrap();
        assert_eq!(
            y.as_slice(),
            &[T::ZERO, T::ONE, T::ZERO, T::ZERO, T::ZERO, T::ONE]
        );
        let lp = log_softmax(&x).unwrap();
        assert_eq!(lp.as_slice()[0], ninf);
        assert_eq!(lp.as_slice()[1], T::ZERO);
        assert_eq!(lp.as_slice()[3], T::from_f64(-2e4));
        let dy = Tensor::new(
            [2, 3],
            vec![T::NAN, T::ONE, T::INFINITY, T::ONE, T::NAN, T::ONE],
        )
        .unwrap();
        let dx = softmax_backward(&y, &dy).unwrap();
        assert!(dx.as_slice().iter().all(|v| *v == T::ZERO), "{dx:?}");
        let dx = log_softmax_backward(&lp, &dy).unwrap();
        // Row 0: s = 1 (only class 1 is live), dx_1 = 1 - 1 * 1 = 0. Row 1: the logit -1e4
        // is live (logp = -2e4, finite): s = 2, dx_0 = 1 - 0 * 2 = 1, dx_2 = 1 - 1 * 2 = -1.
        assert_eq!(
            dx.as_slice(),
            &[T::ZERO, T::ZERO, T::ZERO, T::ONE, T::ZERO, -T::ONE]
        );
        // A rank-0 tensor is one row of one class.
        assert_eq!(
            softmax(&Tensor::scalar(T::from_f64(3.0)))
                .unwrap()
                .item()
                .unwrap(),
            T::ONE
        );
    }

    fn twins_report_the_same_fault<T: Element>() {
        for n in lengths().into_iter().filter(|&n| n > 0) {
            let x = uniform::<T>(n, 31 + n as u64, -5.0, 5.0);
            let mut cases = vec![(vec![T::NEG_INFINITY; n], RowFault::AllMasked)];
            // A bad value in the first block, in a whole vector after the blocks, and in the
            // tail; when two are planted the first one is reported.
            for at in [0, n / 2, n - 1] {
                for bad in [T::NAN, T::INFINITY] {
                    let mut y = x.clone();
                    put(&mut y, &[(n - 1, T::NAN), (at, bad)]);
                    let fault = RowFault::NonFinite {
                        col: at,
                        value: bad.to_f64(),
                    };
                    cases.push((y, fault));
                }
            }
            for (y, want) in cases {
                let mut out = vec![T::ZERO; n];
                type Kernel<T> = fn(&[T], &mut [T]) -> Result<(), RowFault>;
                let kernels: [(&str, Kernel<T>); 4] = [
                    ("simd::softmax", simd::softmax),
                    ("scalar::softmax", scalar::softmax),
                    ("simd::log_softmax", simd::log_softmax),
                    ("scalar::log_softmax", scalar::log_softmax),
                ];
                for (name, kernel) in kernels {
                    let got = kernel(&y, &mut out).unwrap_err();
                    // RowFault holds an f64 that may be NaN: compare the parts.
                    let same = match (got, want) {
                        (RowFault::AllMasked, RowFault::AllMasked) => true,
                        (
                            RowFault::NonFinite { col: c, value: v },
                            RowFault::NonFinite { col: d, value: w },
                        ) => c == d && (v == w || (v.is_nan() && w.is_nan())),
                        _ => false,
                    };
                    assert!(same, "{name} n = {n}: {got:?}, want {want:?}");
                }
            }
        }
    }

    fn huge_finite_logits_never_give_nan<T: Element>() {
        // Far beyond the contract's |1e4|: a spread of MAX / 2 still subtracts without
        // overflow, so every output is finite (probabilities 0 or 1 up to rounding).
        let big = T::MAX.to_f64() / 4.0;
        for n in lengths().into_iter().filter(|&n| n > 0) {
            let x = uniform::<T>(n, 41 + n as u64, -big, big);
            let (mut y, mut lp) = (vec![T::NAN; n], vec![T::NAN; n]);
            simd::softmax(&x, &mut y).unwrap();
            simd::log_softmax(&x, &mut lp).unwrap();
            assert!(y.iter().all(|v| v.is_finite()), "n = {n}");
            assert!(lp.iter().all(|v| v.is_finite()), "n = {n}");
            let total: f64 = y.iter().map(|v| v.to_f64()).sum();
            assert!(abs_diff_eq!(total, 1.0, epsilon = 1e-5), "n = {n}: {total}");
        }
    }

    fn results_do_not_depend_on_the_thread_count<T: Element>() {
        let (rows, cols) = (129, 1031);
        let mut x = uniform::<T>(rows * cols, 21, -30.0, 30.0);
        put(
            &mut x,
            &[(3, T::NEG_INFINITY), (cols + 1030, T::NEG_INFINITY)],
        );
        let a = Tensor::new([rows, cols], x).unwrap();
        let dy = Tensor::new([rows, cols], uniform::<T>(rows * cols, 22, -1.0, 1.0)).unwrap();
        let run = || {
            let y = softmax(&a).unwrap();
            let lp = log_softmax(&a).unwrap();
            let mut v = softmax_backward(&y, &dy).unwrap().into_vec();
            v.extend(log_softmax_backward(&lp, &dy).unwrap().into_vec());
            v.extend(y.into_vec());
            v.extend(lp.into_vec());
            v
        };
        let one = with_threads(1, run);
        for threads in [2, 7] {
            assert_bitwise(
                &format!("{threads} threads"),
                &with_threads(threads, run),
                &one,
            );
        }
    }

    float_tests!(
        softmax_twins_agree,
        backward_twins_agree,
        rows_sum_to_one,
        matches_an_f64_reference,
        tiny_probabilities_flush_but_log_probabilities_stay_exact,
        errors_name_the_first_bad_row_and_column,
        masked_classes_are_exact_zeros_and_never_nan,
        twins_report_the_same_fault,
        huge_finite_logits_never_give_nan,
        results_do_not_depend_on_the_thread_count,
    );
}
