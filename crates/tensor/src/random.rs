//! SplitMix64 and the 53-bit uniform: the one home of the bit mixing and of the
//! `u64 -> f64` conversion that every crate of the workspace uses to derive random streams
//! from seeds and to make reproducible test data.
//!
//! - [`mix64`]: SplitMix64's output function (Stafford's "Mix13" finaliser), a bijection on
//!   `u64` that spreads every input bit over every output bit.
//! - [`splitmix64`]: one SplitMix64 step from a state, `mix64(x + GOLDEN_GAMMA)`. The
//!   generator `x_{n+1} = x_n + GOLDEN_GAMMA`, output `mix64(x_{n+1})`, is rand_xoshiro's
//!   `SplitMix64` (tested below); `Xoshiro256PlusPlus::seed_from_u64` seeds through it.
//! - [`unit_f64`]: the top 53 bits of a word times `2^-53`, uniform on the grid
//!   `{0, 2^-53, .., 1 - 2^-53}` of `[0, 1)` (0 possible, 1 not).
//!
//! What is built from them (the key schemes of the GAN crate's `random::run_key` and
//! `random::stream`, the Gumbel noise's per-row lanes) stays with its user: those schemes
//! fix the bits of every run and data set, so each is kept as it was written.

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
}
