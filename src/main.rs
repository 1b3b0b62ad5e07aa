//! `gumbel-lab`: the command line. Parses flags and calls `gumbel-gan`.
//!
//! ```text
//! gumbel-lab train                         # the grammar data set, default configuration
//! gumbel-lab train --data oracle --oracle-file ../shared/data/seqgan_oracle/oracle.safetensors
//! gumbel-lab train --data ../shared/data/coco/train.txt --test ../shared/data/coco/test.txt
//! gumbel-lab train --resume runs/grammar-...   # continue an interrupted run
//! gumbel-lab sample --checkpoint runs/grammar-... -n 20
//! gumbel-lab eval --checkpoint runs/grammar-...
//! gumbel-lab frontier --checkpoint runs/a --checkpoint runs/b --out plots/
//! ```
//!
//! Ctrl-C (SIGINT), SIGTERM or SIGHUP during training finishes the current step, writes a
//! checkpoint and exits; a second signal exits at once. Progress bars are drawn on stderr when it is a terminal;
//! evaluations and messages are always printed (`eprintln!`), so logs show them too.

mod malloc;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use gumbel_gan::model::{Estimator, Feedback, LossKind, TemperatureForm};
use gumbel_gan::schedule::ScheduleKind;
use gumbel_gan::train::config::{DataSource, DiscriminatorKind, GeneratorKind, TrainConfig};
use gumbel_gan::train::run::{Outcome, RunOptions};
use gumbel_gan::train::select::SelectBy;
use gumbel_gan::train::{inspect, run};

#[derive(Parser)]
#[command(
    name = "gumbel-lab",
    version,
    about = "Train a text GAN through the Gumbel-Softmax relaxation, sample from it, evaluate it"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// `--arch`: a preset of networks and settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ArchPreset {
    /// RelGAN (Nie et al. 2019): relational-memory generator, multi-representation
    /// discriminator, RelGAN's training settings.
    Relgan,
}

#[derive(Subcommand)]
enum Cmd {
    /// Pretrain the generator by MLE, then train it adversarially through Gumbel-Softmax.
    Train(Box<TrainArgs>),
    /// Print samples from a checkpoint's generator.
    Sample(SampleArgs),
    /// Evaluate a checkpoint's generator (NLL_gen on held-out and training data, BLEU,
    /// validity, uniqueness).
    Eval(EvalArgs),
    /// The quality-diversity frontier: every checkpoint and its run's MLE model sampled at a
    /// sweep of temperatures; writes frontier.csv and frontier.svg.
    Frontier(FrontierArgs),
    /// Write an experiment's runs (estimator x seed x setting) as independent shell commands
    /// (ROOT/commands.txt) for GNU parallel or a Slurm job array.
    Sweep(SweepArgs),
    /// Merge run folders (or a sweep's root) into runs.csv, the frontier plot and
    /// trajectories.csv (every evaluation of every run against the MLE curve).
    Collect(CollectArgs),
}

#[derive(Args)]
struct TrainArgs {
    /// Everything that defines a run (`--resume` takes it from the run's config.json).
    #[command(flatten)]
    settings: RunSettings,
    #[command(flatten)]
    pool: Pool,
    /// Continue the run in this folder from its last checkpoint, with the settings of its
    /// config.json (only --threads may be given beside it: any other flag is an error, not
    /// silently ignored).
    #[arg(long)]
    resume: Option<PathBuf>,
}

