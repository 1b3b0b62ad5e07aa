//! Drawing a class from `softmax(z)` for one row of logits `z` and one uniform `u` in
//! `[0, 1)`, by inverse CDF: the sample is the first `k` with `p_0 + ... + p_k > u`.
//!
//! Scaling instead of normalising, the test is `e_0 + ... + e_k > u S` with
//! `e_j = exp(z_j - m)`, `m = max z` and `S = sum_j e_j`: one pass for `m`, one for the
//! exponentials and `S`, one for the search. One uniform per draw (Gumbel-max,
//! [`super::gumbel_max`], needs one per class); the SeqGAN oracle's sampler and the
//! generator's evaluation sampler both use it.
//!
//! [`sample_inverse_cdf`] is the fast kernel: the row's maximum from
//! [`reduce::simd::max`], the exponentials by the 512-bit polynomial
//! [`Element::exp_lanes`] (its domain: every `z_j - m` is `<= 0` or `-inf`; wide's
//! whole-domain `exp` made a REINFORCE update 18% slower) stored in place, partial
//! sums per chunk of [`CDF_CHUNK`] classes in f64, so that the search skips whole chunks and
//! reads only one chunk's exponentials. [`scalar::sample_inverse_cdf`] is its plain f64
//! reference twin. The two agree except where `u S` falls within rounding of a boundary
//! between two classes.

use super::reduce;
use crate::{Element, SimdFloat};

/// Classes per chunk of [`sample_inverse_cdf`]'s partial sums.
pub const CDF_CHUNK: usize = 64;

/// Draws a class from `softmax(z)` with the uniform `u` in `[0, 1)`. Overwrites `z` with
/// `exp(z - max z)`; `chunk_sums` is scratch and holds, afterwards, the sum of each chunk of
/// [`CDF_CHUNK`] exponentials (their total is `S`). `None` if `z` is empty or holds a NaN or
/// `+inf` logit, or every class is masked (`-inf`): there is no distribution to draw from.
/// Masked classes are never drawn.
///
/// ```
/// use gumbel_tensor::ops::categorical::sample_inverse_cdf;
/// // softmax([0, ln 3]) = [1/4, 3/4]: u < 1/4 draws 0, otherwise 1.
/// let z = [0.0f32, 3f32.ln()];
/// let draw = |u| sample_inverse_cdf(&mut z.clone(), u, &mut Vec::new());
/// assert_eq!((draw(0.2), draw(0.3), draw(0.999)), (Some(0), Some(1), Some(1)));
/// assert_eq!(sample_inverse_cdf(&mut [f32::NAN, 0.0], 0.5, &mut Vec::new()), None);
/// ```
pub fn sample_inverse_cdf<T: Element>(
    z: &mut [T],
    u: f64,
    chunk_sums: &mut Vec<f64>,
) -> Option<usize> {
    let max = reduce::simd::max(z);
    if !max.is_finite() {
        return None;
    }
    // every `z - max` is <= 0 or -inf: the fast polynomial's domain
    let m = T::Lanes::splat(max);
    let l = T::Lanes::LANES;
    chunk_sums.clear();
    let mut total = 0.0f64;
    for c in z.chunks_mut(CDF_CHUNK) {
        let body = c.len() / l * l;
        let mut acc = T::Lanes::splat(T::ZERO);
        for v in c[..body].chunks_exact_mut(l) {
            let e = T::exp_lanes(T::Lanes::load(v) - m);
            e.store(v);
            acc += e;
        }
        let mut s = acc.reduce_add().to_f64();
        // tail
        for x in &mut c[body..] {
            *x = T::exp_scalar(*x - max);
            s += x.to_f64();
        }
        chunk_sums.push(s);
        total += s;
    }
    let target = u * total;
    let mut acc = 0.0f64;
    for (ci, &s) in chunk_sums.iter().enumerate() {
        if acc + s > target {
            let start = ci * CDF_CHUNK;
            let chunk = &z[start..(start + CDF_CHUNK).min(z.len())];
            for (j, &e) in chunk.iter().enumerate() {
                acc += e.to_f64();
                if acc > target {
                    return Some(start + j);
                }
            }
            return Some(start + last_positive(chunk));
        }
        acc += s;
    }
    // Rounding put the target at the very end: take the last class with positive mass
    // (there is one: the max class has exp(0) = 1).
    let ci = chunk_sums.iter().rposition(|&s| s > 0.0)?;
    let start = ci * CDF_CHUNK;
    Some(start + last_positive(&z[start..(start + CDF_CHUNK).min(z.len())]))
}

fn last_positive<T: Element>(c: &[T]) -> usize {
    c.iter()
        .rposition(|&e| e > T::ZERO)
        .expect("a chunk with positive sum has a positive element")
}

/// Scalar reference twin.
pub mod scalar {
    use crate::Element;

