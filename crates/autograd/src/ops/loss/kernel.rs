//! Row kernels of the losses: the row max, `exp(x - m)` stored and summed in one pass (the
//! unnormalised softmax and its normaliser), and the log-sum-exp; SIMD ([`simd`]) with a
//! scalar twin ([`scalar`]) of the same signatures. Then the in-place step that turns the
//! stored exponentials into the cross-entropy gradient, and the elementwise
//! binary-cross-entropy-with-logits terms (small tensors, scalar code).
//!
//! SIMD loop shape: two independent accumulators over `2 * LANES` elements, then one
//! vector, then the `// tail` padded into a full vector (with `-inf` for a max, 0 for a
//! sum), so every element goes through the same vector code. The exponentials use the
//! Gumbel kernels' `exp` polynomial for arguments `<= 0` (see [`simd::exp_store_sum`]).

use std::mem::MaybeUninit;

use gumbel_tensor::{Element, SimdFloat};

/// Loads `x` (shorter than one vector) padded with `fill`.
#[inline(always)]
fn load_padded<T: Element>(x: &[T], fill: T) -> T::Simd {
    let mut buf = [fill; 16];
    buf[..x.len()].copy_from_slice(x);
    T::Simd::load(&buf)
}

pub mod simd {
    use super::*;

    /// `max_j x_j` (`-inf` for an empty row). NaN entries are skipped by wide's lane max;
    /// the exponential passes below report them.
    pub fn max<T: Element>(x: &[T]) -> T {
        let l = T::LANES;
        let mut m = [T::Simd::splat(T::NEG_INFINITY); 4];
        let mut quads = x.chunks_exact(4 * l);
        for c in &mut quads {
            for (k, mk) in m.iter_mut().enumerate() {
                *mk = mk.max(T::Simd::load(&c[k * l..]));
            }
        }
        let mut singles = quads.remainder().chunks_exact(l);
        for c in &mut singles {
            m[0] = m[0].max(T::Simd::load(c));
        }
        // tail
        m[1] = m[1].max(load_padded(singles.remainder(), T::NEG_INFINITY));
        m[0].max(m[1]).max(m[2].max(m[3])).reduce_max()
    }

    /// `sum_j exp(x_j - m)` (NaN if any `x_j` is NaN), handing each block of exponentials
    /// to `sink(start, values)` in order. For `m = max_j x_j` every argument is `<= 0` (or
    /// `-inf`), the range of the Gumbel kernels' Cephes `exp` polynomial
    /// ([`Element::exp_scalar`]: branch-free, so the plain loops below compile to
    /// full-width vector code, several times faster than wide's general `exp` in the
    /// `lstm_lm` profile: docs/performance.md). The polynomial maps NaN to 0, so
    /// the loops also look for NaN. Blocks of `2 * LANES` go to two vector accumulators;
    /// the `// tail` is padded with zeros.
    pub fn exp_sum_with<T: Element>(x: &[T], m: T, mut sink: impl FnMut(usize, &[T])) -> T {
        let l = T::LANES;
        let mut buf = [T::ZERO; 32];
        let mut nan = false;
        let (mut s0, mut s1) = (T::Simd::splat(T::ZERO), T::Simd::splat(T::ZERO));
        let mut pairs = x.chunks_exact(2 * l);
        let mut start = 0;
        for c in &mut pairs {
            for (b, &v) in buf.iter_mut().zip(c) {
                *b = T::exp_scalar(v - m);
                nan |= v.is_nan();
            }
            sink(start, &buf[..2 * l]);
            start += 2 * l;
            s0 += T::Simd::load(&buf);
            s1 += T::Simd::load(&buf[l..]);
        }
        // tail
        for c in pairs.remainder().chunks(l) {
            let mut b = [T::ZERO; 16];
            for (b, &v) in b.iter_mut().zip(c) {
                *b = T::exp_scalar(v - m);
                nan |= v.is_nan();
            }
            sink(start, &b[..c.len()]);
            start += c.len();
            s1 += T::Simd::load(&b);
        }
        if nan { T::NAN } else { (s0 + s1).reduce_add() }
    }

    /// [`exp_sum_with`] without storing the terms.
    pub fn exp_sum<T: Element>(x: &[T], m: T) -> T {
        exp_sum_with(x, m, |_, _| {})
    }

    /// [`exp_sum_with`] storing `exp(x_j - m)` in `out[j]`.
    pub fn exp_store_sum<T: Element>(x: &[T], m: T, out: &mut [T]) -> T {
        debug_assert_eq!(x.len(), out.len());
        exp_sum_with(x, m, |s, v| out[s..s + v.len()].copy_from_slice(v))
    }

    /// [`exp_sum_with`] initialising `out[j]` (uninitialised memory) to `exp(x_j - m)`:
    /// every element of `out` is written (`out.len() == x.len()`).
    pub fn exp_sum_into_uninit<T: Element>(x: &[T], m: T, out: &mut [MaybeUninit<T>]) -> T {
        debug_assert_eq!(x.len(), out.len());
        exp_sum_with(x, m, |s, v| {
            for (o, &e) in out[s..s + v.len()].iter_mut().zip(v) {
                o.write(e);
            }
        })
    }

