//! Counter-based random streams: every random draw of a run is a function of
//! `(seed, purpose, index)`.
//!
//! The batch order of MLE epoch `e` comes from `stream(seed, Purpose::Shuffle, e)`, the
//! Gumbel noise of adversarial step `i` from `key(seed, Purpose::GenNoise, i)`, and so on.
//! No RNG state is carried from step to step, so a checkpoint's step counters are the whole
//! random state and a resumed run draws exactly what an uninterrupted one draws. The
//! row-level streams of the tensor kernels derive from these keys in turn, independently of
//! the number of threads.

use gumbel_tensor::random::splitmix64;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// What a stream is used for; part of its key so that streams never overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// Parameter initialisation.
    Init = 1,
    /// The minibatch order of an MLE epoch.
    Shuffle = 2,
    /// Gumbel noise of the generator's relaxed samples (generator update).
    GenNoise = 3,
    /// Gumbel noise of the samples the discriminator update sees.
    DiscNoise = 4,
    /// Dropout masks of the discriminator.
    Dropout = 5,
    /// Real minibatches of the adversarial phase.
    RealBatch = 6,
    /// Samples drawn for an evaluation.
    Eval = 7,
    /// Samples drawn by `gumbel-lab sample`.
    Sample = 8,
    /// Training and test sets drawn from the grammar or the oracle.
    Data = 9,
}

/// A 64-bit key for `(seed, purpose, index)`, for kernels that take a seed.
///
/// `splitmix64(splitmix64(splitmix64(seed) ^ purpose) ^ index)`. The data sets'
/// `data::random::stream` nests the same function differently (`seed ^ splitmix64(domain)`);
/// the two schemes are kept apart because each fixes the bits of every run and data set
/// made so far, and a `Purpose` and a data domain are separate name spaces.
pub fn key(seed: u64, purpose: Purpose, index: u64) -> u64 {
    splitmix64(splitmix64(splitmix64(seed) ^ purpose as u64) ^ index)
}

/// A xoshiro256++ stream for `(seed, purpose, index)`.
pub fn stream(seed: u64, purpose: Purpose, index: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(key(seed, purpose, index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_differ_by_every_part_of_the_key_and_repeat_for_the_same_key() {
        let a = stream(1, Purpose::Shuffle, 0).next_u64();
        assert_eq!(a, stream(1, Purpose::Shuffle, 0).next_u64());
        assert_ne!(a, stream(2, Purpose::Shuffle, 0).next_u64());
        assert_ne!(a, stream(1, Purpose::Eval, 0).next_u64());
        assert_ne!(a, stream(1, Purpose::Shuffle, 1).next_u64());
    }
}
