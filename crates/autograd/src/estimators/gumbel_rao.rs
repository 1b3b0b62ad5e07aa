//! Gumbel-Rao (Paulus, Maddison and Krause, ICLR 2021, "Rao-Blackwellizing the
//! Straight-Through Gumbel-Softmax Gradient Estimator"): forward the exact sample
//! `D = one_hot(argmax(l + g))`, backward the straight-through Gumbel-Softmax gradient
//! averaged over `K` Gumbel vectors drawn *conditionally on the sample*:
//!
//! ```text
//! dl = (1/K) sum_k J(y_k) dy / tau,    y_k = softmax((l + g_k) / tau),    g_k ~ Gumbel | argmax(l + g_k) = D
//! ```
//!
//! It is the conditional expectation of ST-Gumbel-Softmax's gradient given `D` (estimated
//! with `K` draws): the same mean, a variance no larger, falling with `K`. The
//! conditional draws and the mean run in one fused pass per row in the tensor crate
//! ([`gumbel_rao_backward`]); no `K x classes` tensor is stored.
//!
//! Randomness: one counter value of the generator, like every other estimator's draw. The
//! sample uses it directly, the backward's conditional draws use the same counter of the
//! generator's side stream [`GUMBEL_RAO_STREAM`] ([`GumbelRng::side_stream`]), so the
//! backward is the same whenever it runs and its noise is unrelated to what later draws
//! take from the generator.

use gumbel_tensor::ops::gumbel::{GumbelRng, Temperature, gumbel_max, gumbel_rao_backward};
use gumbel_tensor::{Element, Error, Result};

use super::one_hot;
use crate::tape::Var;

/// The side stream ([`GumbelRng::side_stream`]) of Gumbel-Rao's conditional draws.
pub const GUMBEL_RAO_STREAM: u64 = 0x6752_616f; // "gRao"

/// Gumbel-Rao with `k >= 1` conditional draws: value `one_hot(D)`, `D` by Gumbel-max;
/// gradient the mean over the draws of `J(y_k) dy / tau` (see the module docs). Returns the
/// node and the sampled classes.
///
/// Errors: `k == 0`, NaN or `+inf` logits, all-masked rows, a bad temperature.
pub fn gumbel_rao<'t, T: Element>(
    logits: &Var<'t, T>,
    temp: Temperature<T>,
    k: usize,
    rng: &mut GumbelRng,
) -> Result<(Var<'t, T>, Vec<usize>)> {
    const OP: &str = "gumbel_rao";
    if k == 0 {
        return Err(Error::invalid_argument(OP, "K = 0 conditional draws"));
    }
    temp.scale(OP)?;
    let l = logits.value()?;
    let mut backward_rng = rng.side_stream(GUMBEL_RAO_STREAM);
    let index = gumbel_max(&l, rng)?;
    let il = logits.id();
    let d = one_hot(&index, l.cols());
    let sampled = index.clone();
    let y = logits.push(OP, d, &[*logits], move |_, dy, g| {
        let dl = gumbel_rao_backward(&l, &sampled, &dy, temp, k, &mut backward_rng)?;
        g.add(il, dl)
    })?;
    Ok((y, index))
}
