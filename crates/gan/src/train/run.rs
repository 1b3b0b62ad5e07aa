//! The training run: MLE pretraining, then the adversarial phase, with logging,
//! evaluation, checkpoints, resume, interruption and the final report.
//!
//! ```text
//! train(config) ──> run folder: config.json, metrics.csv, checkpoint/, pretrained/, report.html
//!   MLE:  for each step: minibatch (epoch order from (seed, epoch)) -> teacher-forced CE -> clip 5 -> Adam
//!   adv:  for each step i: temperature = schedule(i)
//!         G update: relaxed sample (noise key (seed, i)) -> D (frozen) -> G loss -> clip -> Adam(G)
//!         D update: relaxed sample under no-grad -> D(real), D(fake) -> D loss -> clip -> Adam(D)
//!   every log_every steps a row of losses; every eval_every steps an evaluation;
//!   every checkpoint_every steps (and at each phase's end, and on a stop request) a checkpoint.
//! ```
//!
//! The run folder is locked for the whole run ([`RunDir`]): one process per run. A new run
//! writes a checkpoint at step 0, so a run always has one to continue from; a run killed
//! before even that one is started over by [`resume`] (and a new run may reuse its folder).
//!
//! Faults: every non-finite loss, gradient norm, logit, temperature or updated parameter
//! stops the run with an [`Error::NonFinite`] naming the phase, the step and the last good
//! checkpoint, and every row written so far stays in metrics.csv. When the fault is found
//! before the failing step changed anything (a NaN loss or gradient in its first update),
//! the state in memory is the last good one and is written as a checkpoint on the spot;
//! otherwise (a fault in the discriminator update after the generator's, an update whose
//! result overflowed) the last good state is the last checkpoint on disk, which the message
//! names with its step.
//!
//! A stop request (Ctrl-C, SIGTERM or SIGHUP in the CLI set [`RunOptions::stop`]) finishes
//! the current step, writes a checkpoint and returns [`Outcome::Interrupted`]; [`resume`]
//! continues from it and produces the metrics an uninterrupted run produces, and restores
//! every artefact a finished run has (`pretrained/`, if a kill came between it and the
//! end-of-MLE checkpoint).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use gumbel_autograd::ParamStore;
use gumbel_autograd::optim::{Adam, Optimizer};
use gumbel_tensor::Tensor;

use super::checkpoint;
use super::config::TrainConfig;
use super::data::TrainData;
use super::eval::{EvalOutput, evaluate, evaluate_real};
use super::log::{MetricsLog, Phase, Row};
use super::report::{self, Evaluation, ReportInput};
use super::run_dir::{Found, RunDir};
use super::state::{CHECKPOINT_VERSION, Stage, TrainState};
use super::step::{self, AdvSettings, DiscStats, LOG_TEMPERATURE, StepKeys, TemperatureSource};
use crate::data::Token;
use crate::error::{Error, Result};
use crate::io::failpoint;
use crate::io::safetensors::{self, TensorFile};
use crate::io::write_atomic;
use crate::model::discriminator::Discriminator;
use crate::model::generator::Generator;
use crate::random::{self, Purpose};
use crate::schedule::Schedule;

/// Progress callbacks (the CLI draws progress bars with them). Every method has an empty
/// default.
pub trait Observer {
    /// A phase starts (or resumes at `done` of `total` steps).
    fn phase_start(&mut self, _phase: Phase, _done: usize, _total: usize) {}
    /// A step finished; `row` holds its losses when the step was logged.
    fn step(&mut self, _phase: Phase, _done: usize, _row: Option<&Row>) {}
    /// An evaluation finished.
    fn evaluated(&mut self, _phase: Phase, _done: usize, _eval: &Evaluation) {}
    /// A phase ended.
    fn phase_end(&mut self, _phase: Phase) {}
    /// A line for the user (checkpoint written, interruption, ...).
    fn message(&mut self, _text: &str) {}
}

