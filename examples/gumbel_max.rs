//! Is Gumbel-max a sampler of `Categorical(softmax(logits))`? Draws `argmax_i (l_i + g_i)`
//! with the fused kernel `gumbel_max` and compares the class frequencies with
//! `softmax(l)`: bars side by side, and Pearson's chi-square test (statistic, degrees of
//! freedom, p-value from our own regularised incomplete gamma function, `common/stats.rs`).
//!
//! Cases:
//! - `plain`: ten classes, in `f32` and `f64`;
//! - `masked`: the same logits with three classes at `-inf`: they must never be drawn, and
//!   the test's degrees of freedom count only the seven possible classes;
//! - `wrong`: draws from `0.95 l` tested against `softmax(l)`: the test must reject (it has
//!   power at this sample size, so the passes above mean something);
//! - `replicates`: many small independent tests; under the null their p-values are uniform
//!   on (0, 1) (histogram and Kolmogorov-Smirnov statistic).
//!
//! ```sh
//! cargo run --release --example gumbel_max [-- --out DIR --draws N --seed S]
//! ```
//!
//! docs/study.md explains the output.

#[path = "common/mod.rs"]
pub mod common;

use std::error::Error;
use std::path::Path;

use clap::Parser;
use common::out::{Csv, OutArgs};
use common::plot::{self, Bars};
use common::stats::{ChiSquare, chi_square, softmax};
use gumbel_tensor::ops::gumbel::{GumbelRng, gumbel_max};
use gumbel_tensor::{Element, Tensor};

/// The ten logits of the study: probabilities from about 0.27 down to 0.01.
pub const LOGITS: [f64; 10] = [1.5, 1.2, 0.9, 0.6, 0.3, 0.0, -0.3, -0.6, -1.0, -1.5];

/// [`LOGITS`] with classes 1, 4 and 8 masked.
pub const MASKED: [usize; 3] = [1, 4, 8];

/// Sizes of a run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Draws per case.
    pub draws: usize,
    /// Independent small tests for the p-value histogram, and draws in each.
    pub replicates: usize,
    pub replicate_draws: usize,
    pub seed: u64,
}

impl Config {
    /// The sizes of `cargo run --example gumbel_max`.
    pub fn full(seed: u64) -> Config {
        Config {
            draws: 4_000_000,
            replicates: 1000,
            replicate_draws: 10_000,
            seed,
        }
    }

    /// Small sizes for the tests (a fraction of a second).
    pub fn small(seed: u64) -> Config {
        Config {
            draws: 200_000,
            replicates: 200,
            replicate_draws: 2_000,
            seed,
        }
    }
}

/// One case: what was drawn, what it was tested against, and the test.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub name: &'static str,
    pub dtype: &'static str,
    /// The logits the samples were drawn from.
    pub logits: Vec<f64>,
    /// The probabilities the counts are tested against.
    pub probs: Vec<f64>,
    pub counts: Vec<u64>,
    pub test: ChiSquare,
}

/// Everything the example computes.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub cases: Vec<Case>,
    /// p-values of the replicate tests, in replicate order.
    pub replicate_p: Vec<f64>,
    /// Kolmogorov-Smirnov distance of the replicate p-values from Uniform(0, 1), and its
    /// asymptotic p-value.
    pub ks: f64,
    pub ks_p: f64,
}

/// Rows per `gumbel_max` call: the draws are made in blocks of this many rows, each call
/// one counter value of the generator, so memory stays bounded for any `draws`.
const BLOCK: usize = 1 << 16;

/// Class counts of `draws` Gumbel-max samples from `logits`, in element type `T`.
pub fn gumbel_max_counts<T: Element>(
    logits: &[f64],
    draws: usize,
    rng: &mut GumbelRng,
) -> gumbel_tensor::Result<Vec<u64>> {
    let k = logits.len();
    let mut counts = vec![0u64; k];
    let mut left = draws;
    while left > 0 {
        let rows = left.min(BLOCK);
        let l = Tensor::<T>::from_fn([rows, k], |i| T::from_f64(logits[i % k]));
        for i in gumbel_max(&l, rng)? {
            counts[i] += 1;
        }
        left -= rows;
    }
    Ok(counts)
}

/// The logits of the `masked` case.
pub fn masked_logits() -> Vec<f64> {
    let mut l = LOGITS.to_vec();
    for &m in &MASKED {
        l[m] = f64::NEG_INFINITY;
    }
    l
}

fn case<T: Element>(
    name: &'static str,
    logits: Vec<f64>,
    probs: Vec<f64>,
    draws: usize,
    rng: &mut GumbelRng,
) -> gumbel_tensor::Result<Case> {
    let counts = gumbel_max_counts::<T>(&logits, draws, rng)?;
    let test = chi_square(&counts, &probs);
    Ok(Case {
        name,
        dtype: T::NAME,
        logits,
        probs,
        counts,
        test,
    })
}

