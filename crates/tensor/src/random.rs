//! SplitMix64, the 53-bit uniform and the uniform grid of the Gumbel noise: the one home of
//! the bit mixing and of the conversions from random words to floats that every crate of
//! the workspace uses to derive random streams from seeds, to make reproducible test data,
//! and to draw noise.
//!
//! - [`mix64`]: SplitMix64's output function (Stafford's "Mix13" finaliser), a bijection on
//!   `u64` that spreads every input bit over every output bit.
//! - [`splitmix64`]: one SplitMix64 step from a state, `mix64(x + GOLDEN_GAMMA)`. The
//!   generator `x_{n+1} = x_n + GOLDEN_GAMMA`, output `mix64(x_{n+1})`, is rand_xoshiro's
//!   `SplitMix64` (tested below); `Xoshiro256PlusPlus::seed_from_u64` seeds through it.
//! - [`unit_f64`]: the top 53 bits of a word times `2^-53`, uniform on the grid
//!   `{0, 2^-53, .., 1 - 2^-53}` of `[0, 1)` (0 possible, 1 not).
//! - the uniforms of the Gumbel noise, reached through
//!   [`Element::uniforms`](crate::Element::uniforms): one step of the 8-lane generator
//!   (eight 64-bit words) becomes 16 `f32` or 8 `f64` uniforms on the grid below.
//!
//! What is built from them (the key schemes of the GAN crate's `random::run_key` and
//! `random::stream`, the Gumbel noise's per-row lanes) stays with its user: those schemes
//! fix the bits of every run and data set, so each is kept as it was written.
//!
//! ## The uniform grid (docs/kernels.md, "Uniform grid")
//! A `b`-bit integer `k` becomes `u = (k + 1/2) 2^-b`, with `b = 23` for `f32` (two
//! uniforms per 64-bit word: bits 31..9 and 63..41) and `b = 52` for `f64` (bits 63..12).
//! It is built exactly with one OR and one subtraction:
//!
//! ```text
//! from_bits(bits(1.0) | k)  = 1 + k 2^-b             (k fills the mantissa: exact)
//!   - (1 - 2^-(b+1))         = (2k + 1) 2^-(b+1)      (exact: Sterbenz, both in [1/2, 2])
//! ```
//!
//! (`2k + 1 < 2^(b+1)` fits the mantissa, so the difference is exact too), so `u` runs
//! over `2^-(b+1), 3 2^-(b+1), ..., 1 - 2^-(b+1)`: symmetric about 1/2, never 0 or 1,
//! never subnormal, and `-ln u` never 0 or subnormal either (its smallest value is about
//! `2^-(b+1)`). A 24-bit grid for `f32` would not work: its top point `1 - 2^-25` is not an
//! `f32` and rounds to 1, where `-ln(-ln u) = +inf`.

use wide::{f32x16, f64x8, u32x16, u64x8};

