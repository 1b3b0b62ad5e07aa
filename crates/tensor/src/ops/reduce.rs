//! Reductions: per row ([`row_sum`], [`row_max`], [`row_argmax`], [`row_logsumexp`], over
//! the last dimension) and over a whole tensor ([`sum_all`], [`mean_all`]).
//!
//! ## Kernels
//! The [`simd`] kernels keep four independent vector accumulators, so that four additions
//! (or max operations, or `exp` polynomials) are in flight at once instead of each waiting
//! for the previous one's result; after the loop the four are combined as a tree
//! (`(a0 + a1) + (a2 + a3)`), the lanes are folded pairwise, and the elements left over are
//! added one by one (`// tail`). Loops that run `exp` instead pad the tail to one vector
//! with `-inf`, whose `exp` is exactly 0, so every element takes the same polynomial. The
//! [`scalar`] twins go left to right; tests compare the two with tolerances derived from the
//! summation error bound.
//!
//! ## Order and determinism
//! Each row is reduced by one thread in a fixed order, and rows come back in row order
//! ([`parallel::map_rows`]); [`sum_all`] adds the row sums in row order. The results are
//! the same bits for any number of threads.
//!
//! ## NaN
//! A NaN anywhere in a row makes that row's sum, max and log-sum-exp NaN (wide's lane-wise
//! `max` would skip it, so the SIMD max tracks NaNs separately), and [`row_argmax`] returns
//! the first NaN's index, as NumPy and PyTorch do.

use crate::{Element, Error, Result, SimdFloat, Tensor, parallel};

/// The shape of a per-row result: `shape` without its last dimension. A 1-D input gives a
/// rank-0 result; a rank-0 input (one row of one element) also gives a rank-0 result.
fn row_shape(shape: &[usize]) -> Vec<usize> {
    shape
        .split_last()
        .map_or_else(Vec::new, |(_, lead)| lead.to_vec())
}

/// Applies a per-row kernel to every row, in parallel for large tensors, results in order.
fn per_row<T: Element>(a: &Tensor<T>, f: impl Fn(&[T]) -> T + Sync + Send) -> Tensor<T> {
    let values = parallel::map_rows(a.rows(), a.cols(), |i| f(a.row(i)));
    Tensor::new(row_shape(a.shape()), values).expect("one value per row")
}

/// Sum of each row: `out[r] = sum_j a[r, j]`, shape = `a`'s without the last dimension.
/// An empty row sums to 0.
///
/// ```
/// use gumbel_tensor::{Tensor, ops};
/// let a = Tensor::new([2, 3], vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
/// assert_eq!(ops::row_sum(&a).as_slice(), &[6.0, 15.0]);
/// let v = Tensor::new([2], vec![1.0f32, 2.0]).unwrap();
/// assert_eq!(ops::row_sum(&v).rank(), 0); // a 1-D input gives a rank-0 result
/// assert_eq!(ops::row_sum(&v).item().unwrap(), 3.0);
/// ```
pub fn row_sum<T: Element>(a: &Tensor<T>) -> Tensor<T> {
    per_row(a, simd::sum)
}

/// Maximum of each row: `out[r] = max_j a[r, j]`; NaN if the row holds a NaN, `-inf` for
/// an empty row (the identity of `max`).
pub fn row_max<T: Element>(a: &Tensor<T>) -> Tensor<T> {
    per_row(a, simd::max)
}

/// `ln sum_j exp(a[r, j])` for each row, computed as `m + ln sum_j exp(a[r, j] - m)` with
/// `m` the row max, so that no `exp` overflows and the largest term is exactly 1.
/// A row of all `-inf` (or an empty row) gives `-inf` (the log of an empty sum); a `+inf`
/// gives `+inf`; a NaN gives NaN. The gradient is the row's softmax.
///
/// ```
/// use gumbel_tensor::{Tensor, ops};
/// let a = Tensor::new([2, 2], vec![0.0f64, 0.0, 1000.0, f64::NEG_INFINITY]).unwrap();
/// let lse = ops::row_logsumexp(&a);
/// assert!((lse.as_slice()[0] - 2f64.ln()).abs() < 1e-15);
/// assert_eq!(lse.as_slice()[1], 1000.0);
/// ```
pub fn row_logsumexp<T: Element>(a: &Tensor<T>) -> Tensor<T> {
    per_row(a, simd::logsumexp)
}