/// Kolmogorov-Smirnov distance `sup_x |F_n(x) - x|` of a sample from Uniform(0, 1), and the
/// asymptotic p-value `P(K > sqrt(n) D) = 2 sum_{j>=1} (-1)^{j-1} e^{-2 j^2 n D^2}`.
pub fn ks_uniform(sample: &[f64]) -> (f64, f64) {
    let mut s = sample.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len() as f64;
    let d = s
        .iter()
        .enumerate()
        .map(|(i, &x)| (x - i as f64 / n).max((i + 1) as f64 / n - x))
        .fold(0.0, f64::max);
    let t = n * d * d;
    let p: f64 = (1..=100)
        .map(|j| {
            let sign = if j % 2 == 1 { 2.0 } else { -2.0 };
            sign * (-2.0 * (j * j) as f64 * t).exp()
        })
        .sum();
    (d, p.clamp(0.0, 1.0))
}

/// Runs every case. Each case draws from its own generator (seed, case number), so the
/// cases do not depend on each other's sizes.
pub fn run(cfg: &Config) -> gumbel_tensor::Result<Report> {
    let rng = |case: u64| GumbelRng::new(cfg.seed.wrapping_mul(1000).wrapping_add(case));
    let p = softmax(&LOGITS);
    let masked = masked_logits();
    let pm = softmax(&masked);
    let wrong: Vec<f64> = LOGITS.iter().map(|l| 0.95 * l).collect();
    let cases = vec![
        case::<f32>("plain", LOGITS.to_vec(), p.clone(), cfg.draws, &mut rng(0))?,
        case::<f64>("plain", LOGITS.to_vec(), p.clone(), cfg.draws, &mut rng(1))?,
        case::<f32>("masked", masked.clone(), pm.clone(), cfg.draws, &mut rng(2))?,
        case::<f64>("masked", masked, pm, cfg.draws, &mut rng(3))?,
        case::<f32>("wrong", wrong, p.clone(), cfg.draws, &mut rng(4))?,
    ];
    let mut r = rng(5);
    let mut replicate_p = Vec::with_capacity(cfg.replicates);
    for _ in 0..cfg.replicates {
        let counts = gumbel_max_counts::<f32>(&LOGITS, cfg.replicate_draws, &mut r)?;
        replicate_p.push(chi_square(&counts, &p).p_value);
    }
    let (ks, ks_p) = ks_uniform(&replicate_p);
    Ok(Report {
        cases,
        replicate_p,
        ks,
        ks_p,
    })
}

/// Writes `counts.csv`, `chi_square.csv`, `replicates.csv`, `histogram.svg` and
/// `pvalues.svg` to `dir`.
pub fn write_outputs(report: &Report, dir: &Path) -> Result<(), Box<dyn Error>> {
    let mut counts = Csv::create(
        &dir.join("counts.csv"),
        &[
            "case", "dtype", "class", "logit", "prob", "count", "freq", "freq_se",
        ],
    )?;
    let mut tests = Csv::create(
        &dir.join("chi_square.csv"),
        &[
            "case",
            "dtype",
            "draws",
            "statistic",
            "df",
            "p_value",
            "log10_p",
            "min_expected",
            "impossible",
        ],
    )?;
    for c in &report.cases {
        let n: u64 = c.counts.iter().sum();
        for (i, (&count, &p)) in c.counts.iter().zip(&c.probs).enumerate() {
            let freq = count as f64 / n as f64;
            let se = (p * (1.0 - p) / n as f64).sqrt();
            counts.row(&[&c.name, &c.dtype, &i, &c.logits[i], &p, &count, &freq, &se])?;
        }
        let t = &c.test;
        tests.row(&[
            &c.name,
            &c.dtype,
            &n,
            &t.statistic,
            &t.df,
            &t.p_value,
            &t.log10_p,
            &t.min_expected,
            &t.impossible,
        ])?;
    }
    counts.finish()?;
    tests.finish()?;
    let mut reps = Csv::create(&dir.join("replicates.csv"), &["replicate", "p_value"])?;
    for (i, p) in report.replicate_p.iter().enumerate() {
        reps.row(&[&i, p])?;
    }
    reps.finish()?;

    // histogram.svg: the f64 plain and masked cases; frequencies beside probabilities
    // (top), standardised residuals (bottom)
    plot::write_svg(&dir.join("histogram.svg"), (1100, 760), |root| {
        let panels = root.split_evenly((2, 2));
        for (col, name) in ["plain", "masked"].into_iter().enumerate() {
            let c = report
                .cases
                .iter()
                .find(|c| c.name == name && c.dtype == "f64")
                .expect("the f64 case exists");
            frequency_panel(&panels[col], c)?;
            residual_panel(&panels[2 + col], c)?;
        }
        Ok(())
    })?;

    // pvalues.svg: the replicate p-values against the uniform density
    plot::write_svg(&dir.join("pvalues.svg"), (600, 400), |root| {
        let bins = 20;
        let mut hist = vec![0.0; bins];
        for &p in &report.replicate_p {
            hist[((p * bins as f64) as usize).min(bins - 1)] += 1.0;
        }
        let expect = report.replicate_p.len() as f64 / bins as f64;
        let labels: Vec<String> = (0..bins)
            .map(|b| {
                if b % 4 == 0 {
                    format!("{:.1}", b as f64 / bins as f64)
                } else {
                    String::new()
                }
            })
            .collect();
        let title = format!(
            "p-values of {} tests: KS D = {:.3}, p = {:.2}",
            report.replicate_p.len(),
            report.ks,
            report.ks_p
        );
        let bars = Bars {
            name: "observed".into(),
            values: hist,
            err: vec![],
            color: 1,
        };
        plot::bar_chart(
            root,
            &title,
            ("p-value bin (lower edge); dashed: uniform", "tests per bin"),
            &labels,
            &[bars],
            &[expect],
        )
    })?;
    Ok(())
}