/// The flags that define a run: the group `settings`, which `--resume` refuses
/// ([`settings_given`]).
#[derive(Args)]
#[group(id = "settings", multiple = true)]
struct RunSettings {
    /// Data set: `grammar` (built in), `oracle` (SeqGAN's synthetic oracle), or a text file
    /// with one sentence per line.
    #[arg(long, default_value = "grammar")]
    data: String,
    /// Held-out text file for NLL_gen and BLEU (text data).
    #[arg(long)]
    test: Option<PathBuf>,
    /// The oracle's safetensors file (oracle data); without it a random N(0,1) oracle is
    /// made from --seed.
    #[arg(long)]
    oracle_file: Option<PathBuf>,
    /// Training sequences drawn from the grammar or the oracle.
    #[arg(long)]
    train_size: Option<usize>,
    /// Held-out sequences drawn from the grammar or the oracle.
    #[arg(long)]
    test_size: Option<usize>,
    /// Validation sequences for --select-by (never the test set): drawn from the grammar or
    /// the oracle's own stream, or the last N sentences of a training file (then not
    /// trained on) [default: 0].
    #[arg(long)]
    valid_size: Option<usize>,
    /// Keep the generator that scores best on this metric, measured at every evaluation from
    /// the end of MLE on, in the run's best/ folder: nll-oracle (oracle), validity
    /// (grammar), nll-gen (needs --valid-size), bleu4 (text, needs --valid-size).
    #[arg(long)]
    select_by: Option<SelectBy>,
    /// Text data: skip sentences longer than this many tokens (counted in a warning) [default: 64].
    #[arg(long)]
    max_len: Option<usize>,
    /// MLE pretraining epochs.
    #[arg(long)]
    pretrain_epochs: Option<usize>,
    /// Adversarial steps.
    #[arg(long)]
    adv_steps: Option<usize>,
    /// Minibatch size.
    #[arg(long)]
    batch: Option<usize>,
    /// Generator updates per adversarial step.
    #[arg(long)]
    g_steps: Option<usize>,
    /// Discriminator updates per adversarial step.
    #[arg(long)]
    d_steps: Option<usize>,
    /// Adam learning rate of MLE pretraining.
    #[arg(long)]
    mle_lr: Option<f64>,
    /// Adam learning rate of the generator in the adversarial phase.
    #[arg(long)]
    gen_lr: Option<f64>,
    /// Adam learning rate of the discriminator.
    #[arg(long)]
    disc_lr: Option<f64>,
    /// Clip each network's gradient to this global L2 norm.
    #[arg(long)]
    clip: Option<f64>,
    /// Adversarial loss.
    #[arg(long)]
    loss: Option<LossKind>,
    /// Next generator input during generation.
    #[arg(long)]
    feedback: Option<Feedback>,
    /// The generator's gradient estimator: what the discriminator sees of a generated token
    /// and which gradient comes back. One of gumbel, st-gumbel, st, reinmax,
    /// gapped-st (or gapped-st:GAP), gumbel-rao:K, reinforce (or reinforce:N, N rollouts per
    /// prefix; SeqGAN's policy gradient, with SeqGAN's --loss nsgan and --gen-lr 0.01 unless
    /// given) (docs/gan.md, "Estimators") [default: st-gumbel for the grammar, gumbel
    /// otherwise].
    #[arg(long, value_parser = parse_estimator)]
    estimator: Option<Estimator>,
    /// --estimator reinforce: the rollout policy follows the generator as
    /// beta <- r beta + (1 - r) theta after each generator update (0 = the generator itself)
    /// [default: 0.8, SeqGAN's].
    #[arg(long)]
    rollout_update_rate: Option<f64>,
    /// The older spelling of --estimator gumbel (`soft`) and st-gumbel (`straight-through`,
    /// or `st`).
    #[arg(long, value_parser = parse_disc_input, conflicts_with = "estimator")]
    disc_input: Option<Estimator>,
    /// How the schedule's value enters the relaxation.
    #[arg(long)]
    temperature_form: Option<TemperatureForm>,
    /// Temperature schedule over the adversarial steps: one of RelGAN's shapes, from
    /// --temp-start to --temp-end, or Jang et al.'s.
    #[arg(long)]
    schedule: Option<ScheduleKind>,
    /// Temperature at the first adversarial step (tau_0, or beta = 1).
    #[arg(long)]
    temp_start: Option<f64>,
    /// Temperature at the last step (beta_max, or tau_min for jang).
    #[arg(long)]
    temp_end: Option<f64>,
    /// Jang et al.'s rate r in tau = max(tau_min, tau_0 exp(-r t)).
    #[arg(long)]
    jang_rate: Option<f64>,
    /// Jang et al.'s K: t advances every K steps.
    #[arg(long)]
    jang_every: Option<usize>,
    /// The annealing horizon N of RelGAN's shapes, when it is not --adv-steps (RelGAN's
    /// code: 5000, so beta never reaches --temp-end in its 3,000-step runs; past N the
    /// value stays at --temp-end) [default: --adv-steps; 5000 with --arch relgan].
    #[arg(long)]
    temp_horizon: Option<usize>,
    /// Learn the temperature with the generator (the schedule gives its start value).
    #[arg(long)]
    learn_temperature: bool,
    /// A preset of networks and training settings: `relgan` sets RelGAN's generator and
    /// discriminator and its training settings (docs/relgan.md has the list); flags given
    /// beside it override its values.
    #[arg(long)]
    arch: Option<ArchPreset>,
    /// The generator's recurrent core: an LSTM (SeqGAN) or RelGAN's relational memory
    /// [default: lstm].
    #[arg(long)]
    generator: Option<GeneratorKind>,
    /// The discriminator: SeqGAN's CNN, or RelGAN's multi-representation CNN [default: cnn].
    #[arg(long)]
    discriminator: Option<DiscriminatorKind>,
    /// Generator embedding width.
    #[arg(long)]
    gen_emb: Option<usize>,
    /// Generator LSTM hidden width.
    #[arg(long)]
    gen_hidden: Option<usize>,
    /// --generator rmc: memory slots [default: 1].
    #[arg(long)]
    gen_slots: Option<usize>,
    /// --generator rmc: attention heads [default: 2].
    #[arg(long)]
    gen_heads: Option<usize>,
    /// --generator rmc: features per head (and per key) [default: 256].
    #[arg(long)]
    gen_head_size: Option<usize>,
    /// --discriminator relgan: units of the layer before each representation's logit
    /// [default: 100].
    #[arg(long)]
    disc_hidden: Option<usize>,
    /// Discriminator embedding width.
    #[arg(long)]
    disc_emb: Option<usize>,
    /// Discriminator convolution widths, e.g. 2,3,4,5.
    #[arg(long, value_delimiter = ',')]
    disc_widths: Option<Vec<usize>>,
    /// Discriminator filters per width.
    #[arg(long)]
    disc_filters: Option<usize>,
    /// Discriminator dropout probability.
    #[arg(long)]
    disc_dropout: Option<f64>,
    /// Seed of every random draw.
    #[arg(long)]
    seed: Option<u64>,
    /// Log losses every N steps.
    #[arg(long)]
    log_every: Option<usize>,
    /// Evaluate every N steps.
    #[arg(long)]
    eval_every: Option<usize>,
    /// Write a checkpoint every N steps.
    #[arg(long)]
    checkpoint_every: Option<usize>,
    /// Samples per evaluation (9,984 for SeqGAN's NLL_oracle).
    #[arg(long)]
    eval_samples: Option<usize>,
    /// BLEU references from the test set (Texygen's fast mode: 500; 0 = all).
    #[arg(long)]
    bleu_refs: Option<usize>,
    /// Run folder (default: runs/DATA-YYYYMMDD-HHMMSS, the data set and the UTC time).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Skip MLE pretraining and start the adversarial phase from this MLE model (another
    /// run's `pretrained/` folder); implies --pretrain-epochs 0.
    #[arg(long)]
    pretrained: Option<PathBuf>,
}

