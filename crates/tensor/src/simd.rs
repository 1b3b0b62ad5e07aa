//! The SIMD vectors the kernels run on, and the operations they use on them.
//!
//! - [`SimdFloat`]: the 256-bit vectors `f32x8` and `f64x4` ([`Element::Simd`]), on which
//!   the generic kernels of `elementwise`, `reduce` and `categorical` (and the autograd and
//!   GAN crates' row kernels) are written.
//! - [`Lanes`]: the 512-bit vectors `f32x16` and `f64x8` ([`Element::Lanes`]), on which
//!   the Gumbel and softmax kernels run. The Gumbel kernels use 512 bits because one step
//!   of the 8-lane xoshiro generator yields 8 x 64 random bits: exactly one `f32x16` of
//!   uniforms (two 23-bit uniforms per word) or one `f64x8` (one 52-bit uniform per word).
//!   The softmax kernels use them because they are compute bound on `exp`: with
//!   `-C target-cpu=native` on an AVX-512 machine each vector is one `zmm` register, twice
//!   the elements per instruction (docs/kernels.md, "SIMD width").
//!
//! Which instructions wide emits is decided at compile time by `cfg(target_feature)`: with
//! `-C target-cpu=native` on an AVX2 or AVX-512 machine a 256-bit vector is one `ymm`
//! register; in a portable SSE2 build it is two `xmm` halves (a 512-bit one two AVX or four
//! SSE halves). Results differ between the two builds only in the last bits of wide's
//! `exp`/`ln` polynomials and where `mul_add` fuses, never in semantics.
//!
//! Only the operations the kernels use are here. Horizontal reductions fold the lanes in
//! a fixed pairwise order, so results never depend on how rows are scheduled.

use std::fmt::Debug;
use std::mem::MaybeUninit;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

use wide::{f32x8, f32x16, f64x4, f64x8};

use crate::element::Element;

