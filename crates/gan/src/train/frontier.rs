//! `gumbel-lab frontier`: the quality-diversity frontier of generators, the honest judge of a
//! text GAN (Caccia et al., ICLR 2020, "Language GANs Falling Short").
//!
//! Sampling an MLE model at a temperature `T < 1` trades diversity for quality without any
//! adversarial training; a GAN that only sharpens its distribution lands on the MLE model's
//! temperature curve. So every model is sampled at a sweep of temperatures and each sweep
//! drawn as a curve in the plane of one diversity and one quality metric:
//!
//! | data | x: diversity | y: quality | better |
//! |---|---|---|---|
//! | oracle | NLL_gen (held-out oracle samples under the model) | NLL_oracle (samples under the oracle) | lower left |
//! | text | self-BLEU-4 (samples against each other) | BLEU-4 (samples against the test set) | upper left |
//! | grammar | uniqueness | validity | upper right |
//!
//! The MLE model of each run (its `pretrained/` folder; models with identical weights are
//! drawn once) gives the reference curve. A GAN point is *beyond* the MLE curve when its
//! quality is better than the MLE curve's at the same diversity (linear interpolation between
//! the two MLE temperatures around it); outside the MLE curve's diversity range it cannot be
//! judged, and says so. Every model is evaluated with the same sample key, so differences
//! between curves are not sampling noise of different draws.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::config::{DataSource, TrainConfig};
use super::data::{DataKind, TrainData};
use super::eval::{evaluate_at, inspection_key};
use super::inspect::{self, Loaded};
use super::log::{Phase, Row};
use super::report::Evaluation;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::model::generator::Generator;

/// The temperatures of the sweep when none are given: 0.5 to 1.5 (Caccia et al. sweep
/// about this range).
pub const DEFAULT_TEMPERATURES: [f32; 9] = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5];

/// One axis of the frontier plot: a metric, and which direction is better.
#[derive(Debug, Clone, Copy)]
pub struct Axis {
    pub name: &'static str,
    pub value: fn(&Evaluation) -> Option<f64>,
    pub higher_is_better: bool,
}

impl Axis {
    /// How much better the quality `y` is than the MLE curve's `q` on this (quality) axis:
    /// positive is beyond the curve.
    pub fn gain(self, y: f64, q: f64) -> f64 {
        if self.higher_is_better { y - q } else { q - y }
    }
}

/// Every (diversity, quality) pair a run's evaluations are judged on
/// ([`Frontier::trajectory`]): [`axes`] first, and for text also NLL_gen against BLEU-4
/// (diversity as coverage of held-out captions: self-BLEU sees only the samples).
pub fn judged_axes(kind: DataKind) -> Vec<(Axis, Axis)> {
    let mut v = vec![axes(kind)];
    if kind == DataKind::Text {
        v.push((
            Axis {
                name: "NLL_gen",
                value: |e| e.nll_gen,
                higher_is_better: false,
            },
            axes(kind).1,
        ));
    }
    v
}

/// The (diversity, quality) axes of a data kind (see the module docs).
pub fn axes(kind: DataKind) -> (Axis, Axis) {
    match kind {
        DataKind::Oracle => (
            Axis {
                name: "NLL_gen",
                value: |e| e.nll_gen,
                higher_is_better: false,
            },
            Axis {
                name: "NLL_oracle",
                value: |e| e.nll_oracle,
                higher_is_better: false,
            },
        ),
        DataKind::Text => (
            Axis {
                name: "self-BLEU-4",
                value: |e| e.self_bleu.map(|b| b[2]),
                higher_is_better: false,
            },
            Axis {
                name: "BLEU-4",
                value: |e| e.bleu.map(|b| b[2]),
                higher_is_better: true,
            },
        ),
        DataKind::Grammar => (
            Axis {
                name: "uniqueness",
                value: |e| e.uniqueness,
                higher_is_better: true,
            },
            Axis {
                name: "validity",
                value: |e| e.validity,
                higher_is_better: true,
            },
        ),
    }
}

/// One model's sweep.
#[derive(Debug, Clone)]
pub struct Curve {
    /// `MLE (RUN)` or the checkpoint's folder as given.
    pub label: String,
    /// The plot's legend entry: the label, or (for `collect`'s runs, one point each) the
    /// run's estimator, so that the runs of one estimator share a colour; `MLE` for every
    /// MLE model there.
    pub group: String,
    pub checkpoint: PathBuf,
    /// An MLE model (a run's `pretrained/`), the reference.
    pub mle: bool,
    /// The evaluation at each temperature of the sweep, in the order given.
    pub points: Vec<(f32, Evaluation)>,
}