#[derive(Args)]
struct SampleArgs {
    /// A run folder or a checkpoint folder.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Number of samples.
    #[arg(short = 'n', long, default_value_t = 20)]
    count: usize,
    /// Seed of the draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    pool: Pool,
}

#[derive(Args)]
struct EvalArgs {
    /// A run folder or a checkpoint folder.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Evaluate against another text test file instead of the run's.
    #[arg(long)]
    test: Option<PathBuf>,
    /// Samples to draw (default: the run's --eval-samples).
    #[arg(long)]
    samples: Option<usize>,
    /// Seed of the draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Sample from softmax(logits / T) and measure NLL_gen under it (1 = the model itself;
    /// below 1 sharpens it: the baseline a GAN must beat).
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    #[command(flatten)]
    pool: Pool,
}

#[derive(Args)]
struct FrontierArgs {
    /// A run folder or a checkpoint folder (repeat for several runs on the same data); each
    /// run's MLE model (its pretrained/ folder) is swept too, as the reference curve.
    #[arg(long, required = true)]
    checkpoint: Vec<PathBuf>,
    #[command(flatten)]
    options: FrontierOptions,
}

/// What `frontier` and `collect` share: how the models are sampled, where the files go.
#[derive(Args)]
struct FrontierOptions {
    /// Sampling temperatures of the sweep (collect: of the MLE models' curves; its runs are
    /// measured at 1) [default: 0.5,0.6,0.7,0.8,0.9,1,1.1,1.25,1.5].
    #[arg(long, value_delimiter = ',')]
    temperatures: Option<Vec<f32>>,
    /// Samples per point (default: the first run's --eval-samples).
    #[arg(long)]
    samples: Option<usize>,
    /// Seed of the draws (the same samples' key for every model).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Folder for the output files (frontier.csv, frontier.svg; collect: runs.csv,
    /// trajectories.csv).
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// Replace the output files if the folder has them.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    pool: Pool,
}

#[derive(Args)]
struct SweepArgs {
    /// Folder of the runs (one subfolder each) and of commands.txt.
    #[arg(long)]
    root: PathBuf,
    /// Estimators, e.g. gumbel,st-gumbel,gumbel-rao:10 (see train --estimator).
    #[arg(long, value_delimiter = ',', required = true)]
    estimators: Vec<String>,
    /// Seeds, e.g. 1,2,3.
    #[arg(long, value_delimiter = ',', required = true)]
    seeds: Vec<u64>,
    /// A setting to vary, as FLAG=V1,V2 (e.g. --grid temp-end=1,100); repeat for more.
    #[arg(long)]
    grid: Vec<String>,
    /// The gumbel-lab executable the commands call [default: this one].
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Replace an existing commands.txt that differs.
    #[arg(long)]
    force: bool,
    /// Train flags every run shares, after `--` (e.g. -- --data oracle --adv-steps 2000).
    #[arg(last = true)]
    common: Vec<String>,
}

#[derive(Args)]
struct CollectArgs {
    /// Run folders, or folders of run folders (a sweep's root).
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    #[command(flatten)]
    options: FrontierOptions,
}