/// An [`Observer`] that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// How a run is driven from outside.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Set to request a clean stop (checkpoint, then [`Outcome::Interrupted`]).
    pub stop: Arc<AtomicBool>,
    /// Stop by itself after this many steps in total (MLE + adversarial), as if `stop`
    /// had been set then (for tests of resume).
    pub stop_after: Option<usize>,
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// Both phases finished.
    Finished(Box<Summary>),
    /// Stopped on request; `checkpoint` continues with [`resume`].
    Interrupted {
        checkpoint: PathBuf,
        global_step: usize,
    },
}

/// The results of a finished run.
#[derive(Debug, Clone)]
pub struct Summary {
    pub out: PathBuf,
    pub after_mle: Option<Evaluation>,
    pub after_gan: Option<Evaluation>,
    /// The same measurements on held-out real data, for reference.
    pub real: Option<Evaluation>,
    pub samples_mle: Vec<String>,
    pub samples_gan: Vec<String>,
    pub seconds: f64,
}

impl Summary {
    /// The end-of-run text: metrics after MLE and after the GAN phase side by side, and
    /// samples of both.
    pub fn text(&self) -> String {
        let mut s = String::new();
        if let Some(m) = &self.after_mle {
            s.push_str(&report::side_by_side(
                m,
                self.after_gan.as_ref(),
                self.real.as_ref(),
            ));
        }
        for (title, samples) in [
            ("after MLE", &self.samples_mle),
            ("after GAN", &self.samples_gan),
        ] {
            if samples.is_empty() {
                continue;
            }
            s.push_str(&format!("\nsamples {title}:\n"));
            for x in samples.iter().take(10) {
                s.push_str(&format!("  {x}\n"));
            }
        }
        s.push_str(&format!(
            "\nrun folder: {} (report.html, metrics.csv, checkpoint/)\n",
            self.out.display()
        ));
        s
    }
}

/// Samples shown in the report and the final summary.
const SHOWN_SAMPLES: usize = 20;

/// Everything a run holds in memory.
struct Trainer {
    cfg: TrainConfig,
    out: PathBuf,
    data: TrainData,
    generator: Generator,
    disc: Discriminator,
    /// The learnable temperature's logarithm (one scalar), when the config asks for one.
    temp_params: ParamStore<f32>,
    mle_opt: Adam<f32>,
    gen_opt: Adam<f32>,
    disc_opt: Adam<f32>,
    temp_opt: Adam<f32>,
    schedule: Schedule,
    state: TrainState,
    log: MetricsLog,
    started: Instant,
    seconds_before: f64,
    /// The last checkpoint written or loaded, with its MLE and adversarial step.
    last_checkpoint: Option<(PathBuf, usize, usize)>,
}

/// Starts a run in `out`: a new or empty folder, or one holding a run that never wrote a
/// checkpoint (see [`RunDir::create`]). If the setup fails (a bad setting, an unreadable
/// `--pretrained`), the files it wrote are removed, and the folder too if this call made
/// it: a failed run leaves nothing behind.
pub fn train(
    cfg: TrainConfig,
    out: &Path,
    opts: &RunOptions,
    obs: &mut dyn Observer,
) -> Result<Outcome> {
    cfg.validate()?;
    let data = TrainData::load(&cfg)?;
    for w in &data.warnings {
        obs.message(&format!("warning: {w}"));
    }
    let (dir, found) = RunDir::create(out)?;
    if found == Found::StaleRun {
        obs.message(&format!(
            "{} held a run that stopped before its first checkpoint: starting over in it",
            out.display()
        ));
    }
    let mut t = match Trainer::start(cfg, out, data, obs) {
        Ok(t) => t,
        Err(e) => {
            dir.abandon();
            return Err(e);
        }
    };
    // `dir` (the lock) lives until the run returns.
    let outcome = t.run(opts, obs);
    drop(dir);
    outcome
}