/// The x labels of a case's classes: the index, starred for a masked (`-inf`) class.
fn class_labels(c: &Case) -> Vec<String> {
    (0..c.logits.len())
        .map(|i| {
            if c.logits[i] == f64::NEG_INFINITY {
                format!("{i}*")
            } else {
                i.to_string()
            }
        })
        .collect()
}

/// Frequencies beside probabilities for one case, with 2-standard-error bars.
fn frequency_panel(area: &plot::Area, c: &Case) -> plot::PlotResult {
    let n = c.counts.iter().sum::<u64>() as f64;
    let labels = class_labels(c);
    let freq: Vec<f64> = c.counts.iter().map(|&x| x as f64 / n).collect();
    // the standard error of a frequency is sqrt(p (1 - p) / n)
    let err = c
        .probs
        .iter()
        .map(|p| 2.0 * (p * (1.0 - p) / n).sqrt())
        .collect();
    let mut title = format!(
        "{}: chi2 = {:.1}, df = {}, p = {:.3}",
        c.name, c.test.statistic, c.test.df, c.test.p_value
    );
    if c.probs.contains(&0.0) {
        title += &format!("; masked drawn {} times", c.test.impossible);
    }
    let x_label = if c.name == "masked" {
        "class (* = masked: -inf logit)"
    } else {
        "class"
    };
    plot::bar_chart(
        area,
        &title,
        (x_label, "probability"),
        &labels,
        &[
            Bars {
                name: "softmax(l)".into(),
                values: c.probs.clone(),
                err: vec![],
                color: 0,
            },
            Bars {
                name: format!("Gumbel-max frequency, n = {n:.0} (2 se)"),
                values: freq,
                err,
                color: 1,
            },
        ],
        &[],
    )
}

/// Standardised residuals `(n_i - N p_i) / sqrt(N p_i)` of one case (their squares sum to
/// the chi-square statistic); masked classes are left at 0.
fn residual_panel(area: &plot::Area, c: &Case) -> plot::PlotResult {
    let n = c.counts.iter().sum::<u64>() as f64;
    let labels = class_labels(c);
    let z: Vec<f64> = c
        .counts
        .iter()
        .zip(&c.probs)
        .map(|(&x, &p)| {
            if p > 0.0 {
                (x as f64 - n * p) / (n * p).sqrt()
            } else {
                0.0
            }
        })
        .collect();
    plot::bar_chart(
        area,
        &format!("{}: residuals (n_i - N p_i) / sqrt(N p_i)", c.name),
        ("class; dashed: +-2", "residual"),
        &labels,
        &[Bars {
            name: "residual".into(),
            values: z,
            err: vec![],
            color: 2,
        }],
        &[-2.0, 2.0],
    )
}

/// Gumbel-max against softmax(logits): histogram and chi-square test.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    out: OutArgs,
    /// Draws per case
    #[arg(long)]
    draws: Option<usize>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let dir = args.out.dir("gumbel_max")?;
    let mut cfg = Config::full(args.seed);
    if let Some(n) = args.draws {
        cfg.draws = n;
    }
    let t0 = std::time::Instant::now();
    let report = run(&cfg)?;
    println!(
        "Gumbel-max vs softmax(logits), {} draws per case",
        cfg.draws
    );
    println!(
        "{:<8} {:<4} {:>10} {:>3} {:>9} {:>9} {:>12} {:>10}",
        "case", "type", "chi2", "df", "p-value", "log10 p", "min expected", "impossible"
    );
    for c in &report.cases {
        let t = &c.test;
        println!(
            "{:<8} {:<4} {:>10.3} {:>3} {:>9.4} {:>9.2} {:>12.0} {:>10}",
            c.name, c.dtype, t.statistic, t.df, t.p_value, t.log10_p, t.min_expected, t.impossible
        );
    }
    let frac = |a: f64| {
        report.replicate_p.iter().filter(|&&p| p < a).count() as f64
            / report.replicate_p.len() as f64
    };
    println!(
        "replicates: {} tests of {} draws: fraction p < 0.05 = {:.3}, p < 0.01 = {:.3}; KS D = {:.4} (p = {:.3})",
        cfg.replicates,
        cfg.replicate_draws,
        frac(0.05),
        frac(0.01),
        report.ks,
        report.ks_p
    );
    write_outputs(&report, &dir)?;
    println!(
        "wrote {} ({:.1} s)",
        dir.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
