//! From random bits to Gumbel noise: `g = -ln(-ln u)`, the noise sources the fused kernels
//! read from, and the public [`gumbel_noise`] / [`uniform_noise`] tensors.
//!
//! The uniforms come from [`Element::uniforms`]: one generator step (8 random words)
//! becomes one vector of uniforms on the grid `(k + 1/2) 2^-b` of [`crate::random`] ("The
//! uniform grid"; docs/kernels.md, "Uniform grid"), strictly inside `(0, 1)` and with `u`
//! and `-ln u` normal, which is what lets the `ln` polynomial skip every edge case.
//!
//! The grid truncates the Gumbel tails at `g` in `[-2.81, 16.6]` (`f32`) and
//! `[-3.60, 36.7]` (`f64`); the mass beyond is about `1e-7` resp. `1e-16`.

use std::mem::MaybeUninit;

use super::rng::{CallKey, GumbelRng, LaneRng};
use super::uninit::write_rows;
use crate::element::Element;
use crate::simd::SimdFloat;
use crate::tensor::Tensor;

/// `g = -ln(-ln u)` lane-wise, for `u` on the uniform grid (or anywhere in `(0, 1)` with
/// `u` and `-ln u` normal).
#[inline(always)]
pub(crate) fn gumbel_lanes<T: Element>(u: T::Lanes) -> T::Lanes {
    -T::ln_lanes(-T::ln_lanes(u))
}

/// Scalar twin of [`gumbel_lanes`] (bitwise identical).
#[inline(always)]
pub(crate) fn gumbel_scalar<T: Element>(u: T) -> T {
    -T::ln_scalar(-T::ln_scalar(u))
}

/// Where a row kernel gets its Gumbel noise: the row's generator, or a caller's tensor.
pub(crate) trait NoiseSource<T: Element> {
    /// Noise for elements `start .. start + len` of the row (`len <= N`), in the first
    /// `len` lanes; the other lanes hold finite filler. Calls come in order of `start`,
    /// advancing by `N`.
    fn gumbel(&mut self, start: usize, len: usize) -> T::Lanes;
}

/// Where a row kernel gets its *uniforms* (the sources that have them: the row's generator
/// and caller-given uniforms, not caller-given Gumbel noise). The exponential race of the
/// forward at `c = 1` ([`super::fused`]) reads `E = -ln u` from these directly.
pub(crate) trait UniformSource<T: Element> {
    /// Uniforms for elements `start .. start + len` of the row (`len <= N`), in the first
    /// `len` lanes; the other lanes hold `1/2`. Calls come in order of `start`, advancing
    /// by `N`.
    fn uniform(&mut self, start: usize, len: usize) -> T::Lanes;
}

/// `E = -ln u` lane-wise: standard exponential noise, `g = -ln E`.
#[inline(always)]
pub(crate) fn exponential_lanes<T: Element>(u: T::Lanes) -> T::Lanes {
    -T::ln_lanes(u)
}

/// The row's own stream: one generator step per vector.
pub(crate) struct RowStream(pub(crate) LaneRng);

impl RowStream {
    #[inline]
    pub(crate) fn new(key: CallKey, row: usize) -> Self {
        RowStream(LaneRng::new(key.row_key(row)))
    }
}

impl<T: Element> UniformSource<T> for RowStream {
    #[inline(always)]
    fn uniform(&mut self, _start: usize, _len: usize) -> T::Lanes {
        T::uniforms(self.0.next())
    }
}

impl<T: Element> NoiseSource<T> for RowStream {
    #[inline(always)]
    fn gumbel(&mut self, start: usize, len: usize) -> T::Lanes {
        gumbel_lanes::<T>(UniformSource::<T>::uniform(self, start, len))
    }
}

/// Caller-given Gumbel noise (one row of it).
pub(crate) struct GivenGumbel<'a, T>(pub(crate) &'a [T]);

impl<T: Element> NoiseSource<T> for GivenGumbel<'_, T> {
    #[inline(always)]
    fn gumbel(&mut self, start: usize, len: usize) -> T::Lanes {
        if len == T::Lanes::LANES {
            T::Lanes::load(&self.0[start..])
        } else {
            T::Lanes::load_or(&self.0[start..start + len], T::ZERO)
        }
    }
}

/// Caller-given uniforms (one row of them), turned into Gumbel noise exactly as the
/// generator's uniforms are.
pub(crate) struct GivenUniform<'a, T>(pub(crate) &'a [T]);

