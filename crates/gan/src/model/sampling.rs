//! Drawing one token from a row of logits at temperature 1, and the row's entropy: the
//! evaluation sampler (no gradient).
//!
//! Inverse CDF: with `p = softmax(z)` and one uniform `u` in [0, 1), the sample is the
//! first `k` with `p_0 + ... + p_k > u`. Scaling instead of normalising, the test is
//! `e^{z_0 - m} + ... + e^{z_k - m} > u * S` with `m = max z`, `S = sum_j e^{z_j - m}`: one
//! pass for `m`, one for `S` (and the entropy), one for the search. One uniform per token
//! (Gumbel-max would need one per class).

/// The index drawn from `softmax(z)` by the uniform `u` in [0, 1).
///
/// ```
/// use gumbel_gan::model::sampling::sample_row;
/// // softmax([0, ln 3]) = [1/4, 3/4]: u < 1/4 picks 0, otherwise 1.
/// let z = [0.0f32, 3f32.ln()];
/// assert_eq!(sample_row(&z, 0.2), 0);
/// assert_eq!(sample_row(&z, 0.3), 1);
/// assert_eq!(sample_row(&z, 0.999), 1);
/// ```
pub fn sample_row(z: &[f32], u: f64) -> usize {
    debug_assert!(!z.is_empty());
    let m = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let s: f64 = z.iter().map(|&x| (x as f64 - m).exp()).sum();
    let target = u * s;
    let mut acc = 0.0f64;
    let mut last_positive = 0;
    for (k, &x) in z.iter().enumerate() {
        let e = (x as f64 - m).exp();
        if e > 0.0 {
            last_positive = k;
        }
        acc += e;
        if acc > target {
            return k;
        }
    }
    // Rounding left `acc` at or below `u * S` (u within an ulp of 1): the last class with
    // positive probability.
    last_positive
}

/// The entropy `-sum_k p_k ln p_k` (nats) of `softmax(z)`:
/// `H = ln S - sum_k e^{z_k - m} (z_k - m) / S`.
///
/// ```
/// use gumbel_gan::model::sampling::row_entropy;
/// assert!((row_entropy(&[1.0f32; 4]) - 4f64.ln()).abs() < 1e-12); // uniform over 4
/// ```
pub fn row_entropy(z: &[f32]) -> f64 {
    let m = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let (mut s, mut w) = (0.0f64, 0.0f64);
    for &x in z {
        let d = x as f64 - m;
        let e = d.exp();
        s += e;
        if e > 0.0 {
            w += e * d;
        }
    }
    s.ln() - w / s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequencies_match_softmax() {
        // 200,000 stratified uniforms: the frequencies are exact up to 1/200,000 per class.
        let z = [0.5f32, -1.0, 2.0, 0.0, f32::NEG_INFINITY];
        let m = 2.0f64;
        let s: f64 = z.iter().map(|&x| (x as f64 - m).exp()).sum();
        let n = 200_000;
        let mut counts = [0usize; 5];
        for i in 0..n {
            counts[sample_row(&z, (i as f64 + 0.5) / n as f64)] += 1;
        }
        for (k, &c) in counts.iter().enumerate() {
            let p = (z[k] as f64 - m).exp() / s;
            assert!(
                (c as f64 / n as f64 - p).abs() <= 2.0 / n as f64,
                "class {k}"
            );
        }
        assert_eq!(counts[4], 0, "a masked class is never drawn");
        assert_eq!(
            sample_row(&z, 1.0 - 1e-17),
            3,
            "u near 1 picks the last possible class"
        );
    }
}
