//! The element types a [`Tensor`](crate::Tensor) may hold (`f32` and `f64`) and their SIMD
//! vectors.
//!
//! Every kernel in this crate is written once, generically over [`Element`], and so exists
//! for both types: `f32` for speed, `f64` for gradient checks. The trait is sealed: the
//! numerical contract (tolerances, noise grids) is stated for exactly these two types.
//!
//! Each element type names its SIMD vector through [`Element::Simd`]: wide's `f32x8` and
//! `f64x4` (one 256-bit register). Which instructions wide emits is decided at compile time
//! by `cfg(target_feature)`: with `-C target-cpu=native` on an AVX2 or AVX-512 machine these
//! are single `ymm` registers; in a portable SSE2 build each is two `xmm` halves. Results
//! differ between the two builds only in the last bits of `exp`/`ln` polynomials, never in
//! semantics.

use std::fmt::{Debug, Display, LowerExp};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use wide::{f32x8, f64x4};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for wide::f32x8 {}
    impl Sealed for wide::f64x4 {}
}

/// A floating-point element type: `f32` or `f64`.
///
/// [`GumbelElement`](crate::ops::gumbel::GumbelElement) is a supertrait: it carries the
/// per-type pieces of the Gumbel kernels (the uniform mapping) and, through
/// [`LaneElement`](crate::ops::lanes::LaneElement), the 512-bit vector and the `ln`/`exp`
/// polynomials that the Gumbel and softmax kernels share, so that those kernels can be
/// generic over `Element`.
///
/// Scalar methods (`exp`, `ln`, ...) are the standard library's and serve as the reference
/// against which the SIMD kernels are tested.
pub trait Element:
    sealed::Sealed
    + crate::ops::gumbel::GumbelElement
    + Copy
    + Send
    + Sync
    + Default
    + PartialEq
    + PartialOrd
    + Debug
    + Display
    + LowerExp
    + Sum
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + 'static
{
    /// The SIMD vector of this element type.
    type Simd: SimdFloat<Scalar = Self>;
    /// The unsigned integer of the same width (`u32` / `u64`), for bit manipulation.
    type Bits: Copy + Debug + PartialEq;

    /// Number of lanes in [`Element::Simd`].
    const LANES: usize;
    /// Name used in benchmark ids and messages (`"f32"`, `"f64"`).
    const NAME: &'static str;
    const ZERO: Self;
    const ONE: Self;
    const INFINITY: Self;
    const NEG_INFINITY: Self;
    const NAN: Self;
    /// Machine epsilon (the gap between 1 and the next representable number).
    const EPSILON: Self;
    /// Smallest positive normal number.
    const MIN_POSITIVE: Self;
    /// Largest finite number.
    const MAX: Self;

    /// Rounds an `f64` to this type (exact for `f64`).
    fn from_f64(x: f64) -> Self;
    /// Widens to `f64` (exact).
    fn to_f64(self) -> f64;
    /// Converts a count or index (exact below 2^24 for `f32`, 2^53 for `f64`).
    fn from_usize(n: usize) -> Self;
    /// The raw bits.
    fn to_bits(self) -> Self::Bits;

    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn tanh(self) -> Self;
    fn sqrt(self) -> Self;
    fn abs(self) -> Self;
    fn recip(self) -> Self;
    /// IEEE `maxNum`: if one operand is NaN the other is returned.
    fn max(self, other: Self) -> Self;
    /// IEEE `minNum`: if one operand is NaN the other is returned.
    fn min(self, other: Self) -> Self;
    fn is_nan(self) -> bool;
    fn is_finite(self) -> bool;
    /// `self * a + b` with a single rounding.
    fn mul_add(self, a: Self, b: Self) -> Self;
}

/// The SIMD operations the kernels use, implemented for `f32x8` and `f64x4`.
///
/// `load`/`store` read and write the first [`SimdFloat::LANES`] elements of a slice and
/// panic if it is shorter (a bounds check the optimiser hoists out of counted loops).
/// Horizontal reductions fold the lanes in a fixed order (pairwise tree over `to_array()`),
/// so a kernel's result does not depend on how rows are scheduled across threads.
pub trait SimdFloat:
    sealed::Sealed
    + Copy
    + Send
    + Sync
    + Debug
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
{
    type Scalar: Element<Simd = Self>;
    const LANES: usize;

    fn splat(x: Self::Scalar) -> Self;
    fn load(src: &[Self::Scalar]) -> Self;
    fn store(self, dst: &mut [Self::Scalar]);
    /// Lanes as an array-like slice (copied out).
    fn to_vec(self) -> Vec<Self::Scalar>;

    /// e^x (wide's polynomial; exp(-inf) = 0, exp(+inf) = +inf).
    fn exp(self) -> Self;
    /// ln x (wide's polynomial; ln 0 = -inf. Note: ln of a *subnormal* is -inf too).
    fn ln(self) -> Self;
    fn tanh(self) -> Self;
    fn sqrt(self) -> Self;
    fn abs(self) -> Self;
    /// Lane-wise max; if exactly one operand is NaN the other is returned.
    fn max(self, other: Self) -> Self;
    fn min(self, other: Self) -> Self;
    /// `self * a + b` (fused where the target has FMA).
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// Lane-wise `if self > other { a } else { b }`.
    fn select_gt(self, other: Self, a: Self, b: Self) -> Self;
    /// Lane-wise `if self >= other { a } else { b }`.
    fn select_ge(self, other: Self, a: Self, b: Self) -> Self;
    /// Lane-wise `if self.is_nan() { a } else { b }`.
    fn select_nan(self, a: Self, b: Self) -> Self;

    /// Sum of the lanes, folded pairwise in a fixed order.
    fn reduce_add(self) -> Self::Scalar;
    /// Max of the lanes (NaN lanes ignored unless all are NaN).
    fn reduce_max(self) -> Self::Scalar;
}