/// Every curve of one frontier, on one data set.
#[derive(Debug, Clone)]
pub struct Frontier {
    pub kind: DataKind,
    pub curves: Vec<Curve>,
}

/// Where a GAN point lies against the MLE curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Better quality than the MLE curve at the same diversity: the MLE curve's quality there.
    Beyond(f64),
    /// Not better (the MLE curve's quality there).
    NotBeyond(f64),
    /// Diversity outside the MLE curve's range (or a metric missing): no judgement.
    OutsideRange,
}

impl Frontier {
    /// The verdict for a point `(x, y)` against the MLE curves (each judged separately; a
    /// point is beyond when it is beyond every MLE curve whose range covers its `x`).
    pub fn verdict(&self, x: Option<f64>, y: Option<f64>) -> Verdict {
        self.verdict_on(axes(self.kind), x, y)
    }

    /// [`Frontier::verdict`] in the plane of the axes `(ax, ay)` (e.g. one of
    /// [`judged_axes`]).
    pub fn verdict_on(&self, (ax, ay): (Axis, Axis), x: Option<f64>, y: Option<f64>) -> Verdict {
        let (Some(x), Some(y)) = (x, y) else {
            return Verdict::OutsideRange;
        };
        let mut out = Verdict::OutsideRange;
        for c in self.curves.iter().filter(|c| c.mle) {
            let mut pts: Vec<(f64, f64)> = c
                .points
                .iter()
                .filter_map(|(_, e)| Some(((ax.value)(e)?, (ay.value)(e)?)))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let Some(q) = interpolate(&pts, x) else {
                continue;
            };
            let better = ay.gain(y, q) > 0.0;
            out = match (out, better) {
                (Verdict::NotBeyond(_), _) | (_, false) => Verdict::NotBeyond(q),
                _ => Verdict::Beyond(q),
            };
        }
        out
    }
}

/// One evaluation of a run during training (a row of its `metrics.csv`), judged against the
/// MLE curves ([`Frontier::trajectory`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrajectoryPoint {
    pub phase: Phase,
    pub step: usize,
    /// Diversity and quality (the frontier's axes).
    pub x: f64,
    pub y: f64,
    pub verdict: Verdict,
}

impl TrajectoryPoint {
    /// How far the point's quality is beyond the MLE curve's at its diversity (negative:
    /// short of it), in the units of the quality axis `ay`; `None` outside the curve's range.
    pub fn margin(&self, ay: Axis) -> Option<f64> {
        match self.verdict {
            Verdict::Beyond(q) | Verdict::NotBeyond(q) => Some(ay.gain(self.y, q)),
            Verdict::OutsideRange => None,
        }
    }
}

impl Frontier {
    /// Every evaluation among `rows` (a run's `metrics.csv`; the rows that hold both
    /// metrics of the axes `(ax, ay)`), judged against the MLE curves in that plane: whether
    /// a run was beyond the MLE curve at any point of its training, not only where it ended
    /// or what its `--select-by` kept. Each evaluation drew its own samples (the frontier's
    /// points share one key), so the verdicts include the sampling noise of an evaluation.
    pub fn trajectory(&self, (ax, ay): (Axis, Axis), rows: &[Row]) -> Vec<TrajectoryPoint> {
        rows.iter()
            .filter_map(|r| {
                let e = Evaluation::from_metrics(&r.metrics);
                let (x, y) = ((ax.value)(&e)?, (ay.value)(&e)?);
                Some(TrajectoryPoint {
                    phase: r.phase,
                    step: r.step,
                    x,
                    y,
                    verdict: self.verdict_on((ax, ay), Some(x), Some(y)),
                })
            })
            .collect()
    }
}

/// The `y` of the polyline `pts` (sorted by `x`) at `x`, `None` outside its `x` range.
fn interpolate(pts: &[(f64, f64)], x: f64) -> Option<f64> {
    let (first, last) = (pts.first()?, pts.last()?);
    if !(first.0..=last.0).contains(&x) {
        return None;
    }
    if pts.len() == 1 {
        // one temperature: its range is its own diversity, `x` itself
        return Some(first.1);
    }
    let i = pts.partition_point(|p| p.0 < x).max(1).min(pts.len() - 1);
    let ((x0, y0), (x1, y1)) = (pts[i - 1], pts[i]);
    if x1 == x0 {
        // two MLE temperatures with the same diversity: their mean quality
        return Some((y0 + y1) / 2.0);
    }
    Some(y0 + (y1 - y0) * (x - x0) / (x1 - x0))
}

