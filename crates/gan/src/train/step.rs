//! One optimisation step of each kind: an MLE update, a generator update and a
//! discriminator update. The training run calls these; the criterion benchmark
//! (`benches/benchmarks/gan.rs`) times them at the PyTorch peer's configuration.
//!
//! A loss or gradient norm that is not finite stops the step *before* the optimizer
//! touches the parameters, with the tensor crate's [`gumbel_tensor::Error::NonFinite`]
//! (the run turns it into [`crate::Error::NonFinite`], naming the step and the last good
//! checkpoint). An update whose result is not finite is reported by Adam *after* it was
//! applied (op `Adam::step`): the parameters in memory are then lost.

use gumbel_autograd::optim::{Adam, Optimizer, clip_grad_norm};
use gumbel_autograd::{ParamStore, Tape};

use crate::data::Token;
use crate::error::Result;
use crate::model::discriminator::Discriminator;
use crate::model::generator::{DrawSettings, Generator};
use crate::model::loss;
use crate::model::reinforce::RolloutPolicy;
use crate::model::{Estimator, LossKind, TemperatureForm};

/// The settings an adversarial update needs.
#[derive(Debug, Clone, Copy)]
pub struct AdvSettings {
    pub loss: LossKind,
    /// How the relaxed batches are drawn (batch size, feedback, discriminator input).
    pub draw: DrawSettings,
    pub form: TemperatureForm,
    /// Gradient clipping by global norm.
    pub clip: f64,
}

/// The temperature of an adversarial update: a schedule's value, or a learnable one (its
/// logarithm, one scalar in `params`, updated by `opt` with the generator).
pub enum TemperatureSource<'a> {
    Fixed(f64),
    Learned {
        params: &'a mut ParamStore<f32>,
        opt: &'a mut Adam<f32>,
    },
}

/// The random keys of one adversarial update: the Gumbel noise of the relaxed sample, and
/// the discriminator's dropout masks on the fake and the real batch.
#[derive(Debug, Clone, Copy)]
pub struct StepKeys {
    pub noise: u64,
    pub dropout: [u64; 2],
}

/// Name of the learnable temperature's parameter (its logarithm).
pub const LOG_TEMPERATURE: &str = "log_temperature";

/// `Err` if a step's loss is NaN or infinite.
fn check_loss(op: &'static str, what: &str, loss: f64) -> Result<()> {
    if loss.is_finite() {
        Ok(())
    } else {
        Err(gumbel_tensor::Error::non_finite(op, what, loss).into())
    }
}

/// Clips a store's gradients to `clip`; a non-finite norm is an `Err` naming `what`.
fn clip(params: &mut ParamStore<f32>, clip: f64, what: &str) -> Result<f64> {
    clip_grad_norm(params, clip).map_err(|e| match e {
        gumbel_tensor::Error::NonFinite { op, value, .. } => {
            gumbel_tensor::Error::non_finite(op, what, value).into()
        }
        e => e.into(),
    })
}

/// One MLE update on `tokens` (`[batch, seq_len]`): teacher-forced cross-entropy, clipping,
/// Adam. Returns the loss and the gradient norm before clipping.
pub fn mle_step(
    generator: &mut Generator,
    opt: &mut Adam<f32>,
    tokens: &[Token],
    batch: usize,
    clip_norm: f64,
) -> Result<(f64, f64)> {
    let tape = Tape::new();
    let loss_var = generator.mle_loss(&tape, tokens, batch)?;
    let loss = loss_var.item()? as f64;
    check_loss("mle_step", "the MLE loss", loss)?;
    descend(generator, opt, &tape, loss_var, clip_norm).map(|norm| (loss, norm))
}