/// Continues the run in `dir` from its last checkpoint, or from the beginning if it was
/// stopped before writing one. Refuses a checkpoint whose `state.json` does not fit the
/// run's config (and then changes nothing in the folder).
pub fn resume(dir: &Path, opts: &RunOptions, obs: &mut dyn Observer) -> Result<Outcome> {
    let lock = RunDir::open(dir)?;
    let cfg_path = dir.join("config.json");
    let text = fs::read_to_string(&cfg_path).map_err(|e| Error::io(&cfg_path, e))?;
    let cfg = TrainConfig::from_json(&text, &cfg_path)?;
    cfg.validate()?;
    let data = TrainData::load(&cfg)?;
    for w in &data.warnings {
        obs.message(&format!("warning: {w}"));
    }
    let Some(ck) = checkpoint::find_checkpoint_dir(dir)? else {
        if let Some(damaged) = ["checkpoint", "checkpoint.old"]
            .iter()
            .map(|c| dir.join(c))
            .find(|c| c.exists())
        {
            return Err(Error::checkpoint(
                &damaged,
                "this checkpoint has no state.json: it is damaged (checkpoints are written \
                 whole, so something removed it); not starting the run over on it",
            ));
        }
        obs.message(&format!(
            "{} stopped before its first checkpoint: starting it over from the beginning",
            dir.display()
        ));
        let mut t = Trainer::start(cfg, dir, data, obs)?;
        let outcome = t.run(opts, obs);
        drop(lock);
        return outcome;
    };
    let state = read_state(&ck)?;
    data.check_vocab(&state, &ck)?;
    check_state(&cfg, &data, &state, &ck)?;
    let log = MetricsLog::resume(&dir.join("metrics.csv"), state.mle_step + state.adv_step)?;
    let mut t = Trainer::new(cfg, dir.to_path_buf(), data, log)?;
    t.load_checkpoint(&ck, state)?;
    obs.message(&format!(
        "resuming {} at MLE step {}, adversarial step {}",
        dir.display(),
        t.state.mle_step,
        t.state.adv_step
    ));
    t.restore_pretrained(obs)?;
    let outcome = t.run(opts, obs);
    drop(lock);
    outcome
}

/// Reads and checks `state.json` of a checkpoint folder.
pub fn read_state(ck: &Path) -> Result<TrainState> {
    let p = ck.join("state.json");
    let text = fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
    let state: TrainState = serde_json::from_str(&text)
        .map_err(|e| Error::checkpoint(&p, format!("not a valid state.json: {e}")))?;
    if state.version != CHECKPOINT_VERSION {
        return Err(Error::checkpoint(
            &p,
            format!(
                "checkpoint version {}, this program reads version {CHECKPOINT_VERSION}",
                state.version
            ),
        ));
    }
    Ok(state)
}

/// `Err` unless the step counters and the stage of a checkpoint's `state.json` fit the run
/// (a corrupt or hand-edited file must not truncate metrics.csv or skip phases).
fn check_state(cfg: &TrainConfig, data: &TrainData, state: &TrainState, ck: &Path) -> Result<()> {
    let (mle_total, adv_total) = (mle_total(cfg, data)?, cfg.adv_steps);
    let ok = match state.stage {
        Stage::Mle => state.mle_step <= mle_total && state.adv_step == 0,
        Stage::Adv => state.mle_step == mle_total && state.adv_step < adv_total.max(1),
        Stage::Done => state.mle_step == mle_total && state.adv_step == adv_total,
    };
    if ok && state.seq_len == data.dataset.seq_len {
        return Ok(());
    }
    Err(Error::checkpoint(
        &ck.join("state.json"),
        format!(
            "stage {:?} at MLE step {} of {mle_total} and adversarial step {} of {adv_total}, \
             sequence length {} (the data's: {}), does not fit this run's config.json: \
             the file is corrupt or from another run; nothing was changed",
            state.stage, state.mle_step, state.adv_step, state.seq_len, data.dataset.seq_len
        ),
    ))
}

/// Minibatches per MLE epoch (at least one).
fn mle_steps_per_epoch(cfg: &TrainConfig, data: &TrainData) -> usize {
    (data.train_len() / cfg.batch).max(1)
}

