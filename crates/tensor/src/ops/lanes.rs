//! [`Lanes`]: the 512-bit vectors (`f32x16`, `f64x8`) the Gumbel and softmax kernels run
//! on, and [`LaneElement`], which ties each element type to its vector and to the
//! `exp`/`ln` polynomials of `poly.rs` (each with its bitwise scalar twin).
//!
//! The generic kernels of `elementwise` and `reduce` use the 256-bit
//! [`SimdFloat`](crate::SimdFloat) vectors. The Gumbel kernels use 512 bits because one
//! step of the 8-lane xoshiro generator yields 8 x 64 random bits: exactly one `f32x16` of
//! uniforms (two 23-bit uniforms per word) or one `f64x8` (one 52-bit uniform per word).
//! The softmax kernels use them because they are compute bound on `exp`: with
//! `-C target-cpu=native` on an AVX-512 machine each vector is one `zmm` register, twice the
//! elements per instruction (docs/kernels.md, "SIMD width"). In a portable build wide
//! emulates them with two AVX or four SSE halves: same results, lower speed.
//!
//! Only the operations the kernels use are here. Horizontal reductions fold the lanes in
//! a fixed pairwise order, so results never depend on how rows are scheduled.

use std::mem::MaybeUninit;
use std::ops::{Add, Mul, Neg, Sub};

use wide::{f32x16, f64x8};

use super::poly;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The per-type half of the 512-bit kernels (implemented for `f32` and `f64`, and a
/// supertrait of [`Element`](crate::Element) through
/// [`GumbelElement`](crate::ops::gumbel::GumbelElement)): the vector type and the `ln`/`exp`
/// polynomials of `poly.rs`, each with a scalar twin that returns bitwise the same result
/// (error bounds and domains in `poly.rs`).
pub trait LaneElement: sealed::Sealed + Copy + Send + Sync + 'static {
    /// `f32x16` or `f64x8`.
    type Lanes: Lanes<Scalar = Self>;
    /// `ln x` for positive normal `x`, <= 1 ulp (`f32`) / <= 2 ulp of std (`f64`).
    fn ln_lanes(x: Self::Lanes) -> Self::Lanes;
    /// Scalar twin of [`LaneElement::ln_lanes`] (bitwise identical).
    fn ln_scalar(x: Self) -> Self;
    /// `e^x` for `x <= 0` or `-inf` (valid up to `+88` / `+709`), <= 2 ulp (`f32`) / <= 2
    /// ulp of std (`f64`) for normal results; results below the smallest normal (`x` below
    /// about `-87.3` / `-708.4`) flush to `+0.0`, and `e^-inf = +0.0` exactly.
    fn exp_lanes(x: Self::Lanes) -> Self::Lanes;
    /// Scalar twin of [`LaneElement::exp_lanes`] (bitwise identical).
    fn exp_scalar(x: Self) -> Self;
}

macro_rules! impl_lane_element {
    ($t:ident, $v:ident, $ln_v:ident, $ln_s:ident, $exp_v:ident, $exp_s:ident) => {
        impl LaneElement for $t {
            type Lanes = $v;
            #[inline(always)]
            fn ln_lanes(x: $v) -> $v {
                poly::$ln_v(x)
            }
            #[inline(always)]
            fn ln_scalar(x: $t) -> $t {
                poly::$ln_s(x)
            }
            #[inline(always)]
            fn exp_lanes(x: $v) -> $v {
                poly::$exp_v(x)
            }
            #[inline(always)]
            fn exp_scalar(x: $t) -> $t {
                poly::$exp_s(x)
            }
        }
    };
}

impl_lane_element!(f32, f32x16, ln_f32x16, ln_f32, exp_f32x16, exp_f32);
impl_lane_element!(f64, f64x8, ln_f64x8, ln_f64, exp_f64x8, exp_f64);

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
