//! Evaluation metrics for generated sequences.
//!
//! - [`bleu`](mod@bleu): BLEU-n against a reference set and self-BLEU-n, exactly as Texygen computes
//!   them with NLTK (`sentence_bleu`, smoothing method1, uniform weights, mean over
//!   hypotheses; fast mode = first 500 references).
//! - [`nll_oracle`]: SeqGAN's NLL_oracle (mean per-token NLL of samples under the oracle).
//! - [`masked_mean_nll`]: the mean of per-token NLLs with padding positions excluded, the
//!   reduction behind NLL_gen (the generator computes the per-token values).
//! - [`unique_fraction`]: the fraction of distinct samples.
//! - [`validity_fraction`]: the fraction of samples that parse in the grammar data set.

pub mod bleu;

use std::collections::HashSet;
use std::hash::Hash;

use gumbel_tensor::{Element, Tensor};

use crate::data::Token;
use crate::data::oracle::Oracle;
use crate::error::{Error, Result};

pub use crate::data::grammar::validity_fraction;
pub use bleu::{BleuScores, References, bleu, bleu_2_to_5, self_bleu, self_bleu_2_to_5};

/// NLL_oracle: the mean per-token NLL, in nats, of `samples` under `oracle` (SeqGAN's
/// definition; see [`Oracle::nll_oracle`]). SeqGAN scores 9,984 samples
/// ([`crate::data::oracle::EVAL_SEQUENCES`]).
pub fn nll_oracle<T: Element>(oracle: &Oracle<T>, samples: &[Vec<Token>]) -> Result<f64> {
    oracle.nll_oracle(samples)
}

/// The mean of per-token NLLs `nll[n, t]` over the positions whose target token
/// `targets[n * T + t]` is not `pad`: `sum_{target != pad} nll / #{target != pad}`, summed
/// in f64 in row-major order. The end-of-sequence token is a target like any other.
/// Pass `pad = None` to average every position.
///
/// `Err` if `targets` does not have one token per element of `nll`, if every position is
/// padding, or if a counted value is not finite (naming the row and column).
///
/// ```
/// use gumbel_gan::metrics::masked_mean_nll;
/// use gumbel_tensor::Tensor;
/// let nll = Tensor::new([2, 3], vec![1.0f32, 2.0, 9.0, 3.0, 9.0, 9.0]).unwrap();
/// let targets = [5, 2, 0, 2, 0, 0]; // 0 is <pad>
/// assert_eq!(masked_mean_nll(&nll, &targets, Some(0)).unwrap(), 2.0); // (1 + 2 + 3) / 3
/// ```
pub fn masked_mean_nll<T: Element>(
    nll: &Tensor<T>,
    targets: &[Token],
    pad: Option<Token>,
) -> Result<f64> {
    const OP: &str = "masked_mean_nll";
    if targets.len() != nll.numel() {
        return Err(Error::invalid_argument(
            OP,
            format!(
                "{} targets for an NLL tensor of shape {:?} ({} elements)",
                targets.len(),
                nll.shape(),
                nll.numel()
            ),
        ));
    }
    let cols = nll.cols();
    let (mut sum, mut count) = (0.0f64, 0usize);
    for (i, (&v, &t)) in nll.as_slice().iter().zip(targets).enumerate() {
        if Some(t) == pad {
            continue;
        }
        if !v.is_finite() {
            return Err(Error::invalid_argument(
                OP,
                format!("row {}, column {}: NLL is {v}", i / cols, i % cols),
            ));
        }
        sum += v.to_f64();
        count += 1;
    }
    if count == 0 {
        return Err(Error::invalid_argument(OP, "every position is padding"));
    }
    Ok(sum / count as f64)
}

/// The fraction of distinct sequences among `samples`: `|set(samples)| / |samples|`.
/// Sequences are compared as given (strip padding first with
/// [`crate::data::Dataset::strip`] if the generator pads). `Err` if `samples` is empty.
///
/// ```
/// use gumbel_gan::metrics::unique_fraction;
/// assert_eq!(unique_fraction(&[vec![1, 2], vec![1, 2], vec![2, 1], vec![3]]).unwrap(), 0.75);
/// ```
pub fn unique_fraction<T: Hash + Eq>(samples: &[Vec<T>]) -> Result<f64> {
    if samples.is_empty() {
        return Err(Error::invalid_argument("unique_fraction", "no samples"));
    }
    let distinct: HashSet<&Vec<T>> = samples.iter().collect();
    Ok(distinct.len() as f64 / samples.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_mean_checks_inputs() {
        let nll = Tensor::new([1, 3], vec![1.0f64, f64::NAN, 2.0]).unwrap();
        assert_eq!(masked_mean_nll(&nll, &[4, 0, 4], Some(0)).unwrap(), 1.5);
        let err = masked_mean_nll(&nll, &[4, 4, 4], Some(0)).unwrap_err();
        assert!(
            err.to_string().contains("row 0, column 1: NLL is NaN"),
            "{err}"
        );
        assert!(masked_mean_nll(&nll, &[0, 0, 0], Some(0)).is_err());
        assert!(
            masked_mean_nll(&nll, &[0, 0], Some(0))
                .unwrap_err()
                .to_string()
                .contains("2 targets")
        );
        let all = Tensor::new([2, 1], vec![1.0f32, 2.0]).unwrap();
        assert_eq!(masked_mean_nll(&all, &[0, 0], None).unwrap(), 1.5);
        assert!(unique_fraction::<u32>(&[]).is_err());
    }
}
