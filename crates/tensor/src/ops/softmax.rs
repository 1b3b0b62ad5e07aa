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
//! Forward, per row, the row stays in cache across the passes: (1) the row max (the SIMD
//! [`reduce::simd::max`], which also catches NaN), (2) `exp(x - m)` written to the output
//! and summed in the same pass with four accumulators, (3) scaling by `1 / s`. The
//! `exp` passes pad their tail to one vector with `-inf`, so every element takes the same
//! polynomial; the arithmetic passes end with a scalar `// tail`. [`scalar`] holds the
//! twins with std's `exp`/`ln`, left to right.

use crate::ops::reduce;
use crate::{Element, Error, Result, SimdFloat, Tensor, parallel};

/// Why a row of logits was rejected; the tensor-level functions add the op and the row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RowFault {
    /// The first NaN or `+inf` logit of the row.
    NonFinite { col: usize, value: f64 },
    /// Every logit of the row is `-inf`.
    AllMasked,
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

/// SIMD row kernels (four accumulators; see the module docs for the loop shapes).
pub mod simd {
    use super::{Element, RowFault, SimdFloat, check_row, reduce};

    /// Lanes of the widest vector among the element types (`f32x8`).
    const MAX_LANES: usize = 8;

    /// `y = exp(x - m)`, returning `sum y`: four accumulators; the tail is padded with
    /// `-inf` (adding exactly 0) and only its real lanes are stored.
    fn exp_shifted_store<T: Element>(x: &[T], m: T, y: &mut [T]) -> T {
        debug_assert_eq!(x.len(), y.len());
        let l = T::LANES;
        let mv = T::Simd::splat(m);
        let zero = T::Simd::splat(T::ZERO);
        let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
        let body = x.len() - x.len() % (4 * l);
        for (xb, yb) in x[..body]
            .chunks_exact(4 * l)
            .zip(y[..body].chunks_exact_mut(4 * l))
        {
            let e0 = (T::Simd::load(xb) - mv).exp();
            let e1 = (T::Simd::load(&xb[l..]) - mv).exp();
            let e2 = (T::Simd::load(&xb[2 * l..]) - mv).exp();
            let e3 = (T::Simd::load(&xb[3 * l..]) - mv).exp();
            e0.store(yb);
            e1.store(&mut yb[l..]);
            e2.store(&mut yb[2 * l..]);
            e3.store(&mut yb[3 * l..]);
            a0 += e0;
            a1 += e1;
            a2 += e2;
            a3 += e3;
        }
        let vectors = (x.len() - body) / l * l;
        let (xr, yr) = (&x[body..], &mut y[body..]);
        for (xv, yv) in xr[..vectors]
            .chunks_exact(l)
            .zip(yr[..vectors].chunks_exact_mut(l))
        {
            let e = (T::Simd::load(xv) - mv).exp();
            e.store(yv);
            a0 += e;
        }
        // tail: padded with -inf to one vector
        let n = xr.len() - vectors;
        if n > 0 {
            let mut buf = [T::NEG_INFINITY; MAX_LANES];
            buf[..n].copy_from_slice(&xr[vectors..]);
            let e = (T::Simd::load(&buf) - mv).exp();
            e.store(&mut buf);
            yr[vectors..].copy_from_slice(&buf[..n]);
            a1 += e;
        }
        ((a0 + a1) + (a2 + a3)).reduce_add()
    }

    /// `y *= s` in place, then a scalar tail.
    fn scale_in_place<T: Element>(y: &mut [T], s: T) {
        let l = T::LANES;
        let sv = T::Simd::splat(s);
        let mut vectors = y.chunks_exact_mut(l);
        for v in &mut vectors {
            (T::Simd::load(v) * sv).store(v);
        }
        // tail
        for v in vectors.into_remainder() {
            *v *= s;
        }
    }

    /// One row of softmax: max (with the NaN / +inf / all-masked checks), exp and sum in one
    /// pass, then scaling by `1 / s` (`s >= 1`: the max's own term is exactly 1).
    pub fn softmax<T: Element>(x: &[T], y: &mut [T]) -> Result<(), RowFault> {
        let m = check_row(x, reduce::simd::max(x))?;
        let s = exp_shifted_store(x, m, y);
        scale_in_place(y, T::ONE / s);
        Ok(())
    }

