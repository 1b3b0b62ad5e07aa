//! The dropout mask as a pure function of `(seed, element index)`: a counter-based
//! generator, so the mask is the same for any thread count and can be recomputed in
//! backward instead of stored.

use gumbel_tensor::random::{GOLDEN_GAMMA, mix64, unit_f64};

/// A uniform number in `[0, 1)` (53 bits) for element `i` under `seed`.
#[inline]
pub fn uniform(seed: u64, i: usize) -> f64 {
    let z = mix64(mix64(seed ^ GOLDEN_GAMMA).wrapping_add((i as u64).wrapping_mul(GOLDEN_GAMMA)));
    unit_f64(z)
}

/// `true` if element `i` is kept (`uniform(seed, i) >= p`).
#[inline]
pub fn keep(seed: u64, i: usize, p: f64) -> bool {
    uniform(seed, i) >= p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_rate_is_one_minus_p() {
        // 100_000 Bernoulli(0.7) draws: sd of the rate = sqrt(0.21 / 1e5) = 1.45e-3; a 5 sd
        // band is +-0.0073
        let n = 100_000;
        let kept = (0..n).filter(|&i| keep(7, i, 0.3)).count() as f64 / n as f64;
        assert!((kept - 0.7).abs() < 0.0073, "{kept}");
        // different seeds give different masks
        let a: Vec<bool> = (0..64).map(|i| keep(1, i, 0.5)).collect();
        let b: Vec<bool> = (0..64).map(|i| keep(2, i, 0.5)).collect();
        assert_ne!(a, b);
    }
}