/// MLE steps in all ([`TrainConfig::mle_total_steps`]: `Err` if the count overflows).
fn mle_total(cfg: &TrainConfig, data: &TrainData) -> Result<usize> {
    cfg.mle_total_steps(data.train_len())
}

impl Trainer {
    fn new(cfg: TrainConfig, out: PathBuf, data: TrainData, log: MetricsLog) -> Result<Trainer> {
        let generator = Generator::new(
            data.gen_config(&cfg),
            random::run_key(cfg.seed, Purpose::Init, 0),
        )?;
        let disc = Discriminator::new(
            data.disc_config(&cfg),
            random::run_key(cfg.seed, Purpose::Init, 1),
        )?;
        let (b1, b2) = cfg.adam_betas;
        let schedule = cfg.schedule()?;
        let mut temp_params = ParamStore::new();
        let mut temperature = None;
        if cfg.temperature.learnable {
            let v = schedule.at(0);
            temp_params.add(LOG_TEMPERATURE, Tensor::new([1], vec![v.ln() as f32])?)?;
            temperature = Some(v);
        }
        let state = TrainState {
            version: CHECKPOINT_VERSION,
            stage: Stage::Mle,
            mle_step: 0,
            adv_step: 0,
            vocab: data.dataset.vocab.tokens().to_vec(),
            pad: data.specials().pad,
            bos: data.specials().bos,
            eos: data.specials().eos,
            unk: data.specials().unk,
            start_token: data.start_token(),
            seq_len: data.dataset.seq_len,
            after_mle: None,
            samples_mle: Vec::new(),
            last_eval: None,
            temperature,
            seconds: 0.0,
        };
        Ok(Trainer {
            mle_opt: Adam::new(cfg.mle_lr),
            gen_opt: Adam::new(cfg.gen_lr).betas(b1, b2),
            disc_opt: Adam::new(cfg.disc_lr).betas(b1, b2),
            temp_opt: Adam::new(cfg.gen_lr).betas(b1, b2),
            cfg,
            out,
            data,
            generator,
            disc,
            temp_params,
            schedule,
            state,
            log,
            started: Instant::now(),
            seconds_before: 0.0,
            last_checkpoint: None,
        })
    }

    /// A fresh run in `out` (already locked and checked): the models, config.json, an
    /// empty metrics.csv, the `--pretrained` generator, and the checkpoint of step 0.
    fn start(
        cfg: TrainConfig,
        out: &Path,
        data: TrainData,
        obs: &mut dyn Observer,
    ) -> Result<Trainer> {
        write_atomic(&out.join("config.json"), cfg.to_json().as_bytes())?;
        let log = MetricsLog::create(&out.join("metrics.csv"))?;
        let mut t = Trainer::new(cfg, out.to_path_buf(), data, log)?;
        t.mle_total()?;
        if let Some(dir) = t.cfg.pretrained.clone() {
            t.load_pretrained(&dir)?;
            obs.message(&format!("generator initialised from {}", dir.display()));
        }
        t.write_checkpoint()?;
        Ok(t)
    }

    /// After a resume past MLE: writes `pretrained/` again if a kill between the end-of-MLE
    /// checkpoint and its write lost it (the checkpoint then still holds the MLE model).
    fn restore_pretrained(&self, obs: &mut dyn Observer) -> Result<()> {
        if self.state.stage == Stage::Mle || self.mle_total()? == 0 {
            return Ok(());
        }
        let dir = self.out.join("pretrained");
        if checkpoint::find_checkpoint_dir(&dir).is_ok_and(|d| d.as_deref() == Some(&dir)) {
            return Ok(());
        }
        if self.state.adv_step == 0 {
            self.write_generator_copy("pretrained")?;
            obs.message(&format!(
                "{} was missing or damaged: written again from the end-of-MLE checkpoint",
                dir.display()
            ));
        } else {
            obs.message(&format!(
                "warning: {} is missing or damaged and cannot be rebuilt (the checkpoint is \
                 past the end of MLE); `eval` will show no \"after MLE\" column",
                dir.display()
            ));
        }
        Ok(())
    }

