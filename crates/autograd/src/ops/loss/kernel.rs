//! Row kernels of the losses: the log-sum-exp of a row of logits, and the fused
//! cross-entropy gradient `scale * (softmax(x) - onehot(t))` in one pass; SIMD ([`simd`])
//! with a scalar twin ([`scalar`]) of the same signatures. Plus the elementwise
//! binary-cross-entropy-with-logits terms (small tensors, scalar code).
//!
//! SIMD loop shape: two independent accumulators over `2 * LANES` elements, then one
//! vector, then the `// tail` padded into a full vector (with `-inf`, which adds nothing to
//! a max or to a sum of exponentials), so every element goes through the same vector code.

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

    /// `ln(sum_j exp(x_j))`, computed as `m + ln(sum_j exp(x_j - m))` with `m = max_j x_j`
    /// so that no exponential overflows. `-inf` if every entry is `-inf`; NaN if any is NaN.
    pub fn logsumexp<T: Element>(x: &[T]) -> T {
        let l = T::LANES;
        // pass 1: max (NaN-aware lane max; a NaN is re-detected below through the sum)
        let mut m0 = T::Simd::splat(T::NEG_INFINITY);
        let mut m1 = m0;
        let mut pairs = x.chunks_exact(2 * l);
        for c in &mut pairs {
            m0 = m0.max(T::Simd::load(c));
            m1 = m1.max(T::Simd::load(&c[l..]));
        }
        let rest = pairs.remainder();
        let mut singles = rest.chunks_exact(l);
        for c in &mut singles {
            m0 = m0.max(T::Simd::load(c));
        }
        // tail
        m1 = m1.max(load_padded(singles.remainder(), T::NEG_INFINITY));
        let m = m0.max(m1).reduce_max();
        if m == T::NEG_INFINITY || m == T::INFINITY || m.is_nan() {
            return super::scalar::logsumexp(x);
        }
        // pass 2: sum of exp(x - m)
        let mv = T::Simd::splat(m);
        let mut s0 = T::Simd::splat(T::ZERO);
        let mut s1 = s0;
        let mut pairs = x.chunks_exact(2 * l);
        for c in &mut pairs {
            s0 += (T::Simd::load(c) - mv).exp();
            s1 += (T::Simd::load(&c[l..]) - mv).exp();
        }
        let mut singles = pairs.remainder().chunks_exact(l);
        for c in &mut singles {
            s0 += (T::Simd::load(c) - mv).exp();
        }
        // tail
        s1 += (load_padded(singles.remainder(), T::NEG_INFINITY) - mv).exp();
        m + (s0 + s1).reduce_add().ln()
    }

    /// `dx_j = scale * (exp(x_j - lse) - [j == target])`: the gradient of
    /// `scale * (lse - x_target)` with respect to the row `x`.
    pub fn softmax_minus_onehot<T: Element>(
        x: &[T],
        lse: T,
        target: usize,
        scale: T,
        dx: &mut [T],
    ) {
        debug_assert_eq!(x.len(), dx.len());
        let l = T::LANES;
        let (lv, sv) = (T::Simd::splat(lse), T::Simd::splat(scale));
        let mut xs = x.chunks_exact(l);
        let mut ds = dx.chunks_exact_mut(l);
        for (c, d) in (&mut xs).zip(&mut ds) {
            ((T::Simd::load(c) - lv).exp() * sv).store(d);
        }
        // tail
        let (xt, dt) = (xs.remainder(), ds.into_remainder());
        if !xt.is_empty() {
            let mut buf = [T::ZERO; 16];
            ((load_padded(xt, T::NEG_INFINITY) - lv).exp() * sv).store(&mut buf);
            dt.copy_from_slice(&buf[..xt.len()]);
        }
        dx[target] -= scale;
    }
}

pub mod scalar {
    use super::*;

    /// Scalar twin of [`simd::logsumexp`](super::simd::logsumexp).
    pub fn logsumexp<T: Element>(x: &[T]) -> T {
        if x.iter().any(|v| v.is_nan()) {
            return T::NAN;
        }
        let m = x.iter().fold(T::NEG_INFINITY, |a, &b| a.max(b));
        if m == T::NEG_INFINITY || m == T::INFINITY {
            return m;
        }
        m + x.iter().map(|&v| (v - m).exp()).sum::<T>().ln()
    }

    /// Scalar twin of [`simd::softmax_minus_onehot`](super::simd::softmax_minus_onehot).
    pub fn softmax_minus_onehot<T: Element>(
        x: &[T],
        lse: T,
        target: usize,
        scale: T,
        dx: &mut [T],
    ) {
        for (d, &v) in dx.iter_mut().zip(x) {
            *d = scale * (v - lse).exp();
        }
        dx[target] -= scale;
    }
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
                        (a - b).abs() <= $tol * b.abs().max(1.0),
                        "n={n}: {a} vs {b}"
                    );
                    let t = n / 2;
                    let (mut da, mut db) = (vec![0.0; n], vec![0.0; n]);
                    simd::softmax_minus_onehot(&x, b, t, 0.5, &mut da);
                    scalar::softmax_minus_onehot(&x, b, t, 0.5, &mut db);
                    for (p, q) in da.iter().zip(&db) {
                        assert!((p - q).abs() <= $tol, "n={n}: {p} vs {q}");
                    }
                }
                // edge cases: all -inf, one +inf, a NaN, huge logits
                let ninf = <$t>::NEG_INFINITY;
                assert_eq!(simd::logsumexp(&[ninf; 9]), ninf);
                assert_eq!(simd::logsumexp(&[0.0, <$t>::INFINITY, 1.0]), <$t>::INFINITY);
                assert!(simd::logsumexp(&[0.0, <$t>::NAN, 1.0]).is_nan());
                let big = simd::logsumexp(&[1e30 as $t, 1e30 as $t]);
                assert!((big - 1e30 as $t).abs() <= 1e30 as $t * $tol);
                assert_eq!(simd::logsumexp(&[ninf, 0.0, ninf]), 0.0);
            }
        };
    }
    twins_agree!(twins_agree_f32, f32, 1e-4);
    twins_agree!(twins_agree_f64, f64, 1e-12);

    #[test]
    fn bce_terms_by_hand() {
        // x = 0: ln 2 for any y; sigmoid(0) = 1/2
        assert!((bce_with_logits(0.0f64, 1.0) - 2f64.ln()).abs() < 1e-15);
        // x = 100, y = 1: ~e^-100; x = -100, y = 1: ~100
        assert!(bce_with_logits(100.0f64, 1.0) < 1e-40);
        assert!((bce_with_logits(-100.0f64, 1.0) - 100.0).abs() < 1e-12);
        assert_eq!(sigmoid(0.0f32), 0.5);
        // far left: e^-30 / (1 + e^-30) keeps full relative precision (1 - sigmoid(30) would
        // cancel to ~1e-16 absolute); e^-1000 underflows to exactly 0
        let s = sigmoid(-30.0f64);
        assert!((s - (-30f64).exp() / (1.0 + (-30f64).exp())).abs() <= 1e-15 * s);
        assert_eq!(sigmoid(-1000.0f64), 0.0);
    }
}
