//! `ln` and `exp` polynomials specialised to the inputs the Gumbel and softmax kernels
//! feed them, each as a SIMD kernel (`f32x16` / `f64x8`) with a scalar twin that performs
//! the same operations in the same order and so returns bitwise the same result. The
//! kernels reach them through [`Element::ln_lanes`](crate::Element::ln_lanes) and its
//! siblings.
//!
//! wide's `ln`/`exp` are accurate, but they pay for the whole IEEE domain with a dozen
//! compares and blends per call (NaN, +-inf, zero, negative, subnormal, overflow). The
//! Gumbel forward kernel evaluates two `ln` and one `exp` per element, the softmax one
//! `exp`; both are compute bound, so here each function handles only the domain it is
//! used on:
//!
//! | function | domain | used for |
//! |---|---|---|
//! | `ln_*`  | positive *normal* finite numbers | `ln u`, `ln(-ln u)`, `ln y` (after a guard) |
//! | `exp_*` | `(-inf, 0]` (valid up to `+88` / `+709`) and `-inf` | `exp(c (p - max))`, `exp(x - max)`, `exp(log y)` |
//!
//! Outside its domain a function returns garbage (never UB); callers guarantee the
//! domain. The uniform grid (`noise.rs`) keeps `u` and `-ln u` normal, and the softmax
//! only ever exponentiates non-positive numbers.
//!
//! ## Error bounds (tested against `std` over dense grids in this file's tests)
//! - `ln_f32`: <= 1 ulp against the exact `ln` (measured worst over the test grid: 0.91
//!   ulp native, 0.92 ulp in the portable build). Cephes `logf` (S. Moshier)
//!   coefficients, `ln(1 + f) = f + f^2 Q(f)` with `Q` of degree 9, `f = m - 1`, `m` in
//!   `[sqrt(1/2), sqrt(2))`; `e ln2` added with one FMA (split `ln2` without FMA).
//! - `exp_f32`: <= 2 ulp (measured 1.01 ulp) for results >= 2^-126; results below
//!   `exp(-87.3)` (about 1.2e-38 and less) are flushed to 0 (absolute error < 2^-126).
//!   Cephes `expf` coefficients, `exp(r) = 1 + r + r^2 P(r)` with `P` of degree 5 on
//!   `|r| <= ln2/2`.
//! - `ln_f64`: <= 2 ulp against `std` (measured: 1 ulp). fdlibm's `log` (Sun
//!   Microsystems): `s = f/(2+f)`, a degree-14 odd series in `s`.
//! - `exp_f64`: <= 2 ulp against `std` (measured: 1 ulp) for results >= 2^-1022; smaller
//!   results flush to 0. Taylor series to degree 13 on `|r| <= ln2/2` (truncation error
//!   < 4.3e-18).
//!
//! ## Range reduction without conversions
//! `ln x`: write `x = 2^e m` with `m` in `[sqrt(1/2), sqrt(2))` by adding
//! `bits(1) - bits(sqrt(1/2))` to the bits of `x`: the carry out of the mantissa field
//! moves exactly the `x` whose mantissa is `>= sqrt(2)` up one binade (musl's trick).
//! The biased exponent is then a logical shift, and `e` as a float comes from OR-ing it
//! into the mantissa of `2^23` (`2^52`) and subtracting `2^23 + 127` (`2^52 + 1023`): both
//! steps exact, no int-to-float conversion needed.
//!
//! `exp x`: `n = round(x / ln2)` by adding the shifter `1.5 * 2^23` (`1.5 * 2^52`) in an
//! FMA, which leaves `n` in the low mantissa bits; shifting those bits into the exponent
//! field and adding the bias gives `2^n` directly. Clamping `x >= -88` (`-709`) makes the
//! smallest `n` equal `-127` (`-1023`), for which the constructed `2^n` is exactly `+0.0`:
//! that is how `exp(-inf) = 0` (masked classes) comes for free.

use wide::{f32x16, f64x8, u32x16, u64x8};

/// `a * b + c` exactly as wide's `mul_add` computes it on this build: fused (one rounding)
/// when the target has FMA, `a * b` then `+ c` (two roundings) otherwise. Every scalar
/// twin uses this wherever its SIMD kernel uses `mul_add`, so the two agree bit for bit
/// in both the native and the portable build.
#[inline(always)]
pub fn fma<T: FmaFloat>(a: T, b: T, c: T) -> T {
    T::fma_like_wide(a, b, c)
}