/// Index of the maximum of each row (the first one on ties; the first NaN if the row holds
/// a NaN), or an [`Error::InvalidShape`] if the last dimension is empty (a row with no
/// maximum).
///
/// ```
/// use gumbel_tensor::{Tensor, ops};
/// let a = Tensor::new([2, 3], vec![1.0f32, 7.0, 7.0, -1.0, f32::NEG_INFINITY, -0.5]).unwrap();
/// assert_eq!(ops::row_argmax(&a).unwrap(), vec![1, 2]);
/// ```
pub fn row_argmax<T: Element>(a: &Tensor<T>) -> Result<Vec<usize>> {
    if a.cols() == 0 {
        return Err(Error::invalid_shape(
            "row_argmax",
            a.shape(),
            "the last dimension is empty, so a row has no maximum",
        ));
    }
    Ok(parallel::map_rows(a.rows(), a.cols(), |i| {
        simd::argmax(a.row(i)).expect("rows are not empty")
    }))
}

/// Sum of all elements in a fixed order: each row's sum (as [`row_sum`]), then the row sums
/// added in row order. 0 for an empty tensor.
pub fn sum_all<T: Element>(a: &Tensor<T>) -> T {
    let sums = parallel::map_rows(a.rows(), a.cols(), |i| simd::sum(a.row(i)));
    sums.into_iter().fold(T::ZERO, |acc, s| acc + s)
}

/// Mean of all elements: [`sum_all`] divided by the number of elements. NaN for an empty
/// tensor (0 / 0), as in NumPy.
///
/// ```
/// use gumbel_tensor::{Tensor, ops};
/// let a = Tensor::new([2, 2], vec![1.0f32, 2.0, 3.0, 6.0]).unwrap();
/// assert_eq!((ops::sum_all(&a), ops::mean_all(&a)), (12.0, 3.0));
/// ```
pub fn mean_all<T: Element>(a: &Tensor<T>) -> T {
    sum_all(a) / T::from_usize(a.numel())
}

/// SIMD row kernels: four independent accumulators, a tree reduction, a tail.
pub mod simd {
    use super::{Element, SimdFloat};

    /// Lanes of the widest vector among the element types (`f32x8`).
    const MAX_LANES: usize = 8;

    /// `sum_i x_i`: four accumulators over blocks of `4 * LANES`, whole vectors into the
    /// first, a tree reduction, then the scalar tail.
    pub fn sum<T: Element>(x: &[T]) -> T {
        let l = T::LANES;
        let zero = T::Simd::splat(T::ZERO);
        let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
        let mut blocks = x.chunks_exact(4 * l);
        for b in &mut blocks {
            a0 += T::Simd::load(b);
            a1 += T::Simd::load(&b[l..]);
            a2 += T::Simd::load(&b[2 * l..]);
            a3 += T::Simd::load(&b[3 * l..]);
        }
        let mut vectors = blocks.remainder().chunks_exact(l);
        for v in &mut vectors {
            a0 += T::Simd::load(v);
        }
        let mut s = ((a0 + a1) + (a2 + a3)).reduce_add();
        // tail
        for &v in vectors.remainder() {
            s += v;
        }
        s
    }