/// The end of a generator update whose loss `loss_var` (on `tape`) was checked: backward,
/// clipping to `clip_norm`, Adam, gradients zeroed. Returns the gradient norm before
/// clipping.
fn descend<'t>(
    generator: &mut Generator,
    opt: &mut Adam<f32>,
    tape: &'t Tape<f32>,
    loss_var: gumbel_autograd::Var<'t, f32>,
    clip_norm: f64,
) -> Result<f64> {
    generator.params.accumulate(&mut tape.backward(loss_var)?)?;
    let norm = clip(
        &mut generator.params,
        clip_norm,
        "the generator's gradient norm",
    )?;
    opt.step(&mut generator.params)?;
    generator.params.zero_grad();
    Ok(norm)
}

/// One generator update: a relaxed sample with gradient (noise from `noise_key`), the
/// discriminator frozen (its parameters are constants on the tape, so none of its
/// gradients are computed), the generator loss against `real` (`[batch, seq_len]`),
/// clipping, Adam (and the learnable temperature's update). Returns the loss and the
/// gradient norm before clipping.
pub fn generator_step(
    generator: &mut Generator,
    opt: &mut Adam<f32>,
    disc: &mut Discriminator,
    temp: TemperatureSource<'_>,
    real: &[Token],
    s: &AdvSettings,
    keys: StepKeys,
) -> Result<(f64, f64)> {
    if let Estimator::Reinforce { .. } = s.draw.estimator {
        return Err(crate::Error::Config(
            "generator_step: --estimator reinforce updates the generator with reinforce_step \
             (it needs a rollout policy)"
                .into(),
        ));
    }
    let tape = Tape::new();
    disc.params.set_requires_grad(false);
    let forward = || -> Result<_> {
        let t = match &temp {
            TemperatureSource::Fixed(v) => s.form.fixed(*v),
            TemperatureSource::Learned { params, .. } => {
                let id = params.id(LOG_TEMPERATURE)?;
                s.form.learned(params.var(&tape, id)?.exp()?)
            }
        };
        // The discriminator embeds each generated step as soon as it is made (see
        // `Generator::relaxed_each`: the big products then read and write cached data).
        let mut xs = Vec::with_capacity(disc.cfg.seq_len);
        let embed = disc.prepare_embed(&tape)?;
        generator.relaxed_each(&tape, s.draw, t, keys.noise, &mut |y| {
            xs.push(embed.apply(y)?);
            Ok(())
        })?;
        let d_fake = disc.forward_embedded(&tape, &xs, s.draw.batch, keys.dropout[0])?;
        let d_real = disc.forward_tokens(&tape, real, s.draw.batch, keys.dropout[1])?;
        loss::generator_loss(s.loss, d_real, d_fake)
    };
    let loss_var = forward();
    disc.params.set_requires_grad(true);
    let loss_var = loss_var?;
    let loss = loss_var.item()? as f64;
    check_loss("generator_step", "the generator loss", loss)?;
    let mut grads = tape.backward(loss_var)?;
    generator.params.accumulate(&mut grads)?;
    let norm = clip(
        &mut generator.params,
        s.clip,
        "the generator's gradient norm",
    )?;
    if let TemperatureSource::Learned { params, opt: t_opt } = temp {
        params.accumulate(&mut grads)?;
        clip(params, s.clip, "the temperature's gradient")?;
        t_opt.step(params)?;
        params.zero_grad();
    }
    opt.step(&mut generator.params)?;
    generator.params.zero_grad();
    Ok((loss, norm))
}

/// The random keys of one REINFORCE update: the generator's batch and the rollouts.
#[derive(Debug, Clone, Copy)]
pub struct ReinforceKeys {
    pub sample: u64,
    pub rollout: u64,
}

