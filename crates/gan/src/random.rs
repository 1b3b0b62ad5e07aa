//! Every random draw of the crate: seeded streams for the data sets and for training, uniform
//! and normal draws.
//!
//! Every random quantity comes from a `Xoshiro256PlusPlus` generator whose seed is a
//! function of a key; nothing depends on batching or on how rayon schedules work, so results
//! are bitwise identical for any number of threads. Two key schemes, both nested SplitMix64
//! rounds (`gumbel_tensor::random::splitmix64`), each fixing the bits of everything made so
//! far, so neither is rewritten in terms of the other:
//! - data sets: [`stream`]`(seed, domain, index)`: the grammar's `i`-th training
//!   expression, the oracle's `i`-th sampled sequence and a random oracle's parameters each
//!   have their own stream;
//! - training: [`run_key`]`(seed, purpose, index)` and [`run_stream`]: the batch order of MLE
//!   epoch `e` comes from `run_stream(seed, Purpose::Shuffle, e)`, the Gumbel noise of
//!   adversarial step `i` from `run_key(seed, Purpose::GenNoise, i)`, and so on. No RNG
//!   state is carried from step to step, so a checkpoint's step counters are the whole
//!   random state and a resumed run draws exactly what an uninterrupted one draws. The
//!   row-level streams of the tensor kernels derive from these keys in turn, independently
//!   of the number of threads.
//!
//! Normal draws use the Box-Muller transform (see [`Normal`]).

use gumbel_tensor::random::{splitmix64, unit_f64};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// The generator of stream `index` within `domain` for a user `seed`:
/// `Xoshiro256PlusPlus::seed_from_u64(splitmix64(splitmix64(seed ^ splitmix64(domain)) ^ index))`.
/// Nested SplitMix64 rounds make streams of neighbouring indices, domains and seeds unrelated.
pub fn stream(seed: u64, domain: u64, index: u64) -> Xoshiro256PlusPlus {
    let s = splitmix64(splitmix64(seed ^ splitmix64(domain)) ^ index);
    Xoshiro256PlusPlus::seed_from_u64(s)
}

/// A uniform double in `[0, 1)`: the top 53 bits of one `u64`, times 2^-53 (every value is a
/// multiple of 2^-53; 0 is possible, 1 is not).
#[inline]
pub fn uniform_f64<R: Rng>(rng: &mut R) -> f64 {
    unit_f64(rng.next_u64())
}

/// Standard normal draws by the Box-Muller transform.
///
/// From two independent uniforms, `u1` in `(0, 1]` (`(k + 1) * 2^-53`, so `ln u1` is finite)
/// and `u2` in `[0, 1)`: `r = sqrt(-2 ln u1)`, `z0 = r cos(2 pi u2)`, `z1 = r sin(2 pi u2)`.
/// `(z0, z1)` are independent N(0, 1) (the polar map of an exponential radius and a uniform
/// angle). Both are used: `next` returns `z0`, then `z1`, then draws a new pair. The largest
/// possible |z| is `sqrt(-2 ln 2^-53)` = 8.57.
#[derive(Debug, Clone)]
pub struct Normal<R> {
    rng: R,
    spare: Option<f64>,
}

impl<R: Rng> Normal<R> {
    /// Normal draws from `rng`.
    pub fn new(rng: R) -> Self {
        Normal { rng, spare: None }
    }

    /// The next N(0, 1) draw.
    pub fn next_f64(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        // Not `unit_f64`: `(k + 1) 2^-53` is the grid shifted to `(0, 1]`, so `ln u1` is finite.
        let u1 = ((self.rng.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64);
        let u2 = uniform_f64(&mut self.rng);
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
        self.spare = Some(r * s);
        r * c
    }
}

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
    /// REINFORCE's rollouts (its training batch uses `GenNoise`).
    Rollout = 10,
}

/// A 64-bit key for `(seed, purpose, index)`, for kernels that take a seed.
///
/// `splitmix64(splitmix64(splitmix64(seed) ^ purpose) ^ index)` (the data sets' [`stream`]
/// nests the same function differently; see the module docs).
pub fn run_key(seed: u64, purpose: Purpose, index: u64) -> u64 {
    splitmix64(splitmix64(splitmix64(seed) ^ purpose as u64) ^ index)
}

/// A xoshiro256++ stream for `(seed, purpose, index)`.
pub fn run_stream(seed: u64, purpose: Purpose, index: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(run_key(seed, purpose, index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_moments_match_n01() {
        // 200,000 draws: the standard error of the mean is 1/sqrt(n) = 0.0022, of the
        // variance sqrt(2/n) = 0.0032, of the fourth moment sqrt(96/n) = 0.022. Bounds are
        // 5 standard errors.
        let mut g = Normal::new(stream(7, 0, 0));
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| g.next_f64()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        let m4 = xs.iter().map(|x| x.powi(4)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 5.0 * 0.0023, "mean {mean}");
        assert!((var - 1.0).abs() < 5.0 * 0.0032, "var {var}");
        assert!((m4 - 3.0).abs() < 5.0 * 0.022, "m4 {m4}");
        // P(|z| > 1.96) = 0.05 with standard error sqrt(0.05 * 0.95 / n) = 0.00049.
        let tail = xs.iter().filter(|x| x.abs() > 1.959964).count() as f64 / n as f64;
        assert!((tail - 0.05).abs() < 5.0 * 0.00049, "tail {tail}");
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream(1, 2, 3), |r, _: u64| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream(1, 2, 3), |r, _: u64| Some(r.next_u64()))
            .collect();
        let c: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream(1, 2, 4), |r, _: u64| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let u = uniform_f64(&mut stream(0, 0, 0));
        assert!((0.0..1.0).contains(&u));
    }

    #[test]
    fn streams_differ_by_every_part_of_the_key_and_repeat_for_the_same_key() {
        let a = run_stream(1, Purpose::Shuffle, 0).next_u64();
        assert_eq!(a, run_stream(1, Purpose::Shuffle, 0).next_u64());
        assert_ne!(a, run_stream(2, Purpose::Shuffle, 0).next_u64());
        assert_ne!(a, run_stream(1, Purpose::Eval, 0).next_u64());
        assert_ne!(a, run_stream(1, Purpose::Shuffle, 1).next_u64());
    }
}
