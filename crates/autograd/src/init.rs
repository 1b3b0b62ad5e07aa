//! Parameter initialisation, matching PyTorch's defaults for the layers in [`crate::layers`].
//!
//! | layer | PyTorch default | here |
//! |---|---|---|
//! | `nn.Linear(in, out)` | weight, bias `U(-1/sqrt(in), 1/sqrt(in))` (kaiming_uniform with a = sqrt 5) | [`uniform`] |
//! | `nn.Conv1d(C, F, w)` | weight, bias `U(-1/sqrt(C w), 1/sqrt(C w))` | [`uniform`] |
//! | `nn.LSTM(in, H)` | every weight and bias `U(-1/sqrt(H), 1/sqrt(H))` | [`uniform`] |
//! | `nn.Embedding(n, d)` | weight `N(0, 1)` | [`normal`] |
//! | RelGAN's TensorFlow layers (`utils/ops.py`) | weight truncated normal (2 sd), std `1/sqrt(in)`; bias 0 | [`truncated_normal`] |
//!
//! The generator is any `rand` RNG; [`seeded`] gives the one the examples use.

use rand::{Rng, RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use gumbel_tensor::{Element, Tensor};

/// A seeded xoshiro256++ generator (expanded from the seed through SplitMix64).
pub fn seeded(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

/// A tensor with entries drawn from `U(-bound, bound)`.
pub fn uniform<T: Element>(shape: &[usize], bound: f64, rng: &mut impl Rng) -> Tensor<T> {
    Tensor::from_fn(shape, |_| {
        T::from_f64(bound * (2.0 * rng.random::<f64>() - 1.0))
    })
}

/// A tensor with entries drawn from `N(0, std^2)` (Box-Muller on two uniforms).
pub fn normal<T: Element>(shape: &[usize], std: f64, rng: &mut impl Rng) -> Tensor<T> {
    Tensor::from_fn(shape, |_| {
        // u1 in (0, 1]: 1 - [0, 1), so ln(u1) is finite
        let u1 = 1.0 - rng.random::<f64>();
        let u2 = rng.random::<f64>();
        T::from_f64(std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos())
    })
}

/// A tensor with entries drawn from `N(0, std^2)` truncated to `[-2 std, 2 std]` (draws
/// outside are redrawn: TensorFlow's `truncated_normal_initializer`, PyTorch's
/// `trunc_normal_(std=s, a=-2s, b=2s)`). The variance is `0.774 std^2`.
pub fn truncated_normal<T: Element>(shape: &[usize], std: f64, rng: &mut impl Rng) -> Tensor<T> {
    let mut draw = || {
        let u1 = 1.0 - rng.random::<f64>();
        let u2 = rng.random::<f64>();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    };
    Tensor::from_fn(shape, |_| {
        loop {
            let z = draw();
            if z.abs() <= 2.0 {
                break T::from_f64(std * z);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_match() {
        // 20_000 draws: the sample mean of U(-1, 1) has sd sqrt(1/3 / 2e4) = 0.0041, of
        // N(0, 4) sd 2/sqrt(2e4) = 0.014; the sample variance of N(0, 4) has sd
        // 4 sqrt(2 / 2e4) = 0.04. Bands of 5 sd.
        let mut rng = seeded(1);
        let u: Tensor<f64> = uniform(&[20_000], 1.0, &mut rng);
        assert!(u.as_slice().iter().all(|x| x.abs() <= 1.0));
        let mean = u.as_slice().iter().sum::<f64>() / 2e4;
        assert!(mean.abs() < 0.021, "{mean}");
        let n: Tensor<f64> = normal(&[20_000], 2.0, &mut rng);
        let mean = n.as_slice().iter().sum::<f64>() / 2e4;
        let var = n.as_slice().iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2e4;
        assert!(mean.abs() < 0.07 && (var - 4.0).abs() < 0.2, "{mean} {var}");
    }

    #[test]
    fn truncated_normal_stays_within_two_sd_with_the_truncated_variance() {
        // N(0, 1) truncated at +-2 (Z = 2 Phi(2) - 1): E z^2 = 1 - 4 phi(2) / Z = 0.77374,
        // E z^4 = 3 E z^2 - 16 phi(2) / Z = 1.41619, so the mean of 2e4 draws of z^2 has sd
        // sqrt((1.41619 - 0.77374^2) / 2e4) = 0.0064: a band of 0.03 is 4.7 sd.
        let mut rng = seeded(2);
        let t: Tensor<f64> = truncated_normal(&[20_000], 0.5, &mut rng);
        assert!(t.as_slice().iter().all(|x| x.abs() <= 1.0));
        let var = t.as_slice().iter().map(|x| x * x).sum::<f64>() / 2e4 / 0.25;
        assert!((var - 0.77374).abs() < 0.03, "{var}");
    }
}