    /// One row of log-softmax: `out = (x - m) - ln s`.
    pub fn log_softmax<T: Element>(x: &[T], out: &mut [T]) -> Result<(), RowFault> {
        debug_assert_eq!(x.len(), out.len());
        let m = check_row(x, reduce::simd::max(x))?;
        let ln_s = reduce::simd::sum_exp_shifted(x, m).ln();
        let l = T::LANES;
        let (mv, lv) = (T::Simd::splat(m), T::Simd::splat(ln_s));
        let body = x.len() - x.len() % l;
        for (xv, ov) in x[..body]
            .chunks_exact(l)
            .zip(out[..body].chunks_exact_mut(l))
        {
            ((T::Simd::load(xv) - mv) - lv).store(ov);
        }
        // tail
        for (o, &v) in out[body..].iter_mut().zip(&x[body..]) {
            *o = (v - m) - ln_s;
        }
        Ok(())
    }

    /// One row of the softmax backward: `d = sum_{y_i > 0} y_i dy_i` (four accumulators),
    /// then `dx_i = y_i > 0 ? y_i (dy_i - d) : 0`.
    pub fn softmax_backward<T: Element>(y: &[T], dy: &[T], dx: &mut [T]) {
        debug_assert!(y.len() == dy.len() && y.len() == dx.len());
        let l = T::LANES;
        let zero = T::Simd::splat(T::ZERO);
        // y_i * dy_i where the class is live, else 0 (even if dy_i is inf or NaN).
        let live = |y: T::Simd, dy: T::Simd| y.select_gt(zero, y * dy, zero);
        let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
        let body4 = y.len() - y.len() % (4 * l);
        for (yb, db) in y[..body4]
            .chunks_exact(4 * l)
            .zip(dy[..body4].chunks_exact(4 * l))
        {
            a0 += live(T::Simd::load(yb), T::Simd::load(db));
            a1 += live(T::Simd::load(&yb[l..]), T::Simd::load(&db[l..]));
            a2 += live(T::Simd::load(&yb[2 * l..]), T::Simd::load(&db[2 * l..]));
            a3 += live(T::Simd::load(&yb[3 * l..]), T::Simd::load(&db[3 * l..]));
        }
        let body = y.len() - y.len() % l;
        for (yv, dv) in y[body4..body]
            .chunks_exact(l)
            .zip(dy[body4..body].chunks_exact(l))
        {
            a0 += live(T::Simd::load(yv), T::Simd::load(dv));
        }
        let mut d = ((a0 + a1) + (a2 + a3)).reduce_add();
        // tail
        for (&yi, &di) in y[body..].iter().zip(&dy[body..]) {
            if yi > T::ZERO {
                d += yi * di;
            }
        }
        let dv = T::Simd::splat(d);
        for ((yv, gv), ov) in y[..body]
            .chunks_exact(l)
            .zip(dy[..body].chunks_exact(l))
            .zip(dx[..body].chunks_exact_mut(l))
        {
            let yv = T::Simd::load(yv);
            yv.select_gt(zero, yv * (T::Simd::load(gv) - dv), zero)
                .store(ov);
        }
        // tail
        for ((&yi, &di), o) in y[body..].iter().zip(&dy[body..]).zip(&mut dx[body..]) {
            *o = if yi > T::ZERO { yi * (di - d) } else { T::ZERO };
        }
    }

