//! The workload of the PyTorch peer `../shared/peers/gan_step_bench.py`, in one place for
//! the criterion benchmark (`benches/benchmarks/gan.rs`) and the profiling example
//! (`examples/profile_gan_steps.rs`), which must time the same steps: vocabulary
//! 5000, length 20, batch 64; generator embedding 32, LSTM 32, soft feedback;
//! discriminator embedding 64, widths 2, 3, 4, 5 x 64 filters, no dropout; RSGAN; tau 1;
//! f32. The optimiser (Adam, lr 1e-4) is the caller's. Beside it, the workload of
//! `../shared/peers/relgan_step_bench.py` (RelGAN's networks and settings, `relgan_*`).

use gumbel_autograd::optim::Adam;

use crate::data::Token;
use crate::error::Result;
use crate::model::discriminator::{Discriminator, DiscriminatorConfig};
use crate::model::generator::{DrawSettings, Generator, GeneratorConfig};
use crate::model::reinforce::RolloutPolicy;
use crate::model::{Estimator, Feedback, GeneratorArch, LossKind, TemperatureForm};
use crate::train::step::{
    AdvSettings, DiscStats, ReinforceKeys, StepKeys, TemperatureSource, discriminator_step,
    generator_step, mle_step, reinforce_step,
};

/// Vocabulary size.
pub const VOCAB: usize = 5000;
/// Sequence length.
pub const LEN: usize = 20;
/// Batch size.
pub const BATCH: usize = 64;

/// The adversarial step's settings: RSGAN, soft feedback, soft one-hots to the
/// discriminator, the tau form, gradient clipping at 5 (as training does; the script does
/// not clip).
pub const SETTINGS: AdvSettings = AdvSettings {
    loss: LossKind::Rsgan,
    draw: DrawSettings {
        batch: BATCH,
        feedback: Feedback::Soft,
        estimator: Estimator::Gumbel,
    },
    form: TemperatureForm::Tau,
    clip: 5.0,
};

/// The generator (seed 1) and the discriminator (seed 2) at the peer's sizes.
pub fn models() -> (Generator, Discriminator) {
    let g = Generator::new(
        GeneratorConfig {
            vocab: VOCAB,
            emb: 32,
            arch: GeneratorArch::Lstm { hidden: 32 },
            seq_len: LEN,
            start: 0,
            pad: None,
            eos: None,
        },
        1,
    )
    .expect("the peer's generator configuration is valid");
    (g, discriminator(VOCAB, LEN))
}

/// The peer's discriminator (seed 2: embedding 64, widths 2, 3, 4, 5 x 64 filters, no
/// dropout) at vocabulary `vocab` and length `seq_len`.
fn discriminator(vocab: usize, seq_len: usize) -> Discriminator {
    Discriminator::new(
        DiscriminatorConfig {
            arch: crate::model::discriminator::DiscriminatorArch::Cnn,
            vocab,
            seq_len,
            emb: 64,
            widths: vec![2, 3, 4, 5],
            filters: 64,
            dropout: 0.0,
        },
        2,
    )
    .expect("the peer's discriminator configuration is valid")
}

/// Vocabulary of the caption workload: COCO's in our runs (4,681 words and `<pad>` 0,
/// `<bos>` 1, `<eos>` 2, `<unk>` 3; `crate::data::text`).
pub const CAPTION_VOCAB: usize = 4685;
/// Sequence length of the caption workload: COCO's longest caption, 37 words, and `<eos>`.
pub const CAPTION_LEN: usize = 38;
/// The end token's output bias in the caption workload: `e^6.1 / (4,684 + e^6.1) = 0.087`,
/// so the untrained generator ends a sequence after 11.5 tokens on average (geometric,
/// capped at 38), as our MLE model of COCO does (mean length 11.5).
pub const CAPTION_EOS_BIAS: f32 = 6.1;

