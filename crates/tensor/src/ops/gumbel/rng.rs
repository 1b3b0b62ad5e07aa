//! Counter-based random streams for Gumbel noise: [`GumbelRng`] and the per-row 8-lane
//! xoshiro256++ generator.
//!
//! ## Stream layout (docs/kernels.md, "Noise streams")
//! A [`GumbelRng`] is a `(seed, counter)` pair. A kernel call that draws noise uses the
//! current counter and, when it succeeds, increments it by one. Row `r` of that call draws
//! from its own stream, a function of `(seed, counter, r)` only:
//!
//! ```text
//! call_key = mix(mix(seed) ^ counter)              mix = SplitMix64's finaliser (a bijection)
//! row_key  = mix(call_key ^ r)
//! lanes    = 8 rand_xoshiro Xoshiro256PlusPlus generators, lane j seeded with outputs
//!            4j+1 .. 4j+4 of SplitMix64 started at row_key (= Xoshiro256PlusPlus::from_rng
//!            called 8 times on rand_xoshiro's SplitMix64::seed_from_u64(row_key))
//! step s   = one next_u64 from each lane: words w[0..8]
//! ```
//!
//! Step `s` feeds elements `16s .. 16s+16` of an `f32` row (two uniforms per word) or
//! `8s .. 8s+8` of an `f64` row (`noise.rs`). Nothing depends on other rows, on the
//! thread that runs the row, or on the number of threads: any schedule gives bitwise the
//! same noise. No generator is ever cloned to make a stream.
//!
//! [`LaneRng`] runs the 8 lanes in one `u64x8` (one `zmm` register with AVX-512; the
//! rotations compile to `vprolq`). [`scalar::LaneRng`] is its reference twin built from
//! rand_xoshiro's own generators; tests check the two agree bit for bit.

use wide::u64x8;

// `mix` is SplitMix64's finaliser and `PHI` its increment (crate::random).
use crate::random::{GOLDEN_GAMMA as PHI, mix64 as mix};

/// The state of the Gumbel noise: a seed and a call counter.
///
/// Every kernel call that draws noise (`gumbel_softmax`, `gumbel_max`, `gumbel_noise`,
/// `uniform_noise`) uses the current counter value and, if it returns `Ok`, increments the
/// counter by exactly one. A call that returns `Err` leaves the counter unchanged. Row `r`
/// of a call draws from a stream derived from `(seed, counter, r)` alone, so results are
/// bitwise reproducible for any number of threads, and any past call can be replayed with
/// [`GumbelRng::set_counter`].
///
/// ```
/// use gumbel_tensor::ops::gumbel::{gumbel_noise, GumbelRng};
/// let mut rng = GumbelRng::new(7);
/// let a = gumbel_noise::<f32>(&[2, 3], &mut rng);
/// assert_eq!(rng.counter(), 1);
/// rng.set_counter(0); // replay the first call
/// assert_eq!(gumbel_noise::<f32>(&[2, 3], &mut rng), a);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GumbelRng {
    seed: u64,
    counter: u64,
}

impl GumbelRng {
    /// A generator with the given seed and counter 0.
    pub fn new(seed: u64) -> Self {
        GumbelRng { seed, counter: 0 }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The counter value the next call will use.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// Sets the counter value the next call will use (to replay or skip calls).
    pub fn set_counter(&mut self, counter: u64) {
        self.counter = counter;
    }

    /// A generator for a second stream of the same calls, named by `purpose`: the seed
    /// `mix(seed ^ mix(purpose))` and the same counter. An op that needs noise twice for one
    /// call (Gumbel-Rao: the sample, then the conditional draws of its backward) takes the
    /// first from `self` and the second from a side stream, so it still consumes one counter
    /// value, and its second noise is unrelated to what later calls draw from `self`.
    ///
    /// ```
    /// use gumbel_tensor::ops::gumbel::{gumbel_noise, GumbelRng};
    /// let rng = GumbelRng::new(7);
    /// let side = rng.side_stream(1);
    /// assert_eq!((side.counter(), side.seed() == rng.seed()), (0, false));
    /// assert_eq!(side, rng.side_stream(1)); // a function of (seed, counter, purpose)
    /// assert_ne!(side, rng.side_stream(2));
    /// ```
    pub fn side_stream(&self, purpose: u64) -> GumbelRng {
        GumbelRng {
            seed: mix(self.seed ^ mix(purpose.wrapping_add(PHI))),
            counter: self.counter,
        }
    }

    /// The key of the call about to be made (does not advance the counter).
    pub(crate) fn call_key(&self) -> CallKey {
        CallKey(mix(mix(self.seed) ^ self.counter))
    }

    /// Marks the current call as done: the next call uses the next counter value.
    pub(crate) fn advance(&mut self) {
        self.counter = self.counter.wrapping_add(1);
    }
}

/// The key of one kernel call, from which every row's stream derives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CallKey(pub(crate) u64);

impl CallKey {
    /// The key of row `row`'s stream.
    #[inline]
    pub(crate) fn row_key(self, row: usize) -> u64 {
        mix(self.0 ^ row as u64)
    }
}

/// The 4 x 8 xoshiro state words of a row: `states[w][j]` is word `w` of lane `j`, equal
/// to output `4j + w + 1` of SplitMix64 started at `row_key`.
///
/// Never all zero for a lane: `mix` is a bijection and the 4 SplitMix64 states of a lane
/// are distinct, so at most one of its 4 words is zero.
#[inline]
pub(crate) fn lane_states(row_key: u64) -> [[u64; 8]; 4] {
    let mut s = [[0u64; 8]; 4];
    let mut x = row_key;
    for j in 0..8 {
        for w in s.iter_mut() {
            x = x.wrapping_add(PHI);
            w[j] = mix(x);
        }
    }
    s
}

/// Eight xoshiro256++ generators in one `u64x8`: lane `j` is rand_xoshiro's
/// `Xoshiro256PlusPlus` with state `lane_states(row_key)[..][j]`.
pub(crate) struct LaneRng {
    s0: u64x8,
    s1: u64x8,
    s2: u64x8,
    s3: u64x8,
}

#[inline(always)]
fn rotl(x: u64x8, k: u32) -> u64x8 {
    x.unbounded_shl_scalar(k) | x.unbounded_shr_scalar(64 - k)
}

impl LaneRng {
    /// The generator of the row with key `row_key`.
    #[inline]
    pub(crate) fn new(row_key: u64) -> Self {
        let [s0, s1, s2, s3] = lane_states(row_key).map(u64x8::new);
        LaneRng { s0, s1, s2, s3 }
    }