/// `Err` naming `--temperatures` unless there is at least one and each is finite and `> 0`.
pub fn check_temperatures(temperatures: &[f32]) -> Result<()> {
    if temperatures.is_empty() {
        return Err(Error::Config("--temperatures: give at least one".into()));
    }
    if let Some(t) = temperatures.iter().find(|t| !(t.is_finite() && **t > 0.0)) {
        return Err(Error::Config(format!(
            "--temperatures: {t} is not a temperature (each must be finite and > 0)"
        )));
    }
    Ok(())
}

/// `true` if two runs model the same distribution, so that both can be measured on the
/// first run's test set: the same data source (the grammar, one oracle file, the same text
/// files). Runs of the grammar or an oracle file with other seeds drew other training and
/// test sets from the same distribution, which is fine; a random oracle (no file) is
/// itself drawn from the seed, so its runs must share the seed.
fn same_data(a: &TrainConfig, b: &TrainConfig) -> bool {
    a.data == b.data && (a.data != (DataSource::Oracle { file: None }) || a.seed == b.seed)
}

/// How [`frontier`] samples: the temperatures of the sweep, and whether the checkpoints
/// (not only the MLE models) are swept or measured at `T = 1` alone (`gumbel-lab collect`:
/// many runs, one point each).
#[derive(Debug, Clone)]
pub struct Sweep<'a> {
    pub temperatures: &'a [f32],
    pub sweep_runs: bool,
    /// Samples per point (default: the first run's `eval_samples`).
    pub samples: Option<usize>,
    /// Seed of the draws (one key for every model).
    pub seed: u64,
}

/// Sweeps every checkpoint in `paths` (run or checkpoint folders) and the MLE models of the
/// runs over the temperatures of `sweep`. `progress(done, total, label)` is called before
/// each evaluation.
///
/// Every model is measured on the first run's data (its test set, its oracle). Errors: no
/// checkpoint, a bad temperature, runs on another distribution (naming both; see
/// `same_data`), anything loading or evaluating a checkpoint reports.
pub fn frontier(
    paths: &[PathBuf],
    sweep: &Sweep<'_>,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<Frontier> {
    check_temperatures(sweep.temperatures)?;
    let Some(first_path) = paths.first() else {
        return Err(Error::Config(
            "frontier: give at least one --checkpoint".into(),
        ));
    };
    let first = inspect::load(first_path)?;
    let cfg = first.config.clone();
    let n = first.eval_samples(sweep.samples)?;
    let data = TrainData::load(&cfg)?;
    // The models: each run's MLE model (once per distinct weights), then the runs.
    let mut models: Vec<(String, bool, Loaded)> = vec![];
    let mut mle_weights: Vec<Vec<u8>> = vec![];
    let mut first = Some(first);
    for path in paths {
        let run = match first.take() {
            Some(run) => run,
            None => inspect::load(path)?,
        };
        if !same_data(&cfg, &run.config) {
            return Err(Error::Config(format!(
                "{} was trained on other data than {} ({:?} against {:?}, or a random oracle of another seed): a frontier measures every model on one test set of one distribution",
                path.display(),
                first_path.display(),
                run.config.data,
                cfg.data
            )));
        }
        data.check_vocab(&run.state, &run.dir)?;
        // the run's MLE model: its `pretrained/` folder, or (runs started with `--pretrained`
        // before the run folder kept a copy) the folder its config names, if it exists
        let pretrained = [Some(path.join("pretrained")), run.config.pretrained.clone()]
            .into_iter()
            .flatten()
            .find(|p| p.join("generator.safetensors").is_file());
        if let Some(pretrained) = pretrained {
            let bytes = std::fs::read(pretrained.join("generator.safetensors"))
                .map_err(|e| Error::io(&pretrained.join("generator.safetensors"), e))?;
            if !mle_weights.contains(&bytes) {
                mle_weights.push(bytes);
                let mle = inspect::load(&pretrained)?;
                models.push((format!("MLE ({})", path.display()), true, mle));
            }
        }
        let is_mle = path.file_name().is_some_and(|f| f == "pretrained");
        let label = if is_mle {
            format!("MLE ({})", path.display())
        } else {
            path.display().to_string()
        };
        models.push((label, is_mle, run));
    }
    let models: Vec<Model> = models
        .iter()
        .map(|(label, mle, l)| Model {
            label: label.clone(),
            group: match (mle, sweep.sweep_runs) {
                (true, false) => "MLE".to_string(),
                (false, false) => l.config.estimator.to_string(),
                _ => label.clone(),
            },
            mle: *mle,
            dir: &l.dir,
            generator: &l.generator,
        })
        .collect();
    let sweep = Sweep {
        samples: Some(n),
        ..sweep.clone()
    };
    sweep_models(&models, &data, &cfg, &sweep, progress)
}

