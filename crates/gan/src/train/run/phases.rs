//! The two phases' loops (MLE, adversarial), their updates, the shared end of every step
//! (metrics row, evaluation, periodic checkpoint), and how a numerical fault ends a run.

use super::{Observer, Outcome, RunOptions, Trainer};
use crate::data::Token;
use crate::error::{Error, Result};
use crate::io::failpoint;
use crate::model::Estimator;
use crate::model::generator::DrawSettings;
use crate::model::reinforce::RolloutPolicy;
use crate::random::{self, Purpose};
use crate::train::eval::{EvalOutput, evaluate};
use crate::train::log::{Metrics, Phase, Row};
use crate::train::select::Best;
use crate::train::state::Stage;
use crate::train::step::{
    self, AdvSettings, DiscStats, LOG_TEMPERATURE, ReinforceKeys, StepKeys, TemperatureSource,
};

/// Samples shown in the report and the final summary.
const SHOWN_SAMPLES: usize = 20;

impl Trainer {
    // ---------------------------------------------------------------- MLE

    pub(super) fn mle_phase(
        &mut self,
        opts: &RunOptions,
        obs: &mut dyn Observer,
    ) -> Result<Option<Outcome>> {
        let total = self.mle_total()?;
        let spe = self.mle_steps_per_epoch();
        obs.phase_start(Phase::Mle, self.state.mle_step, total);
        let mut order: Option<(usize, Vec<usize>)> = None;
        let b = self.cfg.batch;
        while self.state.mle_step < total {
            if self.stop_requested(opts) {
                return self.interrupt(obs).map(Some);
            }
            let s = self.state.mle_step;
            let epoch = s / spe;
            if order.as_ref().is_none_or(|(e, _)| *e != epoch) {
                order = Some((epoch, self.data.epoch_order(self.cfg.seed, epoch)));
            }
            let idx = &order.as_ref().expect("set above").1[(s % spe) * b..(s % spe + 1) * b];
            let tokens = self.data.train_batch(idx);
            let (loss, norm) = match self.mle_update(&tokens) {
                Ok(r) => r,
                // Before the update nothing has changed; after it, Adam's result is lost.
                Err(e) => return Err(self.fault(e, "MLE", s + 1, true)),
            };
            self.state.mle_step += 1;
            failpoint::hit("run:step");

            let done = self.state.mle_step;
            let losses = Metrics {
                epoch: Some(done as f64 / spe as f64),
                mle_loss: Some(loss),
                g_grad_norm: Some(norm),
                lr: Some(self.cfg.mle_lr),
                ..Metrics::default()
            };
            let last = self.end_step(Phase::Mle, done, total, losses, obs)?;
            if last {
                self.state.after_mle = self.state.last_eval.clone();
                self.state.samples_mle = self.show_samples(Purpose::Sample, 0)?;
                self.state.stage = Stage::Adv;
                // `pretrained/` first: a checkpoint past MLE then always has it beside it
                // (a kill between the two repeats the end of MLE, writing the same model).
                self.write_generator_copy("pretrained")?;
                failpoint::hit("run:after-pretrained");
                self.write_checkpoint()?;
            }
        }
        if total == 0 {
            // No pretraining: measure the initial model, for the "after MLE" column.
            let out = self.evaluate_with_samples()?;
            self.consider_for_selection(&out, obs)?;
            let ev = out.eval;
            let mut r = Row::new(Phase::Mle, 0, 0);
            ev.fill(&mut r);
            self.log.push(r)?;
            self.state.after_mle = Some(ev.clone());
            self.state.last_eval = Some(ev);
            self.state.samples_mle = self.show_samples(Purpose::Sample, 0)?;
            self.state.stage = Stage::Adv;
            // the model the adversarial phase starts from (`--pretrained`'s, or the initial
            // one) in the run folder too: the run's reference for eval and the frontier
            self.write_generator_copy("pretrained")?;
        }
        obs.phase_end(Phase::Mle);
        Ok(None)
    }

    /// The end of step `done` of `total` of either phase, after its update: the metrics row
    /// (`losses`, every `log_every` steps and at the phase's last), an evaluation (every
    /// `eval_every` steps and at the last, into the same row), the row to metrics.csv and to
    /// the observer, and the periodic checkpoint (every `checkpoint_every` steps; the last
    /// step's checkpoint is the caller's, after its end-of-phase work). Returns whether this
    /// was the phase's last step.
    fn end_step(
        &mut self,
        phase: Phase,
        done: usize,
        total: usize,
        losses: Metrics,
        obs: &mut dyn Observer,
    ) -> Result<bool> {
        let last = done == total;
        let global_step = self.global_step();
        let mut row = (done.is_multiple_of(self.cfg.log_every) || last).then_some(Row {
            phase,
            step: done,
            global_step,
            metrics: losses,
        });
        if done.is_multiple_of(self.cfg.eval_every) || last {
            let r = row.get_or_insert_with(|| Row::new(phase, done, global_step));
            let out = self.evaluate_with_samples()?;
            out.eval.fill(r);
            obs.evaluated(phase, done, &out.eval);
            // candidates for `--select-by`: the MLE model, then every GAN evaluation
            if phase == Phase::Adv || last {
                self.consider_for_selection(&out, obs)?;
            }
            self.state.last_eval = Some(out.eval);
        }
        if let Some(r) = &row {
            self.log.push(r.clone())?;
        }
        obs.step(phase, done, row.as_ref());
        if !last && done.is_multiple_of(self.cfg.checkpoint_every) {
            self.write_checkpoint()?;
        }
        Ok(last)
    }