/// `f32`/`f64` arithmetic used by [`fma`].
pub trait FmaFloat: Copy {
    fn fma_like_wide(a: Self, b: Self, c: Self) -> Self;
}

macro_rules! impl_fma {
    ($t:ident) => {
        impl FmaFloat for $t {
            #[inline(always)]
            fn fma_like_wide(a: $t, b: $t, c: $t) -> $t {
                // wide fuses exactly when `target_feature = "fma"` is on (x86), or on
                // aarch64 NEON; mirror that choice.
                if HAS_FMA { a.mul_add(b, c) } else { a * b + c }
            }
        }
    };
}
impl_fma!(f32);
impl_fma!(f64);

/// Lane-wise x86 `maxps` semantics: `if a > b { a } else { b }`. The scalar twin of
/// [`SimdFloat::fast_max`](crate::SimdFloat::fast_max).
#[inline(always)]
pub fn fast_max<T: PartialOrd>(a: T, b: T) -> T {
    if a > b { a } else { b }
}

// ---------------------------------------------------------------------------------------
// f32
// ---------------------------------------------------------------------------------------

/// `bits(1.0) - bits(sqrt(1/2))`: added to the bits of `x`, carries the mantissas
/// `>= sqrt(2)` into the next binade.
const F32_LN_SHIFT: u32 = 0x3f80_0000 - 0x3f35_04f3;
const F32_SQRT_HALF_BITS: u32 = 0x3f35_04f3;
const F32_MANT: u32 = 0x007f_ffff;
/// Bits of `2^23`; OR-ing an 8-bit biased exponent `eb` in gives `2^23 + eb`.
const F32_TWO_23_BITS: u32 = 0x4b00_0000;
/// `2^23 + 127`: subtracting it from `2^23 + eb` leaves the unbiased exponent.
const F32_TWO_23_PLUS_BIAS: f32 = 8_388_735.0;
// ln 2 = LN2_HI + LN2_LO (Cody-Waite), LN2_HI with 8 significant bits so that e LN2_HI is
// exact for |e| <= 2^16.
const F32_LN2_HI: f32 = 0.693_359_4;
const F32_LN2_LO: f32 = -2.121_944_4e-4;
/// ln 2 rounded to f32, for the one-FMA form `fma(e, LN2, r)`.
const F32_LN2: f32 = std::f32::consts::LN_2;
/// Whether `mul_add` is fused on this build (see [`fma`]).
const HAS_FMA: bool = cfg!(any(
    target_feature = "fma",
    all(target_arch = "aarch64", target_feature = "neon")
));
// Cephes logf: ln(1 + f) = f - f^2/2 + f^3 P(f), P of degree 8, f in [-0.2929, 0.4142].
// Evaluated as f + f^2 Q(f), Q = -1/2 + f P(f): two FMAs close the Horner chain.
const F32_LN_P: [f32; 9] = [
    7.037_683_6e-2,
    -1.151_461e-1,
    1.167_699_9e-1,
    -1.242_014_1e-1,
    1.424_932_3e-1,
    -1.666_805_8e-1,
    2.000_071_4e-1,
    -2.499_999_4e-1,
    3.333_333e-1,
];

/// ln x for positive normal finite `x` (f32x16). See the module docs for the bound.
#[inline(always)]
pub fn ln_f32x16(x: f32x16) -> f32x16 {
    use wide::bytemuck::cast;
    let ix: u32x16 = cast::<f32x16, u32x16>(x) + u32x16::splat(F32_LN_SHIFT);
    let eb = ix >> 23;
    let m: f32x16 = cast((ix & u32x16::splat(F32_MANT)) + u32x16::splat(F32_SQRT_HALF_BITS));
    let e = cast::<u32x16, f32x16>(eb | u32x16::splat(F32_TWO_23_BITS))
        - f32x16::splat(F32_TWO_23_PLUS_BIAS);
    let f = m - f32x16::splat(1.0);
    let z = f * f;
    let mut p = f32x16::splat(F32_LN_P[0]);
    for &c in &F32_LN_P[1..] {
        p = p.mul_add(f, f32x16::splat(c));
    }
    let q = p.mul_add(f, f32x16::splat(-0.5));
    let r = z.mul_add(q, f);
    // e ln2: one FMA rounds e LN2 + r once (the error of LN2 itself, 1.9e-9 |e|, is below
    // 0.1 ulp of a result >= |e| ln2 - 0.35); without FMA the product would be rounded on
    // its own, so split ln2 and keep e LN2_HI exact.
    if HAS_FMA {
        e.mul_add(f32x16::splat(F32_LN2), r)
    } else {
        let r = e.mul_add(f32x16::splat(F32_LN2_LO), r);
        e.mul_add(f32x16::splat(F32_LN2_HI), r)
    }
}

