//! The composed (unfused) twin of the fused kernels: noise, add, scale and softmax as
//! separate kernels from [`crate::ops`], each reading and writing a whole tensor, the way
//! a framework built from generic ops computes `softmax((l + gumbel()) / tau)`. Tests
//! check that it agrees with the fused kernels in value and gradient; the benchmarks run
//! it as "unfused".
//!
//! Its backward uses the textbook `dtau = -sum_i dl_i z_i` with the stored `z`, an
//! independent check of the fused kernel's `ln y` rewrite.

use super::noise::gumbel_noise;
use super::rng::GumbelRng;
use super::{TempGrad, Temperature};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::ops::{add, row_argmax, scale, softmax, softmax_backward};
use crate::tensor::Tensor;

/// Everything the composed forward materialises.
#[derive(Debug, Clone)]
pub struct Composed<T: Element> {
    /// The Gumbel noise `g` ([`gumbel_noise`]).
    pub g: Tensor<T>,
    /// `p = l + g` ([`add`]).
    pub p: Tensor<T>,
    /// `z = c p` ([`scale`]), kept for the backward's `dtau = -sum dl z`.
    pub z: Tensor<T>,
    /// `y = softmax(z)` ([`softmax()`]: max, exp and sum, divide).
    pub y: Tensor<T>,
    /// `argmax p` of each row ([`row_argmax`]).
    pub index: Vec<usize>,
}

/// The composed forward: `g = gumbel_noise(..)`, `p = l + g`, `z = c p`, `y = softmax(z)`,
/// `index = argmax p`, each a separate kernel. The same noise as the fused kernel for the
/// same seed and counter, and the same errors (from `softmax`, which names the row and
/// column of a NaN or `+inf`, or the masked row). Consumes one counter value on success.
pub fn forward<T: Element>(
    logits: &Tensor<T>,
    temp: Temperature<T>,
    rng: &mut GumbelRng,
) -> Result<Composed<T>> {
    const OP: &str = "composed::forward";
    let c = temp.scale(OP)?;
    if logits.rank() == 0 {
        return Err(Error::invalid_shape(
            OP,
            logits.shape(),
            "logits need a class dimension",
        ));
    }
    let counter = rng.counter();
    let g = gumbel_noise(logits.shape(), rng);
    after_noise(logits, g, c).inspect_err(|_| rng.set_counter(counter))
}

/// The composed forward's kernels after the noise.
fn after_noise<T: Element>(logits: &Tensor<T>, g: Tensor<T>, c: T) -> Result<Composed<T>> {
    let p = add(logits, &g)?;
    let z = scale(&p, c);
    let y = softmax(&z)?;
    let index = row_argmax(&p)?;
    Ok(Composed { g, p, z, y, index })
}

/// The composed Gumbel-max: `g = gumbel_noise(..)`, `p = l + g`, `argmax p`, three
/// kernels. Same noise and indices as [`gumbel_max`](super::gumbel_max); a row whose
/// argmax is NaN, `+inf` or `-inf` is reported with the fused kernel's errors.
pub fn gumbel_max<T: Element>(logits: &Tensor<T>, rng: &mut GumbelRng) -> Result<Vec<usize>> {
    const OP: &str = "composed::gumbel_max";
    if logits.rank() == 0 {
        return Err(Error::invalid_shape(
            OP,
            logits.shape(),
            "logits need a class dimension",
        ));
    }
    let counter = rng.counter();
    let g = gumbel_noise(logits.shape(), rng);
    let run = || -> Result<Vec<usize>> {
        let p = add(logits, &g)?;
        let index = row_argmax(&p)?;
        for (r, &i) in index.iter().enumerate() {
            let v = p.row(r)[i];
            if v.is_nan() || v == T::INFINITY {
                let lr = logits.row(r);
                let col = lr
                    .iter()
                    .position(|x| x.is_nan() || *x == T::INFINITY)
                    .unwrap_or(i);
                return Err(Error::NonFiniteLogit {
                    op: OP,
                    row: r,
                    col,
                    value: lr[col].to_f64(),
                });
            }
            if v == T::NEG_INFINITY {
                return Err(Error::AllMasked { op: OP, row: r });
            }
        }
        Ok(index)
    };
    run().inspect_err(|_| rng.set_counter(counter))
}

/// The composed backward: `dz = y (dy - <dy, y>)` ([`softmax_backward`]), `dl = c dz`
/// ([`scale`]), and the temperature gradient from the stored `z`:
/// `dtau = -(1/tau) sum dz_i z_i`, `dbeta = (1/beta) sum dz_i z_i`, masked classes
/// (`z_i = -inf`) skipped, if `temp_grad` is [`TempGrad::Compute`].
pub fn backward<T: Element>(
    fwd: &Composed<T>,
    dy: &Tensor<T>,
    temp: Temperature<T>,
    temp_grad: TempGrad,
) -> Result<(Tensor<T>, Option<T>)> {
    const OP: &str = "composed::backward";
    let c = temp.scale(OP)?;
    let dz = softmax_backward(&fwd.y, dy)?;
    let dl = scale(&dz, c);
    let dtemp = temp_grad.then(|| {
        let s: f64 = (0..dz.rows())
            .map(|r| {
                dz.row(r)
                    .iter()
                    .zip(fwd.z.row(r))
                    .filter(|(_, z)| **z != T::NEG_INFINITY)
                    .map(|(a, z)| a.to_f64() * z.to_f64())
                    .sum::<f64>()
            })
            .sum();
        T::from_f64(match temp {
            Temperature::Tau(tau) => -s / tau.to_f64(),
            Temperature::Beta(beta) => s / beta.to_f64(),
        })
    });
    Ok((dl, dtemp))
}