    /// `max_i x_i`, NaN if any `x_i` is NaN, `-inf` if `x` is empty.
    pub fn max<T: Element>(x: &[T]) -> T {
        let l = T::LANES;
        let ninf = T::Simd::splat(T::NEG_INFINITY);
        let (mut m0, mut m1, mut m2, mut m3) = (ninf, ninf, ninf, ninf);
        // wide's lane-wise max returns the other operand when one is NaN, so NaNs are
        // collected here instead: a lane turns NaN and stays NaN once it meets one.
        let mut nan = T::Simd::splat(T::ZERO);
        let mut blocks = x.chunks_exact(4 * l);
        for b in &mut blocks {
            let (v0, v1) = (T::Simd::load(b), T::Simd::load(&b[l..]));
            let (v2, v3) = (T::Simd::load(&b[2 * l..]), T::Simd::load(&b[3 * l..]));
            m0 = m0.max(v0);
            m1 = m1.max(v1);
            m2 = m2.max(v2);
            m3 = m3.max(v3);
            nan = v0.select_nan(v0, nan);
            nan = v1.select_nan(v1, nan);
            nan = v2.select_nan(v2, nan);
            nan = v3.select_nan(v3, nan);
        }
        let mut vectors = blocks.remainder().chunks_exact(l);
        for v in &mut vectors {
            let v = T::Simd::load(v);
            m0 = m0.max(v);
            nan = v.select_nan(v, nan);
        }
        if nan.reduce_add().is_nan() {
            return T::NAN;
        }
        let mut m = (m0.max(m1)).max(m2.max(m3)).reduce_max();
        // tail
        for &v in vectors.remainder() {
            if v.is_nan() {
                return T::NAN;
            }
            m = m.max(v);
        }
        m
    }

    /// `sum_i exp(x_i - m)` for a finite `m` (the caller's row max): four accumulators;
    /// the tail is padded with `-inf`, which adds exactly `exp(-inf) = 0`.
    pub fn sum_exp_shifted<T: Element>(x: &[T], m: T) -> T {
        debug_assert!(m.is_finite());
        let l = T::LANES;
        let mv = T::Simd::splat(m);
        let zero = T::Simd::splat(T::ZERO);
        let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
        let mut blocks = x.chunks_exact(4 * l);
        for b in &mut blocks {
            a0 += (T::Simd::load(b) - mv).exp();
            a1 += (T::Simd::load(&b[l..]) - mv).exp();
            a2 += (T::Simd::load(&b[2 * l..]) - mv).exp();
            a3 += (T::Simd::load(&b[3 * l..]) - mv).exp();
        }
        let mut vectors = blocks.remainder().chunks_exact(l);
        for v in &mut vectors {
            a0 += (T::Simd::load(v) - mv).exp();
        }
        // tail: padded with -inf to one vector
        let rest = vectors.remainder();
        if !rest.is_empty() {
            let mut buf = [T::NEG_INFINITY; MAX_LANES];
            buf[..rest.len()].copy_from_slice(rest);
            a1 += (T::Simd::load(&buf) - mv).exp();
        }
        ((a0 + a1) + (a2 + a3)).reduce_add()
    }

    /// `ln sum_i exp(x_i)` (see [`super::row_logsumexp`] for the special cases).
    pub fn logsumexp<T: Element>(x: &[T]) -> T {
        let m = max(x);
        if !m.is_finite() {
            // NaN -> NaN, +inf -> +inf, -inf (all masked, or empty) -> -inf.
            return m;
        }
        m + sum_exp_shifted(x, m).ln()
    }

    /// Index of the first maximum (of the first NaN, if any); `None` for an empty slice.
    /// Two passes: the SIMD [`max`], then a scan for its first occurrence.
    pub fn argmax<T: Element>(x: &[T]) -> Option<usize> {
        let m = max(x);
        if m.is_nan() {
            x.iter().position(|v| v.is_nan())
        } else {
            x.iter().position(|&v| v == m)
        }
    }
}

/// Scalar reference row kernels, left to right, with the same signatures as [`simd`].
pub mod scalar {
    use super::Element;

    /// `sum_i x_i`, left to right.
    pub fn sum<T: Element>(x: &[T]) -> T {
        x.iter().fold(T::ZERO, |s, &v| s + v)
    }