/// Scalar twin of [`ln_f32x16`] (bitwise identical results).
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    let ix = x.to_bits().wrapping_add(F32_LN_SHIFT);
    let eb = ix >> 23;
    let m = f32::from_bits((ix & F32_MANT) + F32_SQRT_HALF_BITS);
    let e = f32::from_bits(eb | F32_TWO_23_BITS) - F32_TWO_23_PLUS_BIAS;
    let f = m - 1.0;
    let z = f * f;
    let mut p = F32_LN_P[0];
    for &c in &F32_LN_P[1..] {
        p = fma(p, f, c);
    }
    let q = fma(p, f, -0.5);
    let r = fma(z, q, f);
    if HAS_FMA {
        fma(e, F32_LN2, r)
    } else {
        let r = fma(e, F32_LN2_LO, r);
        fma(e, F32_LN2_HI, r)
    }
}

/// `exp` clamps its argument here: `n = round(-88 / ln2) = -127`, whose `2^n` is built
/// as `+0.0`.
const F32_EXP_LO: f32 = -88.0;
const F32_LOG2E: f32 = std::f32::consts::LOG2_E;
/// `1.5 * 2^23`: adding it rounds to an integer and leaves that integer in the low
/// mantissa bits.
const F32_SHIFTER: f32 = 12_582_912.0;
const F32_ONE_BITS: u32 = 0x3f80_0000;
// Cephes expf: exp(r) = 1 + r + r^2 Q(r), Q of degree 5, |r| <= ln2/2.
const F32_EXP_Q: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    5e-1,
];

/// e^x for `x` in `(-inf, 88]` (f32x16); `-inf` and anything below `-88` give `+0.0`.
#[inline(always)]
pub fn exp_f32x16(x: f32x16) -> f32x16 {
    use wide::bytemuck::cast;
    let x = x.fast_max(f32x16::splat(F32_EXP_LO));
    let t = x.mul_add(f32x16::splat(F32_LOG2E), f32x16::splat(F32_SHIFTER));
    let n = t - f32x16::splat(F32_SHIFTER);
    let r = n.mul_add(f32x16::splat(-F32_LN2_HI), x);
    let r = n.mul_add(f32x16::splat(-F32_LN2_LO), r);
    let mut q = f32x16::splat(F32_EXP_Q[0]);
    for &c in &F32_EXP_Q[1..] {
        q = q.mul_add(r, f32x16::splat(c));
    }
    let y = q.mul_add(r * r, r) + f32x16::splat(1.0);
    // 2^n: the low bits of t hold n; shifted into the exponent field and biased.
    let scale: f32x16 = cast((cast::<f32x16, u32x16>(t) << 23) + u32x16::splat(F32_ONE_BITS));
    y * scale
}

/// Scalar twin of [`exp_f32x16`] (bitwise identical results).
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let x = fast_max(x, F32_EXP_LO);
    let t = fma(x, F32_LOG2E, F32_SHIFTER);
    let n = t - F32_SHIFTER;
    let r = fma(n, -F32_LN2_HI, x);
    let r = fma(n, -F32_LN2_LO, r);
    let mut q = F32_EXP_Q[0];
    for &c in &F32_EXP_Q[1..] {
        q = fma(q, r, c);
    }
    let y = fma(q, r * r, r) + 1.0;
    let scale = f32::from_bits((t.to_bits() << 23).wrapping_add(F32_ONE_BITS));
    y * scale
}

// ---------------------------------------------------------------------------------------
// f64
// ---------------------------------------------------------------------------------------

