//! The adversarial losses, from the discriminator's logits on a real and a fake batch.
//!
//! With binary cross-entropy from logits, `BCE(z, 1) = -ln sigmoid(z)` and
//! `BCE(z, 0) = -ln(1 - sigmoid(z))` (means over the batch):
//!
//! | loss | discriminator | generator |
//! |---|---|---|
//! | RSGAN (relativistic standard GAN; RelGAN) | `BCE(D(r) - D(f), 1)` | `BCE(D(f) - D(r), 1)` |
//! | NS-GAN (non-saturating standard GAN) | `BCE(D(r), 1) + BCE(D(f), 0)` | `BCE(D(f), 1)` |
//!
//! RSGAN pairs the i-th real with the i-th fake logit, as RelGAN's
//! `BCEWithLogits(d_real - d_fake, 1)` does.

use gumbel_autograd::Var;
use gumbel_tensor::Tensor;
use serde::{Deserialize, Serialize};

/// The adversarial loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Relativistic standard GAN (RelGAN's default): `D: -log sigma(D(r) - D(f))`,
    /// `G: -log sigma(D(f) - D(r))`.
    Rsgan,
    /// Non-saturating standard GAN: `D: -log sigma(D(r)) - log(1 - sigma(D(f)))`,
    /// `G: -log sigma(D(f))`.
    Nsgan,
}

use crate::error::Result;

/// `BCE(z, target)` with a constant target for every element.
fn bce<'t>(z: &Var<'t, f32>, target: f32) -> Result<Var<'t, f32>> {
    let t = z.tape().constant(Tensor::full(z.shape()?, target));
    Ok(z.bce_with_logits(&t)?)
}

/// The discriminator's loss (lower when it tells real from fake).
pub fn discriminator_loss<'t>(
    kind: LossKind,
    d_real: Var<'t, f32>,
    d_fake: Var<'t, f32>,
) -> Result<Var<'t, f32>> {
    Ok(match kind {
        LossKind::Rsgan => bce(&d_real.sub(&d_fake)?, 1.0)?,
        LossKind::Nsgan => bce(&d_real, 1.0)?.add(&bce(&d_fake, 0.0)?)?,
    })
}

/// The generator's loss (lower when its samples pass for real).
pub fn generator_loss<'t>(
    kind: LossKind,
    d_real: Var<'t, f32>,
    d_fake: Var<'t, f32>,
) -> Result<Var<'t, f32>> {
    Ok(match kind {
        LossKind::Rsgan => bce(&d_fake.sub(&d_real)?, 1.0)?,
        LossKind::Nsgan => bce(&d_fake, 1.0)?,
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
