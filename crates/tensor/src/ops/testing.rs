//! Test support shared by the op families (compiled for tests only): the `float_tests!`
//! macro that instantiates a generic test for `f32` and `f64`, the lengths every SIMD
//! kernel is tested on, reproducible pseudo-random data, and an elementwise closeness check
//! whose tolerance is stated in units of the type's epsilon.

use crate::Element;
use crate::random;

/// Lengths that reach every path of a SIMD loop: empty, shorter than one vector, one vector
/// and one either side (f32x8 has 8 lanes, f64x4 has 4), two vectors and one either side,
/// the unrolled block of four f32x8 vectors and one either side, and a long odd length.
pub const LENGTHS: [usize; 12] = [0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 1023];

/// Instantiates generic test functions `fn name<T: Element>()` as `#[test]`s for `f32`
/// (in module `on_f32`) and `f64` (in `on_f64`).
macro_rules! float_tests {
    ($($name:ident),* $(,)?) => {
        mod on_f32 {
            $( #[test] fn $name() { super::$name::<f32>(); } )*
        }
        mod on_f64 {
            $( #[test] fn $name() { super::$name::<f64>(); } )*
        }
    };
}

/// `n` reproducible values, uniform in `[lo, hi)`, from SplitMix64 seeded with `seed`.
pub fn uniform<T: Element>(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<T> {
    let mut state = seed.wrapping_mul(random::GOLDEN_GAMMA) ^ 0xD1B5_4A32_D192_ED03;
    (0..n)
        .map(|_| {
            let u = random::unit_f64(random::splitmix64(state));
            state = state.wrapping_add(random::GOLDEN_GAMMA);
            T::from_f64(lo + (hi - lo) * u)
        })
        .collect()
}

/// Writes `value` at each `index` of `x` that is in bounds.
pub fn put<T: Copy>(x: &mut [T], at: &[(usize, T)]) {
    for &(i, v) in at {
        if i < x.len() {
            x[i] = v;
        }
    }
}

/// Asserts, element by element, `|got - want| <= ulps * EPSILON * max(|got|, |want|) + abs`.
/// A NaN must face a NaN, and an infinity the same infinity. The message names `what`, the
/// index and both values.
pub fn assert_close<T: Element>(what: &str, got: &[T], want: &[T], ulps: f64, abs: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let eps = T::EPSILON.to_f64();
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g.to_f64(), w.to_f64());
        let ok = if g.is_nan() || w.is_nan() {
            g.is_nan() && w.is_nan()
        } else if g.is_infinite() || w.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= ulps * eps * g.abs().max(w.abs()) + abs
        };
        assert!(
            ok,
            "{what} [{}]: element {i}: got {g:e}, want {w:e} (diff {:e}; tol {ulps} ulp + {abs:e})",
            T::NAME,
            (g - w).abs()
        );
    }
}

/// Asserts that two slices hold the same bits (so `NaN == NaN` and `0.0 != -0.0`).
pub fn assert_bitwise<T: Element>(what: &str, got: &[T], want: &[T]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.to_bits() == w.to_bits(),
            "{what} [{}]: element {i}: got {g:e}, want {w:e} (bits differ)",
            T::NAME
        );
    }
}

/// Asserts that two slices hold the same values: the same bits, except that any NaN matches
/// any NaN (which NaN payload an operation propagates is not a property of our kernels).
pub fn assert_same<T: Element>(what: &str, got: &[T], want: &[T]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
            "{what} [{}]: element {i}: got {g:e}, want {w:e}",
            T::NAME
        );
    }
}

/// Runs `f` inside a rayon pool of `threads` threads ([`crate::parallel::with_threads`],
/// unwrapped for tests).
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    crate::parallel::with_threads(threads, f).expect("building a rayon pool")
}