macro_rules! impl_element {
    ($t:ident, $simd:ident, $bits:ident, $lanes:expr) => {
        impl Element for $t {
            type Simd = $simd;
            type Bits = $bits;
            const LANES: usize = $lanes;
            const NAME: &'static str = stringify!($t);
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const INFINITY: Self = $t::INFINITY;
            const NEG_INFINITY: Self = $t::NEG_INFINITY;
            const NAN: Self = $t::NAN;
            const EPSILON: Self = $t::EPSILON;
            const MIN_POSITIVE: Self = $t::MIN_POSITIVE;
            const MAX: Self = $t::MAX;

            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn from_usize(n: usize) -> Self {
                n as $t
            }
            #[inline(always)]
            fn to_bits(self) -> $bits {
                $t::to_bits(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                $t::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                $t::ln(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                $t::tanh(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                $t::sqrt(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                $t::abs(self)
            }
            #[inline(always)]
            fn recip(self) -> Self {
                $t::recip(self)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                $t::max(self, other)
            }
            #[inline(always)]
            fn min(self, other: Self) -> Self {
                $t::min(self, other)
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                $t::is_nan(self)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                $t::is_finite(self)
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                $t::mul_add(self, a, b)
            }
        }

        impl SimdFloat for $simd {
            type Scalar = $t;
            const LANES: usize = $lanes;

            #[inline(always)]
            fn splat(x: $t) -> Self {
                $simd::splat(x)
            }
            #[inline(always)]
            fn load(src: &[$t]) -> Self {
                let a: [$t; $lanes] = src[..$lanes].try_into().unwrap();
                $simd::from(a)
            }
            #[inline(always)]
            fn store(self, dst: &mut [$t]) {
                dst[..$lanes].copy_from_slice(&self.to_array());
            }
            fn to_vec(self) -> Vec<$t> {
                self.to_array().to_vec()
            }
            #[inline(always)]
            fn exp(self) -> Self {
                $simd::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                $simd::ln(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                $simd::tanh(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                $simd::sqrt(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                $simd::abs(self)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                $simd::max(self, other)
            }
            #[inline(always)]
            fn min(self, other: Self) -> Self {
                $simd::min(self, other)
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                $simd::mul_add(self, a, b)
            }
            #[inline(always)]
            fn select_gt(self, other: Self, a: Self, b: Self) -> Self {
                self.simd_gt(other).select(a, b)
            }
            #[inline(always)]
            fn select_ge(self, other: Self, a: Self, b: Self) -> Self {
                self.simd_ge(other).select(a, b)
            }
            #[inline(always)]
            fn select_nan(self, a: Self, b: Self) -> Self {
                self.is_nan().select(a, b)
            }
            #[inline(always)]
            fn reduce_add(self) -> $t {
                pairwise_fold(self.to_array(), |a, b| a + b)
            }
            #[inline(always)]
            fn reduce_max(self) -> $t {
                pairwise_fold(self.to_array(), $t::max)
            }
        }
    };
}

impl_element!(f32, f32x8, u32, 8);
impl_element!(f64, f64x4, u64, 4);

/// Folds an array pairwise: `((a0 op a1) op (a2 op a3)) op (...)`, a fixed order.
#[inline(always)]
fn pairwise_fold<T: Copy, const N: usize>(mut a: [T; N], op: impl Fn(T, T) -> T) -> T {
    let mut n = N;
    while n > 1 {
        let half = n / 2;
        for i in 0..half {
            a[i] = op(a[2 * i], a[2 * i + 1]);
        }
        if n % 2 == 1 {
            a[half] = a[n - 1];
            n = half + 1;
        } else {
            n = half;
        }
    }
    a[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_fold_sums_every_lane_once() {
        assert_eq!(
            pairwise_fold([1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], |a, b| a + b),
            36.0
        );
        assert_eq!(pairwise_fold([1.0f64, 2.0, 3.0], |a, b| a + b), 6.0);
        assert_eq!(pairwise_fold([5.0f32], |a, b| a + b), 5.0);
    }

    #[test]
    fn simd_load_store_round_trip_and_reductions() {
        let x: Vec<f32> = (0..8).map(|i| i as f32 - 3.0).collect();
        let v = <f32 as Element>::Simd::load(&x);
        let mut out = vec![0.0f32; 8];
        v.store(&mut out);
        assert_eq!(x, out);
        assert_eq!(v.reduce_add(), x.iter().sum::<f32>());
        assert_eq!(v.reduce_max(), 4.0);
        let nan_lane = <f64 as Element>::Simd::from([1.0, f64::NAN, 3.0, -2.0]);
        assert_eq!(nan_lane.reduce_max(), 3.0);
    }
}