/// SplitMix64's increment: the golden ratio in 0.64 fixed point.
pub const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function: a bijective mix of 64 bits.
///
/// ```
/// use gumbel_tensor::random::mix64;
/// assert_eq!(mix64(0), 0);
/// ```
#[inline]
pub fn mix64(z: u64) -> u64 {
    let z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One step of SplitMix64 (Steele, Lea & Flood 2014) from state `x`: `mix64(x +
/// GOLDEN_GAMMA)`, the first output of the generator started at `x`.
#[inline]
pub fn splitmix64(x: u64) -> u64 {
    mix64(x.wrapping_add(GOLDEN_GAMMA))
}

/// A uniform double in `[0, 1)` from a random word: its top 53 bits times `2^-53`, exact
/// (every value is a multiple of `2^-53`; 0 is possible, 1 is not). Dividing by `2^53`
/// instead gives the same bits: both scale an integer below `2^53` by a power of two.
///
/// ```
/// use gumbel_tensor::random::unit_f64;
/// assert_eq!(unit_f64(0), 0.0);
/// assert_eq!(unit_f64(1 << 63), 0.5);
/// assert_eq!(unit_f64(u64::MAX), 1.0 - 2f64.powi(-53));
/// ```
#[inline]
pub fn unit_f64(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

const F32_ONE_BITS: u32 = 0x3f80_0000;
/// `1 - 2^-24`: `(1 + k 2^-23) - (1 - 2^-24) = (k + 1/2) 2^-23`, exactly.
const F32_ONE_MINUS_HALF_STEP: f32 = 1.0 - 1.0 / 16_777_216.0;
const F64_ONE_BITS: u64 = 0x3ff0_0000_0000_0000;
/// `1 - 2^-53`: `(1 + k 2^-52) - (1 - 2^-53) = (k + 1/2) 2^-52`, exactly.
const F64_ONE_MINUS_HALF_STEP: f64 = 1.0 - 1.0 / 9_007_199_254_740_992.0;

/// 16 `f32` uniforms from one generator step. Element `2j` takes bits 31..9 of lane `j`'s
/// word, element `2j + 1` bits 63..41: exactly the `u32x16` view of the `u64x8`
/// (little-endian), shifted right by 9.
#[inline(always)]
pub(crate) fn uniforms_f32x16(w: u64x8) -> f32x16 {
    use wide::bytemuck::cast;
    let k = cast::<u64x8, u32x16>(w) >> 9;
    let one_plus: f32x16 = cast(k | u32x16::splat(F32_ONE_BITS));
    one_plus - f32x16::splat(F32_ONE_MINUS_HALF_STEP)
}

/// The `f32` uniform of the 23-bit integer `k`: `(k + 1/2) 2^-23`.
#[inline(always)]
pub(crate) fn uniform_f32(k: u32) -> f32 {
    debug_assert!(k < 1 << 23);
    f32::from_bits(F32_ONE_BITS | k) - F32_ONE_MINUS_HALF_STEP
}

/// Scalar twin of [`uniforms_f32x16`].
#[inline(always)]
pub(crate) fn uniforms_f32(w: [u64; 8], out: &mut [f32]) {
    for (j, &word) in w.iter().enumerate() {
        out[2 * j] = uniform_f32((word as u32) >> 9);
        out[2 * j + 1] = uniform_f32((word >> 41) as u32);
    }
}

/// 8 `f64` uniforms from one generator step: element `j` takes bits 63..12 of lane `j`.
#[inline(always)]
pub(crate) fn uniforms_f64x8(w: u64x8) -> f64x8 {
    use wide::bytemuck::cast;
    let one_plus: f64x8 = cast(w.unbounded_shr_scalar(12) | u64x8::splat(F64_ONE_BITS));
    one_plus - f64x8::splat(F64_ONE_MINUS_HALF_STEP)
}

/// The `f64` uniform of the 52-bit integer `k`: `(k + 1/2) 2^-52`.
#[inline(always)]
pub(crate) fn uniform_f64(k: u64) -> f64 {
    debug_assert!(k < 1 << 52);
    f64::from_bits(F64_ONE_BITS | k) - F64_ONE_MINUS_HALF_STEP
}

/// Scalar twin of [`uniforms_f64x8`].
#[inline(always)]
pub(crate) fn uniforms_f64(w: [u64; 8], out: &mut [f64]) {
    for (j, &word) in w.iter().enumerate() {
        out[j] = uniform_f64(word >> 12);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_xoshiro::SplitMix64;
    use rand_xoshiro::rand_core::{Rng, SeedableRng};

    #[test]
    fn splitmix64_is_rand_xoshiros_splitmix_output() {
        let mut sm = SplitMix64::seed_from_u64(12345);
        let mut x = 12345u64;
        for _ in 0..100 {
            assert_eq!(splitmix64(x), sm.next_u64());
            x = x.wrapping_add(GOLDEN_GAMMA);
        }
    }

    #[test]
    fn unit_f64_equals_division_by_2_pow_53() {
        let mut x = 1u64;
        for _ in 0..10_000 {
            x = splitmix64(x);
            assert_eq!(
                unit_f64(x).to_bits(),
                ((x >> 11) as f64 / (1u64 << 53) as f64).to_bits()
            );
        }
    }

    #[test]
    fn uniform_grid_ends_are_strictly_inside_and_normal() {
        // The raw bits 0 and all-ones (the generator's extreme outputs), forced through
        // the mapping: u strictly inside (0, 1), normal, and the SIMD and scalar mappings
        // agree bit for bit.
        for w in [0u64, u64::MAX] {
            let mut u32s = [0.0f32; 16];
            uniforms_f32([w; 8], &mut u32s);
            let mut u64s = [0.0f64; 8];
            uniforms_f64([w; 8], &mut u64s);
            assert!(u32s.iter().all(|&u| u > 0.0 && u < 1.0 && u.is_normal()));
            assert!(u64s.iter().all(|&u| u > 0.0 && u < 1.0 && u.is_normal()));
            assert_eq!(uniforms_f32x16(u64x8::splat(w)).to_array(), u32s);
            assert_eq!(uniforms_f64x8(u64x8::splat(w)).to_array(), u64s);
        }
        // Exact endpoints of the grid.
        assert_eq!(uniform_f32(0), 2f32.powi(-24));
        assert_eq!(uniform_f32((1 << 23) - 1), 1.0 - 2f32.powi(-24));
        assert_eq!(uniform_f64(0), 2f64.powi(-53));
        assert_eq!(uniform_f64((1 << 52) - 1), 1.0 - 2f64.powi(-53));
    }
}
