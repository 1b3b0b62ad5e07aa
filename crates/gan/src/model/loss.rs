//! The adversarial losses, from the discriminator's logits on a real and a fake batch.
//!
//! With `softplus(x) = ln(1 + e^x)`, binary cross-entropy with logits is
//! `BCE(z, 1) = -ln sigmoid(z) = softplus(-z)` and `BCE(z, 0) = softplus(z)`:
//!
//! | loss | discriminator | generator |
//! |---|---|---|
//! | RSGAN (relativistic standard GAN; RelGAN) | `mean softplus(-(D(r) - D(f)))` | `mean softplus(-(D(f) - D(r)))` |
//! | NS-GAN (non-saturating standard GAN) | `mean softplus(-D(r)) + mean softplus(D(f))` | `mean softplus(-D(f))` |
//!
//! RSGAN pairs the i-th real with the i-th fake logit, as RelGAN's
//! `BCEWithLogits(d_real - d_fake, 1)` does.

use gumbel_autograd::Var;

use super::ops::softplus_mean;
use crate::error::Result;
use crate::train::config::LossKind;

/// The discriminator's loss (lower when it tells real from fake).
pub fn discriminator_loss<'t>(
    kind: LossKind,
    d_real: Var<'t, f32>,
    d_fake: Var<'t, f32>,
) -> Result<Var<'t, f32>> {
    Ok(match kind {
        LossKind::Rsgan => softplus_mean(&d_fake.sub(&d_real)?)?,
        LossKind::Nsgan => softplus_mean(&d_real.neg()?)?.add(&softplus_mean(&d_fake)?)?,
    })
}

/// The generator's loss (lower when its samples pass for real).
pub fn generator_loss<'t>(
    kind: LossKind,
    d_real: Var<'t, f32>,
    d_fake: Var<'t, f32>,
) -> Result<Var<'t, f32>> {
    Ok(match kind {
        LossKind::Rsgan => softplus_mean(&d_real.sub(&d_fake)?)?,
        LossKind::Nsgan => softplus_mean(&d_fake.neg()?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gumbel_autograd::Tape;
    use gumbel_tensor::Tensor;

    #[test]
    fn losses_match_hand_computed_values() {
        // d_real = [2, 0], d_fake = [0, 1].
        let tape = Tape::<f32>::new();
        let r = tape.leaf(Tensor::new([2, 1], vec![2.0, 0.0]).unwrap());
        let f = tape.leaf(Tensor::new([2, 1], vec![0.0, 1.0]).unwrap());
        let sp = |x: f64| (1.0 + x.exp()).ln();
        let cases = [
            (
                discriminator_loss(LossKind::Rsgan, r, f),
                (sp(-2.0) + sp(1.0)) / 2.0,
            ),
            (
                generator_loss(LossKind::Rsgan, r, f),
                (sp(2.0) + sp(-1.0)) / 2.0,
            ),
            (
                discriminator_loss(LossKind::Nsgan, r, f),
                (sp(-2.0) + sp(0.0)) / 2.0 + (sp(0.0) + sp(1.0)) / 2.0,
            ),
            (
                generator_loss(LossKind::Nsgan, r, f),
                (sp(0.0) + sp(-1.0)) / 2.0,
            ),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            let got = got.unwrap().item().unwrap() as f64;
            // f32 arithmetic on O(1) values: 1e-6 relative.
            assert!((got - want).abs() < 1e-6, "case {i}: {got} vs {want}");
        }
    }
}
