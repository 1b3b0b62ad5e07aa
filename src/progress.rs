//! Progress bars for `gumbel-lab train`: one bar per phase with live losses, temperature
//! and the latest metrics.
//!
//! indicatif hides its bars when stderr is not a terminal (CI, `2> log`) and then drops
//! `ProgressBar::println` output, so evaluations and messages are printed with
//! `eprintln!` inside `suspend`, which works either way.

use std::time::Duration;

use gumbel_gan::train::log::{Phase, Row};
use gumbel_gan::train::report::Evaluation;
use gumbel_gan::train::run::Observer;
use indicatif::{ProgressBar, ProgressStyle};

/// The CLI's [`Observer`].
pub struct Bars {
    bar: Option<ProgressBar>,
    phase: Phase,
    total: usize,
    losses: String,
    metrics: String,
}

impl Bars {
    pub fn new() -> Bars {
        Bars {
            bar: None,
            phase: Phase::Mle,
            total: 0,
            losses: String::new(),
            metrics: String::new(),
        }
    }

    fn say(&self, text: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    fn refresh(&self) {
        if let Some(b) = &self.bar {
            b.set_message(format!("{}  {}", self.losses, self.metrics));
        }
    }
}

/// A short line of the metrics present in an evaluation (self-BLEU-2/3 and the mean
/// length are left to metrics.csv).
fn metrics_line(e: &Evaluation) -> String {
    e.entries()
        .iter()
        .filter(|(n, _, _)| !matches!(n.as_str(), "self-BLEU-2" | "self-BLEU-3" | "mean length"))
        .map(|(n, v, _)| format!("{n} {v:.3}"))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The losses of a logged row (`None` if it holds none, as a row written only for an
/// evaluation): the fields the row has, never a `NaN` for one it lacks.
fn losses_line(phase: Phase, r: &Row) -> Option<String> {
    let m = &r.metrics;
    let fields: &[(&str, Option<f64>, usize)] = match phase {
        Phase::Mle => &[("loss", m.mle_loss, 4)],
        Phase::Adv => &[
            ("G", m.g_loss, 4),
            ("D", m.d_loss, 4),
            ("temp", m.temperature, 3),
        ],
    };
    let parts: Vec<String> = fields
        .iter()
        .filter_map(|&(label, v, digits)| v.map(|v| format!("{label} {v:.digits$}")))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

impl Observer for Bars {
    fn phase_start(&mut self, phase: Phase, done: usize, total: usize) {
        self.phase = phase;
        self.total = total;
        self.losses.clear();
        let name = match phase {
            Phase::Mle => "MLE",
            Phase::Adv => "GAN",
        };
        let bar = ProgressBar::new(total as u64).with_prefix(name);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>3} [{bar:28.cyan/blue}] {pos:>6}/{len:6} {elapsed_precise} eta {eta:<5} {wide_msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_position(done as u64);
        bar.enable_steady_tick(Duration::from_millis(250));
        self.bar = Some(bar);
        self.say(&format!(
            "{name} phase: {total} steps{}",
            if done > 0 {
                format!(" (resuming at {done})")
            } else {
                String::new()
            }
        ));
        self.refresh();
    }

    fn step(&mut self, _phase: Phase, done: usize, row: Option<&Row>) {
        // A row logged only for an evaluation has no losses: keep the last ones shown.
        if let Some(losses) = row.and_then(|r| losses_line(self.phase, r)) {
            self.losses = losses;
            self.refresh();
        }
        if let Some(b) = &self.bar {
            b.set_position(done as u64);
        }
    }

    fn evaluated(&mut self, phase: Phase, done: usize, eval: &Evaluation) {
        self.metrics = metrics_line(eval);
        let name = match phase {
            Phase::Mle => "MLE",
            Phase::Adv => "GAN",
        };
        self.say(&format!(
            "[{name} {done}/{}] {}  {}",
            self.total, self.losses, self.metrics
        ));
        self.refresh();
    }

    fn phase_end(&mut self, _phase: Phase) {
        if let Some(b) = self.bar.take() {
            b.finish();
        }
    }

    fn message(&mut self, text: &str) {
        self.say(text);
    }
}

/// A bar for work counted in items (the frontier's evaluations), with the current item's
/// label as its message; created on the first [`Counter::set`].
pub struct Counter {
    name: &'static str,
    bar: Option<ProgressBar>,
}

impl Counter {
    pub fn new(name: &'static str) -> Counter {
        Counter { name, bar: None }
    }

    /// `done` of `total` items finished; `label` is the one being worked on.
    pub fn set(&mut self, done: usize, total: usize, label: &str) {
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::new(total as u64).with_prefix(self.name);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:28.cyan/blue}] {pos}/{len} {elapsed_precise} eta {eta:<5} {wide_msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(label.to_string());
        if done == total {
            bar.finish();
        }
    }
}