/// `--threads`, the same for every command: the size of the rayon pool the command runs in.
#[derive(Args)]
struct Pool {
    /// Worker threads (results are identical for any number); at most 4 x the cores.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

impl Pool {
    /// Checks `--threads` (1 to 4 x the cores:
    /// [`check_threads`](gumbel_gan::train::config::check_threads)) and runs `job` on a pool
    /// of that many rayon threads
    /// ([`with_threads_started`](gumbel_tensor::parallel::with_threads_started)), each of
    /// which treats subnormal floats as zero
    /// ([`flush_subnormals`](gumbel_tensor::parallel::flush_subnormals): a confident model
    /// makes them, and they slowed RelGAN's MLE steps twelvefold). The job itself runs on a
    /// pool thread, so the kernels' parallel loops start there instead of handing every call
    /// over from the main thread and waiting for it (which costs even with one thread).
    fn run<R: Send>(&self, job: impl FnOnce() -> Result<R> + Send) -> Result<R> {
        use gumbel_tensor::parallel::{flush_subnormals, with_threads_started};
        gumbel_gan::train::config::check_threads("--threads", self.threads)?;
        let start = || {
            flush_subnormals();
        };
        with_threads_started(self.threads, start, job)?
    }
}

/// The config the flags describe: the data set's defaults, overridden flag by flag.
/// `--estimator NAME[:ARG]`, with the library's message (it lists the names).
fn parse_estimator(s: &str) -> std::result::Result<Estimator, String> {
    s.parse().map_err(|e: gumbel_gan::Error| e.to_string())
}

/// `--disc-input soft|straight-through|st`, the older spelling of two estimators.
fn parse_disc_input(s: &str) -> std::result::Result<Estimator, String> {
    Estimator::parse_disc_input(s).map_err(|e| e.to_string())
}

fn config_from(a: &RunSettings) -> Result<TrainConfig> {
    let data = match a.data.as_str() {
        "grammar" => DataSource::Grammar,
        "oracle" => DataSource::Oracle {
            file: a.oracle_file.clone(),
        },
        path => DataSource::Text {
            train: path.into(),
            test: a.test.clone(),
        },
    };
    if a.test.is_some() && !matches!(data, DataSource::Text { .. }) {
        bail!(
            "--test applies to a text corpus (--data FILE); the grammar and the oracle draw their held-out set (--test-size)"
        );
    }
    if a.oracle_file.is_some() && !matches!(data, DataSource::Oracle { .. }) {
        bail!("--oracle-file needs --data oracle");
    }
    if matches!(data, DataSource::Text { .. }) {
        for (flag, given) in [
            ("--train-size", a.train_size.is_some()),
            ("--test-size", a.test_size.is_some()),
        ] {
            if given {
                bail!(
                    "{flag} applies to the grammar and the oracle, which draw their sequences; a text corpus uses every sentence of its files (--max-len skips long ones)"
                );
            }
        }
    } else if a.max_len.is_some() {
        bail!(
            "--max-len applies to a text corpus (--data FILE); the grammar and the oracle have fixed lengths"
        );
    }
    let mut c = TrainConfig::defaults_for(data);
    if let Some(ArchPreset::Relgan) = a.arch {
        c.apply_relgan();
    }
    if a.temp_horizon.is_some() {
        c.temperature.horizon = a.temp_horizon;
    }
    macro_rules! set {
        ($($flag:ident => $($field:ident).+),* $(,)?) => {
            $(if let Some(v) = a.$flag.clone() { c.$($field).+ = v; })*
        };
    }
    set!(
        train_size => train_size, test_size => test_size, valid_size => valid_size,
        pretrain_epochs => pretrain_epochs, adv_steps => adv_steps, batch => batch,
        g_steps => g_steps, d_steps => d_steps, mle_lr => mle_lr, gen_lr => gen_lr,
        disc_lr => disc_lr, clip => clip, loss => loss, feedback => feedback,
        estimator => estimator, disc_input => estimator, temperature_form => temperature.form,
        schedule => temperature.schedule, temp_start => temperature.start,
        temp_end => temperature.end, jang_rate => temperature.jang_rate,
        jang_every => temperature.jang_every, gen_emb => model.gen_emb,
        gen_hidden => model.gen_hidden, disc_emb => model.disc_emb,
        generator => model.generator, discriminator => model.discriminator,
        gen_slots => model.gen_slots, gen_heads => model.gen_heads,
        gen_head_size => model.gen_head_size, disc_hidden => model.disc_hidden,
        disc_widths => model.disc_widths, disc_filters => model.disc_filters,
        disc_dropout => model.disc_dropout, seed => seed, log_every => log_every,
        eval_every => eval_every, checkpoint_every => checkpoint_every,
        eval_samples => eval_samples, bleu_refs => bleu_refs,
        rollout_update_rate => rollout_update_rate,
    );
    // SeqGAN's settings are reinforce's defaults: its discriminator is a classifier (the
    // standard GAN loss) and its generator's Adam runs at 0.01.
    if let Estimator::Reinforce { .. } = c.estimator {
        if a.loss.is_none() {
            c.loss = LossKind::Nsgan;
        }
        if a.gen_lr.is_none() {
            c.gen_lr = gumbel_gan::model::reinforce::SEQGAN_GEN_LR;
        }
    }
    if a.max_len.is_some() {
        c.max_len = a.max_len;
    }
    if a.select_by.is_some() {
        c.select_by = a.select_by;
    }
    if a.learn_temperature {
        c.temperature.learnable = true;
    }
    if let Some(dir) = &a.pretrained {
        c.pretrained = Some(dir.clone());
        if a.pretrain_epochs.is_none() {
            c.pretrain_epochs = 0;
        }
    }
    // With a constant schedule only one value matters: let --temp-start set it too.
    if c.temperature.schedule == ScheduleKind::Constant
        && a.temp_end.is_none()
        && let Some(s) = a.temp_start
    {
        c.temperature.end = s;
    }
    c.validate()?;
    Ok(c)
}

/// `runs/<data>-<YYYYMMDD-HHMMSS>`, the time in UTC.
fn default_out(c: &TrainConfig) -> PathBuf {
    let name = match &c.data {
        DataSource::Grammar => "grammar".to_string(),
        DataSource::Oracle { .. } => "oracle".to_string(),
        DataSource::Text { train, .. } => train
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "text".into()),
    };
    let now = jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S");
    PathBuf::from(format!("runs/{name}-{now}"))
}