    fn mle_steps_per_epoch(&self) -> usize {
        mle_steps_per_epoch(&self.cfg, &self.data)
    }

    fn mle_total(&self) -> Result<usize> {
        mle_total(&self.cfg, &self.data)
    }

    fn global_step(&self) -> usize {
        self.state.mle_step + self.state.adv_step
    }

    fn stop_requested(&self, opts: &RunOptions) -> bool {
        opts.stop.load(Ordering::SeqCst) || opts.stop_after.is_some_and(|n| self.global_step() >= n)
    }

    fn run(&mut self, opts: &RunOptions, obs: &mut dyn Observer) -> Result<Outcome> {
        if self.state.stage == Stage::Mle
            && let Some(o) = self.mle_phase(opts, obs)?
        {
            return Ok(o);
        }
        if self.state.stage == Stage::Adv
            && let Some(o) = self.adv_phase(opts, obs)?
        {
            return Ok(o);
        }
        let after_gan = if self.cfg.adv_steps > 0 {
            self.state.last_eval.clone()
        } else {
            None
        };
        let samples_gan = if self.cfg.adv_steps > 0 {
            self.show_samples(Purpose::Sample, 1)?
        } else {
            Vec::new()
        };
        let real = evaluate_real(&self.data, &self.cfg, self.cfg.eval_samples)?;
        self.write_report("finished", after_gan.as_ref(), &samples_gan, real.as_ref())?;
        Ok(Outcome::Finished(Box::new(Summary {
            out: self.out.clone(),
            after_mle: self.state.after_mle.clone(),
            after_gan,
            samples_mle: self.state.samples_mle.clone(),
            samples_gan,
            real,
            seconds: self.seconds(),
        })))
    }

    fn seconds(&self) -> f64 {
        self.seconds_before + self.started.elapsed().as_secs_f64()
    }

    // ---------------------------------------------------------------- MLE

    fn mle_phase(&mut self, opts: &RunOptions, obs: &mut dyn Observer) -> Result<Option<Outcome>> {
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
            let last = done == total;
            let mut row = None;
            if done.is_multiple_of(self.cfg.log_every) || last {
                let mut r = Row::new(Phase::Mle, done, self.global_step());
                r.set("epoch", (done as f64) / spe as f64)
                    .set("mle_loss", loss)
                    .set("g_grad_norm", norm)
                    .set("lr", self.cfg.mle_lr);
                row = Some(r);
            }
            if done.is_multiple_of(self.cfg.eval_every) || last {
                let r = row.get_or_insert_with(|| Row::new(Phase::Mle, done, self.global_step()));
                let ev = self.evaluate()?;
                ev.fill(r);
                obs.evaluated(Phase::Mle, done, &ev);
                self.state.last_eval = Some(ev);
            }
            if let Some(r) = &row {
                self.log.push(r.clone())?;
            }
            obs.step(Phase::Mle, done, row.as_ref());
            if last {
                self.state.after_mle = self.state.last_eval.clone();
                self.state.samples_mle = self.show_samples(Purpose::Sample, 0)?;
                self.state.stage = Stage::Adv;
                // `pretrained/` first: a checkpoint past MLE then always has it beside it
                // (a kill between the two repeats the end of MLE, writing the same model).
                self.write_generator_copy("pretrained")?;
                failpoint::hit("run:after-pretrained");
                self.write_checkpoint()?;
            } else if done.is_multiple_of(self.cfg.checkpoint_every) {
                self.write_checkpoint()?;
            }
        }
        if total == 0 {
            // No pretraining: measure the initial model, for the "after MLE" column.
            let ev = self.evaluate()?;
            let mut r = Row::new(Phase::Mle, 0, 0);
            ev.fill(&mut r);
            self.log.push(r)?;
            self.state.after_mle = Some(ev.clone());
            self.state.last_eval = Some(ev);
            self.state.samples_mle = self.show_samples(Purpose::Sample, 0)?;
            self.state.stage = Stage::Adv;
        }
        obs.phase_end(Phase::Mle);
        Ok(None)
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