    /// One row of the log-softmax backward: `s = sum_{logp_i > -inf} dy_i`, then
    /// `dx_i = logp_i > -inf ? dy_i - exp(logp_i) s : 0`.
    pub fn log_softmax_backward<T: Element>(logp: &[T], dy: &[T], dx: &mut [T]) {
        debug_assert!(logp.len() == dy.len() && logp.len() == dx.len());
        let l = T::LANES;
        let zero = T::Simd::splat(T::ZERO);
        let ninf = T::Simd::splat(T::NEG_INFINITY);
        let live = |lp: T::Simd, dy: T::Simd| lp.select_gt(ninf, dy, zero);
        let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
        let body4 = logp.len() - logp.len() % (4 * l);
        for (pb, db) in logp[..body4]
            .chunks_exact(4 * l)
            .zip(dy[..body4].chunks_exact(4 * l))
        {
            a0 += live(T::Simd::load(pb), T::Simd::load(db));
            a1 += live(T::Simd::load(&pb[l..]), T::Simd::load(&db[l..]));
            a2 += live(T::Simd::load(&pb[2 * l..]), T::Simd::load(&db[2 * l..]));
            a3 += live(T::Simd::load(&pb[3 * l..]), T::Simd::load(&db[3 * l..]));
        }
        let body = logp.len() - logp.len() % l;
        for (pv, dv) in logp[body4..body]
            .chunks_exact(l)
            .zip(dy[body4..body].chunks_exact(l))
        {
            a0 += live(T::Simd::load(pv), T::Simd::load(dv));
        }
        let mut s = ((a0 + a1) + (a2 + a3)).reduce_add();
        // tail
        for (&p, &d) in logp[body..].iter().zip(&dy[body..]) {
            if p > T::NEG_INFINITY {
                s += d;
            }
        }
        let sv = T::Simd::splat(s);
        let grad = |p: T::Simd, d: T::Simd| p.select_gt(ninf, d - p.exp() * sv, zero);
        for ((pv, gv), ov) in logp[..body]
            .chunks_exact(l)
            .zip(dy[..body].chunks_exact(l))
            .zip(dx[..body].chunks_exact_mut(l))
        {
            grad(T::Simd::load(pv), T::Simd::load(gv)).store(ov);
        }
        // tail: padded with -inf (a masked class) to one vector, for the same exp as the body
        let n = logp.len() - body;
        if n > 0 {
            let (mut bp, mut bd) = ([T::NEG_INFINITY; MAX_LANES], [T::ZERO; MAX_LANES]);
            bp[..n].copy_from_slice(&logp[body..]);
            bd[..n].copy_from_slice(&dy[body..]);
            grad(T::Simd::load(&bp), T::Simd::load(&bd)).store(&mut bp);
            dx[body..].copy_from_slice(&bp[..n]);
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

    const EPS_F64: f64 = f64::EPSILON;

    /// Logit rows for every test length: moderate, wide (+-1e4), and with masked classes
    /// in a block, in a whole vector and in the tail.
    fn logit_rows<T: Element>(seed: u64) -> Vec<Vec<T>> {
        let mut rows = Vec::new();
        for &n in LENGTHS.iter().filter(|&&n| n > 0) {
            for (lo, hi) in [(-5.0, 5.0), (-1e4, 1e4)] {
                rows.push(uniform::<T>(n, seed + n as u64, lo, hi));
            }
            let mut x = uniform::<T>(n, seed + 1000 + n as u64, -20.0, 20.0);
            let ninf = T::NEG_INFINITY;
            put(
                &mut x,
                &[
                    (1, ninf),
                    (4 * T::LANES + 1, ninf),
                    (n.wrapping_sub(2), ninf),
                ],
            );
            if x.iter().any(|v| v.is_finite()) {
                rows.push(x);
            }
        }
        rows
    }

    /// Relative error of one softmax probability computed by either twin, in units of
    /// EPSILON: the `exp` (1 ulp <= eps), the sum `s` of positive terms ((n - 1) u for the
    /// scalar twin's left-to-right sum, the larger of the two: the SIMD twin's 4 * LANES
    /// partial sums have at most n / (4 LANES) + 4 terms each, plus a tree of 2 + log2(LANES)
    /// levels), and the division `1 / s` and the final multiply (u each).
    fn prob_ulps(n: usize) -> f64 {
        let n = n as f64;
        1.0 + 0.5 * (n - 1.0) + 1.0
    }

    fn softmax_twins_agree<T: Element>() {
        for x in logit_rows::<T>(1) {
            let n = x.len();
            let (mut a, mut b) = (vec![T::NAN; n], vec![T::NAN; n]);
            simd::softmax(&x, &mut a).unwrap();
            scalar::softmax(&x, &mut b).unwrap();
            // Each twin's y_i is within prob_ulps(n) ulps of the true value, relative.
            let tol = 2.0 * prob_ulps(n) * T::EPSILON.to_f64();
            for i in 0..n {
                let (s, r) = (a[i].to_f64(), b[i].to_f64());
                assert!(
                    s.is_finite() && r.is_finite(),
                    "n = {n}, i = {i}: {s} / {r}"
                );
                if x[i] == T::NEG_INFINITY {
                    assert!(s == 0.0 && r == 0.0, "masked class {i}: {s} / {r}");
                }
                // Results below MIN_POSITIVE are subnormal: absolute units of 2^-149 / 2^-1074.
                let floor = 4.0 * T::MIN_POSITIVE.to_f64() * T::EPSILON.to_f64();
                assert!(
                    (s - r).abs() <= tol * r.abs() + floor,
                    "n = {n}, i = {i}: {s:e} vs {r:e}"
                );
            }
            let (mut a, mut b) = (vec![T::NAN; n], vec![T::NAN; n]);
            simd::log_softmax(&x, &mut a).unwrap();
            scalar::log_softmax(&x, &mut b).unwrap();
            // log y = (x - m) - ln s: (x - m) is the same in both (one rounding); ln s
            // differs by the relative error of s (as above, twice) plus 1 ulp of ln s
            // <= ln n each; the final subtraction rounds by half an ulp of |log y|.
            for i in 0..n {
                let (s, r) = (a[i].to_f64(), b[i].to_f64());
                if x[i] == T::NEG_INFINITY {
                    assert!(s == f64::NEG_INFINITY && r == f64::NEG_INFINITY);
                    continue;
                }
                let eps = T::EPSILON.to_f64();
                let tol =
                    2.0 * (prob_ulps(n) * eps + eps * (n as f64).ln().max(1.0)) + eps * r.abs();
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
            // the twins' p_i differ by <= 2 ulp (2 eps p_i), the product rounds once in each
            // (eps p_i |s| between them) and the subtraction once (eps |dx_i|).
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
                let tol = 3.0 * eps * p * s_live.abs() + eps * r.abs();
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
        // same e_i: the exp errors cancel, only the summation error of s remains. The SIMD
        // sum has 4 * LANES partial sums of at most n / (4 LANES) + 4 terms each and a tree
        // of 2 + log2(LANES) levels: at most (n / (4 LANES) + 9) u. For n <= 4096:
        // (128 + 9 + 2) u = 8.3e-6 in f32 and (256 + 9 + 2) u = 3.0e-14 in f64, under the
        // contract's 1e-5 / 1e-12. The check sum is taken in f64 (error <= 4096 u_f64 =
        // 4.5e-13, still inside the f64 bound).
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
        // prob_ulps(n), the kernel rounds its argument: fl(x_i - m) is off by up to
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
                let rel = prob_ulps(n) * T::EPSILON.to_f64()
                    + u * (xf[i] - m).abs()
                    + s_arg
                    + 64.0 * EPS_F64;
                // Results below MIN_POSITIVE are subnormal: absolute units of 2^-149 / 2^-1074.
                let floor = 4.0 * T::MIN_POSITIVE.to_f64() * T::EPSILON.to_f64();
                let got = y[i].to_f64();
                assert!(
                    (got - want).abs() <= rel * want + floor,
                    "n = {n}, i = {i}: {got:e} vs {want:e}"
                );
            }
        }
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
                    (fd - dx[k]).abs() < 1e-7,
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
        for &n in LENGTHS.iter().filter(|&&n| n > 0) {
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
        for &n in LENGTHS.iter().filter(|&&n| n > 0) {
            let x = uniform::<T>(n, 41 + n as u64, -big, big);
            let (mut y, mut lp) = (vec![T::NAN; n], vec![T::NAN; n]);
            simd::softmax(&x, &mut y).unwrap();
            simd::log_softmax(&x, &mut lp).unwrap();
            assert!(y.iter().all(|v| v.is_finite()), "n = {n}");
            assert!(lp.iter().all(|v| v.is_finite()), "n = {n}");
            let total: f64 = y.iter().map(|v| v.to_f64()).sum();
            assert!((total - 1.0).abs() <= 1e-5, "n = {n}: {total}");
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
        errors_name_the_first_bad_row_and_column,
        masked_classes_are_exact_zeros_and_never_nan,
        twins_report_the_same_fault,
        huge_finite_logits_never_give_nan,
        results_do_not_depend_on_the_thread_count,
    );
}
