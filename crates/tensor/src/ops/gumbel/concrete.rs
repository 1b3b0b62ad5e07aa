//! The ExpConcrete log-density (Maddison, Mnih and Teh, 2017): the density of a
//! Gumbel-Softmax sample in log space, `v = ln y`, in its numerically stable form.
//!
//! For `k` (unmasked) classes with logits `l` and temperature `tau`:
//!
//! ```text
//! log p(v) = lgamma(k) + (k - 1) ln(lambda) + sum_i log_softmax(l - lambda v)_i,   lambda = tau
//! ```
//!
//! `lambda` is the temperature itself (Maddison et al. write `Concrete(alpha, lambda)`
//! with `lambda` the temperature and `alpha = exp(l)`). Note: the project's issue text
//! says `lambda = 1/tau`; with `1/tau` the formula still integrates to 1 (it is a density
//! for any `lambda > 0`) but it is *not* the density of the samples: the tests
//! (`tests/gumbel/concrete.rs`) derive the density from the Gumbel densities and check it
//! against the forward's samples, which pins `lambda = tau`.
//!
//! a density with respect to Lebesgue measure on the log-ratios `(v_i - v_k)_{i<k}`
//! (equivalently: on `v` up to an additive constant, which `log_softmax` ignores).
//! docs/math.md derives it from the Gumbel densities and shows why this is the measure
//! under which it normalises; the tests integrate it numerically.

use super::Temperature;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::parallel;
use crate::tensor::Tensor;

/// `ln Gamma(k) = ln((k-1)!)` for an integer `k >= 1`: an exact sum of logarithms for
/// `k <= 30`, Stirling's series beyond (truncation error below `1/(1188 k^9) < 1e-16`).
pub(crate) fn ln_gamma_int(k: usize) -> f64 {
    assert!(k >= 1);
    if k <= 30 {
        return (2..k).map(|j| (j as f64).ln()).sum();
    }
    let x = k as f64;
    let (x2, x3) = (x * x, x * x * x);
    (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + 1.0 / (12.0 * x)
        - 1.0 / (360.0 * x3)
        + 1.0 / (1260.0 * x3 * x2)
        - 1.0 / (1680.0 * x3 * x3 * x)
}

/// ExpConcrete log-density of `v` (one log-space sample per row, the shape of `logits`)
/// at temperature `tau`: one value per row (shape: the logits' shape without its last
/// dimension),
///
/// ```text
/// log p(v) = lgamma(k) + (k - 1) ln(tau) + sum_i log_softmax(l - tau v)_i
/// ```
///
/// (Maddison et al.'s ExpConcrete with `lambda = tau`; see the module docs on why not
/// `1/tau`).
///
/// with `k` the number of unmasked classes; masked classes (`-inf` logits) are left out,
/// and `v` is ignored there. It is the density of the log-ratios `v_i - v_k`; for `v = ln y`
/// from [`gumbel_softmax`](super::gumbel_softmax) at temperature `tau` it is the density
/// of that sample. Computed in `f64` and rounded to `T`.
///
/// Errors: an invalid `tau`, shape mismatch, a NaN or `+inf` logit, a row with no unmasked
/// class, a non-finite `v` at an unmasked class.
///
/// ```
/// use gumbel_tensor::Tensor;
/// use gumbel_tensor::ops::gumbel::exp_concrete_log_density;
/// // k = 2, l = 0, tau = 1, v = (0, 0): log p = lgamma(2) + ln 1 + 2 ln(1/2) = 2 ln(1/2)
/// let l = Tensor::new([2], vec![0.0f64, 0.0]).unwrap();
/// let v = Tensor::new([2], vec![0.0f64, 0.0]).unwrap();
/// let lp = exp_concrete_log_density(&l, &v, 1.0).unwrap();
/// assert!((lp.item().unwrap() - 2.0 * 0.5f64.ln()).abs() < 1e-15);
/// ```
pub fn exp_concrete_log_density<T: Element>(
    logits: &Tensor<T>,
    v: &Tensor<T>,
    tau: T,
) -> Result<Tensor<T>> {
    const OP: &str = "exp_concrete_log_density";
    // validates tau (finite, > 0, finite reciprocal); lambda is tau itself
    Temperature::Tau(tau).scale(OP)?;
    let lambda = tau.to_f64();
    if logits.rank() == 0 {
        return Err(Error::invalid_shape(
            OP,
            logits.shape(),
            "logits need a class dimension",
        ));
    }
    logits.expect_same_shape(OP, v)?;
    let shape = logits.shape()[..logits.rank() - 1].to_vec();
    let rows: Vec<Result<T>> = parallel::map_rows(logits.rows(), logits.cols(), |r| {
        row_log_density(OP, r, logits.row(r), v.row(r), lambda).map(T::from_f64)
    });
    let data = rows.into_iter().collect::<Result<Vec<T>>>()?;
    Tensor::new(shape, data)
}

/// One row of [`exp_concrete_log_density`], in `f64`.
fn row_log_density<T: Element>(
    op: &'static str,
    row: usize,
    l: &[T],
    v: &[T],
    lambda: f64,
) -> Result<f64> {
    // a_i = l_i - lambda v_i over the unmasked classes
    let mut a = Vec::with_capacity(l.len());
    for (col, (&li, &vi)) in l.iter().zip(v).enumerate() {
        if li.is_nan() || li == T::INFINITY {
            return Err(Error::NonFiniteLogit {
                op,
                row,
                col,
                value: li.to_f64(),
            });
        }
        if li == T::NEG_INFINITY {
            continue;
        }
        if !vi.is_finite() {
            return Err(Error::invalid_argument(
                op,
                format!("row {row}, column {col}: v is {vi} at an unmasked class"),
            ));
        }
        a.push(li.to_f64() - lambda * vi.to_f64());
    }
    let k = a.len();
    if k == 0 {
        return Err(Error::AllMasked { op, row });
    }
    // sum_i log_softmax(a)_i = sum_i a_i - k lse(a), lse(a) = m + ln sum_i e^(a_i - m)
    let m = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + a.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
    let sum_log_softmax: f64 = a.iter().map(|x| x - lse).sum();
    Ok(ln_gamma_int(k) + (k as f64 - 1.0) * lambda.ln() + sum_log_softmax)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_matches_factorials() {
        // ln((k-1)!) by exact products for small k, and across the Stirling switch.
        let mut fact = 1.0f64;
        for k in 1..=40usize {
            if k > 1 {
                fact *= (k - 1) as f64;
            }
            let want = fact.ln();
            assert!(
                (ln_gamma_int(k) - want).abs() <= 1e-13 * want.abs().max(1.0),
                "k={k}"
            );
        }
        // Stirling against the plain sum of logs (rounding error < k 2^-53 relative).
        let mut sum = 0.0f64;
        for k in 2..=3000usize {
            sum += ((k - 1) as f64).ln();
            assert!((ln_gamma_int(k) - sum).abs() <= 1e-12 * sum, "k={k}");
        }
    }
}
