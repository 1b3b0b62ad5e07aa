//! Drawing one token from a row of logits at temperature 1, and the row's entropy: the
//! evaluation sampler (no gradient).
//!
//! [`sample_rows`] is the fast path: rows in parallel, one SIMD `exp` pass per row through
//! the tensor crate's chunked inverse-CDF kernel ([`sample_inverse_cdf`], which documents
//! the method), the entropy from the same exponentials. Its reference twins are
//! `gumbel_tensor::ops::categorical::scalar::sample_inverse_cdf` and [`row_entropy`].

use gumbel_tensor::ops::categorical::sample_inverse_cdf;
use gumbel_tensor::{Element, SimdFloat, Tensor};

/// For each row `r` of `logits [rows, V]`: the class drawn from `softmax(z_r)` by the uniform
/// `us[r]`, and, where `entropy[r]` is set, the entropy of `softmax(z_r)` (else 0). Rows run
/// in parallel; each row's result depends on that row alone, so the output is the same for
/// any number of threads. `Err` naming the first row whose logits have no finite maximum
/// (a NaN or +inf logit: parameters that overflowed).
///
/// The entropy reuses the sampler's exponentials `e_k = exp(z_k - m)`:
/// `H = ln S - (1/S) sum_k e_k (z_k - m)` with `S = sum_k e_k`.
pub fn sample_rows(
    logits: &Tensor<f32>,
    us: &[f64],
    entropy: &[bool],
) -> Result<Vec<(usize, f64)>, gumbel_tensor::Error> {
    let (rows, v) = (logits.rows(), logits.cols());
    debug_assert!(us.len() == rows && entropy.len() == rows);
    let drawn = gumbel_tensor::parallel::map_rows(rows, v, |r| {
        let z = logits.row(r);
        let mut e = z.to_vec();
        let mut sums = Vec::with_capacity(v.div_ceil(64));
        let k = sample_inverse_cdf(&mut e, us[r], &mut sums)?;
        if !entropy[r] {
            return Some((k, 0.0));
        }
        let m = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let s: f64 = sums.iter().sum();
        Some((k, s.ln() - dot_shifted(&e, z, m) / s))
    });
    drawn
        .into_iter()
        .enumerate()
        .map(|(r, d)| d.ok_or_else(|| no_distribution(r, logits.row(r))))
        .collect()
}

/// The error for row `r` whose logits `z` have no finite maximum, so no distribution to draw
/// from (`sample_inverse_cdf` gave `None` and left `z` as it was): it names the row and the
/// first NaN or `+inf` logit (`-inf` if every class is masked).
pub fn no_distribution(r: usize, z: &[f32]) -> gumbel_tensor::Error {
    let bad = z
        .iter()
        .copied()
        .find(|x| x.is_nan() || *x == f32::INFINITY);
    gumbel_tensor::Error::non_finite(
        "sample",
        format!("row {r}: the logits' maximum (a NaN or +inf logit, or all masked)"),
        bad.map_or(f64::NEG_INFINITY, f64::from),
    )
}

/// `sum_k e_k (z_k - m)` over the classes with `e_k > 0`, in f32 SIMD lanes summed in f64.
fn dot_shifted(e: &[f32], z: &[f32], m: f32) -> f64 {
    type V = <f32 as Element>::Simd;
    let l = V::LANES;
    let body = e.len() / l * l;
    let (vm, zero) = (V::splat(m), V::splat(0.0));
    let mut acc = V::splat(0.0);
    for (ec, zc) in e[..body].chunks_exact(l).zip(z[..body].chunks_exact(l)) {
        let ev = V::load(ec);
        // e = 0 for masked (-inf) classes: skip them rather than form 0 * -inf.
        let d = ev.select_gt(zero, V::load(zc) - vm, zero);
        acc = ev.mul_add(d, acc);
    }
    let mut total = acc.reduce_add() as f64;
    // tail
    for (&ek, &zk) in e[body..].iter().zip(&z[body..]) {
        if ek > 0.0 {
            total += ek as f64 * (zk - m) as f64;
        }
    }
    total
}

/// The entropy `-sum_k p_k ln p_k` (nats) of `softmax(z)` (reference twin of
/// [`sample_rows`]' entropy):
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
    use gumbel_tensor::ops::categorical::scalar;

    /// The reference draw of `softmax(z)` by `u`.
    fn sample_row(z: &[f32], u: f64) -> usize {
        scalar::sample_inverse_cdf(z, u).expect("a row with a finite maximum")
    }

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

    #[test]
    fn the_fast_sampler_agrees_with_the_reference() {
        // 300 rows of 203 logits (tails of the SIMD loops), one masked class per row.
        let (rows, v) = (300, 203);
        let mut s = 12345u64;
        let mut next = || {
            s = gumbel_tensor::random::splitmix64(s);
            gumbel_tensor::random::unit_f64(s)
        };
        let logits = Tensor::from_fn([rows, v], |i| {
            if i % v == 7 {
                f32::NEG_INFINITY
            } else {
                (next() * 8.0 - 4.0) as f32
            }
        });
        let us: Vec<f64> = (0..rows).map(|_| next()).collect();
        let want: Vec<bool> = (0..rows).map(|r| r % 3 != 0).collect();
        let got = sample_rows(&logits, &us, &want).unwrap();
        let mut disagree = 0;
        for r in 0..rows {
            let z = logits.row(r);
            disagree += (got[r].0 != sample_row(z, us[r])) as usize;
            if want[r] {
                // f32 exponentials summed in f64: relative error ~1e-6 on H ~ 5.
                assert!((got[r].1 - row_entropy(z)).abs() < 1e-5, "row {r}");
            } else {
                assert_eq!(got[r].1, 0.0);
            }
        }
        // The two differ only when u * S falls within the f32 rounding (~1e-7 relative) of
        // a class boundary: probability about v * 1e-7 per row, 0.006 expected in 300 rows.
        assert!(disagree <= 1, "{disagree} rows differ");
    }

    #[test]
    fn rows_without_a_finite_maximum_are_errors_not_panics() {
        // Overflowed parameters give +inf (or NaN) logits: no distribution to draw from.
        for bad in [f32::INFINITY, f32::NAN] {
            let mut z = vec![0.5f32; 2 * 70];
            z[70 + 66] = bad;
            let logits = Tensor::new([2, 70], z).unwrap();
            let e = sample_rows(&logits, &[0.3, 0.3], &[true, true]).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("row 1"), "{msg}");
        }
    }
}