    // ---------------------------------------------------------------- adversarial

    /// The temperature of adversarial step `i`: the schedule's value, or the learnable one.
    fn temperature_value(&self, i: usize) -> Result<f64> {
        if self.cfg.temperature.learnable {
            let id = self.temp_params.id(LOG_TEMPERATURE)?;
            Ok((self.temp_params.value(id)?.as_slice()[0] as f64).exp())
        } else {
            Ok(self.schedule.at(i))
        }
    }

    pub(super) fn adv_phase(
        &mut self,
        opts: &RunOptions,
        obs: &mut dyn Observer,
    ) -> Result<Option<Outcome>> {
        let total = self.cfg.adv_steps;
        obs.phase_start(Phase::Adv, self.state.adv_step, total);
        while self.state.adv_step < total {
            if self.stop_requested(opts) {
                return self.interrupt(obs).map(Some);
            }
            let i = self.state.adv_step;
            let temp = self.temperature_value(i)?;

            let (mut g_loss, mut g_norm) = (0.0, 0.0);
            for g in 0..self.cfg.g_steps {
                let k = (i * self.cfg.g_steps + g) as u64;
                match self.gen_update(i, k) {
                    Ok(r) => (g_loss, g_norm) = r,
                    // Only the first update of a step leaves the state of step i intact.
                    Err(e) => return Err(self.fault(e, "adversarial", i + 1, g == 0)),
                }
            }
            let mut d = None;
            for j in 0..self.cfg.d_steps {
                let k = (i * self.cfg.d_steps + j) as u64;
                match self.disc_update(i, k) {
                    Ok(r) => d = Some(r),
                    Err(e) => return Err(self.fault(e, "adversarial", i + 1, false)),
                }
            }
            let d = d.expect("d_steps >= 1 (validated)");
            self.state.adv_step += 1;
            failpoint::hit("run:step");
            if self.cfg.temperature.learnable {
                self.state.temperature = Some(self.temperature_value(i + 1)?);
            }

            let done = self.state.adv_step;
            let losses = Metrics {
                g_loss: Some(g_loss),
                d_loss: Some(d.loss),
                d_real: Some(d.real_logit),
                d_fake: Some(d.fake_logit),
                temperature: Some(temp),
                g_grad_norm: Some(g_norm),
                d_grad_norm: Some(d.grad_norm),
                lr: Some(self.cfg.gen_lr),
                ..Metrics::default()
            };
            let last = self.end_step(Phase::Adv, done, total, losses, obs)?;
            if last {
                self.state.stage = Stage::Done;
                self.write_checkpoint()?;
            }
        }
        if total == 0 {
            self.state.stage = Stage::Done;
            self.write_checkpoint()?;
        }
        obs.phase_end(Phase::Adv);
        Ok(None)
    }

    /// One MLE update on a minibatch: returns the loss and the gradient norm before
    /// clipping.
    fn mle_update(&mut self, tokens: &[Token]) -> Result<(f64, f64)> {
        step::mle_step(
            &mut self.generator,
            &mut self.mle_opt,
            tokens,
            self.cfg.batch,
            self.cfg.clip,
        )
    }

    fn adv_settings(&self) -> AdvSettings {
        AdvSettings {
            loss: self.cfg.loss,
            draw: DrawSettings {
                batch: self.cfg.batch,
                feedback: self.cfg.feedback,
                estimator: self.cfg.estimator,
            },
            form: self.cfg.temperature.form,
            clip: self.cfg.clip,
        }
    }

