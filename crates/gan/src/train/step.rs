//! One optimisation step of each kind: an MLE update, a generator update and a
//! discriminator update. The training run calls these; the criterion benchmark
//! (`benches/benchmarks/gan.rs`) times them at the PyTorch peer's configuration.
//!
//! A loss or gradient norm that is not finite stops the step *before* the optimizer
//! touches the parameters, with [`Error::NonFinite`] (the run fills in the step number and
//! the last checkpoint).

use gumbel_autograd::optim::{Adam, Optimizer, clip_grad_norm};
use gumbel_autograd::{ParamStore, Tape};

use super::config::{DiscInput, Feedback, LossKind, TemperatureForm};
use crate::data::Token;
use crate::error::{Error, Result};
use crate::model::discriminator::Discriminator;
use crate::model::generator::{Generator, Temperature};
use crate::model::loss;

/// The settings an adversarial update needs.
#[derive(Debug, Clone, Copy)]
pub struct AdvSettings {
    pub loss: LossKind,
    pub feedback: Feedback,
    pub disc_input: DiscInput,
    pub form: TemperatureForm,
    pub batch: usize,
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

fn non_finite(what: &'static str, value: f64) -> Error {
    Error::NonFinite {
        phase: "",
        step: 0,
        what,
        value,
        checkpoint: None,
    }
}

/// Clips a store's gradients to `clip`; a non-finite norm is [`Error::NonFinite`].
fn clip(params: &mut ParamStore<f32>, clip: f64, what: &'static str) -> Result<f64> {
    clip_grad_norm(params, clip).map_err(|_| non_finite(what, f64::NAN))
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
    if !loss.is_finite() {
        return Err(non_finite("the MLE loss", loss));
    }
    generator.params.accumulate(&mut tape.backward(loss_var)?)?;
    let norm = clip(
        &mut generator.params,
        clip_norm,
        "the generator's gradient norm",
    )?;
    opt.step(&mut generator.params)?;
    generator.params.zero_grad();
    Ok((loss, norm))
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
    let tape = Tape::new();
    disc.params.set_requires_grad(false);
    let forward = || -> Result<_> {
        let t = match &temp {
            TemperatureSource::Fixed(v) => Temperature::fixed(s.form, *v),
            TemperatureSource::Learned { params, .. } => {
                let id = params.id(LOG_TEMPERATURE)?;
                Temperature::learned(s.form, params.var(&tape, id)?.exp()?)
            }
        };
        let fake = generator.relaxed(&tape, s.batch, t, s.feedback, s.disc_input, keys.noise)?;
        let d_fake = disc.forward_onehot(&tape, &fake.steps, s.batch, keys.dropout[0])?;
        let d_real = disc.forward_tokens(&tape, real, s.batch, keys.dropout[1])?;
        loss::generator_loss(s.loss, d_real, d_fake)
    };
    let loss_var = forward();
    disc.params.set_requires_grad(true);
    let loss_var = loss_var?;
    let loss = loss_var.item()? as f64;
    if !loss.is_finite() {
        return Err(non_finite("the generator loss", loss));
    }
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
    let fake = {
        let _ng = tape.no_grad();
        let t = Temperature::fixed(s.form, temp);
        generator.relaxed(&tape, s.batch, t, s.feedback, s.disc_input, keys.noise)?
    };
    let d_real = disc.forward_tokens(&tape, real, s.batch, keys.dropout[0])?;
    let d_fake = disc.forward_onehot(&tape, &fake.steps, s.batch, keys.dropout[1])?;
    let mean = |v: &gumbel_tensor::Tensor<f32>| {
        v.as_slice().iter().map(|&x| x as f64).sum::<f64>() / v.numel().max(1) as f64
    };
    let (real_logit, fake_logit) = (mean(&*d_real.value()?), mean(&*d_fake.value()?));
    let loss_var = loss::discriminator_loss(s.loss, d_real, d_fake)?;
    let loss = loss_var.item()? as f64;
    if !loss.is_finite() {
        return Err(non_finite("the discriminator loss", loss));
    }
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