impl<T: Element> UniformSource<T> for GivenUniform<'_, T> {
    #[inline(always)]
    fn uniform(&mut self, start: usize, len: usize) -> T::Lanes {
        if len == T::Lanes::LANES {
            T::Lanes::load(&self.0[start..])
        } else {
            T::Lanes::load_or(&self.0[start..start + len], T::from_f64(0.5))
        }
    }
}

impl<T: Element> NoiseSource<T> for GivenUniform<'_, T> {
    #[inline(always)]
    fn gumbel(&mut self, start: usize, len: usize) -> T::Lanes {
        gumbel_lanes::<T>(self.uniform(start, len))
    }
}

/// A tensor of standard Gumbel noise `g = -ln(-ln u)` with the given shape, drawn from
/// `rng` (one counter value). Row `r` (over the last dimension) holds exactly the noise
/// that [`gumbel_softmax`](super::gumbel_softmax) and [`gumbel_max`](super::gumbel_max)
/// add to row `r` of their logits when called with the same seed and counter (at
/// `tau = 1` the forward takes `E = -ln u` from the same uniforms instead: `g = -ln E`).
///
/// `g` has mean `0.5772...` (Euler-Mascheroni) and variance `pi^2/6`.
pub fn gumbel_noise<T: Element>(shape: &[usize], rng: &mut GumbelRng) -> Tensor<T> {
    fill_rows(shape, rng, |key, r, row| {
        let mut src = RowStream::new(key, r);
        let n = T::Lanes::LANES;
        let mut chunks = row.chunks_exact_mut(n);
        for (i, out) in chunks.by_ref().enumerate() {
            NoiseSource::<T>::gumbel(&mut src, i * n, n).store_uninit(out);
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            NoiseSource::<T>::gumbel(&mut src, 0, tail.len()).store_part_uninit(tail);
        }
    })
}

/// A tensor of the uniforms `u` in `(0, 1)` behind [`gumbel_noise`]: with the same seed
/// and counter, `gumbel_noise = -ln(-ln(uniform_noise))` element for element (with this
/// crate's `ln`), and `gumbel_softmax_with_noise(Noise::Uniform(..))` reproduces
/// `gumbel_softmax` bit for bit.
pub fn uniform_noise<T: Element>(shape: &[usize], rng: &mut GumbelRng) -> Tensor<T> {
    fill_rows(shape, rng, |key, r, row| {
        let mut lanes = LaneRng::new(key.row_key(r));
        let n = T::Lanes::LANES;
        let mut chunks = row.chunks_exact_mut(n);
        for out in chunks.by_ref() {
            T::uniforms(lanes.next()).store_uninit(out);
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            T::uniforms(lanes.next()).store_part_uninit(tail);
        }
    })
}

/// Allocates a tensor and fills each row with `f(call_key, row, row_slice)`, consuming one
/// counter value. `f` must initialise every element of its row.
fn fill_rows<T: Element>(
    shape: &[usize],
    rng: &mut GumbelRng,
    f: impl Fn(CallKey, usize, &mut [MaybeUninit<T>]) + Sync + Send,
) -> Tensor<T> {
    let key = rng.call_key();
    // SAFETY: both callers store a vector into every full chunk of the row and store_part
    // into the tail, so every element is initialised.
    let written = unsafe {
        write_rows::<T, (), ()>(shape, |r, row| {
            f(key, r, row);
            Ok(())
        })
    };
    rng.advance();
    written.expect("noise rows cannot fail").0
}

/// Scalar references for the noise: the rand_xoshiro lanes, the scalar uniform mapping and
/// the scalar `ln` twin. Bitwise identical to the SIMD path (tested).
pub(crate) mod scalar {
    use super::*;
    use crate::ops::gumbel::rng::scalar::LaneRng as ScalarLanes;

    /// Uniforms of row `r` of the call `key`.
    pub(crate) fn uniform_row<T: Element>(key: CallKey, r: usize, out: &mut [T]) {
        let mut lanes = ScalarLanes::new(key.row_key(r));
        let n = T::Lanes::LANES;
        let mut buf = vec![T::ZERO; n];
        for chunk in out.chunks_mut(n) {
            T::uniforms_scalar(lanes.next(), &mut buf);
            chunk.copy_from_slice(&buf[..chunk.len()]);
        }
    }