    /// Generator update `k` (of adversarial step `i`): see [`step::generator_step`], or
    /// [`step::reinforce_step`] followed by the rollout policy's update.
    fn gen_update(&mut self, i: usize, k: u64) -> Result<(f64, f64)> {
        let seed = self.cfg.seed;
        if let Estimator::Reinforce { .. } = self.cfg.estimator {
            // the policy starts as a copy of the generator at the first adversarial update
            let policy = match self.rollout.take() {
                Some(p) => p,
                None => RolloutPolicy::new(&self.generator)?,
            };
            let settings = self.adv_settings();
            let out = step::reinforce_step(
                &mut self.generator,
                &mut self.gen_opt,
                &self.disc,
                &policy,
                &settings,
                ReinforceKeys {
                    sample: random::run_key(seed, Purpose::GenNoise, k),
                    rollout: random::run_key(seed, Purpose::Rollout, k),
                },
            );
            let policy = self.rollout.insert(policy);
            let out = out?;
            policy.update(&self.generator, self.cfg.rollout_update_rate)?;
            return Ok(out);
        }
        let real = self
            .data
            .random_train_batch(seed, Purpose::RealBatch, 2 * k, self.cfg.batch);
        let settings = self.adv_settings();
        let temp = if self.cfg.temperature.learnable {
            TemperatureSource::Learned {
                params: &mut self.temp_params,
                opt: &mut self.temp_opt,
            }
        } else {
            TemperatureSource::Fixed(self.schedule.at(i))
        };
        step::generator_step(
            &mut self.generator,
            &mut self.gen_opt,
            &mut self.disc,
            temp,
            &real,
            &settings,
            StepKeys {
                noise: random::run_key(seed, Purpose::GenNoise, k),
                dropout: [
                    random::run_key(seed, Purpose::Dropout, 2 * k),
                    random::run_key(seed, Purpose::Dropout, 2 * k + 1),
                ],
            },
        )
    }

    /// Discriminator update `k` (of adversarial step `i`): see
    /// [`step::discriminator_step`].
    fn disc_update(&mut self, i: usize, k: u64) -> Result<DiscStats> {
        let seed = self.cfg.seed;
        let real =
            self.data
                .random_train_batch(seed, Purpose::RealBatch, 2 * k + 1, self.cfg.batch);
        let settings = self.adv_settings();
        let temp = self.temperature_value(i)?;
        step::discriminator_step(
            &self.generator,
            &mut self.disc,
            &mut self.disc_opt,
            temp,
            &real,
            &settings,
            StepKeys {
                noise: random::run_key(seed, Purpose::DiscNoise, k),
                dropout: [
                    random::run_key(seed, Purpose::Dropout, (1 << 40) + 2 * k),
                    random::run_key(seed, Purpose::Dropout, (1 << 40) + 2 * k + 1),
                ],
            },
        )
    }

    /// A step's error as the user should see it. A numerical fault (a NaN or infinite
    /// loss, gradient norm, logit, temperature or updated parameter) becomes
    /// [`Error::NonFinite`] naming the last good checkpoint: when `first_update` (the
    /// failing update was the step's first) and the fault came before the update, the state
    /// in memory is that of the last completed step and is written as a checkpoint now;
    /// otherwise the last checkpoint on disk is the last good state. Other errors pass
    /// through.
    fn fault(&mut self, e: Error, phase: &'static str, step: usize, first_update: bool) -> Error {
        use gumbel_tensor::Error as T;
        let Error::Tensor(t) = &e else { return e };
        let (numerical, after_update) = match t {
            T::NonFinite { op, .. } => (true, *op == "Adam::step"),
            T::NonFiniteLogit { .. } | T::InvalidTemperature { .. } => (true, false),
            _ => (false, false),
        };
        if !numerical {
            return e;
        }
        if first_update
            && !after_update
            && let Err(w) = self.write_checkpoint()
        {
            return w;
        }
        Error::NonFinite {
            phase,
            step,
            what: t.to_string(),
            checkpoint: self.last_checkpoint.clone(),
        }
    }

    // ---------------------------------------------------------------- evaluation

    /// The evaluation of the current step, with the samples it measured.
    fn evaluate_with_samples(&self) -> Result<EvalOutput> {
        let key = random::run_key(self.cfg.seed, Purpose::Eval, self.global_step() as u64);
        evaluate(&self.generator, &self.data, &self.cfg, key, 0)
    }

    /// With `--select-by`: measures the current generator (its evaluation `out`) and, if it
    /// beats the best so far, records it in the state and writes it to `best/` (atomically;
    /// a run killed after that and resumed repeats the same steps and writes the same model).
    fn consider_for_selection(&mut self, out: &EvalOutput, obs: &mut dyn Observer) -> Result<()> {
        let Some(metric) = self.cfg.select_by else {
            return Ok(());
        };
        let value = metric.measure(&self.generator, &self.data, out)?;
        if !metric.better(value, self.state.best.as_ref().map(|b| b.value)) {
            return Ok(());
        }
        self.state.best = Some(Best {
            metric,
            value,
            adv_step: self.state.adv_step,
            global_step: self.global_step(),
        });
        self.write_generator_copy("best")?;
        obs.message(&format!(
            "best by {}: {value:.4} at adversarial step {} (written to {})",
            metric.name(),
            self.state.adv_step,
            self.out.join("best").display()
        ));
        Ok(())
    }

    pub(super) fn show_samples(&self, purpose: Purpose, index: u64) -> Result<Vec<String>> {
        let key = random::run_key(self.cfg.seed, purpose, index);
        let tokens = self.generator.sample(SHOWN_SAMPLES, key)?;
        Ok(tokens
            .chunks(self.data.dataset.seq_len)
            .map(|s| self.data.render(s))
            .collect())
    }
}