    /// The class drawn from `softmax(z)` by the uniform `u` in `[0, 1)`, left to right in
    /// f64 with std's `exp`; `None` where [`super::sample_inverse_cdf`] gives `None`.
    pub fn sample_inverse_cdf<T: Element>(z: &[T], u: f64) -> Option<usize> {
        if z.iter().any(|x| x.is_nan()) {
            return None;
        }
        let m = z.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b.to_f64()));
        if !m.is_finite() {
            return None;
        }
        let s: f64 = z.iter().map(|&x| (x.to_f64() - m).exp()).sum();
        let target = u * s;
        let mut acc = 0.0f64;
        let mut last_positive = 0;
        for (k, &x) in z.iter().enumerate() {
            let e = (x.to_f64() - m).exp();
            if e > 0.0 {
                last_positive = k;
            }
            acc += e;
            if acc > target {
                return Some(k);
            }
        }
        // Rounding left `acc` at or below `u S` (u within an ulp of 1): the last class
        // with positive probability.
        Some(last_positive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{LENGTHS, uniform};

    /// The SIMD kernel and its twin draw the same class for uniforms at the middle of every
    /// class's CDF interval (far from rounding at a boundary), on rows of every length in
    /// [`LENGTHS`] and across chunk boundaries, with masked classes that are never drawn.
    fn kernel_and_twin_agree_between_boundaries<T: Element>() {
        for n in LENGTHS.into_iter().chain([63, 64, 65, 129, 5000]) {
            if n == 0 {
                continue;
            }
            let mut z: Vec<T> = uniform(n, n as u64, -6.0, 6.0);
            for j in (3..n).step_by(11) {
                z[j] = T::NEG_INFINITY;
            }
            let m = z.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b.to_f64()));
            let e: Vec<f64> = z.iter().map(|&x| (x.to_f64() - m).exp()).collect();
            let s: f64 = e.iter().sum();
            let mut before = 0.0;
            let mut sums = Vec::new();
            for (k, &ek) in e.iter().enumerate() {
                if ek / s > 1e-4 {
                    let u = (before + ek / 2.0) / s;
                    let got = sample_inverse_cdf(&mut z.clone(), u, &mut sums);
                    assert_eq!(got, Some(k), "{} n={n} class {k}", T::NAME);
                    assert_eq!(scalar::sample_inverse_cdf(&z, u), Some(k));
                }
                before += ek;
            }
            assert_eq!(sums.len(), n.div_ceil(CDF_CHUNK));
            assert!(sample_inverse_cdf(&mut z.clone(), 0.0, &mut sums) != Some(3));
            let last = sample_inverse_cdf(&mut z.clone(), 1.0 - 1e-17, &mut sums).unwrap();
            assert!(
                z[last] > T::NEG_INFINITY,
                "u near 1 draws a class with mass"
            );
        }
    }

    /// No distribution, no draw: NaN anywhere, `+inf`, every class masked, an empty row.
    fn rows_without_a_distribution_draw_nothing<T: Element>() {
        let mut sums = Vec::new();
        for n in [1, 9, 70] {
            let ok: Vec<T> = uniform(n, 1, -1.0, 1.0);
            for bad in [T::NAN, T::INFINITY] {
                let mut z = ok.clone();
                z[n / 2] = bad;
                assert_eq!(sample_inverse_cdf(&mut z.clone(), 0.5, &mut sums), None);
                assert_eq!(scalar::sample_inverse_cdf(&z, 0.5), None);
            }
            let masked = vec![T::NEG_INFINITY; n];
            assert_eq!(
                sample_inverse_cdf(&mut masked.clone(), 0.5, &mut sums),
                None
            );
            assert_eq!(scalar::sample_inverse_cdf(&masked, 0.5), None);
        }
        assert_eq!(sample_inverse_cdf::<T>(&mut [], 0.5, &mut sums), None);
        assert_eq!(scalar::sample_inverse_cdf::<T>(&[], 0.5), None);
    }

    /// Exact boundaries: three classes with p = (0.2, 0.3, 0.5) and uniforms on a grid of
    /// 1000 midpoints draw each class in proportion; 200 equal classes across chunk
    /// boundaries; masked classes at the extremes of `u`.
    fn known_distributions_are_drawn_exactly<T: Element>() {
        let logits = [0.2f64.ln(), 0.3f64.ln(), 0.5f64.ln()].map(T::from_f64);
        let mut counts = [0usize; 3];
        let mut sums = Vec::new();
        for i in 0..1000 {
            let u = (i as f64 + 0.5) / 1000.0;
            counts[sample_inverse_cdf(&mut logits.clone(), u, &mut sums).unwrap()] += 1;
        }
        assert_eq!(counts, [200, 300, 500]);
        for k in [0usize, 63, 64, 65, 127, 128, 199] {
            let u = (k as f64 + 0.5) / 200.0;
            let mut z = vec![T::ZERO; 200];
            assert_eq!(sample_inverse_cdf(&mut z, u, &mut sums), Some(k));
        }
        let masked = [T::NEG_INFINITY, T::ZERO, T::NEG_INFINITY];
        for u in [0.0, 1.0 - 1e-16] {
            assert_eq!(
                sample_inverse_cdf(&mut masked.clone(), u, &mut sums),
                Some(1)
            );
            assert_eq!(scalar::sample_inverse_cdf(&masked, u), Some(1));
        }
    }

    float_tests!(
        known_distributions_are_drawn_exactly,
        kernel_and_twin_agree_between_boundaries,
        rows_without_a_distribution_draw_nothing
    );
}