    /// Gumbel noise of row `r` of the call `key`.
    pub(crate) fn gumbel_row<T: Element>(key: CallKey, r: usize, out: &mut [T]) {
        uniform_row(key, r, out);
        out.iter_mut().for_each(|x| *x = gumbel_scalar(*x));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wide::u64x8;

    #[test]
    fn the_grid_ends_give_finite_gumbel_noise() {
        // The raw bits 0 and all-ones (the generator's extreme outputs), forced through the
        // uniform mapping (crate::random tests that u is inside (0, 1) and normal): g is
        // finite in the SIMD kernel and its scalar twin alike.
        for w in [0u64, u64::MAX] {
            let mut u32s = [0.0f32; 16];
            f32::uniforms_scalar([w; 8], &mut u32s);
            let mut u64s = [0.0f64; 8];
            f64::uniforms_scalar([w; 8], &mut u64s);
            assert!(u32s.iter().all(|&u| gumbel_scalar(u).is_finite()));
            assert!(u64s.iter().all(|&u| gumbel_scalar(u).is_finite()));
            let g = gumbel_lanes::<f32>(f32::uniforms(u64x8::splat(w)));
            assert!(g.to_array().iter().all(|g| g.is_finite()));
            let g = gumbel_lanes::<f64>(f64::uniforms(u64x8::splat(w)));
            assert!(g.to_array().iter().all(|g| g.is_finite()));
        }
    }

    #[test]
    fn the_whole_f32_grid_gives_accurate_finite_gumbel_noise() {
        // Exhaustive: every one of the 2^23 f32 uniforms, against -ln(-ln u) in f64.
        // Bound: u is exact; each ln is within 1 ulp, i.e. a relative error <= 2^-23.
        // The inner one, E(1 + d), becomes an absolute error ln(1 + d) <= 2^-23 in ln E;
        // the outer adds 2^-23 |g|. So |err| <= 2^-23 (1 + |g|), up to second-order terms
        // (covered by the factor 1 + 1e-6).
        let mut worst = 0.0f64;
        for k in (0u32..1 << 23).step_by(16) {
            let mut ks = [0u64; 8];
            for (j, w) in ks.iter_mut().enumerate() {
                let lo = k + 2 * j as u32;
                *w = ((lo as u64) << 9) | (((lo + 1) as u64) << 41);
            }
            let g = gumbel_lanes::<f32>(f32::uniforms(u64x8::new(ks))).to_array();
            for (i, &gi) in g.iter().enumerate() {
                let u = crate::random::uniform_f32(k + i as u32) as f64;
                let want = -(-u.ln()).ln();
                let err =
                    (gi as f64 - want).abs() / (2f64.powi(-23) * (1.0 + want.abs()) * (1.0 + 1e-6));
                worst = worst.max(err);
            }
        }
        assert!(worst <= 1.0, "g error {worst} x bound");
    }

    #[test]
    fn simd_and_scalar_noise_agree_bitwise_on_awkward_lengths() {
        let key = GumbelRng::new(5).call_key();
        for len in [0usize, 1, 7, 8, 9, 15, 16, 17, 1023] {
            let mut rng = GumbelRng::new(5);
            let g32 = gumbel_noise::<f32>(&[3, len], &mut rng);
            let mut rng = GumbelRng::new(5);
            let g64 = gumbel_noise::<f64>(&[3, len], &mut rng);
            for r in 0..3 {
                let mut s32 = vec![0.0f32; len];
                scalar::gumbel_row(key, r, &mut s32);
                let mut s64 = vec![0.0f64; len];
                scalar::gumbel_row(key, r, &mut s64);
                if len > 0 {
                    assert_eq!(g32.row(r), &s32[..], "f32 len {len} row {r}");
                    assert_eq!(g64.row(r), &s64[..], "f64 len {len} row {r}");
                }
            }
        }
    }

    #[test]
    fn uniform_noise_is_the_source_of_gumbel_noise() {
        let mut rng = GumbelRng::new(11);
        let u = uniform_noise::<f32>(&[4, 37], &mut rng);
        rng.set_counter(0);
        let g = gumbel_noise::<f32>(&[4, 37], &mut rng);
        for (&ui, &gi) in u.as_slice().iter().zip(g.as_slice()) {
            assert_eq!(gumbel_scalar(ui).to_bits(), gi.to_bits());
        }
    }
}