const F64_LN_SHIFT: u64 = 0x3ff0_0000_0000_0000 - 0x3fe6_a09e_667f_3bcd;
const F64_SQRT_HALF_BITS: u64 = 0x3fe6_a09e_667f_3bcd;
const F64_MANT: u64 = 0x000f_ffff_ffff_ffff;
const F64_TWO_52_BITS: u64 = 0x4330_0000_0000_0000;
const F64_TWO_52_PLUS_BIAS: f64 = 4_503_599_627_371_519.0;
// fdlibm: ln2 = LN2_HI + LN2_LO, LN2_HI with 32 significant bits (e * LN2_HI exact).
const F64_LN2_HI: f64 = 6.931_471_803_691_238e-1;
const F64_LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
// fdlibm e_log.c: ln(1+f) = 2s + s*R(s^2), s = f/(2+f), R = Lg1 z + Lg2 z^2 + ... + Lg7 z^7.
const LG1: f64 = 6.666_666_666_666_735e-1;
const LG2: f64 = 3.999_999_999_940_942e-1;
const LG3: f64 = 2.857_142_874_366_239e-1;
const LG4: f64 = 2.222_219_843_214_978_4e-1;
const LG5: f64 = 1.818_357_216_161_805e-1;
const LG6: f64 = 1.531_383_769_920_937_3e-1;
const LG7: f64 = 1.479_819_860_511_658_6e-1;