/// The `settings` flags given on the command line of `train`, as `--name`.
fn settings_given(m: &ArgMatches) -> Vec<String> {
    let Some(m) = m.subcommand_matches("train") else {
        return Vec::new();
    };
    let cli = Cli::command();
    let train = cli.find_subcommand("train").expect("train is a subcommand");
    train
        .get_arguments()
        .filter(|arg| {
            train
                .get_groups()
                .any(|g| g.get_id() == "settings" && g.get_args().any(|id| id == arg.get_id()))
        })
        .filter(|arg| m.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine))
        .map(|arg| format!("--{}", arg.get_long().unwrap_or(arg.get_id().as_str())))
        .collect()
}

fn train(a: &TrainArgs, settings_given: &[String]) -> Result<()> {
    if a.resume.is_some() && !settings_given.is_empty() {
        bail!(
            "--resume takes every setting from the run's config.json; drop {} (only --threads may be given beside it)",
            settings_given.join(", ")
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    // The handler only sets a flag: the training loop checks it after each step, writes a
    // checkpoint and returns. A second signal exits at once (the last checkpoint stays).
    // ctrlc's `termination` feature makes the same handler receive SIGINT (Ctrl-C), SIGTERM
    // (kill, a job scheduler's time limit) and SIGHUP (the terminal closed).
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!(
                "\nsecond interrupt (Ctrl-C, SIGTERM or SIGHUP): exiting now; the last checkpoint written is kept"
            );
            std::process::exit(130);
        }
        eprintln!(
            "\ninterrupt (Ctrl-C, SIGTERM or SIGHUP): finishing the current step and writing a checkpoint (interrupt again to exit at once)"
        );
    })
    .context("cannot install the interrupt (SIGINT/SIGTERM/SIGHUP) handler")?;
    let opts = RunOptions {
        stop,
        stop_after: None,
    };
    let outcome = a.pool.run(|| {
        let mut bars = progress::Bars::new();
        Ok(match &a.resume {
            Some(dir) => run::resume(dir, &opts, &mut bars)?,
            None => {
                let cfg = config_from(&a.settings)?;
                let out = a.settings.out.clone().unwrap_or_else(|| default_out(&cfg));
                eprintln!("run folder: {}", out.display());
                run::train(cfg, &out, &opts, &mut bars)?
            }
        })
    })?;
    match outcome {
        Outcome::Finished(summary) => {
            println!("\nfinished in {:.1} s\n", summary.seconds);
            print!("{}", summary.text());
            Ok(())
        }
        Outcome::Interrupted { .. } => bail!("interrupted (see the message above)"),
    }
}