    fn adv_phase(&mut self, opts: &RunOptions, obs: &mut dyn Observer) -> Result<Option<Outcome>> {
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
            let last = done == total;
            let mut row = None;
            if done.is_multiple_of(self.cfg.log_every) || last {
                let mut r = Row::new(Phase::Adv, done, self.global_step());
                r.set("g_loss", g_loss)
                    .set("d_loss", d.loss)
                    .set("d_real", d.real_logit)
                    .set("d_fake", d.fake_logit)
                    .set("temperature", temp)
                    .set("g_grad_norm", g_norm)
                    .set("d_grad_norm", d.grad_norm)
                    .set("lr", self.cfg.gen_lr);
                row = Some(r);
            }
            if done.is_multiple_of(self.cfg.eval_every) || last {
                let r = row.get_or_insert_with(|| Row::new(Phase::Adv, done, self.global_step()));
                let ev = self.evaluate()?;
                ev.fill(r);
                obs.evaluated(Phase::Adv, done, &ev);
                self.state.last_eval = Some(ev);
            }
            if let Some(r) = &row {
                self.log.push(r.clone())?;
            }
            obs.step(Phase::Adv, done, row.as_ref());
            if last {
                self.state.stage = Stage::Done;
                self.write_checkpoint()?;
            } else if done.is_multiple_of(self.cfg.checkpoint_every) {
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
            feedback: self.cfg.feedback,
            disc_input: self.cfg.disc_input,
            form: self.cfg.temperature.form,
            batch: self.cfg.batch,
            clip: self.cfg.clip,
        }
    }