/// ln x for positive normal finite `x` (f64x8). See the module docs for the bound.
#[inline(always)]
pub fn ln_f64x8(x: f64x8) -> f64x8 {
    use wide::bytemuck::cast;
    let s_ = f64x8::splat;
    let ix: u64x8 = cast::<f64x8, u64x8>(x) + u64x8::splat(F64_LN_SHIFT);
    let eb = ix.unbounded_shr_scalar(52);
    let m: f64x8 = cast((ix & u64x8::splat(F64_MANT)) + u64x8::splat(F64_SQRT_HALF_BITS));
    let e = cast::<u64x8, f64x8>(eb | u64x8::splat(F64_TWO_52_BITS)) - s_(F64_TWO_52_PLUS_BIAS);
    let f = m - s_(1.0);
    let s = f / (s_(2.0) + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * w.mul_add(w.mul_add(s_(LG6), s_(LG4)), s_(LG2));
    let t2 = z * w.mul_add(w.mul_add(w.mul_add(s_(LG7), s_(LG5)), s_(LG3)), s_(LG1));
    let r = t2 + t1;
    let hfsq = s_(0.5) * f * f;
    // fdlibm: e*ln2_hi - ((hfsq - (s*(hfsq+R) + e*ln2_lo)) - f)
    let inner = s.mul_add(hfsq + r, e * s_(F64_LN2_LO));
    e.mul_add(s_(F64_LN2_HI), -((hfsq - inner) - f))
}

/// Scalar twin of [`ln_f64x8`] (bitwise identical results).
#[inline(always)]
pub fn ln_f64(x: f64) -> f64 {
    let ix = x.to_bits().wrapping_add(F64_LN_SHIFT);
    let eb = ix >> 52;
    let m = f64::from_bits((ix & F64_MANT) + F64_SQRT_HALF_BITS);
    let e = f64::from_bits(eb | F64_TWO_52_BITS) - F64_TWO_52_PLUS_BIAS;
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * fma(w, fma(w, LG6, LG4), LG2);
    let t2 = z * fma(w, fma(w, fma(w, LG7, LG5), LG3), LG1);
    let r = t2 + t1;
    let hfsq = 0.5 * f * f;
    let inner = fma(s, hfsq + r, e * F64_LN2_LO);
    fma(e, F64_LN2_HI, -((hfsq - inner) - f))
}

/// `n = round(-709 / ln2) = -1023`, whose `2^n` is built as `+0.0`.
const F64_EXP_LO: f64 = -709.0;
const F64_LOG2E: f64 = std::f64::consts::LOG2_E;
const F64_SHIFTER: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52
const F64_ONE_BITS: u64 = 0x3ff0_0000_0000_0000;
/// 1/k! for k = 13 down to 2 (Horner order).
const F64_EXP_TAYLOR: [f64; 12] = [
    1.0 / 6_227_020_800.0,
    1.0 / 479_001_600.0,
    1.0 / 39_916_800.0,
    1.0 / 3_628_800.0,
    1.0 / 362_880.0,
    1.0 / 40_320.0,
    1.0 / 5_040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    1.0 / 2.0,
];

/// e^x for `x` in `(-inf, 709]` (f64x8); `-inf` and anything below `-709` give `+0.0`.
#[inline(always)]
pub fn exp_f64x8(x: f64x8) -> f64x8 {
    use wide::bytemuck::cast;
    let s_ = f64x8::splat;
    let x = x.fast_max(s_(F64_EXP_LO));
    let t = x.mul_add(s_(F64_LOG2E), s_(F64_SHIFTER));
    let n = t - s_(F64_SHIFTER);
    let r = n.mul_add(s_(-F64_LN2_HI), x);
    let r = n.mul_add(s_(-F64_LN2_LO), r);
    let mut q = s_(F64_EXP_TAYLOR[0]);
    for &c in &F64_EXP_TAYLOR[1..] {
        q = q.mul_add(r, s_(c));
    }
    let y = q.mul_add(r * r, r) + s_(1.0);
    let scale: f64x8 =
        cast(cast::<f64x8, u64x8>(t).unbounded_shl_scalar(52) + u64x8::splat(F64_ONE_BITS));
    y * scale
}

/// Scalar twin of [`exp_f64x8`] (bitwise identical results).
#[inline(always)]
pub fn exp_f64(x: f64) -> f64 {
    let x = fast_max(x, F64_EXP_LO);
    let t = fma(x, F64_LOG2E, F64_SHIFTER);
    let n = t - F64_SHIFTER;
    let r = fma(n, -F64_LN2_HI, x);
    let r = fma(n, -F64_LN2_LO, r);
    let mut q = F64_EXP_TAYLOR[0];
    for &c in &F64_EXP_TAYLOR[1..] {
        q = fma(q, r, c);
    }
    let y = fma(q, r * r, r) + 1.0;
    let scale = f64::from_bits((t.to_bits() << 52).wrapping_add(F64_ONE_BITS));
    y * scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::SimdFloat;

    /// The unit in the last place of a `bits`-bit-mantissa float at the magnitude of
    /// `want` (the spacing of the binade holding `want`; subnormal spacing below
    /// `min_exp`).
    fn ulp_at(want: f64, mant_bits: i32, min_exp: i32) -> f64 {
        let e = ((want.abs().to_bits() >> 52) & 0x7ff) as i32 - 1023;
        let p = e.max(min_exp) - mant_bits; // the ulp is 2^p, p >= -1074
        if p >= -1022 {
            f64::from_bits(((p + 1023) as u64) << 52)
        } else {
            f64::from_bits(1u64 << (p + 1074))
        }
    }

    fn ulps_f32(got: f32, want: f64) -> f64 {
        (got as f64 - want).abs() / ulp_at(want, 23, -126)
    }

    fn ulps_f64(got: f64, want: f64) -> f64 {
        (got - want).abs() / ulp_at(want, 52, -1022)
    }

    /// Runs the SIMD kernel on `xs` in vectors of 16 and checks the scalar twin matches
    /// bit for bit.
    fn simd_f32(xs: &[f32], v: fn(f32x16) -> f32x16, s: fn(f32) -> f32) -> Vec<f32> {
        let mut out = Vec::with_capacity(xs.len());
        for c in xs.chunks(16) {
            let r = v(f32x16::load_or(c, c[0]));
            for (i, &x) in c.iter().enumerate() {
                let (a, b) = (r.as_array()[i], s(x));
                assert!(
                    a.to_bits() == b.to_bits(),
                    "twin mismatch at {x:e}: simd {a:e} scalar {b:e}"
                );
                out.push(a);
            }
        }
        out
    }

    fn simd_f64(xs: &[f64], v: fn(f64x8) -> f64x8, s: fn(f64) -> f64) -> Vec<f64> {
        let mut out = Vec::with_capacity(xs.len());
        for c in xs.chunks(8) {
            let r = v(f64x8::load_or(c, c[0]));
            for (i, &x) in c.iter().enumerate() {
                let (a, b) = (r.as_array()[i], s(x));
                assert!(
                    a.to_bits() == b.to_bits(),
                    "twin mismatch at {x:e}: simd {a:e} scalar {b:e}"
                );
                out.push(a);
            }
        }
        out
    }

    /// Every f32 in [lo, hi) whose bit pattern is a multiple of `stride` away from lo's.
    fn f32_grid(lo: f32, hi: f32, stride: u32) -> Vec<f32> {
        (lo.to_bits()..hi.to_bits())
            .step_by(stride as usize)
            .map(f32::from_bits)
            .collect()
    }

    #[test]
    fn ln_f32_is_within_1_ulp() {
        // All exponents from the smallest normal to 2^30, 1 in 61 bit patterns (a stride
        // coprime to 2^23 so every mantissa region is hit), plus exhaustively the two
        // binades around 1, where ln's result is small and relative error is hardest.
        let mut xs = f32_grid(f32::MIN_POSITIVE, 1.0e9, 61);
        xs.extend(f32_grid(0.5, 2.0, 1));
        let got = simd_f32(&xs, ln_f32x16, ln_f32);
        let worst = xs
            .iter()
            .zip(&got)
            .map(|(&x, &g)| ulps_f32(g, (x as f64).ln()))
            .fold(0.0, f64::max);
        // Cephes logf is documented at about 1 ulp; with FMA we measure < 1.
        assert!(worst <= 1.0, "ln_f32 worst error {worst} ulp");
    }

    #[test]
    fn exp_f32_is_within_2_ulp_and_flushes_below_the_normals() {
        // Bit patterns of negative floats grow with |x|: this walks 0 > x >= -87.3.
        let mut xs = f32_grid(-0.0, -87.3, 5);
        xs.extend(f32_grid(-0.25, -0.5, 1));
        xs.extend([0.0, f32::NEG_INFINITY, -88.0, -1.0e30, f32::MIN]);
        let got = simd_f32(&xs, exp_f32x16, exp_f32);
        let mut worst = 0.0f64;
        for (&x, &g) in xs.iter().zip(&got) {
            let want = (x as f64).exp();
            if want >= f32::MIN_POSITIVE as f64 {
                worst = worst.max(ulps_f32(g, want));
            } else {
                // Below the normals: a flush to zero or a subnormal, never more than the
                // smallest normal away from the truth.
                assert!(
                    g >= 0.0 && (g as f64 - want).abs() < f32::MIN_POSITIVE as f64,
                    "{x} -> {g}"
                );
            }
        }
        assert!(worst <= 2.0, "exp_f32 worst error {worst} ulp");
        assert_eq!(exp_f32(f32::NEG_INFINITY).to_bits(), 0.0f32.to_bits());
        assert_eq!(exp_f32(-0.0), 1.0);
        assert_eq!(exp_f32(0.0), 1.0);
    }

    /// ln and exp in double-double: a correctly rounded reference is not in std, so the f64
    /// kernels are judged against std's (<= 1 ulp itself) with a budget of 1 ulp for std.
    #[test]
    fn ln_f64_is_within_2_ulp_of_std() {
        let mut xs: Vec<f64> = Vec::new();
        let mut x = f64::MIN_POSITIVE;
        while x < 1.0e300 {
            xs.push(x);
            x *= 1.000_37;
        }
        // Dense around 1 (relative error of a small result).
        xs.extend((1..200_000).map(|i| 1.0 + (i as f64 - 100_000.0) * 1.0e-9));
        xs.extend((1..200_000).map(|i| 0.7 + i as f64 * 3.6e-6));
        let got = simd_f64(&xs, ln_f64x8, ln_f64);
        let worst = xs
            .iter()
            .zip(&got)
            .map(|(&x, &g)| ulps_f64(g, x.ln()))
            .fold(0.0, f64::max);
        assert!(worst <= 2.0, "ln_f64 worst error {worst} ulp vs std");
    }

    #[test]
    fn exp_f64_is_within_2_ulp_of_std_and_flushes_below_the_normals() {
        let mut xs: Vec<f64> = (0..2_000_000).map(|i| -(i as f64) * 3.54e-4).collect();
        xs.extend((0..100_000).map(|i| -(i as f64) * 1.0e-12));
        xs.extend([f64::NEG_INFINITY, -709.0, -708.5, -1.0e300, f64::MIN]);
        let got = simd_f64(&xs, exp_f64x8, exp_f64);
        let mut worst = 0.0f64;
        for (&x, &g) in xs.iter().zip(&got) {
            let want = x.exp();
            if want >= f64::MIN_POSITIVE {
                worst = worst.max(ulps_f64(g, want));
            } else {
                assert!(
                    g >= 0.0 && (g - want).abs() < f64::MIN_POSITIVE,
                    "{x} -> {g}"
                );
            }
        }
        assert!(worst <= 2.0, "exp_f64 worst error {worst} ulp vs std");
        assert_eq!(exp_f64(f64::NEG_INFINITY).to_bits(), 0.0f64.to_bits());
        assert_eq!(exp_f64(-0.0), 1.0);
    }
}