/// One model of a frontier: its curve's label and legend group, whether it is an MLE model,
/// its folder and its generator.
pub struct Model<'a> {
    pub label: String,
    pub group: String,
    pub mle: bool,
    pub dir: &'a Path,
    pub generator: &'a Generator,
}

/// Measures `models` on `data` as `sweep` says (the MLE models at every temperature, the
/// others too if `sweep_runs`, else at 1 only; `samples` per point, default `cfg`'s
/// `eval_samples`; one key from `seed` for every model).
pub fn sweep_models(
    models: &[Model<'_>],
    data: &TrainData,
    cfg: &TrainConfig,
    sweep: &Sweep<'_>,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<Frontier> {
    let Sweep {
        temperatures,
        sweep_runs,
        samples,
        seed,
    } = *sweep;
    check_temperatures(temperatures)?;
    let n = samples.unwrap_or(cfg.eval_samples);
    let key = inspection_key(seed);
    let temps = |mle: bool| {
        if mle || sweep_runs {
            temperatures
        } else {
            &[1.0][..]
        }
    };
    let total: usize = models.iter().map(|m| temps(m.mle).len()).sum();
    let (mut curves, mut done) = (vec![], 0);
    for m in models {
        let mut points = vec![];
        for &t in temps(m.mle) {
            progress(done, total, &m.label);
            let ev = evaluate_at(m.generator, data, cfg, key, n, t)?.eval;
            points.push((t, ev));
            done += 1;
        }
        curves.push(Curve {
            label: m.label.clone(),
            group: m.group.clone(),
            checkpoint: m.dir.to_path_buf(),
            mle: m.mle,
            points,
        });
    }
    progress(total, total, "done");
    Ok(Frontier {
        kind: data.kind,
        curves,
    })
}

/// The CSV of a frontier: one row per model and temperature, every metric (empty where a
/// data set has none), and the verdict against the MLE curve for the other models.
pub fn csv(f: &Frontier) -> String {
    let (ax, ay) = axes(f.kind);
    let mut s = String::from(
        "label,mle,checkpoint,temperature,nll_oracle,nll_gen,bleu2,bleu3,bleu4,bleu5,\
         self_bleu2,self_bleu3,self_bleu4,self_bleu5,validity,uniqueness,entropy,mean_length,\
         mle_quality_at_same_diversity,beyond_mle\n",
    );
    let opt = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    let quote = |t: &str| format!("\"{}\"", t.replace('"', "\"\""));
    for c in &f.curves {
        for (t, e) in &c.points {
            let four = |b: Option<[f64; 4]>| -> Vec<String> {
                (0..4).map(|i| opt(b.map(|b| b[i]))).collect()
            };
            let mut cells = vec![
                quote(&c.label),
                c.mle.to_string(),
                quote(&c.checkpoint.display().to_string()),
                t.to_string(),
                opt(e.nll_oracle),
                opt(e.nll_gen),
            ];
            cells.extend(four(e.bleu));
            cells.extend(four(e.self_bleu));
            cells.extend([e.validity, e.uniqueness, e.entropy, e.mean_length].map(opt));
            let (q, beyond) = match (c.mle, f.verdict((ax.value)(e), (ay.value)(e))) {
                (true, _) | (_, Verdict::OutsideRange) => (String::new(), String::new()),
                (false, Verdict::Beyond(q)) => (q.to_string(), "true".into()),
                (false, Verdict::NotBeyond(q)) => (q.to_string(), "false".into()),
            };
            cells.extend([q, beyond]);
            let _ = writeln!(s, "{}", cells.join(","));
        }
    }
    s
}

/// A plain-text summary: each non-MLE model at temperature 1 (or the sweep's temperature
/// closest to 1) with its two metrics and its verdict.
pub fn summary(f: &Frontier) -> String {
    let (ax, ay) = axes(f.kind);
    let mut s = format!(
        "{:<40} {:>6} {:>12} {:>12}  against the MLE curve\n",
        "model", "T", ax.name, ay.name
    );
    let fmt = |x: Option<f64>| x.map_or("-".into(), |v| format!("{v:.4}"));
    for c in &f.curves {
        let Some((t, e)) = c
            .points
            .iter()
            .min_by(|a, b| (a.0 - 1.0).abs().total_cmp(&(b.0 - 1.0).abs()))
        else {
            continue;
        };
        let (x, y) = ((ax.value)(e), (ay.value)(e));
        let verdict = match (c.mle, f.verdict(x, y)) {
            (true, _) => "(the reference)".to_string(),
            (_, Verdict::Beyond(q)) => format!("beyond (MLE: {q:.4} at the same {})", ax.name),
            (_, Verdict::NotBeyond(q)) => {
                format!("not beyond (MLE: {q:.4} at the same {})", ax.name)
            }
            (_, Verdict::OutsideRange) => format!("outside the MLE curve's {} range", ax.name),
        };
        let _ = writeln!(
            s,
            "{:<40} {t:>6} {:>12} {:>12}  {verdict}",
            c.label,
            fmt(x),
            fmt(y)
        );
    }
    s
}

/// The frontier as an SVG plot: the MLE curves in black, the other models in colours, each
/// point labelled with its temperature, `T = 1` marked by a larger dot.
pub fn svg(f: &Frontier) -> Result<String> {
    let (ax, ay) = axes(f.kind);
    // each curve with its plotted points: (temperature, x, y)
    type Plotted<'a> = (&'a Curve, Vec<(f32, f64, f64)>);
    let curves: Vec<Plotted> = f
        .curves
        .iter()
        .map(|c| {
            let p = c
                .points
                .iter()
                .filter_map(|(t, e)| Some((*t, (ax.value)(e)?, (ay.value)(e)?)))
                .collect();
            (c, p)
        })
        .collect();
    let all = || curves.iter().flat_map(|(_, p)| p.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(_, x, y) in all() {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        return Err(Error::Config(format!(
            "frontier: no model has both {} and {}",
            ax.name, ay.name
        )));
    }
    let pad = |a: f64, b: f64| ((b - a) * 0.08).max(1e-3 * a.abs().max(1.0));
    let (px, py) = (pad(x0, x1), pad(y0, y1));
    let (x0, x1, y0, y1) = (x0 - px, x1 + px, y0 - py, y1 + py);
    let better = match (ax.higher_is_better, ay.higher_is_better) {
        (false, false) => "lower left",
        (false, true) => "upper left",
        (true, true) => "upper right",
        (true, false) => "lower right",
    };
    let colors = super::report::PALETTE;
    let plot_err = |e: &dyn std::fmt::Display| Error::Config(format!("frontier plot: {e}"));
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (760, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("quality-diversity frontier (better: {better})"),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| plot_err(&e))?;
        chart
            .configure_mesh()
            .x_desc(ax.name)
            .y_desc(ay.name)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| plot_err(&e))?;
        // one colour and one legend entry per group (black for the MLE models)
        let mut groups: Vec<&str> = vec![];
        // the GAN groups in order of their first curve: a group's colour is its place here
        let mut gan_groups: Vec<&str> = vec![];
        for (c, p) in &curves {
            if p.is_empty() {
                continue;
            }
            let first = !groups.contains(&c.group.as_str());
            if first {
                groups.push(&c.group);
            }
            let color = if c.mle {
                BLACK
            } else {
                let k = match gan_groups.iter().position(|g| *g == c.group) {
                    Some(k) => k,
                    None => {
                        gan_groups.push(&c.group);
                        gan_groups.len() - 1
                    }
                };
                colors[k % colors.len()]
            };
            let mut line: Vec<(f64, f64)> = p.iter().map(|&(_, x, y)| (x, y)).collect();
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            let drawn = chart
                .draw_series(LineSeries::new(line, color.stroke_width(2)))
                .map_err(|e| plot_err(&e))?;
            if first {
                drawn.label(c.group.clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
            }
            // temperatures are written beside the points of a sweep (a lone point is at 1)
            let sweep = p.len() > 1;
            chart
                .draw_series(p.iter().map(|&(t, x, y)| {
                    let r = if t == 1.0 { 6 } else { 3 };
                    let label = if sweep { format!("{t}") } else { String::new() };
                    EmptyElement::at((x, y))
                        + Circle::new((0, 0), r, color.filled())
                        + Text::new(label, (5, -12), ("sans-serif", 11).into_font())
                }))
                .map_err(|e| plot_err(&e))?;
        }
        // the legend in the corner opposite the better one, where models rarely are
        let corner = match (ax.higher_is_better, ay.higher_is_better) {
            (false, false) => SeriesLabelPosition::UpperRight,
            (false, true) => SeriesLabelPosition::LowerRight,
            (true, true) => SeriesLabelPosition::LowerLeft,
            (true, false) => SeriesLabelPosition::UpperLeft,
        };
        chart
            .configure_series_labels()
            .position(corner)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| plot_err(&e))?;
        root.present().map_err(|e| plot_err(&e))?;
    }
    Ok(out)
}

