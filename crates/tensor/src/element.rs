//! The element types a [`Tensor`](crate::Tensor) may hold (`f32` and `f64`).
//!
//! Every kernel in this crate is written once, generically over [`Element`], and so exists
//! for both types: `f32` for speed, `f64` for gradient checks. The trait is sealed: the
//! numerical contract (tolerances, noise grids) is stated for exactly these two types.
//!
//! Besides the scalar arithmetic, each element type names what its vector kernels need:
//! its two SIMD vectors ([`Element::Simd`], 256 bits, and [`Element::Lanes`], 512 bits;
//! their operations are in [`crate::simd`]), the `ln`/`exp` polynomials of `poly.rs` on
//! the 512-bit vector with their scalar twins, and the mapping from random words to the
//! uniforms of the Gumbel noise ([`crate::random`]). All of it lives below the ops: this
//! module imports nothing from [`crate::ops`].

use std::fmt::{Debug, Display, LowerExp};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use wide::{f32x8, f32x16, f64x4, f64x8, u64x8};

use crate::poly;
use crate::random;
use crate::simd::SimdFloat;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point element type: `f32` or `f64`.
///
/// Scalar methods (`exp`, `ln`, ...) are the standard library's and serve as the reference
/// against which the SIMD kernels are tested. The methods after them are the per-type
/// pieces of the 512-bit kernels (Gumbel and softmax), so that those kernels can be generic
/// over `Element`: the `ln`/`exp` polynomials, each with a scalar twin that returns bitwise
/// the same result (error bounds and domains in `poly.rs`), and the uniforms of one step
/// of the Gumbel noise generator ([`crate::random`], "The uniform grid").
pub trait Element:
    sealed::Sealed
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
    /// The 256-bit SIMD vector of this element type (`f32x8`, `f64x4`), used by the
    /// generic kernels.
    type Simd: SimdFloat<Scalar = Self>;
    /// The 512-bit SIMD vector (`f32x16`, `f64x8`), used by the Gumbel and softmax kernels.
    type Lanes: SimdFloat<Scalar = Self>;
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

    /// `ln x` for positive normal `x`, <= 1 ulp (`f32`) / <= 2 ulp of std (`f64`).
    fn ln_lanes(x: Self::Lanes) -> Self::Lanes;
    /// Scalar twin of [`Element::ln_lanes`] (bitwise identical).
    fn ln_scalar(x: Self) -> Self;
    /// `e^x` for `x <= 0` or `-inf` (valid up to `+88` / `+709`), <= 2 ulp (`f32`) / <= 2
    /// ulp of std (`f64`) for normal results; results below the smallest normal (`x` below
    /// about `-87.3` / `-708.4`) flush to `+0.0`, and `e^-inf = +0.0` exactly.
    fn exp_lanes(x: Self::Lanes) -> Self::Lanes;
    /// Scalar twin of [`Element::exp_lanes`] (bitwise identical).
    fn exp_scalar(x: Self) -> Self;
    /// The uniforms of one generator step (8 random words): 16 for `f32`, 8 for `f64`, on
    /// the grid `(k + 1/2) 2^-b` of [`crate::random`].
    fn uniforms(w: u64x8) -> Self::Lanes;
    /// Scalar twin of [`Element::uniforms`]: writes `Lanes::LANES` uniforms to `out`.
    fn uniforms_scalar(w: [u64; 8], out: &mut [Self]);
}

macro_rules! impl_element {
    (
        $t:ident, $simd:ident, $lanes_ty:ident, $bits:ident, $lanes:expr,
        $ln_v:ident, $ln_s:ident, $exp_v:ident, $exp_s:ident, $uni_v:ident, $uni_s:ident
    ) => {
        impl Element for $t {
            type Simd = $simd;
            type Lanes = $lanes_ty;
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
            #[inline(always)]
            fn ln_lanes(x: $lanes_ty) -> $lanes_ty {
                poly::$ln_v(x)
            }
            #[inline(always)]
            fn ln_scalar(x: $t) -> $t {
                poly::$ln_s(x)
            }
            #[inline(always)]
            fn exp_lanes(x: $lanes_ty) -> $lanes_ty {
                poly::$exp_v(x)
            }
            #[inline(always)]
            fn exp_scalar(x: $t) -> $t {
                poly::$exp_s(x)
            }
            #[inline(always)]
            fn uniforms(w: u64x8) -> $lanes_ty {
                random::$uni_v(w)
            }
            #[inline(always)]
            fn uniforms_scalar(w: [u64; 8], out: &mut [$t]) {
                random::$uni_s(w, out)
            }
        }
    };
}

// (element, 256-bit vector, 512-bit vector, bits, 256-bit lanes, then the poly.rs and
// random.rs functions behind ln_lanes, ln_scalar, exp_lanes, exp_scalar, uniforms,
// uniforms_scalar)
impl_element! {
    f32, f32x8, f32x16, u32, 8,
    ln_f32x16, ln_f32, exp_f32x16, exp_f32, uniforms_f32x16, uniforms_f32
}
impl_element! {
    f64, f64x4, f64x8, u64, 4,
    ln_f64x8, ln_f64, exp_f64x8, exp_f64, uniforms_f64x8, uniforms_f64
}
