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
use gumbel_autograd::optim::Adam;
use gumbel_tensor::Tensor;

use super::checkpoint;
use super::config::TrainConfig;
use super::data::TrainData;
use super::eval::evaluate_real;
use super::log::{MetricsLog, Phase, Row};
use super::report::Evaluation;
use super::run_dir::{Found, RunDir};
use super::state::{CHECKPOINT_VERSION, Stage, TrainState};
use super::step::LOG_TEMPERATURE;
use super::{frontier, inspect};
use crate::error::{Error, Result};
use crate::io::write_atomic;

/// The temperatures of the frontier at the end of a run (in its report and summary).
pub const REPORT_TEMPERATURES: [f32; 5] = [0.5, 0.7, 0.85, 1.0, 1.2];
use crate::model::discriminator::Discriminator;
use crate::model::generator::Generator;
use crate::model::reinforce::RolloutPolicy;
use crate::random::{self, Purpose};
use crate::schedule::Schedule;

mod persist;
mod phases;
mod summary;

pub use summary::Summary;

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
    /// `--estimator reinforce`: the rollout policy, from the first adversarial update on
    /// (saved as `rollout.safetensors` in checkpoints that have one).
    rollout: Option<RolloutPolicy>,
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
    let Some(ck) = checkpoint::find_checkpoint(dir)? else {
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
    let state = ck.state()?;
    data.check_vocab(&state, ck.dir())?;
    check_state(&cfg, &data, &state, ck.dir())?;
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

/// `Err` unless the step counters and the stage of a checkpoint's `state.json` fit the run
/// (a corrupt or hand-edited file must not truncate metrics.csv or skip phases).
fn check_state(cfg: &TrainConfig, data: &TrainData, state: &TrainState, ck: &Path) -> Result<()> {
    let (mle_total, adv_total) = (cfg.mle_total_steps(data.train_len())?, cfg.adv_steps);
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
            best: None,
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
            rollout: None,
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
        if checkpoint::find_checkpoint(&dir).is_ok_and(|c| c.is_some_and(|c| c.dir() == dir)) {
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

    /// Minibatches per MLE epoch (at least one).
    fn mle_steps_per_epoch(&self) -> usize {
        (self.data.train_len() / self.cfg.batch).max(1)
    }

    /// MLE steps in all ([`TrainConfig::mle_total_steps`]: `Err` if the count overflows).
    fn mle_total(&self) -> Result<usize> {
        self.cfg.mle_total_steps(self.data.train_len())
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
        let frontier = if self.cfg.adv_steps > 0 {
            obs.message("the frontier: the MLE model and the final model at 5 temperatures");
            self.frontier()?
        } else {
            None
        };
        self.write_report(
            "finished",
            after_gan.as_ref(),
            &samples_gan,
            real.as_ref(),
            frontier.as_ref(),
        )?;
        Ok(Outcome::Finished(Box::new(Summary {
            out: self.out.clone(),
            after_mle: self.state.after_mle.clone(),
            after_gan,
            samples_mle: self.state.samples_mle.clone(),
            samples_gan,
            real,
            best: self.state.best.clone(),
            frontier: frontier.as_ref().map(frontier::summary),
            seconds: self.seconds(),
        })))
    }

    /// The quality-diversity frontier of the finished run: the MLE model (`pretrained/`; a
    /// run folder written before `--pretrained` runs kept a copy may lack it) and the final model at [`REPORT_TEMPERATURES`], measured as
    /// `gumbel-lab frontier` does (`eval_samples` samples, one key from the seed).
    fn frontier(&self) -> Result<Option<frontier::Frontier>> {
        let pretrained = self.out.join("pretrained");
        let mle = match pretrained.join("generator.safetensors").is_file() {
            true => Some(inspect::load(&pretrained)?),
            false => None,
        };
        let mut models = vec![];
        if let Some(m) = &mle {
            models.push(frontier::Model {
                label: "MLE".into(),
                group: "MLE".into(),
                mle: true,
                dir: &m.dir,
                generator: &m.generator,
            });
        }
        models.push(frontier::Model {
            label: format!("GAN ({})", self.cfg.estimator),
            group: format!("GAN ({})", self.cfg.estimator),
            mle: false,
            dir: &self.out,
            generator: &self.generator,
        });
        let sweep = frontier::Sweep {
            temperatures: &REPORT_TEMPERATURES,
            sweep_runs: true,
            samples: None,
            seed: self.cfg.seed,
        };
        let f = frontier::sweep_models(&models, &self.data, &self.cfg, &sweep, &mut |_, _, _| {})?;
        Ok(Some(f))
    }

    fn seconds(&self) -> f64 {
        self.seconds_before + self.started.elapsed().as_secs_f64()
    }
}