    /// [`exp_sum_with`] in place: `x[j]` becomes `exp(x_j - m)`; returns their sum. The
    /// same exponentials in the same order as [`exp_store_sum`], so the same bits.
    pub fn exp_sum_in_place<T: Element>(x: &mut [T], m: T) -> T {
        let l = T::LANES;
        let mut nan = false;
        let (mut s0, mut s1) = (T::Simd::splat(T::ZERO), T::Simd::splat(T::ZERO));
        let mut buf = [T::ZERO; 32];
        let mut pairs = x.chunks_exact_mut(2 * l);
        for c in &mut pairs {
            // into a local block first (as exp_sum_with does), then back: the loop stays one
            // vector pass and the sums read registers, not the stores just made
            for (b, &v) in buf.iter_mut().zip(c.iter()) {
                *b = T::exp_scalar(v - m);
                nan |= v.is_nan();
            }
            c.copy_from_slice(&buf[..2 * l]);
            s0 += T::Simd::load(&buf);
            s1 += T::Simd::load(&buf[l..]);
        }
        // tail
        for c in pairs.into_remainder().chunks_mut(l) {
            let mut b = [T::ZERO; 16];
            for (b, v) in b.iter_mut().zip(c.iter_mut()) {
                nan |= v.is_nan();
                *v = T::exp_scalar(*v - m);
                *b = *v;
            }
            s1 += T::Simd::load(&b);
        }
        if nan { T::NAN } else { (s0 + s1).reduce_add() }
    }

    /// `ln(sum_j exp(x_j))`, computed as `m + ln(sum_j exp(x_j - m))` with `m = max_j x_j`
    /// so that no exponential overflows. `-inf` if every entry is `-inf`; NaN if any is NaN.
    ///
    /// This is the log-sum-exp in the cross-entropy's own arithmetic: [`max`] and
    /// [`exp_sum`] of this module, so its value is bit for bit the `lse` inside every
    /// cross-entropy loss (`m + ln s - x_t`). It is deliberately not
    /// `gumbel_tensor::ops::reduce::simd::logsumexp`, which sums in another order and with
    /// another `exp`: wide's full-range `exp`, four accumulators over blocks of `4 * LANES`
    /// (here: the Cephes polynomial for arguments `<= 0`, two accumulators over blocks of
    /// `2 * LANES`), and NaN tracked in the max instead of in the exponential pass. The two
    /// agree to about an ulp but not in every bit (on `f32` rows of 7 to 5000 logits in
    /// `[-10, 10]`, 3% of the results differ), and the losses keep their faster order. The
    /// scalar reference, [`super::scalar::logsumexp`], is the tensor crate's.
    pub fn logsumexp<T: Element>(x: &[T]) -> T {
        let m = max(x);
        if m == T::NEG_INFINITY || m == T::INFINITY {
            // an empty or all-masked row, or a +inf entry: the scalar twin's special cases
            return super::scalar::logsumexp(x);
        }
        m + exp_sum(x, m).ln()
    }
}

pub mod scalar {
    use super::*;

    /// Scalar twin of [`super::simd::max`].
    pub fn max<T: Element>(x: &[T]) -> T {
        x.iter().fold(T::NEG_INFINITY, |a, &b| a.max(b))
    }

    /// Scalar twin of [`super::simd::exp_store_sum`].
    pub fn exp_store_sum<T: Element>(x: &[T], m: T, out: &mut [T]) -> T {
        let mut s = T::ZERO;
        for (o, &v) in out.iter_mut().zip(x) {
            *o = (v - m).exp();
            s += *o;
        }
        s
    }

    /// Scalar twin of [`super::simd::logsumexp`]: the tensor crate's scalar log-sum-exp
    /// (`m + ln sum_j exp(x_j - m)` left to right with std's `exp`; NaN for a NaN entry, `m`
    /// itself for `m = +-inf`).
    pub use gumbel_tensor::ops::reduce::scalar::logsumexp;
}

/// Turns a row of `exp(x_j - m)` into the cross-entropy gradient in place:
/// `p_j = scale * p_j / s - scale * [j == target]` (`factor = scale / s`), i.e.
/// `scale * (softmax(x) - onehot(target))`.
pub fn softmax_minus_onehot_in_place<T: Element>(p: &mut [T], factor: T, target: usize, scale: T) {
    for v in p.iter_mut() {
        *v *= factor;
    }
    p[target] -= scale;
}

/// Binary cross-entropy with logits, one element: `max(x, 0) - x y + ln(1 + e^-|x|)`,
/// which equals `-(y ln s + (1 - y) ln(1 - s))` with `s = sigmoid(x)` but never takes the
/// log of 0 or exponentiates a large positive number.
#[inline]
pub fn bce_with_logits<T: Element>(x: T, y: T) -> T {
    x.max(T::ZERO) - x * y + (T::ONE + (-x.abs()).exp()).ln()
}