mod sealed {
    pub trait Sealed {}
    impl Sealed for wide::f32x8 {}
    impl Sealed for wide::f64x4 {}
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

macro_rules! impl_simd_float {
    ($simd:ident, $t:ident, $lanes:expr) => {
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

impl_simd_float!(f32x8, f32, 8);
impl_simd_float!(f64x4, f64, 4);

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

/// A 512-bit float vector: `f32x16` or `f64x8`.
pub trait Lanes:
    Copy
    + Send
    + Sync
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Neg<Output = Self>
{
    /// The element type.
    type Scalar: Copy + PartialOrd;
    /// Number of lanes (16 for `f32x16`, 8 for `f64x8`).
    const N: usize;

    /// Every lane set to `x`.
    fn splat(x: Self::Scalar) -> Self;
    /// The first `N` elements of `src` (panics if it is shorter).
    fn load(src: &[Self::Scalar]) -> Self;
    /// `src` (at most `N` elements) in the first lanes, `fill` in the others.
    fn load_or(src: &[Self::Scalar], fill: Self::Scalar) -> Self;
    /// Writes all lanes to the first `N` elements of `dst` (panics if it is shorter).
    fn store(self, dst: &mut [Self::Scalar]);
    /// Writes the first `dst.len()` (at most `N`) lanes to `dst`.
    fn store_part(self, dst: &mut [Self::Scalar]);
    /// [`Lanes::store`] into uninitialised memory (initialising the first `N` elements).
    fn store_uninit(self, dst: &mut [MaybeUninit<Self::Scalar>]);
    /// [`Lanes::store_part`] into uninitialised memory (initialising all of `dst`).
    fn store_part_uninit(self, dst: &mut [MaybeUninit<Self::Scalar>]);
    /// The lanes as a slice (no copy, no allocation).
    fn as_slice(&self) -> &[Self::Scalar];
    /// The lanes as a vector (for tests).
    fn to_vec(self) -> Vec<Self::Scalar>;
    /// `self * a + b`: one rounding when the target has FMA (wide's `mul_add`), two
    /// otherwise. The scalar twins mirror this choice with `poly::fma`.
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// Lane-wise `if self > other { self } else { other }` (x86 `maxps`: when either lane
    /// is NaN the result is `other`). Only used where the contract excludes NaN or where
    /// NaN is detected separately.
    fn fast_max(self, other: Self) -> Self;
    /// Lane-wise `if self > other { a } else { b }`.
    fn select_gt(self, other: Self, a: Self, b: Self) -> Self;
    /// Lane-wise `if self >= other { a } else { b }`.
    fn select_ge(self, other: Self, a: Self, b: Self) -> Self;
    /// Bit `i` set iff lane `i` of `self` equals lane `i` of `other`.
    fn eq_bits(self, other: Self) -> u32;
    /// Sum of the lanes, folded pairwise in a fixed order.
    fn reduce_add(self) -> Self::Scalar;
    /// Max of the lanes (`fast_max` folded pairwise in a fixed order).
    fn reduce_max(self) -> Self::Scalar;
}

macro_rules! impl_lanes {
    ($v:ident, $t:ident, $n:expr) => {
        impl Lanes for $v {
            type Scalar = $t;
            const N: usize = $n;

            #[inline(always)]
            fn splat(x: $t) -> Self {
                $v::splat(x)
            }
            #[inline(always)]
            fn load(src: &[$t]) -> Self {
                let a: [$t; $n] = src[..$n].try_into().unwrap();
                $v::new(a)
            }
            #[inline(always)]
            fn load_or(src: &[$t], fill: $t) -> Self {
                let mut a = [fill; $n];
                a[..src.len()].copy_from_slice(src);
                $v::new(a)
            }
            #[inline(always)]
            fn store(self, dst: &mut [$t]) {
                dst[..$n].copy_from_slice(self.as_array());
            }
            #[inline(always)]
            fn store_part(self, dst: &mut [$t]) {
                let k = dst.len();
                dst.copy_from_slice(&self.as_array()[..k]);
            }
            #[inline(always)]
            fn store_uninit(self, dst: &mut [MaybeUninit<$t>]) {
                for (d, &x) in dst[..$n].iter_mut().zip(self.as_array()) {
                    d.write(x);
                }
            }
            #[inline(always)]
            fn store_part_uninit(self, dst: &mut [MaybeUninit<$t>]) {
                for (d, &x) in dst.iter_mut().zip(self.as_array()) {
                    d.write(x);
                }
            }
            #[inline(always)]
            fn as_slice(&self) -> &[$t] {
                self.as_array()
            }
            fn to_vec(self) -> Vec<$t> {
                self.to_array().to_vec()
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                $v::mul_add(self, a, b)
            }
            #[inline(always)]
            fn fast_max(self, other: Self) -> Self {
                $v::fast_max(self, other)
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
            fn eq_bits(self, other: Self) -> u32 {
                self.simd_eq(other).to_bitmask()
            }
            #[inline(always)]
            fn reduce_add(self) -> $t {
                pairwise(self.to_array(), |a, b| a + b)
            }
            #[inline(always)]
            fn reduce_max(self) -> $t {
                pairwise(self.to_array(), |a, b| if a > b { a } else { b })
            }
        }
    };
}

impl_lanes!(f32x16, f32, 16);
impl_lanes!(f64x8, f64, 8);

/// Folds a power-of-two array pairwise: `(a0 op a1) op (a2 op a3)`, ... a fixed order.
#[inline(always)]
fn pairwise<T: Copy, const N: usize>(mut a: [T; N], op: impl Fn(T, T) -> T) -> T {
    let mut n = N;
    while n > 1 {
        n /= 2;
        for i in 0..n {
            a[i] = op(a[2 * i], a[2 * i + 1]);
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

    #[test]
    fn load_store_and_partial_round_trip() {
        let x: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let v = f32x16::load(&x);
        let mut out = vec![0.0f32; 16];
        v.store(&mut out);
        assert_eq!(out, x);
        let p = f64x8::load_or(&[1.0, 2.0, 3.0], -5.0);
        assert_eq!(
            p.to_vec(),
            vec![1.0, 2.0, 3.0, -5.0, -5.0, -5.0, -5.0, -5.0]
        );
        let mut d = [0.0f64; 3];
        p.store_part(&mut d);
        assert_eq!(d, [1.0, 2.0, 3.0]);
    }

    #[test]
    fn reductions_fold_every_lane() {
        let v = f64x8::new([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        assert_eq!(v.reduce_add(), 36.0);
        assert_eq!(v.reduce_max(), 8.0);
        let w = f32x16::new([-1.0; 16]);
        assert_eq!(w.reduce_add(), -16.0);
        let m = f32x16::load_or(&[3.0, 9.0], f32::NEG_INFINITY);
        assert_eq!(m.reduce_max(), 9.0);
    }

    #[test]
    fn eq_bits_marks_equal_lanes() {
        let v = f32x16::load_or(&[1.0, 2.0, 1.0], 0.0);
        assert_eq!(v.eq_bits(f32x16::splat(1.0)), 0b101);
        assert_eq!(f64x8::splat(f64::NAN).eq_bits(f64x8::splat(f64::NAN)), 0);
    }

    #[test]
    fn fast_max_returns_other_on_nan_like_maxps() {
        let a = f32x16::splat(f32::NAN);
        let b = f32x16::splat(1.0);
        assert_eq!(a.fast_max(b).to_vec(), vec![1.0; 16]);
    }
}