fn sample(a: &SampleArgs) -> Result<()> {
    let lines = a.pool.run(|| {
        let lines = inspect::sample(&a.checkpoint, a.count, a.seed)?;
        Ok(lines)
    })?;
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

fn eval(a: &EvalArgs) -> Result<()> {
    let text = a.pool.run(|| {
        Ok(inspect::evaluate(
            &a.checkpoint,
            a.test.as_deref(),
            a.samples,
            a.seed,
            a.temperature,
        )?
        .table())
    })?;
    print!("{text}");
    Ok(())
}

/// The frontier of `paths` with the options of `frontier` or `collect` (`sweep_runs`: the
/// checkpoints are swept too, not only measured at 1), with a progress bar named `name`.
fn sample_frontier(
    paths: &[PathBuf],
    o: &FrontierOptions,
    sweep_runs: bool,
    name: &'static str,
) -> Result<gumbel_gan::train::frontier::Frontier> {
    use gumbel_gan::train::frontier;
    let temperatures = o
        .temperatures
        .clone()
        .unwrap_or_else(|| frontier::DEFAULT_TEMPERATURES.to_vec());
    frontier::check_temperatures(&temperatures)?;
    o.pool.run(|| {
        let mut bar = progress::Counter::new(name);
        let sweep = frontier::Sweep {
            temperatures: &temperatures,
            sweep_runs,
            samples: o.samples,
            seed: o.seed,
        };
        Ok(frontier::frontier(paths, &sweep, &mut |d, t, l| {
            bar.set(d, t, l)
        })?)
    })
}

fn frontier(a: &FrontierArgs) -> Result<()> {
    use gumbel_gan::train::frontier;
    let f = sample_frontier(&a.checkpoint, &a.options, true, "frontier")?;
    let (csv, svg) = frontier::write(&f, &a.options.out, a.options.force)?;
    print!("{}", frontier::summary(&f));
    println!("wrote {} and {}", csv.display(), svg.display());
    Ok(())
}

fn sweep(a: &SweepArgs) -> Result<()> {
    use gumbel_gan::train::sweep;
    let mut grid = vec![];
    for g in &a.grid {
        let Some((flag, values)) = g.split_once('=') else {
            bail!("--grid {g}: expected FLAG=V1,V2,... (e.g. temp-end=1,100)");
        };
        let flag = format!("--{}", flag.trim_start_matches('-'));
        grid.push((flag, values.split(',').map(str::to_string).collect()));
    }
    let jobs = sweep::jobs(&a.root, &a.estimators, &a.seeds, &grid, &a.common)?;
    // Every run's flags must parse and validate now, not hours later on a cluster node.
    for j in &jobs {
        let argv = ["gumbel-lab", "train"]
            .into_iter()
            .map(String::from)
            .chain(j.args.iter().cloned())
            .chain(["--out".to_string(), j.dir.display().to_string()]);
        let cli = Cli::try_parse_from(argv).map_err(|e| {
            anyhow::anyhow!("run {}: {}", j.dir.display(), e.to_string().trim_end())
        })?;
        let Cmd::Train(t) = cli.cmd else {
            unreachable!("parsed as train")
        };
        config_from(&t.settings).with_context(|| format!("run {}", j.dir.display()))?;
    }
    let bin = match &a.bin {
        Some(b) => b.clone(),
        None => std::env::current_exe().context("the path of this executable (give --bin)")?,
    };
    let text: String = jobs
        .iter()
        .map(|j| sweep::command_line(&bin.display().to_string(), j) + "\n")
        .collect();
    let path = a.root.join("commands.txt");
    if !a.force
        && let Ok(old) = std::fs::read_to_string(&path)
        && old != text
    {
        bail!(
            "{} exists with other commands: give another --root, or --force to replace it",
            path.display()
        );
    }
    std::fs::create_dir_all(&a.root).with_context(|| format!("creating {}", a.root.display()))?;
    gumbel_gan::io::write_atomic(&path, text.as_bytes())?;
    println!(
        "{} runs written to {} (each line starts its run, or resumes it if its folder has one):\n  \
         parallel -j 2 < {p}\n  sed -n \"${{SLURM_ARRAY_TASK_ID}}p\" {p} | sh   # sbatch --array=1-{}\n\
         then: gumbel-lab collect {}",
        jobs.len(),
        path.display(),
        jobs.len(),
        a.root.display(),
        p = path.display(),
    );
    Ok(())
}

fn collect(a: &CollectArgs) -> Result<()> {
    use gumbel_gan::train::{frontier, sweep};
    let o = &a.options;
    if let Some(t) = &o.temperatures {
        frontier::check_temperatures(t)?;
    }
    let runs = sweep::find_runs(&a.runs)?;
    let (done, open): (Vec<_>, Vec<_>) = runs.iter().partition(|r| r.finished());
    for r in &open {
        eprintln!(
            "not finished, left out of the frontier: {} (adversarial step {} of {})",
            r.dir.display(),
            r.state.adv_step,
            r.config.adv_steps
        );
    }
    // a run without an adversarial phase is an MLE model: it is the MLE curve, not a point
    // on it (its evaluations are still judged in trajectories.csv)
    let gans: Vec<&&sweep::RunInfo> = done.iter().filter(|r| r.config.adv_steps > 0).collect();
    if gans.is_empty() {
        bail!(
            "no finished run with an adversarial phase among {} folders",
            runs.len()
        );
    }
    let dirs: Vec<PathBuf> = gans.iter().map(|r| r.dir.clone()).collect();
    let f = sample_frontier(&dirs, o, false, "collect")?;
    let table = o.out.join("runs.csv");
    if !o.force && table.exists() {
        bail!(
            "{} exists: give another --out folder, or --force to replace it",
            table.display()
        );
    }
    let (csv, svg) = frontier::write(&f, &o.out, o.force)?;
    gumbel_gan::io::write_atomic(&table, sweep::runs_csv(&runs).as_bytes())?;
    let (trajectories, along) = sweep::trajectories(&runs, &f)?;
    let trajectories_csv = o.out.join("trajectories.csv");
    gumbel_gan::io::write_atomic(&trajectories_csv, trajectories.as_bytes())?;
    let (ax, ay) = frontier::axes(f.kind);
    let finished: Vec<sweep::RunInfo> = gans.into_iter().map(|r| (*r).clone()).collect();
    for axis in [ay, ax] {
        println!(
            "{} of each finished run's last evaluation, by estimator (mean +- sd over runs):",
            axis.name
        );
        for (name, n, mean, sd) in sweep::by_estimator(&finished, axis.value) {
            println!("  {name:<16} {mean:>10.4} +- {sd:.4}  ({n} runs)");
        }
    }
    print!("{}", frontier::summary(&f));
    print!("every evaluation during training against the MLE curve:\n{along}");
    println!(
        "wrote {}, {}, {} and {}",
        table.display(),
        trajectories_csv.display(),
        csv.display(),
        svg.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // Reuse freed tensor memory instead of page-faulting it back in every step (about 2x
    // on an MLE step; see malloc.rs).
    malloc::keep_freed_memory();
    let r = match &cli.cmd {
        Cmd::Train(a) => train(a, &settings_given(&matches)),
        Cmd::Sample(a) => sample(a),
        Cmd::Eval(a) => eval(a),
        Cmd::Frontier(a) => frontier(a),
        Cmd::Sweep(a) => sweep(a),
        Cmd::Collect(a) => collect(a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            for line in error_lines(&e) {
                eprintln!("{line}");
            }
            ExitCode::FAILURE
        }
    }
}

/// What a failed command prints: `error: <message>`, then `  caused by: <source>` for each
/// error down its `source()` chain (as anyhow's `{:?}` does), except a source whose text
/// already ends the line above: gumbel-gan's messages quote the I/O error they wrap
/// (`x.txt: cannot read: No such file or directory (os error 2)`), and saying it twice
/// adds nothing.
fn error_lines(e: &anyhow::Error) -> Vec<String> {
    let mut lines = vec![format!("error: {e}")];
    let mut above = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !above.ends_with(&text) {
            lines.push(format!("  caused by: {text}"));
        }
        above = text;
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    /// The config of `gumbel-lab train ARGS`.
    fn config(args: &[&str]) -> TrainConfig {
        config_result(args).unwrap()
    }

    /// The message of the error `train ARGS` ends in when its flags parse but the config does
    /// not validate.
    fn config_err(args: &[&str]) -> String {
        config_result(args).unwrap_err().to_string()
    }

    fn config_result(args: &[&str]) -> Result<TrainConfig> {
        let cli = Cli::try_parse_from(["gumbel-lab", "train"].iter().chain(args)).unwrap();
        let Cmd::Train(a) = cli.cmd else {
            unreachable!("a train command line")
        };
        config_from(&a.settings)
    }

    #[test]
    fn errors_print_each_cause_the_line_above_does_not_quote() {
        use std::io;
        let lines = |e: anyhow::Error| error_lines(&e);
        // A context over an error: two lines.
        let e = anyhow::Error::new(io::Error::other("no such signal"))
            .context("cannot install the interrupt (SIGINT/SIGTERM/SIGHUP) handler");
        assert_eq!(
            lines(e),
            [
                "error: cannot install the interrupt (SIGINT/SIGTERM/SIGHUP) handler",
                "  caused by: no such signal"
            ]
        );
        // gumbel-gan's I/O error quotes its source (and still returns it from `source()`):
        // one line.
        let read = || gumbel_gan::Error::io("x.txt".as_ref(), io::Error::other("disk on fire"));
        assert!(std::error::Error::source(&read()).is_some());
        assert_eq!(
            lines(read().into()),
            ["error: x.txt: cannot read: disk on fire"]
        );
        // Under a context: the context, then the file and the reason, once.
        assert_eq!(
            lines(anyhow::Error::new(read()).context("cannot resume runs/a")),
            [
                "error: cannot resume runs/a",
                "  caused by: x.txt: cannot read: disk on fire"
            ]
        );
    }

    #[test]
    fn the_default_run_folder_is_named_after_the_data_and_the_utc_time() {
        let before = jiff::Timestamp::now().as_second();
        let out = default_out(&config(&["--data", "data/coco/train.txt"]));
        let after = jiff::Timestamp::now().as_second();
        let stamp = out.to_str().unwrap().strip_prefix("runs/train-").unwrap();
        // YYYYMMDD-HHMMSS, read back as a UTC time: the moment the name was made.
        assert_eq!(stamp.len(), 15, "{stamp}");
        let utc = format!("{stamp} +0000");
        let t = jiff::Timestamp::strptime("%Y%m%d-%H%M%S %z", &utc).unwrap();
        assert!((before..=after).contains(&t.as_second()), "{stamp}");
        let grammar = default_out(&config(&[]));
        assert!(grammar.to_str().unwrap().starts_with("runs/grammar-"));
    }

    #[test]
    fn value_flags_are_spelled_as_in_config_json() {
        // Each value on the command line is its name in config.json, with `-` for `_`
        // (only `straight-through` has one).
        macro_rules! same_names {
            ($($t:ty),*) => {$(
                for v in <$t>::value_variants() {
                    let cli = v.to_possible_value().unwrap().get_name().to_string();
                    let json = serde_json::to_value(v).unwrap();
                    assert_eq!(json.as_str().unwrap().replace('_', "-"), cli, "{}", stringify!($t));
                }
            )*};
        }
        same_names!(LossKind, Feedback, TemperatureForm, ScheduleKind, SelectBy);
        let c = config(&[
            "--loss",
            "nsgan",
            "--feedback",
            "soft",
            "--disc-input",
            "st",
            "--temperature-form",
            "tau",
            "--schedule",
            "jang",
            "--temp-end",
            "0.5",
        ]);
        assert_eq!(
            (c.loss, c.feedback, c.estimator, c.temperature.form),
            (
                LossKind::Nsgan,
                Feedback::Soft,
                Estimator::StGumbel,
                TemperatureForm::Tau
            )
        );
        assert_eq!(c.temperature.schedule, ScheduleKind::Jang);
        let c = config(&["--disc-input", "straight-through", "--schedule", "sqrt"]);
        assert_eq!(c.estimator, Estimator::StGumbel);
        assert_eq!(c.temperature.schedule, ScheduleKind::Sqrt);
        // A value that does not exist: clap names it and lists the ones that do.
        let e = Cli::try_parse_from(["gumbel-lab", "train", "--schedule", "cosine"])
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("'cosine'")
                && e.contains("--schedule")
                && e.contains("sigmoid, quad, sqrt, jang"),
            "{e}"
        );
    }

    #[test]
    fn the_estimator_flag_takes_every_name_and_names_the_bad_ones() {
        for name in [
            "gumbel",
            "st-gumbel",
            "st",
            "reinmax",
            "gapped-st:p",
            "gumbel-rao:4",
            "reinforce:16",
        ] {
            let c = config(&["--estimator", name]);
            assert_eq!(c.estimator.to_string(), name);
        }
        assert_eq!(
            config(&["--disc-input", "soft"]).estimator,
            Estimator::Gumbel
        );
        let err = |args: &[&str]| {
            let argv = ["gumbel-lab", "train"].iter().chain(args);
            Cli::try_parse_from(argv).err().unwrap().to_string()
        };
        let e = err(&["--estimator", "bogus"]);
        assert!(
            e.contains("--estimator") && e.contains("gumbel-rao:K"),
            "{e}"
        );
        let e = err(&["--estimator", "st", "--disc-input", "soft"]);
        assert!(e.contains("cannot be used with"), "{e}");
    }

    /// `reinforce` brings SeqGAN's settings unless the flags say otherwise: the standard GAN
    /// loss (its reward is a probability), the generator's learning rate 0.01, the rollout
    /// policy's update rate 0.8; a relativistic loss is refused naming the flag.
    #[test]
    fn reinforce_takes_seqgan_settings_as_defaults() {
        let c = config(&["--estimator", "reinforce"]);
        assert_eq!(c.estimator, Estimator::Reinforce { rollouts: 16 });
        assert_eq!(
            (c.loss, c.gen_lr, c.rollout_update_rate),
            (LossKind::Nsgan, 0.01, 0.8)
        );
        let c = config(&[
            "--estimator",
            "reinforce:4",
            "--gen-lr",
            "0.001",
            "--rollout-update-rate",
            "0",
        ]);
        assert_eq!((c.gen_lr, c.rollout_update_rate), (0.001, 0.0));
        assert_eq!(c.estimator.to_string(), "reinforce:4");
        // the other estimators keep theirs
        assert_eq!(config(&["--estimator", "st"]).loss, LossKind::Rsgan);
        let e = config_err(&["--estimator", "reinforce", "--loss", "rsgan"]);
        assert!(e.contains("--loss") && e.contains("nsgan"), "{e}");
        let e = config_err(&["--rollout-update-rate", "1.5"]);
        assert!(e.contains("--rollout-update-rate"), "{e}");
    }
}