/// `sigmoid(x)` without overflow, for the BCE gradient `sigmoid(x) - y`.
#[inline]
pub fn sigmoid<T: Element>(x: T) -> T {
    let e = (-x.abs()).exp();
    if x >= T::ZERO {
        T::ONE / (T::ONE + e)
    } else {
        e / (T::ONE + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::{abs_diff_eq, assert_abs_diff_eq, assert_relative_eq, relative_eq};

    /// wide's exp/ln are within a few ulp of std's; summed over up to 1023 terms in a
    /// different order, the results agree to a few hundred ulp of the row's scale: 1e-4
    /// relative in f32 (2^-23 = 1.2e-7 times ~1000), 1e-12 in f64.
    macro_rules! twins_agree {
        ($name:ident, $t:ty, $tol:expr) => {
            #[test]
            fn $name() {
                for &n in &[1usize, 7, 8, 9, 15, 16, 17, 1023] {
                    let x: Vec<$t> = (0..n)
                        .map(|i| ((i * 37 % 101) as $t) * 0.13 - 6.0)
                        .collect();
                    let (a, b) = (simd::logsumexp(&x), scalar::logsumexp(&x));
                    assert!(
                        relative_eq!(a, b, epsilon = $tol, max_relative = $tol),
                        "n={n}: {a} vs {b}"
                    );
                    assert_eq!(simd::max(&x), scalar::max(&x));
                    let m = scalar::max(&x);
                    let (mut pa, mut pb) = (vec![0.0; n], vec![0.0; n]);
                    let (sa, sb) = (
                        simd::exp_store_sum(&x, m, &mut pa),
                        scalar::exp_store_sum(&x, m, &mut pb),
                    );
                    assert!(
                        relative_eq!(sa, sb, epsilon = 0.0, max_relative = $tol),
                        "n={n}: {sa} vs {sb}"
                    );
                    // in place: the same exponentials and sum, bit for bit
                    let mut xi = x.clone();
                    assert_eq!(simd::exp_sum_in_place(&mut xi, m).to_bits(), sa.to_bits());
                    assert!(xi.iter().zip(&pa).all(|(a, b)| a.to_bits() == b.to_bits()));
                    assert_relative_eq!(
                        simd::exp_sum(&x, m),
                        sa,
                        epsilon = 0.0,
                        max_relative = $tol
                    );
                    for (p, q) in pa.iter().zip(&pb) {
                        assert!(abs_diff_eq!(p, q, epsilon = $tol), "n={n}: {p} vs {q}");
                    }
                }
                // edge cases: all -inf, one +inf, a NaN, huge logits
                let ninf = <$t>::NEG_INFINITY;
                assert_eq!(simd::logsumexp(&[ninf; 9]), ninf);
                assert_eq!(simd::logsumexp(&[0.0, <$t>::INFINITY, 1.0]), <$t>::INFINITY);
                assert!(simd::logsumexp(&[0.0, <$t>::NAN, 1.0]).is_nan());
                let big = simd::logsumexp(&[1e30 as $t, 1e30 as $t]);
                assert_abs_diff_eq!(big, 1e30 as $t, epsilon = 1e30 as $t * $tol);
                assert_eq!(simd::logsumexp(&[ninf, 0.0, ninf]), 0.0);
            }
        };
    }
    twins_agree!(twins_agree_f32, f32, 1e-4);
    twins_agree!(twins_agree_f64, f64, 1e-12);

    #[test]
    fn in_place_gradient_by_hand() {
        // p = exp(x - m) = (1, 3), s = 4, scale 2, target 1: 2 * (1/4, 3/4) - 2 * (0, 1)
        let mut p = [1.0f64, 3.0];
        softmax_minus_onehot_in_place(&mut p, 2.0 / 4.0, 1, 2.0);
        assert_eq!(p, [0.5, -0.5]);
    }

    #[test]
    fn bce_terms_by_hand() {
        // x = 0: ln 2 for any y; sigmoid(0) = 1/2
        assert_abs_diff_eq!(bce_with_logits(0.0f64, 1.0), 2f64.ln(), epsilon = 1e-15);
        // x = 100, y = 1: ~e^-100; x = -100, y = 1: ~100
        assert!(bce_with_logits(100.0f64, 1.0) < 1e-40);
        assert_abs_diff_eq!(bce_with_logits(-100.0f64, 1.0), 100.0, epsilon = 1e-12);
        assert_eq!(sigmoid(0.0f32), 0.5);
        // far left: e^-30 / (1 + e^-30) keeps full relative precision (1 - sigmoid(30) would
        // cancel to ~1e-16 absolute); e^-1000 underflows to exactly 0
        let s = sigmoid(-30.0f64);
        assert_relative_eq!(
            s,
            (-30f64).exp() / (1.0 + (-30f64).exp()),
            epsilon = 0.0,
            max_relative = 1e-15
        );
        assert_eq!(sigmoid(-1000.0f64), 0.0);
    }
}