/// Writes `frontier.csv` and `frontier.svg` into `dir` (created if missing), each atomically.
/// Existing files are not overwritten unless `force`: the error names them.
pub fn write(f: &Frontier, dir: &Path, force: bool) -> Result<(PathBuf, PathBuf)> {
    let (c, s) = (dir.join("frontier.csv"), dir.join("frontier.svg"));
    if !force && let Some(p) = [&c, &s].into_iter().find(|p| p.exists()) {
        return Err(Error::Config(format!(
            "{} exists: give another --out folder, or --force to replace it",
            p.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let plot = svg(f)?;
    write_atomic(&c, csv(f).as_bytes())?;
    write_atomic(&s, plot.as_bytes())?;
    Ok((c, s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::relative_eq;

    fn point(t: f32, nll_gen: f64, nll_oracle: f64) -> (f32, Evaluation) {
        let e = Evaluation {
            nll_gen: Some(nll_gen),
            nll_oracle: Some(nll_oracle),
            ..Default::default()
        };
        (t, e)
    }

    fn oracle_frontier(gan: Vec<(f32, Evaluation)>) -> Frontier {
        let mle = Curve {
            label: "MLE (r)".into(),
            group: "MLE (r)".into(),
            checkpoint: "r/pretrained".into(),
            mle: true,
            // lower T: more quality (lower NLL_oracle), less diversity (higher NLL_gen)
            points: vec![
                point(0.5, 9.0, 6.0),
                point(1.0, 7.0, 9.0),
                point(1.5, 8.0, 11.0),
            ],
        };
        let gan = Curve {
            label: "r".into(),
            group: "r".into(),
            checkpoint: "r".into(),
            mle: false,
            points: gan,
        };
        Frontier {
            kind: DataKind::Oracle,
            curves: vec![mle, gan],
        }
    }

    /// An MLE curve of one temperature (`--temperatures 1`) judges a point at exactly its
    /// diversity and nothing else (it panicked before: an index below 0).
    #[test]
    fn a_curve_of_one_point_judges_only_its_own_diversity() {
        let mut f = oracle_frontier(vec![]);
        f.curves[0].points.truncate(1); // (NLL_gen 9, NLL_oracle 6)
        assert_eq!(f.verdict(Some(9.0), Some(5.0)), Verdict::Beyond(6.0));
        assert_eq!(f.verdict(Some(9.0), Some(7.0)), Verdict::NotBeyond(6.0));
        assert_eq!(f.verdict(Some(9.1), Some(5.0)), Verdict::OutsideRange);
        f.curves[0].points.clear();
        assert_eq!(f.verdict(Some(9.0), Some(5.0)), Verdict::OutsideRange);
    }

    /// A run's evaluations are judged one by one: rows without both metrics (the training
    /// rows between evaluations) are skipped, and the margin is signed so that positive is
    /// beyond.
    #[test]
    fn a_trajectory_is_judged_evaluation_by_evaluation() {
        let f = oracle_frontier(vec![]);
        let row = |phase, step, nll_gen: Option<f64>, nll_oracle: Option<f64>| {
            let mut r = Row::new(phase, step, step);
            r.metrics.nll_gen = nll_gen;
            r.metrics.nll_oracle = nll_oracle;
            r
        };
        let rows = [
            row(Phase::Mle, 0, Some(7.0), Some(9.0)),
            row(Phase::Adv, 10, None, None),
            row(Phase::Adv, 50, Some(7.5), Some(9.5)),
            row(Phase::Adv, 60, Some(7.5), None),
            row(Phase::Adv, 100, Some(8.5), Some(9.0)),
            row(Phase::Adv, 150, Some(12.0), Some(1.0)),
        ];
        let t = f.trajectory(axes(f.kind), &rows);
        let steps: Vec<usize> = t.iter().map(|p| p.step).collect();
        assert_eq!(steps, [0, 50, 100, 150]);
        // on the curve at its own point; 0.5 better than 10 at NLL_gen 7.5; 0.5 worse
        // than 8.5 at 8.5; outside the range
        let margins: Vec<Option<f64>> = t.iter().map(|p| p.margin(axes(f.kind).1)).collect();
        assert_eq!(margins, [Some(0.0), Some(0.5), Some(-0.5), None]);
        assert_eq!(t[1].verdict, Verdict::Beyond(10.0));
        assert_eq!(t[2].verdict, Verdict::NotBeyond(8.5));
        assert_eq!(t[0].phase, Phase::Mle);
    }

    /// Text is judged in two planes: BLEU-4 against self-BLEU-4 and against NLL_gen; a
    /// point can be short of the curve in one and beyond it in the other (sharper samples
    /// that still cover held-out captions).
    #[test]
    fn text_is_judged_against_self_bleu_and_against_nll_gen() {
        let eval = |self_bleu4: f64, bleu4: f64, nll_gen: f64| Evaluation {
            bleu: Some([0.0, 0.0, bleu4, 0.0]),
            self_bleu: Some([0.0, 0.0, self_bleu4, 0.0]),
            nll_gen: Some(nll_gen),
            ..Default::default()
        };
        let f = Frontier {
            kind: DataKind::Text,
            curves: vec![Curve {
                label: "MLE".into(),
                group: "MLE".into(),
                checkpoint: "p".into(),
                mle: true,
                // colder: more self-BLEU, more BLEU, a worse NLL_gen
                points: vec![(1.0, eval(0.3, 0.31, 7.0)), (0.8, eval(0.5, 0.39, 8.0))],
            }],
        };
        let planes = judged_axes(DataKind::Text);
        let names: Vec<(&str, &str)> = planes.iter().map(|(x, y)| (x.name, y.name)).collect();
        assert_eq!(names, [("self-BLEU-4", "BLEU-4"), ("NLL_gen", "BLEU-4")]);
        let mut row = Row::new(Phase::Adv, 300, 300);
        eval(0.5, 0.34, 7.5).fill(&mut row);
        let by_self_bleu = f.trajectory(planes[0], std::slice::from_ref(&row));
        let by_nll_gen = f.trajectory(planes[1], std::slice::from_ref(&row));
        // the curve has 0.39 at self-BLEU-4 0.5 and 0.35 at NLL_gen 7.5
        let q = |t: &[TrajectoryPoint]| match t[0].verdict {
            Verdict::Beyond(q) => (true, q),
            Verdict::NotBeyond(q) => (false, q),
            Verdict::OutsideRange => panic!("in range"),
        };
        let (beyond, at) = q(&by_self_bleu);
        assert!(!beyond && relative_eq!(at, 0.39, max_relative = 1e-12));
        let (beyond, at) = q(&by_nll_gen);
        assert!(!beyond && relative_eq!(at, 0.35, max_relative = 1e-12));
        // a point with the same BLEU-4 at a better NLL_gen is beyond in that plane only
        let mut row = Row::new(Phase::Adv, 400, 400);
        eval(0.5, 0.34, 7.2).fill(&mut row);
        assert!(q(&f.trajectory(planes[1], std::slice::from_ref(&row))).0);
        assert!(!q(&f.trajectory(planes[0], std::slice::from_ref(&row))).0);
        assert_eq!(judged_axes(DataKind::Oracle).len(), 1);
    }

    #[test]
    fn a_point_is_judged_against_the_mle_curve_at_the_same_diversity() {
        let f = oracle_frontier(vec![]);
        // MLE sorted by NLL_gen: (7, 9), (8, 11), (9, 6); at NLL_gen 7.5 the curve has 10.
        assert_eq!(f.verdict(Some(7.5), Some(9.9)), Verdict::Beyond(10.0));
        assert_eq!(f.verdict(Some(7.5), Some(10.1)), Verdict::NotBeyond(10.0));
        // between (8, 11) and (9, 6): 8.5.
        assert_eq!(f.verdict(Some(8.5), Some(8.0)), Verdict::Beyond(8.5));
        assert_eq!(f.verdict(Some(6.0), Some(1.0)), Verdict::OutsideRange);
        assert_eq!(f.verdict(None, Some(1.0)), Verdict::OutsideRange);
        // higher is better (grammar): validity above the curve is beyond
        let g = Frontier {
            kind: DataKind::Grammar,
            curves: vec![Curve {
                label: "MLE".into(),
                group: "MLE".into(),
                checkpoint: "p".into(),
                mle: true,
                points: [(0.5, 0.2, 0.9), (1.0, 0.8, 0.5)]
                    .map(|(t, u, v)| {
                        let e = Evaluation {
                            uniqueness: Some(u),
                            validity: Some(v),
                            ..Default::default()
                        };
                        (t, e)
                    })
                    .to_vec(),
            }],
        };
        // 0.9 + (0.5 - 0.9) (0.5 - 0.2) / (0.8 - 0.2) = 0.7 up to rounding
        let q = |v: Verdict| match v {
            Verdict::Beyond(q) => (true, q),
            Verdict::NotBeyond(q) => (false, q),
            Verdict::OutsideRange => panic!("in range"),
        };
        let (beyond, at) = q(g.verdict(Some(0.5), Some(0.71)));
        assert!(beyond && relative_eq!(at, 0.7, max_relative = 1e-15));
        let (beyond, at) = q(g.verdict(Some(0.5), Some(0.69)));
        assert!(!beyond && relative_eq!(at, 0.7, max_relative = 1e-15));
    }

    #[test]
    fn csv_has_a_row_per_point_with_the_verdict_and_svg_labels_every_curve() {
        let f = oracle_frontier(vec![point(1.0, 7.5, 9.5), point(0.8, 6.5, 5.0)]);
        let text = csv(&f);
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows.len(), 1 + 5);
        assert!(rows[0].ends_with("mle_quality_at_same_diversity,beyond_mle"));
        assert!(
            rows[4].starts_with("\"r\",false,\"r\",1,9.5,7.5,"),
            "{}",
            rows[4]
        );
        assert!(rows[4].ends_with(",10,true"), "{}", rows[4]);
        assert!(rows[5].ends_with(",,"), "outside the range: {}", rows[5]);
        assert!(
            rows[1].ends_with(",,"),
            "MLE rows have no verdict: {}",
            rows[1]
        );
        let plot = svg(&f).unwrap();
        assert!(
            plot.contains("MLE (r)") && plot.contains("NLL_oracle") && plot.contains("lower left")
        );
        let s = summary(&f);
        assert!(
            s.contains("beyond (MLE: 10.0000 at the same NLL_gen)"),
            "{s}"
        );
    }

    /// One colour per group: curves of groups A, B, A are drawn in colours a, b, a (the
    /// third was drawn in b before: the count of groups so far, not A's place).
    #[test]
    fn every_curve_of_a_group_has_the_group_colour() {
        let mut f = oracle_frontier(vec![point(1.0, 7.5, 9.5)]);
        let gan = f.curves[1].clone();
        for (i, group) in ["B", "A"].into_iter().enumerate() {
            let mut c = gan.clone();
            c.group = group.into();
            c.label = format!("{group}{i}");
            // a curve of its own shape, to find its line in the SVG
            c.points = vec![point(1.0, 7.2 + 0.1 * i as f64, 9.0), point(0.9, 7.4, 8.0)];
            f.curves.push(c);
        }
        f.curves[1].group = "A".into();
        let plot = svg(&f).unwrap();
        // the coloured polylines' strokes in drawing order: the curves A, B, A, then the
        // legend; the first GAN group takes the palette's first colour
        let strokes: Vec<&str> = plot
            .split("<polyline")
            .skip(1)
            .filter_map(|p| p.split("stroke=\"").nth(1)?.split('"').next())
            .filter(|s| *s != "#000000")
            .collect();
        assert!(strokes.len() >= 3, "{plot}");
        let (a1, b, a2) = (strokes[0], strokes[1], strokes[2]);
        assert_eq!(a1, a2, "{strokes:?}");
        assert_ne!(a1, b, "{strokes:?}");
        let first = super::super::report::PALETTE[0];
        assert_eq!(
            a1,
            format!("#{:02X}{:02X}{:02X}", first.0, first.1, first.2)
        );
    }

    #[test]
    fn bad_temperatures_and_existing_outputs_are_errors() {
        for bad in [vec![], vec![1.0, 0.0], vec![f32::NAN], vec![-1.0]] {
            let e = check_temperatures(&bad).unwrap_err().to_string();
            assert!(e.contains("--temperatures"), "{e}");
        }
        let dir = std::env::temp_dir().join(format!("gumbel-frontier-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let f = oracle_frontier(vec![point(1.0, 7.5, 9.5)]);
        let (c, _) = write(&f, &dir, false).unwrap();
        let before = std::fs::read(&c).unwrap();
        let e = write(&f, &dir, false).unwrap_err().to_string();
        assert!(
            e.contains("frontier.csv exists") && e.contains("--force"),
            "{e}"
        );
        assert_eq!(std::fs::read(&c).unwrap(), before);
        write(&f, &dir, true).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