/// The models of REINFORCE's caption workload: [`models`]' widths at COCO's sizes
/// ([`CAPTION_VOCAB`], [`CAPTION_LEN`]) with `<pad>`, `<bos>` and `<eos>`, the end token's
/// output bias set to [`CAPTION_EOS_BIAS`]. On captions most prefixes and most rollouts end
/// early: what a REINFORCE update costs depends on it.
pub fn caption_models() -> (Generator, Discriminator) {
    let mut g = Generator::new(
        GeneratorConfig {
            vocab: CAPTION_VOCAB,
            emb: 32,
            arch: GeneratorArch::Lstm { hidden: 32 },
            seq_len: CAPTION_LEN,
            start: 1,
            pad: Some(0),
            eos: Some(2),
        },
        1,
    )
    .expect("the caption workload's generator configuration is valid");
    let bias = g
        .params
        .id("linear.bias")
        .expect("the output layer has a bias");
    let mut b = g.params.value(bias).expect("a parameter").clone();
    b.as_mut_slice()[2] = CAPTION_EOS_BIAS;
    g.params.set(bias, b).expect("the same shape");
    (g, discriminator(CAPTION_VOCAB, CAPTION_LEN))
}

/// One adversarial step of the workload: a generator update at tau 1 (the discriminator
/// frozen), then a discriminator update on a fresh sample, both with noise key `key` and no
/// dropout. Returns the generator's loss and gradient norm, and the discriminator's
/// statistics.
pub fn adversarial_step(
    generator: &mut Generator,
    disc: &mut Discriminator,
    g_opt: &mut Adam<f32>,
    d_opt: &mut Adam<f32>,
    real: &[Token],
    key: u64,
) -> Result<((f64, f64), DiscStats)> {
    let keys = keys(key);
    let tau = 1.0;
    let g = generator_step(
        generator,
        g_opt,
        disc,
        TemperatureSource::Fixed(tau),
        real,
        &SETTINGS,
        keys,
    )?;
    let d = discriminator_step(generator, disc, d_opt, tau, real, &SETTINGS, keys)?;
    Ok((g, d))
}

/// One generator update of the workload with `estimator` and hard feedback (the estimators
/// other than `gumbel` and `st-gumbel` need it): [`generator_step`] at tau 1, or for
/// `reinforce` [`reinforce_step`] with `policy` (the caller's copy of the generator; not
/// updated here). Noise key `key`, no dropout. Returns the loss and the gradient norm. For
/// the benchmark that sets the estimators' generator updates side by side.
pub fn estimator_generator_step(
    estimator: Estimator,
    generator: &mut Generator,
    disc: &mut Discriminator,
    policy: &RolloutPolicy,
    opt: &mut Adam<f32>,
    real: &[Token],
    key: u64,
) -> Result<(f64, f64)> {
    let mut s = hard(estimator);
    if let Estimator::Reinforce { .. } = estimator {
        s.loss = LossKind::Nsgan;
        let keys = ReinforceKeys {
            sample: key,
            rollout: !key,
        };
        return reinforce_step(generator, opt, disc, policy, &s, keys);
    }
    generator_step(
        generator,
        opt,
        disc,
        TemperatureSource::Fixed(1.0),
        real,
        &s,
        keys(key),
    )
}

/// One discriminator update of the workload on one-hot samples (straight-through's draw, the
/// same forward as every one-hot estimator and REINFORCE's hard tokens), noise key `key`, no
/// dropout.
pub fn one_hot_discriminator_step(
    generator: &Generator,
    disc: &mut Discriminator,
    opt: &mut Adam<f32>,
    real: &[Token],
    key: u64,
) -> Result<DiscStats> {
    discriminator_step(
        generator,
        disc,
        opt,
        1.0,
        real,
        &hard(Estimator::St),
        keys(key),
    )
}

/// [`SETTINGS`] with hard feedback and `estimator`.
fn hard(estimator: Estimator) -> AdvSettings {
    let mut s = SETTINGS;
    s.draw.feedback = Feedback::Hard;
    s.draw.estimator = estimator;
    s
}

/// The keys of one update of the workload: Gumbel noise from `key`, no dropout masks (the
/// discriminator's dropout is 0).
fn keys(key: u64) -> StepKeys {
    StepKeys {
        noise: key,
        dropout: [0, 0],
    }
}

/// One MLE step of the workload on `tokens` (`BATCH` sequences of `LEN`), clipped as
/// [`SETTINGS`] says. Returns the loss and the gradient norm.
pub fn mle_batch_step(
    generator: &mut Generator,
    opt: &mut Adam<f32>,
    tokens: &[Token],
) -> Result<(f64, f64)> {
    mle_step(generator, opt, tokens, BATCH, SETTINGS.clip)
}