    /// Generator update `k` (of adversarial step `i`): see [`step::generator_step`].
    fn gen_update(&mut self, i: usize, k: u64) -> Result<(f64, f64)> {
        let seed = self.cfg.seed;
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

    fn evaluate(&self) -> Result<Evaluation> {
        let key = random::run_key(self.cfg.seed, Purpose::Eval, self.global_step() as u64);
        let EvalOutput { eval, .. } = evaluate(&self.generator, &self.data, &self.cfg, key, 0)?;
        Ok(eval)
    }

    fn show_samples(&self, purpose: Purpose, index: u64) -> Result<Vec<String>> {
        let key = random::run_key(self.cfg.seed, purpose, index);
        let tokens = self.generator.sample(SHOWN_SAMPLES, key)?;
        Ok(tokens
            .chunks(self.data.dataset.seq_len)
            .map(|s| self.data.render(s))
            .collect())
    }

    // ---------------------------------------------------------------- faults and checkpoints

    fn interrupt(&mut self, obs: &mut dyn Observer) -> Result<Outcome> {
        self.write_checkpoint()?;
        let ck = self.out.join("checkpoint");
        obs.message(&format!(
            "stopped at step {} (MLE {}, adversarial {}); checkpoint written to {}. Continue with: gumbel-lab train --resume {}",
            self.global_step(),
            self.state.mle_step,
            self.state.adv_step,
            ck.display(),
            self.out.display()
        ));
        self.write_report(
            &format!(
                "interrupted at MLE step {}, adversarial step {}",
                self.state.mle_step, self.state.adv_step
            ),
            None,
            &[],
            None,
        )?;
        Ok(Outcome::Interrupted {
            checkpoint: ck,
            global_step: self.global_step(),
        })
    }

    fn write_checkpoint(&mut self) -> Result<()> {
        self.state.seconds = self.seconds();
        let mut opt = Vec::new();
        let adam = [
            ("mle", &self.mle_opt, &self.generator.params),
            ("gen", &self.gen_opt, &self.generator.params),
            ("disc", &self.disc_opt, &self.disc.params),
            ("temp", &self.temp_opt, &self.temp_params),
        ];
        for (name, o, store) in adam {
            for (key, t) in o.state_dict(store)? {
                opt.push((format!("{name}/{key}"), t));
            }
        }
        for (pname, t) in self.temp_params.named_values() {
            opt.push((format!("temp_param/{pname}"), t.clone()));
        }
        let opt_refs: Vec<(String, &Tensor<f32>)> =
            opt.iter().map(|(n, t)| (n.clone(), t)).collect();
        let files = vec![
            ("generator.safetensors", self.generator.safetensors_bytes()?),
            ("discriminator.safetensors", self.disc.safetensors_bytes()?),
            (
                "optimizer.safetensors",
                safetensors::to_bytes(&opt_refs, &[("format", "pt")])?,
            ),
            (
                "state.json",
                serde_json::to_string_pretty(&self.state)
                    .expect("state serialises")
                    .into_bytes(),
            ),
            ("config.json", self.cfg.to_json().into_bytes()),
        ];
        let ck = self.out.join("checkpoint");
        checkpoint::write_checkpoint_dir(&ck, &files)?;
        self.last_checkpoint = Some((ck, self.state.mle_step, self.state.adv_step));
        Ok(())
    }

    /// A generator-only checkpoint folder (`pretrained/`: the model after MLE).
    fn write_generator_copy(&self, name: &str) -> Result<()> {
        let files = vec![
            ("generator.safetensors", self.generator.safetensors_bytes()?),
            (
                "state.json",
                serde_json::to_string_pretty(&self.state)
                    .expect("state serialises")
                    .into_bytes(),
            ),
            ("config.json", self.cfg.to_json().into_bytes()),
        ];
        checkpoint::write_checkpoint_dir(&self.out.join(name), &files)
    }

    /// Loads the generator of a `pretrained/` (or checkpoint) folder in place of MLE
    /// pretraining, after checking that it was trained on the same vocabulary.
    fn load_pretrained(&mut self, dir: &Path) -> Result<()> {
        let ck = checkpoint::resolve_checkpoint_dir(dir)?;
        let state = read_state(&ck)?;
        self.data.check_vocab(&state, &ck)?;
        self.generator
            .load(&mut TensorFile::load(&ck.join("generator.safetensors"))?)
    }

    fn load_checkpoint(&mut self, ck: &Path, state: TrainState) -> Result<()> {
        self.generator
            .load(&mut TensorFile::load(&ck.join("generator.safetensors"))?)?;
        let mut d = TensorFile::load(&ck.join("discriminator.safetensors"))?;
        self.disc.load(&mut d)?;
        let mut o = TensorFile::load(&ck.join("optimizer.safetensors"))?;
        if self.cfg.temperature.learnable {
            let id = self.temp_params.id(LOG_TEMPERATURE)?;
            let t = o.take("temp_param/log_temperature", &[1])?;
            self.temp_params.set(id, t)?;
        }
        for (name, opt, store) in [
            ("mle", &mut self.mle_opt, &self.generator.params),
            ("gen", &mut self.gen_opt, &self.generator.params),
            ("disc", &mut self.disc_opt, &self.disc.params),
            ("temp", &mut self.temp_opt, &self.temp_params),
        ] {
            let saved = o.take_prefix(&format!("{name}/"))?;
            opt.load_state_dict(store, &saved)
                .map_err(|e| Error::checkpoint(o.path(), format!("optimizer '{name}': {e}")))?;
        }
        o.expect_empty()?;
        self.seconds_before = state.seconds;
        self.state = state;
        self.last_checkpoint = Some((ck.to_path_buf(), self.state.mle_step, self.state.adv_step));
        Ok(())
    }

    fn write_report(
        &self,
        status: &str,
        after_gan: Option<&Evaluation>,
        samples_gan: &[String],
        real: Option<&Evaluation>,
    ) -> Result<()> {
        let cfg = self.cfg.to_json();
        let html = report::render(&ReportInput {
            title: &format!("gumbel-lab run: {}", self.data.dataset.name),
            config_json: &cfg,
            rows: self.log.rows(),
            after_mle: self.state.after_mle.as_ref(),
            after_gan,
            real,
            samples_mle: &self.state.samples_mle,
            samples_gan,
            status: &format!("{status}; {:.1} s of training", self.seconds()),
        });
        write_atomic(&self.out.join("report.html"), html.as_bytes())
    }
}