/// One REINFORCE generator update (SeqGAN; `crate::model::reinforce` has the math): a batch
/// drawn from the generator, its rewards from `policy`'s rollouts scored by the
/// discriminator (no gradient through it), the surrogate loss, clipping, Adam. The caller
/// then moves the policy towards the generator ([`RolloutPolicy::update`]). Returns the loss
/// and the gradient norm before clipping. `Err` unless `s.draw.estimator` is `reinforce`.
pub fn reinforce_step(
    generator: &mut Generator,
    opt: &mut Adam<f32>,
    disc: &Discriminator,
    policy: &RolloutPolicy,
    s: &AdvSettings,
    keys: ReinforceKeys,
) -> Result<(f64, f64)> {
    let Estimator::Reinforce { rollouts } = s.draw.estimator else {
        return Err(crate::Error::Config(format!(
            "reinforce_step: the estimator is {}, not reinforce",
            s.draw.estimator
        )));
    };
    let b = s.draw.batch;
    let tokens = generator.sample_padded(b, keys.sample)?;
    let q = policy.rewards(disc, &tokens, b, rollouts, keys.rollout)?;
    let tape = Tape::new();
    let loss_var = generator.reinforce_loss(&tape, &tokens, b, &q)?;
    let loss = loss_var.item()? as f64;
    check_loss("reinforce_step", "the REINFORCE loss", loss)?;
    descend(generator, opt, &tape, loss_var, s.clip).map(|norm| (loss, norm))
}

/// What a discriminator update reports.
#[derive(Debug, Clone, Copy)]
pub struct DiscStats {
    pub loss: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Mean logit on the real and on the fake batch.
    pub real_logit: f64,
    pub fake_logit: f64,
}