/// RelGAN's adversarial settings (`TrainConfig::apply_relgan`): RSGAN, hard feedback,
/// relaxed samples `softmax(beta (o + g))` for the discriminator, gradient norms clipped
/// at 5. The workload of `../shared/peers/relgan_step_bench.py --variant official`.
pub const RELGAN_SETTINGS: AdvSettings = AdvSettings {
    loss: LossKind::Rsgan,
    draw: DrawSettings {
        batch: BATCH,
        feedback: Feedback::Hard,
        estimator: Estimator::Gumbel,
    },
    form: TemperatureForm::Beta,
    clip: 5.0,
};

/// RelGAN's discriminator updates per generator update (one adversarial round).
pub const RELGAN_D_STEPS: usize = 5;

/// RelGAN's generator (seed 1: embedding 32, relational memory of 1 slot and 2 heads of
/// 256) and discriminator (seed 2: embedding 64 as 64 representations, widths 2-5 x 300
/// filters, 100 hidden units, dropout 0.25, active as in the peer) at the peer's vocabulary,
/// length and batch.
pub fn relgan_models() -> (Generator, Discriminator) {
    let g = Generator::new(
        GeneratorConfig {
            vocab: VOCAB,
            emb: 32,
            arch: GeneratorArch::RELGAN,
            seq_len: LEN,
            start: 0,
            pad: None,
            eos: None,
        },
        1,
    )
    .expect("RelGAN's generator configuration is valid");
    let d = Discriminator::new(
        DiscriminatorConfig {
            arch: crate::model::discriminator::DiscriminatorArch::RelGan { hidden: 100 },
            vocab: VOCAB,
            seq_len: LEN,
            emb: 64,
            widths: vec![2, 3, 4, 5],
            filters: 300,
            dropout: 0.25,
        },
        2,
    )
    .expect("RelGAN's discriminator configuration is valid");
    (g, d)
}

/// One generator update of the RelGAN workload at beta 1 (the peer's `g_step`: samples with
/// gradient, the discriminator frozen, its dropout on), noise key `key`.
pub fn relgan_generator_step(
    generator: &mut Generator,
    disc: &mut Discriminator,
    opt: &mut Adam<f32>,
    real: &[Token],
    key: u64,
) -> Result<(f64, f64)> {
    generator_step(
        generator,
        opt,
        disc,
        TemperatureSource::Fixed(1.0),
        real,
        &RELGAN_SETTINGS,
        relgan_keys(key),
    )
}

/// One discriminator update of the RelGAN workload at beta 1 (the peer's `d_step`: a fresh
/// sample without gradient, real and fake through the discriminator with dropout).
pub fn relgan_discriminator_step(
    generator: &Generator,
    disc: &mut Discriminator,
    opt: &mut Adam<f32>,
    real: &[Token],
    key: u64,
) -> Result<DiscStats> {
    discriminator_step(
        generator,
        disc,
        opt,
        1.0,
        real,
        &RELGAN_SETTINGS,
        relgan_keys(key),
    )
}

/// One adversarial round of RelGAN's protocol (the peer's `adv_round`): a generator update
/// and [`RELGAN_D_STEPS`] discriminator updates, each on its own noise key.
pub fn relgan_round(
    generator: &mut Generator,
    disc: &mut Discriminator,
    g_opt: &mut Adam<f32>,
    d_opt: &mut Adam<f32>,
    real: &[Token],
    key: u64,
) -> Result<(f64, f64)> {
    let g = relgan_generator_step(generator, disc, g_opt, real, key)?;
    for k in 1..=RELGAN_D_STEPS as u64 {
        relgan_discriminator_step(generator, disc, d_opt, real, key.wrapping_mul(8) + k)?;
    }
    Ok(g)
}

/// The keys of one RelGAN update: Gumbel noise from `key`, dropout masks from it too.
fn relgan_keys(key: u64) -> StepKeys {
    StepKeys {
        noise: key,
        dropout: [!key, key.rotate_left(32)],
    }
}

/// `BATCH * LEN` random token ids below `VOCAB` from `seed` (a 64-bit LCG), the stand-in
/// for the script's `torch.randint(0, V, (B, L))`.
pub fn random_tokens(seed: u64) -> Vec<u32> {
    let mut s = seed;
    (0..BATCH * LEN)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) % VOCAB as u64) as u32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_in_range_and_fixed_by_the_seed() {
        let a = random_tokens(7);
        assert_eq!(a.len(), BATCH * LEN);
        assert!(a.iter().all(|&t| (t as usize) < VOCAB));
        assert_eq!(a, random_tokens(7));
        assert_ne!(a, random_tokens(9));
    }
}