    /// One xoshiro256++ step in every lane (Blackman and Vigna's reference, lane-wise).
    #[inline(always)]
    pub(crate) fn next(&mut self) -> u64x8 {
        let result = rotl(self.s0 + self.s3, 23) + self.s0;
        let t = self.s1.unbounded_shl_scalar(17);
        self.s2 ^= self.s0;
        self.s3 ^= self.s1;
        self.s1 ^= self.s2;
        self.s0 ^= self.s3;
        self.s2 ^= t;
        self.s3 = rotl(self.s3, 45);
        result
    }
}

/// The scalar reference of the lane generator.
pub(crate) mod scalar {
    use rand_xoshiro::rand_core::{Rng, SeedableRng};
    use rand_xoshiro::{SplitMix64, Xoshiro256PlusPlus};

    /// Eight of rand_xoshiro's `Xoshiro256PlusPlus`, seeded from rand_xoshiro's
    /// `SplitMix64` started at the row key: the definition of a row's stream.
    pub(crate) struct LaneRng {
        lanes: [Xoshiro256PlusPlus; 8],
    }

    impl LaneRng {
        pub(crate) fn new(row_key: u64) -> Self {
            let mut sm = SplitMix64::seed_from_u64(row_key);
            LaneRng {
                lanes: std::array::from_fn(|_| Xoshiro256PlusPlus::from_rng(&mut sm)),
            }
        }

        /// One `next_u64` from each lane, in lane order.
        pub(crate) fn next(&mut self) -> [u64; 8] {
            std::array::from_fn(|j| self.lanes[j].next_u64())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_xoshiro::SplitMix64;
    use rand_xoshiro::rand_core::{Rng, SeedableRng};

    #[test]
    fn mix_is_rand_xoshiros_splitmix_output() {
        let mut sm = SplitMix64::seed_from_u64(12345);
        let mut x = 12345u64;
        for _ in 0..100 {
            x = x.wrapping_add(PHI);
            assert_eq!(mix(x), sm.next_u64());
        }
    }

    #[test]
    fn simd_lanes_are_rand_xoshiro_streams_bit_for_bit() {
        for key in [
            0u64,
            1,
            0xdead_beef,
            u64::MAX,
            GumbelRng::new(3).call_key().row_key(17),
        ] {
            let mut v = LaneRng::new(key);
            let mut s = scalar::LaneRng::new(key);
            for step in 0..1000 {
                assert_eq!(v.next().to_array(), s.next(), "key {key:#x} step {step}");
            }
        }
    }

    #[test]
    fn rows_calls_and_seeds_get_distinct_streams() {
        let rng = GumbelRng::new(1);
        let k = rng.call_key();
        let mut firsts = std::collections::HashSet::new();
        for row in 0..1000 {
            assert!(firsts.insert(LaneRng::new(k.row_key(row)).next().to_array()));
        }
        let mut next = rng.clone();
        next.advance();
        assert_ne!(next.call_key(), k);
        assert_ne!(GumbelRng::new(2).call_key(), k);
    }

    #[test]
    fn counter_advances_by_one_and_replays() {
        let mut rng = GumbelRng::new(9);
        let k0 = rng.call_key();
        rng.advance();
        assert_eq!(rng.counter(), 1);
        rng.set_counter(0);
        assert_eq!(rng.call_key(), k0);
        assert_eq!(rng.seed(), 9);
    }
}