    /// `max_i x_i`, NaN if any `x_i` is NaN, `-inf` if empty.
    pub fn max<T: Element>(x: &[T]) -> T {
        let mut m = T::NEG_INFINITY;
        for &v in x {
            if v.is_nan() {
                return T::NAN;
            }
            if v > m {
                m = v;
            }
        }
        m
    }

    /// `sum_i exp(x_i - m)`, left to right, with std's `exp`.
    pub fn sum_exp_shifted<T: Element>(x: &[T], m: T) -> T {
        x.iter().fold(T::ZERO, |s, &v| s + (v - m).exp())
    }

    /// `ln sum_i exp(x_i)`, shifted by the max.
    pub fn logsumexp<T: Element>(x: &[T]) -> T {
        let m = max(x);
        if !m.is_finite() {
            return m;
        }
        m + sum_exp_shifted(x, m).ln()
    }

    /// Index of the first maximum (of the first NaN, if any), in one pass.
    pub fn argmax<T: Element>(x: &[T]) -> Option<usize> {
        let mut best: Option<(usize, T)> = None;
        for (i, &v) in x.iter().enumerate() {
            if v.is_nan() {
                return Some(i);
            }
            if best.is_none_or(|(_, b)| v > b) {
                best = Some((i, v));
            }
        }
        best.map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{LENGTHS, assert_bitwise, put, uniform, with_threads};

    /// Error bound of a floating-point sum of `n` terms in any order: every partial sum
    /// is rounded at most `n - 1` times, so `|fl(sum) - sum| <= (n - 1) u sum |x_i|` (to
    /// first order, u = EPSILON / 2). Two such sums differ by at most twice that.
    fn sum_tolerance<T: Element>(x: &[T]) -> f64 {
        let abs: f64 = x.iter().map(|v| v.to_f64().abs()).sum();
        2.0 * x.len().saturating_sub(1) as f64 * T::EPSILON.to_f64() / 2.0 * abs
    }

    fn sum_twins_agree<T: Element>() {
        for &n in &LENGTHS {
            for (lo, hi) in [(-1.0, 1.0), (0.0, 1e6), (-1e30, 1e30)] {
                let x = uniform::<T>(n, n as u64 + 3, lo, hi);
                let (s, r) = (simd::sum(&x).to_f64(), scalar::sum(&x).to_f64());
                assert!(
                    (s - r).abs() <= sum_tolerance(&x),
                    "sum n = {n}: {s:e} vs {r:e}"
                );
            }
            // Special values: an infinity dominates, opposite infinities or a NaN give NaN.
            let mut x = uniform::<T>(n, 5, -1.0, 1.0);
            put(&mut x, &[(n.wrapping_sub(1), T::INFINITY)]);
            assert_eq!(simd::sum(&x), scalar::sum(&x));
            put(&mut x, &[(n / 2, T::NEG_INFINITY)]);
            if n > 1 {
                assert!(simd::sum(&x).is_nan() && scalar::sum(&x).is_nan());
            }
            put(&mut x, &[(n / 3, T::NAN)]);
            assert_eq!(simd::sum(&x).is_nan(), n > 0);
        }
    }

    fn max_and_argmax_twins_agree_exactly<T: Element>() {
        for &n in &LENGTHS {
            let mut x = uniform::<T>(n, n as u64 + 7, -100.0, 100.0);
            // max compares, it never rounds: the twins agree exactly.
            assert_eq!(
                simd::max(&x).to_bits(),
                scalar::max(&x).to_bits(),
                "n = {n}"
            );
            assert_eq!(simd::argmax(&x), scalar::argmax(&x), "n = {n}");
            if n == 0 {
                assert_eq!(simd::max(&x), T::NEG_INFINITY);
                assert_eq!(simd::argmax(&x), None);
                continue;
            }
            // Ties: the first occurrence wins, wherever it sits relative to the lanes.
            let top = T::from_f64(1e3);
            put(&mut x, &[(n - 1, top), (n / 2, top)]);
            assert_eq!(simd::argmax(&x), Some(n / 2));
            assert_eq!(scalar::argmax(&x), Some(n / 2));
            // A NaN anywhere (in a block, a whole vector, or the tail) wins.
            for at in [0, n / 2, n - 1] {
                let mut y = x.clone();
                put(&mut y, &[(at, T::NAN)]);
                assert!(
                    simd::max(&y).is_nan() && scalar::max(&y).is_nan(),
                    "n = {n}, at {at}"
                );
                assert_eq!(simd::argmax(&y), Some(at));
                assert_eq!(scalar::argmax(&y), Some(at));
            }
            // Infinities.
            let all_masked = vec![T::NEG_INFINITY; n];
            assert_eq!(simd::max(&all_masked), T::NEG_INFINITY);
            assert_eq!(simd::argmax(&all_masked), Some(0));
            let mut y = x.clone();
            put(&mut y, &[(n - 1, T::INFINITY)]);
            assert_eq!(simd::max(&y), T::INFINITY);
            assert_eq!(simd::argmax(&y), Some(n - 1));
        }
    }

    fn logsumexp_twins_agree<T: Element>() {
        // lse = m + ln s with s = sum exp(x_i - m) in [1, n]. Each twin's s carries the
        // exp error (<= 1 ulp per term, so relative <= 1 ulp overall) plus the summation
        // error (<= (n - 1) u relative, the terms being positive); ln turns a relative
        // error d of s into an absolute error d, plus its own 1 ulp of ln s <= ln n; the
        // final addition rounds by half an ulp of |lse|. So the twins differ by at most
        // 2 (eps + (n - 1) u + eps ln n) + eps |lse| (absolute).
        for &n in &LENGTHS {
            for (lo, hi) in [(-5.0, 5.0), (-1e4, 1e4), (50.0, 80.0)] {
                let mut x = uniform::<T>(n, n as u64 + 9, lo, hi);
                put(
                    &mut x,
                    &[(1, T::NEG_INFINITY), (T::LANES + 2, T::NEG_INFINITY)],
                );
                let (s, r) = (simd::logsumexp(&x).to_f64(), scalar::logsumexp(&x).to_f64());
                let (eps, nf) = (T::EPSILON.to_f64(), n as f64);
                let tol = 2.0 * (eps + (nf - 1.0).max(0.0) * eps / 2.0 + eps * nf.max(1.0).ln())
                    + eps * r.abs();
                if n == 0 {
                    assert_eq!((s, r), (f64::NEG_INFINITY, f64::NEG_INFINITY));
                } else {
                    assert!(
                        (s - r).abs() <= tol,
                        "lse n = {n}: {s:e} vs {r:e} (tol {tol:e})"
                    );
                }
            }
            if n == 0 {
                continue;
            }
            // The documented special cases.
            let mut x = vec![T::NEG_INFINITY; n];
            assert_eq!(simd::logsumexp(&x), T::NEG_INFINITY);
            put(&mut x, &[(n - 1, T::from_f64(-3.0))]);
            assert_eq!(simd::logsumexp(&x), T::from_f64(-3.0));
            put(&mut x, &[(n / 2, T::INFINITY)]);
            assert_eq!(simd::logsumexp(&x), T::INFINITY);
            put(&mut x, &[(0, T::NAN)]);
            assert!(simd::logsumexp(&x).is_nan() && scalar::logsumexp(&x).is_nan());
        }
    }

    fn logsumexp_of_equal_values_is_exact_and_huge_values_do_not_overflow<T: Element>() {
        // n equal values v: lse = v + ln n. Each term is exp(0) = 1 exactly and the sum of
        // n ones is exact, so only ln n and the final addition round.
        let n = 1000;
        let v = T::from_f64(1e4);
        let x = vec![v; n];
        let want = 1e4 + (n as f64).ln();
        let got = simd::logsumexp(&x).to_f64();
        assert!(
            (got - want).abs() <= T::EPSILON.to_f64() * want,
            "{got} vs {want}"
        );
        let t = Tensor::new([2, n / 2], x).unwrap();
        let lse = row_logsumexp(&t);
        assert_eq!(lse.shape(), &[2]);
        assert!(lse.as_slice().iter().all(|v| v.is_finite()));
    }

    fn tensor_level_shapes_and_errors<T: Element>() {
        let a = Tensor::from_fn([2, 3, 4], |i| T::from_usize(i % 5));
        assert_eq!(row_sum(&a).shape(), &[2, 3]);
        assert_eq!(row_max(&a).shape(), &[2, 3]);
        assert_eq!(row_logsumexp(&a).shape(), &[2, 3]);
        assert_eq!(row_argmax(&a).unwrap(), vec![3, 0, 1, 2, 3, 3]);
        assert_eq!(row_max(&a).as_slice()[1], T::from_f64(4.0));
        let v = Tensor::new([3], vec![T::ONE, T::from_f64(2.0), T::from_f64(3.0)]).unwrap();
        assert_eq!(row_sum(&v).rank(), 0);
        assert_eq!(row_sum(&v).item().unwrap(), T::from_f64(6.0));
        assert_eq!(row_sum(&Tensor::scalar(T::ONE)).shape(), &[] as &[usize]);
        // Empty rows: sum 0, max -inf, lse -inf, argmax an error; no rows: empty results.
        let e = Tensor::<T>::zeros([2, 0]);
        assert_eq!(row_sum(&e).as_slice(), &[T::ZERO, T::ZERO]);
        assert_eq!(row_max(&e).as_slice(), &[T::NEG_INFINITY; 2]);
        assert_eq!(row_logsumexp(&e).as_slice(), &[T::NEG_INFINITY; 2]);
        assert!(matches!(
            row_argmax(&e),
            Err(Error::InvalidShape {
                op: "row_argmax",
                ..
            })
        ));
        assert_eq!(row_sum(&Tensor::<T>::zeros([0, 4])).shape(), &[0]);
        assert_eq!(sum_all(&e), T::ZERO);
        assert!(mean_all(&e).is_nan());
        assert_eq!(sum_all(&a), T::from_usize((0..24).map(|i| i % 5).sum()));
        assert_eq!(
            mean_all(&Tensor::full([3, 5], T::from_f64(0.25))),
            T::from_f64(0.25)
        );
    }

    fn sum_all_is_row_sums_in_row_order<T: Element>() {
        let (rows, cols) = (300, 501);
        let a = Tensor::new([rows, cols], uniform::<T>(rows * cols, 77, -1.0, 1.0)).unwrap();
        let mut want = T::ZERO;
        for i in 0..rows {
            want += simd::sum(a.row(i));
        }
        assert_eq!(sum_all(&a).to_bits(), want.to_bits());
    }

    fn results_do_not_depend_on_the_thread_count<T: Element>() {
        let (rows, cols) = (257, 1031);
        let mut x = uniform::<T>(rows * cols, 99, -30.0, 30.0);
        put(
            &mut x,
            &[
                (5, T::NAN),
                (cols + 3, T::NEG_INFINITY),
                (2 * cols, T::INFINITY),
            ],
        );
        let a = Tensor::new([rows, cols], x).unwrap();
        let run = || {
            let mut v = row_sum(&a).into_vec();
            v.extend(row_max(&a).into_vec());
            v.extend(row_logsumexp(&a).into_vec());
            v.extend(row_argmax(&a).unwrap().into_iter().map(T::from_usize));
            v.push(sum_all(&a));
            v.push(mean_all(&row_logsumexp(&a)));
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
        sum_twins_agree,
        max_and_argmax_twins_agree_exactly,
        logsumexp_twins_agree,
        logsumexp_of_equal_values_is_exact_and_huge_values_do_not_overflow,
        tensor_level_shapes_and_errors,
        sum_all_is_row_sums_in_row_order,
        results_do_not_depend_on_the_thread_count,
    );
}
