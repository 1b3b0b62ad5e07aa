//! The SIMD vectors the kernels run on, and [`SimdFloat`]: the one set of operations the
//! kernels use on them, implemented for every vector width they need.
//!
//! - 256 bits, `f32x8` and `f64x4` ([`Element::Simd`]): the generic kernels of
//!   `elementwise`, `reduce` and `categorical`, and the autograd and GAN crates' row
//!   kernels.
//! - 512 bits, `f32x16` and `f64x8` ([`Element::Lanes`]): the Gumbel and softmax kernels.
//!   The Gumbel kernels use 512 bits because one step of the 8-lane xoshiro generator
//!   yields 8 x 64 random bits: exactly one `f32x16` of uniforms (two 23-bit uniforms per
//!   word) or one `f64x8` (one 52-bit uniform per word). The softmax kernels use them
//!   because they are compute bound on `exp`: with `-C target-cpu=native` on an AVX-512
//!   machine each vector is one `zmm` register, twice the elements per instruction
//!   (docs/kernels.md, "SIMD width").
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
    impl Sealed for wide::f32x16 {}
    impl Sealed for wide::f64x8 {}
}

/// A SIMD float vector and the operations the kernels use on it, implemented for the
/// 256-bit `f32x8`/`f64x4` ([`Element::Simd`]) and the 512-bit `f32x16`/`f64x8`
/// ([`Element::Lanes`]): one vocabulary for every width.
///
/// `load`/`store` read and write the first [`SimdFloat::LANES`] elements of a slice and
/// panic if it is shorter (a bounds check the optimiser hoists out of counted loops);
/// `load_or` and the `store_part` family handle a row's shorter tail. Horizontal
/// reductions fold the lanes pairwise in a fixed order (`(a0 op a1) op (a2 op a3)`, ...),
/// so a kernel's result does not depend on how rows are scheduled across threads.
///
/// Two maxima, chosen per call site: [`max`](SimdFloat::max) and
/// [`reduce_max`](SimdFloat::reduce_max) are IEEE `maxNum` (a NaN operand loses to a
/// number), [`fast_max`](SimdFloat::fast_max) and
/// [`reduce_fast_max`](SimdFloat::reduce_fast_max) are x86 `maxps` (one instruction;
/// `if a > b { a } else { b }`, so a NaN in either operand gives the second). `exp`,
/// `ln` and `tanh` are wide's, accurate over the whole IEEE domain; the 512-bit kernels use
/// the faster polynomials for their input ranges instead ([`Element::exp_lanes`],
/// [`Element::ln_lanes`]).
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
    /// The element type.
    type Scalar: Element;
    /// Number of lanes: 8 (`f32x8`), 4 (`f64x4`), 16 (`f32x16`), 8 (`f64x8`).
    const LANES: usize;

    /// Every lane set to `x`.
    fn splat(x: Self::Scalar) -> Self;
    /// The first `LANES` elements of `src` (panics if it is shorter).
    fn load(src: &[Self::Scalar]) -> Self;
    /// `src` (at most `LANES` elements) in the first lanes, `fill` in the others.
    fn load_or(src: &[Self::Scalar], fill: Self::Scalar) -> Self;
    /// Writes all lanes to the first `LANES` elements of `dst` (panics if it is shorter).
    fn store(self, dst: &mut [Self::Scalar]);
    /// Writes the first `dst.len()` (at most `LANES`) lanes to `dst`.
    fn store_part(self, dst: &mut [Self::Scalar]);
    /// [`SimdFloat::store`] into uninitialised memory (initialising the first `LANES`
    /// elements).
    fn store_uninit(self, dst: &mut [MaybeUninit<Self::Scalar>]);
    /// [`SimdFloat::store_part`] into uninitialised memory (initialising all of `dst`).
    fn store_part_uninit(self, dst: &mut [MaybeUninit<Self::Scalar>]);
    /// The lanes as a slice (no copy, no allocation).
    fn as_slice(&self) -> &[Self::Scalar];
    /// The lanes as a vector (for tests).
    fn to_vec(self) -> Vec<Self::Scalar>;

    /// e^x (wide's polynomial; exp(-inf) = 0, exp(+inf) = +inf).
    fn exp(self) -> Self;
    /// ln x (wide's polynomial; ln 0 = -inf. Note: ln of a *subnormal* is -inf too).
    fn ln(self) -> Self;
    /// tanh x (wide's).
    fn tanh(self) -> Self;
    /// Lane-wise square root.
    fn sqrt(self) -> Self;
    /// Lane-wise absolute value.
    fn abs(self) -> Self;
    /// Lane-wise IEEE `maxNum`: if exactly one operand is NaN the other is returned.
    fn max(self, other: Self) -> Self;
    /// Lane-wise IEEE `minNum`: if exactly one operand is NaN the other is returned.
    fn min(self, other: Self) -> Self;
    /// Lane-wise `if self > other { self } else { other }` (x86 `maxps`: when either lane
    /// is NaN the result is `other`). Only used where the contract excludes NaN or where
    /// NaN is detected separately.
    fn fast_max(self, other: Self) -> Self;
    /// `self * a + b`: one rounding when the target has FMA (wide's `mul_add`), two
    /// otherwise. The scalar twins of `poly.rs` mirror this choice with `poly::fma`.
    fn mul_add(self, a: Self, b: Self) -> Self;

    /// Lane-wise `if self > other { a } else { b }`.
    fn select_gt(self, other: Self, a: Self, b: Self) -> Self;
    /// Lane-wise `if self >= other { a } else { b }`.
    fn select_ge(self, other: Self, a: Self, b: Self) -> Self;
    /// Lane-wise `if self.is_nan() { a } else { b }`.
    fn select_nan(self, a: Self, b: Self) -> Self;
    /// Bit `i` set iff lane `i` of `self` equals lane `i` of `other`.
    fn eq_bits(self, other: Self) -> u32;

    /// Sum of the lanes, folded pairwise in a fixed order.
    fn reduce_add(self) -> Self::Scalar;
    /// Max of the lanes, [`SimdFloat::max`]'s `maxNum` folded pairwise in a fixed order
    /// (NaN lanes ignored unless all are NaN).
    fn reduce_max(self) -> Self::Scalar;
    /// Max of the lanes, [`SimdFloat::fast_max`] folded pairwise in a fixed order.
    fn reduce_fast_max(self) -> Self::Scalar;
}