/// One discriminator update: a relaxed sample without gradient (noise from `noise_key`),
/// `D(real)` and `D(fake)`, the discriminator loss, clipping, Adam.
pub fn discriminator_step(
    generator: &Generator,
    disc: &mut Discriminator,
    opt: &mut Adam<f32>,
    temp: f64,
    real: &[Token],
    s: &AdvSettings,
    keys: StepKeys,
) -> Result<DiscStats> {
    let tape = Tape::new();
    // The generator runs without gradient; the discriminator embeds each generated step as
    // soon as it is made (with gradient: its embedding table is trained), while the step is
    // still in cache.
    let mut xs = Vec::with_capacity(disc.cfg.seq_len);
    let embed = disc.prepare_embed(&tape)?;
    {
        let _ng = tape.no_grad();
        generator.relaxed_each(&tape, s.draw, s.form.fixed(temp), keys.noise, &mut |y| {
            let _g = tape.enable_grad();
            xs.push(embed.apply(y)?);
            Ok(())
        })?;
    }
    let d_real = disc.forward_tokens(&tape, real, s.draw.batch, keys.dropout[0])?;
    let d_fake = disc.forward_embedded(&tape, &xs, s.draw.batch, keys.dropout[1])?;
    let mean = |v: &gumbel_tensor::Tensor<f32>| {
        v.as_slice().iter().map(|&x| x as f64).sum::<f64>() / v.numel().max(1) as f64
    };
    let (real_logit, fake_logit) = (mean(&*d_real.value()?), mean(&*d_fake.value()?));
    let loss_var = loss::discriminator_loss(s.loss, d_real, d_fake)?;
    let loss = loss_var.item()? as f64;
    check_loss("discriminator_step", "the discriminator loss", loss)?;
    disc.params.accumulate(&mut tape.backward(loss_var)?)?;
    let grad_norm = clip(
        &mut disc.params,
        s.clip,
        "the discriminator's gradient norm",
    )?;
    opt.step(&mut disc.params)?;
    disc.params.zero_grad();
    Ok(DiscStats {
        loss,
        grad_norm,
        real_logit,
        fake_logit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::discriminator::DiscriminatorConfig;
    use crate::model::generator::GeneratorConfig;
    use crate::model::{Estimator, Feedback};

    /// Two adversarial steps (learned temperature, straight-through input, with padding)
    /// and two MLE steps at the benchmark's vocabulary (5000) and a batch of 16: the
    /// products take the split-k path (`[16, 5000] @ [5000, 32]`) and the read-first path
    /// (`[16, 5000]^T [16, 32]`) of the tensor crate's matmul. The weights must come out
    /// bitwise the same on 1, 2 and 7 threads.
    #[test]
    fn adversarial_and_mle_steps_give_the_same_bits_on_1_2_and_7_threads() {
        let (v, l, b) = (5000, 20, 16);
        let run = |threads: usize| {
            gumbel_tensor::parallel::with_threads(threads, || {
                let mut g = Generator::new(
                    GeneratorConfig {
                        vocab: v,
                        emb: 32,
                        arch: crate::model::GeneratorArch::Lstm { hidden: 32 },
                        seq_len: l,
                        start: 0,
                        pad: Some(1),
                        eos: Some(2),
                    },
                    3,
                )
                .unwrap();
                let mut d = Discriminator::new(
                    DiscriminatorConfig {
                        arch: crate::model::discriminator::DiscriminatorArch::Cnn,
                        vocab: v,
                        seq_len: l,
                        emb: 64,
                        widths: vec![2, 3],
                        filters: 16,
                        dropout: 0.25,
                    },
                    4,
                )
                .unwrap();
                let mut temp = ParamStore::new();
                temp.add(LOG_TEMPERATURE, gumbel_tensor::Tensor::scalar(0.0f32))
                    .unwrap();
                let (mut g_opt, mut d_opt, mut t_opt) =
                    (Adam::new(1e-3), Adam::new(1e-3), Adam::new(1e-2));
                let tokens: Vec<Token> =
                    (0..b * l).map(|i| ((i * 7919 + 11) % v) as Token).collect();
                let s = AdvSettings {
                    loss: LossKind::Rsgan,
                    draw: DrawSettings {
                        batch: b,
                        feedback: Feedback::Soft,
                        estimator: Estimator::StGumbel,
                    },
                    form: TemperatureForm::Tau,
                    clip: 1.0,
                };
                let mut out = vec![];
                for k in 0..2 {
                    out.push(mle_step(&mut g, &mut g_opt, &tokens, b, 1.0).unwrap().0);
                    let keys = StepKeys {
                        noise: 10 + k,
                        dropout: [20 + k, 30 + k],
                    };
                    let learned = TemperatureSource::Learned {
                        params: &mut temp,
                        opt: &mut t_opt,
                    };
                    out.push(
                        generator_step(&mut g, &mut g_opt, &mut d, learned, &tokens, &s, keys)
                            .unwrap()
                            .0,
                    );
                    let ds = discriminator_step(&g, &mut d, &mut d_opt, 0.7, &tokens, &s, keys);
                    out.push(ds.unwrap().loss);
                }
                let bits = |p: &ParamStore<f32>| -> Vec<u32> {
                    p.named_values()
                        .flat_map(|(_, t)| t.as_slice().iter().map(|x| x.to_bits()))
                        .collect()
                };
                (out, bits(&g.params), bits(&d.params), bits(&temp))
            })
            .unwrap()
        };
        let one = run(1);
        assert!(one.0.iter().all(|l| l.is_finite()), "{:?}", one.0);
        for threads in [2, 7] {
            let other = run(threads);
            assert_eq!(one.0, other.0, "losses, {threads} threads");
            assert!(one.1 == other.1, "generator weights, {threads} threads");
            assert!(one.2 == other.2, "discriminator weights, {threads} threads");
            assert!(one.3 == other.3, "temperature, {threads} threads");
        }
    }

    /// A generator, a discriminator and a real batch at a small size (vocabulary 300,
    /// length 12, batch 8, no end token, so every step is a draw).
    fn small() -> (Generator, Discriminator, Vec<Token>) {
        let (v, l, b) = (300, 12, 8);
        let g = Generator::new(
            GeneratorConfig {
                vocab: v,
                emb: 16,
                arch: crate::model::GeneratorArch::Lstm { hidden: 16 },
                seq_len: l,
                start: 0,
                pad: None,
                eos: None,
            },
            5,
        )
        .unwrap();
        let d = Discriminator::new(
            DiscriminatorConfig {
                arch: crate::model::discriminator::DiscriminatorArch::Cnn,
                vocab: v,
                seq_len: l,
                emb: 16,
                widths: vec![2, 3],
                filters: 8,
                dropout: 0.0,
            },
            6,
        )
        .unwrap();
        let real = (0..b * l).map(|i| ((i * 131 + 7) % v) as Token).collect();
        (g, d, real)
    }

    /// The adversarial settings of [`small`]'s updates (beta form, no clipping to speak of).
    fn small_settings(feedback: Feedback, estimator: Estimator) -> AdvSettings {
        AdvSettings {
            loss: LossKind::Rsgan,
            draw: DrawSettings {
                batch: 8,
                feedback,
                estimator,
            },
            form: TemperatureForm::Beta,
            clip: 1e9,
        }
    }

    /// The keys of every update of these tests.
    const KEYS: StepKeys = StepKeys {
        noise: 3,
        dropout: [4, 5],
    };

    /// One generator update with `estimator` from the same weights and keys: the loss and
    /// the gradient norm before clipping.
    fn one_update(estimator: Estimator) -> Result<(f64, f64)> {
        let (mut g, mut d, real) = small();
        let s = small_settings(Feedback::Hard, estimator);
        let mut opt = Adam::new(1e-3);
        let fixed = TemperatureSource::Fixed(1.0);
        generator_step(&mut g, &mut opt, &mut d, fixed, &real, &s, KEYS)
    }

    /// The one-hot estimators draw the same tokens for the same noise (Gumbel-max), so the
    /// discriminator sees the same batch and the loss is bitwise the same; the gradients
    /// they send back differ, pairwise (each estimator really is in use).
    #[test]
    fn one_hot_estimators_share_the_forward_and_differ_in_the_gradient() {
        let names = [
            "st",
            "reinmax",
            "gapped-st:1",
            "gapped-st:p",
            "gumbel-rao:4",
        ];
        let runs: Vec<(f64, f64)> = names
            .iter()
            .map(|n| one_update(n.parse().unwrap()).unwrap())
            .collect();
        for (i, (a, ra)) in names.iter().zip(&runs).enumerate() {
            assert!(
                ra.0.is_finite() && ra.1.is_finite() && ra.1 > 0.0,
                "{a}: {ra:?}"
            );
            assert_eq!(
                ra.0.to_bits(),
                runs[0].0.to_bits(),
                "{a}: loss differs from st"
            );
            for (b, rb) in names.iter().zip(&runs).skip(i + 1) {
                assert_ne!(ra.1, rb.1, "{a} and {b} sent the same gradient norm");
            }
        }
        // and the relaxed `gumbel` (soft samples to the discriminator) sees another batch
        let (soft_loss, _) = one_update(Estimator::Gumbel).unwrap();
        assert_ne!(soft_loss, runs[0].0);
    }

    /// A library caller that asks for soft feedback or a learned temperature with a one-hot
    /// estimator gets an error naming the estimator (the CLI refuses it earlier, in
    /// `TrainConfig::validate`).
    #[test]
    fn one_hot_estimators_refuse_soft_feedback_and_a_learned_temperature() {
        let (mut g, mut d, real) = small();
        let mut s = small_settings(Feedback::Soft, Estimator::ReinMax);
        let keys = KEYS;
        let mut opt = Adam::new(1e-3);
        let fixed = TemperatureSource::Fixed(1.0);
        let e = generator_step(&mut g, &mut opt, &mut d, fixed, &real, &s, keys).unwrap_err();
        assert!(e.to_string().contains("soft feedback") && e.to_string().contains("reinmax"));
        s.draw.feedback = Feedback::Hard;
        let mut temp = ParamStore::new();
        temp.add(LOG_TEMPERATURE, gumbel_tensor::Tensor::scalar(0.0f32))
            .unwrap();
        let mut t_opt = Adam::new(1e-2);
        let learned = TemperatureSource::Learned {
            params: &mut temp,
            opt: &mut t_opt,
        };
        let e = generator_step(&mut g, &mut opt, &mut d, learned, &real, &s, keys).unwrap_err();
        assert!(e.to_string().contains("learned temperature"), "{e}");
    }
}