macro_rules! impl_simd_float {
    ($v:ident, $t:ident, $n:expr) => {
        impl SimdFloat for $v {
            type Scalar = $t;
            const LANES: usize = $n;

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
            fn exp(self) -> Self {
                $v::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                $v::ln(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                $v::tanh(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                $v::sqrt(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                $v::abs(self)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                $v::max(self, other)
            }
            #[inline(always)]
            fn min(self, other: Self) -> Self {
                $v::min(self, other)
            }
            #[inline(always)]
            fn fast_max(self, other: Self) -> Self {
                $v::fast_max(self, other)
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                $v::mul_add(self, a, b)
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
            fn eq_bits(self, other: Self) -> u32 {
                self.simd_eq(other).to_bitmask()
            }
            #[inline(always)]
            fn reduce_add(self) -> $t {
                pairwise_fold(self.to_array(), |a, b| a + b)
            }
            #[inline(always)]
            fn reduce_max(self) -> $t {
                pairwise_fold(self.to_array(), $t::max)
            }
            #[inline(always)]
            fn reduce_fast_max(self) -> $t {
                pairwise_fold(self.to_array(), |a, b| if a > b { a } else { b })
            }
        }
    };
}

impl_simd_float!(f32x8, f32, 8);
impl_simd_float!(f64x4, f64, 4);
impl_simd_float!(f32x16, f32, 16);
impl_simd_float!(f64x8, f64, 8);

/// Folds a power-of-two array pairwise: `((a0 op a1) op (a2 op a3)) op (...)`, a fixed
/// order. (Every vector above has a power-of-two number of lanes. A general version that
/// carries an odd element up a level computes the same values, but for 16 lanes LLVM
/// compiled it into longer code, with a stack round trip, in the softmax and Gumbel
/// backward kernels.)
#[inline(always)]
fn pairwise_fold<T: Copy, const N: usize>(mut a: [T; N], op: impl Fn(T, T) -> T) -> T {
    const { assert!(N.is_power_of_two()) };
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
        assert_eq!(pairwise_fold([5.0f32], |a, b| a + b), 5.0);
        // The order: (a0 op a1) op (a2 op a3), not ((a0 op a1) op a2) op a3.
        assert_eq!(pairwise_fold([1u64, 2, 3, 4], |a, b| 100 * a + b), 10_504);
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
        assert_eq!(v.reduce_fast_max(), 8.0);
        let w = f32x16::new([-1.0; 16]);
        assert_eq!(w.reduce_add(), -16.0);
        let m = f32x16::load_or(&[3.0, 9.0], f32::NEG_INFINITY);
        assert_eq!(m.reduce_fast_max(), 9.0);
        assert_eq!(m.reduce_max(), 9.0);
    }

    #[test]
    fn eq_bits_marks_equal_lanes() {
        let v = f32x16::load_or(&[1.0, 2.0, 1.0], 0.0);
        assert_eq!(v.eq_bits(f32x16::splat(1.0)), 0b101);
        assert_eq!(f64x8::splat(f64::NAN).eq_bits(f64x8::splat(f64::NAN)), 0);
    }

    #[test]
    fn fast_max_returns_other_on_nan_like_maxps_and_max_skips_nan() {
        let a = f32x16::splat(f32::NAN);
        let b = f32x16::splat(1.0);
        assert_eq!(a.fast_max(b).to_vec(), vec![1.0; 16]);
        assert!(b.fast_max(a).to_vec().iter().all(|x| x.is_nan()));
        assert_eq!(b.max(a).to_vec(), vec![1.0; 16]);
        let (c, d) = (f64x4::splat(f64::NAN), f64x4::splat(2.0));
        assert_eq!(c.fast_max(d).to_vec(), vec![2.0; 4]);
        assert_eq!(d.max(c).to_vec(), vec![2.0; 4]);
        // The two reductions differ on a NaN lane: maxNum skips it; maxps passes it on
        // where it is the second operand: max(max(1, 3), max(-2, NaN)) = max(3, NaN).
        let n = f64x4::from([1.0, 3.0, -2.0, f64::NAN]);
        assert_eq!(n.reduce_max(), 3.0);
        assert!(n.reduce_fast_max().is_nan());
    }
}
