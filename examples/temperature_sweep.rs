//! What does the temperature do to a Gumbel-Softmax sample `y = softmax((l + g) / tau)`?
//!
//! 1. **Sweep** (k = 10 fixed logits, tau on a log grid from 0.01 to 10, the same noise `g`
//!    for every tau): the mean entropy of `y`, the mean `max_i y_i`, the mean distance of
//!    `y` to the Gumbel-max one-hot `H = one_hot(argmax(l + g))`, and the mean `E[y]`
//!    against `softmax(l)`. With the small- and large-tau asymptotes derived below.
//! 2. **Simplex samples** (k = 3): relaxed samples on the triangle at several
//!    temperatures, the classic figure of the Concrete and Gumbel-Softmax papers.
//! 3. **Density** (k = 3): the density of `y` on the simplex as a heat map, from the
//!    library's ExpConcrete log-density and the change of variables `v = ln y -> y`.
//!
//! ```sh
//! cargo run --release --example temperature_sweep [-- --out DIR --samples N --seed S]
//! ```
//!
//! ## Facts the plots check (derivations in docs/study.md)
//! - `argmax y = argmax (l + g)`, so `max_i y_i = y_I` and the total-variation distance to
//!   the one-hot is exactly `TV(y, H) = 1 - max_i y_i`.
//! - The gap `D` between the two largest perturbed logits `l_i + g_i` has the density
//!   `rho(D) = sum_i p_i (1 - p_i) e^{-D} / (1 - p_i (1 - e^{-D}))^2`, `p = softmax(l)`.
//!   For k = 2, `1 - max y = sigmoid(-D / tau)` exactly, so
//!   `E[1 - max y] = int_0^inf rho(D) sigmoid(-D/tau) dD` ([`tv_two_way`]); for k > 2 this
//!   is the contribution of two-way near ties; three-way near ties add O(tau^2).
//! - tau -> 0: `E[1 - max y] ~ ln 2 (1 - sum_i p_i^2) tau` (`rho(0) = 1 - sum p_i^2`,
//!   `int_0^inf sigmoid(-u) du = ln 2`).
//! - tau -> inf: `y_i ~ (1 + (x_i - mean x) / tau) / k` with `x = l + g`, hence
//!   `E[max y] - 1/k ~ (lse(l) - mean(l)) / (k tau)` (the maximum of `l + g` is
//!   `Gumbel(lse(l))`) and `ln k - E[H(y)] ~ (var(l) + (k-1)/k pi^2/6) / (2 tau^2)`.
//! - `E[y]` is not `softmax(l)`: it tends to `softmax(l)` as tau -> 0 and to the uniform
//!   vector as tau -> inf; at tau = 1 they differ (measured).

#[path = "common/mod.rs"]
pub mod common;

use std::error::Error;
use std::f64::consts::{LN_2, PI};
use std::path::Path;

use clap::Parser;
use common::out::{Csv, OutArgs};
use common::plot::{self, Cell, Chart, Series};
use common::stats::{MeanSe, log_grid, logsumexp, mean_se, softmax};
use gumbel_tensor::Tensor;
use gumbel_tensor::ops::gumbel::{
    GumbelRng, Noise, Output, Temperature, exp_concrete_log_density, gumbel_noise, gumbel_softmax,
    gumbel_softmax_with_noise,
};
use plotters::chart::SeriesLabelPosition;

/// The ten logits of the sweep (those of `examples/gumbel_max.rs`).
pub const LOGITS: [f64; 10] = [1.5, 1.2, 0.9, 0.6, 0.3, 0.0, -0.3, -0.6, -1.0, -1.5];

/// The three logits of the simplex pictures: `ln alpha` with `alpha = (2, 0.5, 1)`, i.e.
/// `p = (4/7, 1/7, 2/7)`.
pub fn logits3() -> [f64; 3] {
    [2f64.ln(), 0.5f64.ln(), 0.0]
}

/// Temperatures of the simplex pictures.
pub const SIMPLEX_TAUS: [f64; 4] = [0.1, 0.5, 1.0, 2.0];

/// Sizes of a run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Samples per temperature in the sweep.
    pub samples: usize,
    /// Points of the tau grid (0.01 .. 10).
    pub taus: usize,
    /// Points per panel of the simplex scatter.
    pub simplex_points: usize,
    /// Cells per side of the density heat map (`n^2` cells).
    pub cells: usize,
    pub seed: u64,
}

impl Config {
    /// The sizes of `cargo run --example temperature_sweep`.
    pub fn full(seed: u64) -> Config {
        Config {
            samples: 400_000,
            taus: 31,
            simplex_points: 1000,
            cells: 48,
            seed,
        }
    }

    /// Small sizes for the tests.
    pub fn small(seed: u64) -> Config {
        Config {
            samples: 20_000,
            taus: 7,
            simplex_points: 200,
            cells: 12,
            seed,
        }
    }
}

/// The sweep's numbers at one temperature.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepRow {
    pub tau: f64,
    /// `E[H(y)]`, `H(y) = -sum_i y_i ln y_i` (nats).
    pub entropy: MeanSe,
    /// `E[max_i y_i]`.
    pub max_y: MeanSe,
    /// `E[TV(y, H)] = E[1 - max_i y_i]` (computed as a total-variation distance).
    pub tv_onehot: MeanSe,
    /// `E[||y - H||_2]`.
    pub l2_onehot: MeanSe,
    /// `E[y]`, per class, with standard errors.
    pub mean_y: Vec<MeanSe>,
    /// `||E[y] - softmax(l)||_1` (of the estimate `mean_y`).
    pub l1_softmax: f64,
    /// `||E[y] - softmax(l / tau)||_1`.
    pub l1_softmax_tau: f64,
    /// `||E[y] - 1/k||_1`.
    pub l1_uniform: f64,
    /// `KL(softmax(l) || E[y])`.
    pub kl_softmax: f64,
    /// The size of `||mean_y - E[y]||_1` from sampling alone, `sqrt(2/pi) sum_i se_i`
    /// (the mean absolute value of a normal error): distances below it are noise.
    pub l1_noise: f64,
    /// `||E[y - H]||_1`: the same quantity as `l1_softmax` (`E[H] = softmax(l)` exactly),
    /// estimated from the paired differences `y - H`, whose spread vanishes as tau -> 0.
    pub l1_paired: f64,
    /// The sampling noise level of `l1_paired`.
    pub l1_paired_noise: f64,
}

/// The density at `d >= 0` of the gap between the two largest of `l_i + g_i`:
///
/// ```text
/// rho(d) = sum_{i != j} int f_i(x + d) f_j(x) prod_{m != i,j} F_m(x) dx
///        = sum_i p_i (1 - p_i) e^{-d} / (1 - p_i (1 - e^{-d}))^2
/// ```
///
/// (`i` on top at `x + d`, `j` second at `x`, the others below `x`; with `t = e^{-x}` the
/// integral is `int t e^{-A t} dt = 1/A^2`, `A = Z - e^{l_i} (1 - e^{-d})`,
/// `Z = sum_m e^{l_m}`; then sum over `j`).
pub fn top_gap_density(p: &[f64], d: f64) -> f64 {
    let e = (-d).exp();
    p.iter()
        .map(|&pi| pi * (1.0 - pi) * e / (1.0 - pi * (1.0 - e)).powi(2))
        .sum()
}

/// `int_0^inf rho(d) sigmoid(-d/tau) dd = tau int_0^inf rho(tau u) sigmoid(-u) du`: the exact
/// `E[1 - max y]` for k = 2 (where `1 - max y = sigmoid(-gap/tau)`), and its two-way-tie
/// part for k > 2 (three-way near ties add O(tau^2); for the k = 10 logits of the sweep
/// they add about +0.9% at tau = 0.01 and +10% at tau = 0.1, measured). Simpson's rule on `u` in `[0, 60]` with 60000
/// intervals (`sigmoid(-60) < 1e-26`; the integrand is smooth: error below `1e-9`
/// relative for tau <= 10).
pub fn tv_two_way(logits: &[f64], tau: f64) -> f64 {
    let p = softmax(logits);
    let f = |u: f64| top_gap_density(&p, tau * u) / (1.0 + u.exp());
    let (n, b) = (60_000, 60.0);
    let h = b / n as f64;
    let mut sum = f(0.0) + f(b);
    for i in 1..n {
        sum += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    tau * sum * h / 3.0
}

/// Small-tau asymptote of `E[1 - max y]`: `ln 2 (1 - sum_i p_i^2) tau`.
pub fn tv_small_tau(logits: &[f64], tau: f64) -> f64 {
    let p = softmax(logits);
    LN_2 * (1.0 - p.iter().map(|q| q * q).sum::<f64>()) * tau
}

/// Large-tau asymptote of `E[max y]`: `1/k + (lse(l) - mean(l)) / (k tau)`.
pub fn max_y_large_tau(logits: &[f64], tau: f64) -> f64 {
    let k = logits.len() as f64;
    let mean = logits.iter().sum::<f64>() / k;
    1.0 / k + (logsumexp(logits) - mean) / (k * tau)
}

/// Large-tau asymptote of `E[H(y)]`: `ln k - (var(l) + (k-1)/k pi^2/6) / (2 tau^2)`, with
/// `var` the population variance over the classes.
pub fn entropy_large_tau(logits: &[f64], tau: f64) -> f64 {
    let k = logits.len() as f64;
    let mean = logits.iter().sum::<f64>() / k;
    let var = logits.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / k;
    k.ln() - (var + (k - 1.0) / k * PI * PI / 6.0) / (2.0 * tau * tau)
}

/// `-sum_i y_i ln y_i`, with `0 ln 0 = 0`.
fn entropy(y: &[f64]) -> f64 {
    -y.iter()
        .filter(|&&v| v > 0.0)
        .map(|&v| v * v.ln())
        .sum::<f64>()
}

/// `||a - b||_1`.
fn l1(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum()
}

/// The sweep: `samples` draws of `y` at each tau of `taus`, with the same Gumbel noise for
/// every tau (common random numbers: the curves are smooth in tau and their differences
/// are not blurred by independent noise; each point on its own is an ordinary Monte
/// Carlo estimate).
pub fn sweep(
    logits: &[f64],
    taus: &[f64],
    samples: usize,
    seed: u64,
) -> gumbel_tensor::Result<Vec<SweepRow>> {
    let k = logits.len();
    let l = Tensor::from_fn([samples, k], |i| logits[i % k]);
    let g = gumbel_noise::<f64>(&[samples, k], &mut GumbelRng::new(seed));
    let p = softmax(logits);
    let uniform = vec![1.0 / k as f64; k];
    let mut rows = Vec::with_capacity(taus.len());
    for &tau in taus {
        let s =
            gumbel_softmax_with_noise(&l, Noise::Gumbel(&g), Temperature::Tau(tau), Output::Soft)?;
        let (mut ent, mut mx, mut tv, mut l2) = (
            Vec::with_capacity(samples),
            Vec::with_capacity(samples),
            Vec::with_capacity(samples),
            Vec::with_capacity(samples),
        );
        let mut cols = vec![Vec::with_capacity(samples); k];
        let mut diffs = vec![Vec::with_capacity(samples); k];
        for (r, &i) in s.index.iter().enumerate() {
            let y = s.y.row(r);
            ent.push(entropy(y));
            mx.push(y.iter().copied().fold(f64::NEG_INFINITY, f64::max));
            // distances to the one-hot H = e_i of the Gumbel-max index
            let (mut abs, mut sq) = (0.0, 0.0);
            for (j, &v) in y.iter().enumerate() {
                let d = v - if j == i { 1.0 } else { 0.0 };
                abs += d.abs();
                sq += d * d;
            }
            tv.push(abs / 2.0);
            l2.push(sq.sqrt());
            for (j, &v) in y.iter().enumerate() {
                cols[j].push(v);
                diffs[j].push(v - if j == i { 1.0 } else { 0.0 });
            }
        }
        let mean_y: Vec<MeanSe> = cols.iter().map(|c| mean_se(c)).collect();
        let mean_diff: Vec<MeanSe> = diffs.iter().map(|c| mean_se(c)).collect();
        let m: Vec<f64> = mean_y.iter().map(|x| x.mean).collect();
        let p_tau = softmax(&logits.iter().map(|x| x / tau).collect::<Vec<_>>());
        rows.push(SweepRow {
            tau,
            entropy: mean_se(&ent),
            max_y: mean_se(&mx),
            tv_onehot: mean_se(&tv),
            l2_onehot: mean_se(&l2),
            l1_softmax: l1(&m, &p),
            l1_softmax_tau: l1(&m, &p_tau),
            l1_uniform: l1(&m, &uniform),
            kl_softmax: p.iter().zip(&m).map(|(a, b)| a * (a / b).ln()).sum(),
            l1_noise: (2.0 / PI).sqrt() * mean_y.iter().map(|x| x.se).sum::<f64>(),
            l1_paired: mean_diff.iter().map(|x| x.mean.abs()).sum(),
            l1_paired_noise: (2.0 / PI).sqrt() * mean_diff.iter().map(|x| x.se).sum::<f64>(),
            mean_y,
        });
    }
    Ok(rows)
}

/// `n` relaxed samples of the k = 3 logits at each temperature, from the same noise.
pub fn simplex_samples(
    logits: [f64; 3],
    taus: &[f64],
    n: usize,
    seed: u64,
) -> gumbel_tensor::Result<Vec<Vec<[f64; 3]>>> {
    let l = Tensor::from_fn([n, 3], |i| logits[i % 3]);
    taus.iter()
        .map(|&tau| {
            // the same seed and counter for every tau: the same noise
            let mut rng = GumbelRng::new(seed);
            let s = gumbel_softmax(&l, Temperature::Tau(tau), &mut rng, Output::Soft)?;
            Ok((0..n)
                .map(|r| <[f64; 3]>::try_from(s.y.row(r)).unwrap())
                .collect())
        })
        .collect()
}

/// `ln p(y)` at points `ys` of the open simplex, where `p` is the density of the
/// Gumbel-Softmax sample `y` with respect to Lebesgue measure `dy_2 dy_3` (any two of the
/// three coordinates: the map between such pairs has Jacobian 1).
///
/// The library's `exp_concrete_log_density` is the density of the log-ratios
/// `d_i = ln y_i - ln y_k` (`i < k`). The map `(y_1 .. y_{k-1}) -> d` has Jacobian matrix
/// `diag(1/y_i) + 1/y_k` (every entry gets `1/y_k`, since `y_k = 1 - sum y_i`), whose
/// determinant is `(prod_{i<k} 1/y_i)(1 + sum_{i<k} y_i / y_k) = 1 / prod_{i<=k} y_i`. So
///
/// ```text
/// ln p_Y(y) = ln p_D(ln y) - sum_i ln y_i,
/// ```
///
/// which is Maddison et al.'s Concrete density
/// `(k-1)! tau^{k-1} prod_i (alpha_i y_i^{-tau-1}) / (sum_i alpha_i y_i^{-tau})^k`.
pub fn simplex_log_density(
    logits: [f64; 3],
    tau: f64,
    ys: &[[f64; 3]],
) -> gumbel_tensor::Result<Vec<f64>> {
    let l = Tensor::from_fn([ys.len(), 3], |i| logits[i % 3]);
    let v = Tensor::from_fn([ys.len(), 3], |i| ys[i / 3][i % 3].ln());
    let log_pd = exp_concrete_log_density(&l, &v, tau)?;
    Ok(log_pd
        .as_slice()
        .iter()
        .zip(ys)
        .map(|(lp, y)| lp - y.iter().map(|x| x.ln()).sum::<f64>())
        .collect())
}

/// The probability of each cell of `plot::simplex_cells(n)` under the density at `tau`, by
/// the midpoint rule on `m^2` sub-cells per cell (each of area `1/(2 n^2 m^2)`). Accurate
/// where the density is smooth; the corner cells hold integrable singularities for
/// tau < 2 (the density grows like `eps^{tau-2}` towards a vertex) and are not.
pub fn cell_probabilities(
    logits: [f64; 3],
    tau: f64,
    n: usize,
    m: usize,
) -> gumbel_tensor::Result<Vec<(Cell, f64)>> {
    let sub: Vec<[f64; 3]> = plot::simplex_cells(m)
        .iter()
        .map(|c| c.centroid())
        .collect();
    let area = 1.0 / (2.0 * (n * n * m * m) as f64);
    plot::simplex_cells(n)
        .into_iter()
        .map(|cell| {
            let pts: Vec<[f64; 3]> = sub.iter().map(|&w| cell.at(w)).collect();
            let lp = simplex_log_density(logits, tau, &pts)?;
            Ok((cell, lp.iter().map(|x| x.exp()).sum::<f64>() * area))
        })
        .collect()
}

/// Everything the example computes.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub sweep: Vec<SweepRow>,
    pub simplex: Vec<Vec<[f64; 3]>>,
    /// Per simplex tau: the heat map's cells and `ln p(y)` at their centroids.
    pub density: Vec<Vec<(Cell, f64)>>,
}

/// Runs the sweep, the simplex samples and the density grid.
pub fn run(cfg: &Config) -> gumbel_tensor::Result<Report> {
    let taus = log_grid(0.01, 10.0, cfg.taus);
    let sweep = sweep(&LOGITS, &taus, cfg.samples, cfg.seed)?;
    let simplex = simplex_samples(logits3(), &SIMPLEX_TAUS, cfg.simplex_points, cfg.seed + 1)?;
    let cells = plot::simplex_cells(cfg.cells);
    let centroids: Vec<[f64; 3]> = cells.iter().map(|c| c.centroid()).collect();
    let density = SIMPLEX_TAUS
        .iter()
        .map(|&tau| {
            let lp = simplex_log_density(logits3(), tau, &centroids)?;
            Ok(cells.iter().copied().zip(lp).collect())
        })
        .collect::<gumbel_tensor::Result<_>>()?;
    Ok(Report {
        sweep,
        simplex,
        density,
    })
}

/// Writes `sweep.csv`, `mean_y.csv`, `simplex_samples.csv`, `density.csv` and the SVGs
/// `sweep.svg`, `simplex_samples.svg`, `simplex_density.svg` to `dir`.
pub fn write_outputs(r: &Report, dir: &Path) -> Result<(), Box<dyn Error>> {
    let k = LOGITS.len();
    let mut csv = Csv::create(
        &dir.join("sweep.csv"),
        &[
            "tau",
            "entropy",
            "entropy_se",
            "max_y",
            "max_y_se",
            "tv_onehot",
            "tv_onehot_se",
            "l2_onehot",
            "l2_onehot_se",
            "l1_softmax",
            "l1_softmax_tau",
            "l1_uniform",
            "kl_softmax",
            "l1_noise",
            "l1_paired",
            "l1_paired_noise",
            "tv_small_tau_asymptote",
            "max_y_large_tau_asymptote",
            "entropy_large_tau_asymptote",
        ],
    )?;
    for s in &r.sweep {
        csv.row(&[
            &s.tau,
            &s.entropy.mean,
            &s.entropy.se,
            &s.max_y.mean,
            &s.max_y.se,
            &s.tv_onehot.mean,
            &s.tv_onehot.se,
            &s.l2_onehot.mean,
            &s.l2_onehot.se,
            &s.l1_softmax,
            &s.l1_softmax_tau,
            &s.l1_uniform,
            &s.kl_softmax,
            &s.l1_noise,
            &s.l1_paired,
            &s.l1_paired_noise,
            &tv_small_tau(&LOGITS, s.tau),
            &max_y_large_tau(&LOGITS, s.tau),
            &entropy_large_tau(&LOGITS, s.tau),
        ])?;
    }
    csv.finish()?;
    let p = softmax(&LOGITS);
    let mut csv = Csv::create(
        &dir.join("mean_y.csv"),
        &["tau", "class", "logit", "softmax", "mean_y", "mean_y_se"],
    )?;
    for s in &r.sweep {
        for (i, m) in s.mean_y.iter().enumerate() {
            csv.row(&[&s.tau, &i, &LOGITS[i], &p[i], &m.mean, &m.se])?;
        }
    }
    csv.finish()?;
    let mut csv = Csv::create(&dir.join("simplex_samples.csv"), &["tau", "y1", "y2", "y3"])?;
    for (tau, pts) in SIMPLEX_TAUS.iter().zip(&r.simplex) {
        for y in pts {
            csv.row(&[tau, &y[0], &y[1], &y[2]])?;
        }
    }
    csv.finish()?;
    let mut csv = Csv::create(
        &dir.join("density.csv"),
        &["tau", "y1", "y2", "y3", "log_density"],
    )?;
    for (tau, cells) in SIMPLEX_TAUS.iter().zip(&r.density) {
        for (cell, lp) in cells {
            let c = cell.centroid();
            csv.row(&[tau, &c[0], &c[1], &c[2], lp])?;
        }
    }
    csv.finish()?;

    plot::write_svg(&dir.join("sweep.svg"), (1200, 900), |root| {
        sweep_panels(root, &r.sweep, k)
    })?;
    let labels = ["1", "2", "3"];
    plot::write_svg(&dir.join("simplex_samples.svg"), (1200, 330), |root| {
        for ((area, tau), pts) in root
            .split_evenly((1, SIMPLEX_TAUS.len()))
            .iter()
            .zip(SIMPLEX_TAUS)
            .zip(&r.simplex)
        {
            plot::simplex_scatter(area, &format!("tau = {tau}"), labels, pts, 0)?;
        }
        Ok(())
    })?;
    plot::write_svg(&dir.join("simplex_density.svg"), (1200, 380), |root| {
        for ((area, tau), cells) in root
            .split_evenly((1, SIMPLEX_TAUS.len()))
            .iter()
            .zip(SIMPLEX_TAUS)
            .zip(&r.density)
        {
            let (cs, lp): (Vec<Cell>, Vec<f64>) = cells.iter().copied().unzip();
            // colour range: the 1% and 99% quantiles of the cells (the density is
            // unbounded towards the vertices for tau < 2 and the edges for tau < 1/2)
            let mut sorted = lp.clone();
            sorted.sort_by(f64::total_cmp);
            let q = |f: f64| sorted[((sorted.len() - 1) as f64 * f) as usize];
            plot::simplex_heatmap(
                area,
                &format!("tau = {tau}"),
                labels,
                &cs,
                &lp,
                q(0.01)..q(0.99),
                "ln p(y), density of (y2, y3)",
            )?;
        }
        Ok(())
    })?;
    Ok(())
}

/// The four panels of `sweep.svg`.
fn sweep_panels(root: &plot::Area, rows: &[SweepRow], k: usize) -> plot::PlotResult {
    let panels = root.split_evenly((2, 2));
    let at = |f: &dyn Fn(&SweepRow) -> f64| rows.iter().map(|s| (s.tau, f(s))).collect::<Vec<_>>();
    let se = |f: &dyn Fn(&SweepRow) -> f64| rows.iter().map(|s| 2.0 * f(s)).collect::<Vec<_>>();
    // A large-tau expansion drawn where it applies (tau >= 1), dashed.
    let asymptote = |f: &dyn Fn(&[f64], f64) -> f64| {
        let pts = rows.iter().filter(|s| s.tau >= 1.0);
        Series::new(
            "large-tau asymptote",
            pts.map(|s| (s.tau, f(&LOGITS, s.tau))).collect(),
            3,
        )
        .dashed()
    };
    let lnk = (k as f64).ln();
    plot::line_chart(
        &panels[0],
        &Chart::new("mean entropy of y", "tau", "E[H(y)] (nats)")
            .log_x()
            .legend(SeriesLabelPosition::LowerRight),
        &[
            Series::new("E[H(y)] (2 se)", at(&|s| s.entropy.mean), 0)
                .with_err(se(&|s| s.entropy.se)),
            Series::new("ln k", at(&|_| lnk), 7).dashed(),
            asymptote(&entropy_large_tau),
        ],
    )?;
    plot::line_chart(
        &panels[1],
        &Chart::new("mean max(y)", "tau", "E[max_i y_i]")
            .log_x()
            .legend(SeriesLabelPosition::UpperRight),
        &[
            Series::new("E[max y] (2 se)", at(&|s| s.max_y.mean), 0).with_err(se(&|s| s.max_y.se)),
            Series::new("1/k", at(&|_| 1.0 / k as f64), 7).dashed(),
            asymptote(&max_y_large_tau),
        ],
    )?;
    plot::line_chart(
        &panels[2],
        &Chart::new(
            "distance to the Gumbel-max one-hot H",
            "tau",
            "mean distance",
        )
        .log_x()
        .log_y()
        .legend(SeriesLabelPosition::LowerRight),
        &[
            Series::new("E[TV(y, H)] = E[1 - max y]", at(&|s| s.tv_onehot.mean), 0)
                .with_err(se(&|s| s.tv_onehot.se)),
            Series::new("E[||y - H||_2]", at(&|s| s.l2_onehot.mean), 1)
                .with_err(se(&|s| s.l2_onehot.se)),
            Series::new(
                "ln2 (1 - sum p^2) tau",
                at(&|s| tv_small_tau(&LOGITS, s.tau))
                    .into_iter()
                    .filter(|p| p.0 <= 0.3)
                    .collect(),
                3,
            )
            .dashed(),
        ],
    )?;
    plot::line_chart(
        &panels[3],
        &Chart::new("E[y] against softmax(l)", "tau", "L1 distance")
            .log_x()
            .log_y()
            .legend(SeriesLabelPosition::LowerRight),
        &[
            Series::new("||E[y] - softmax(l)||_1", at(&|s| s.l1_softmax), 0),
            Series::new("same, from paired y - H", at(&|s| s.l1_paired), 4),
            Series::new("||E[y] - softmax(l/tau)||_1", at(&|s| s.l1_softmax_tau), 1),
            Series::new("||E[y] - uniform||_1", at(&|s| s.l1_uniform), 2),
            Series::new("noise level", at(&|s| s.l1_noise), 0).dashed(),
            Series::new("noise level (paired)", at(&|s| s.l1_paired_noise), 4).dashed(),
        ],
    )?;
    Ok(())
}

/// Temperature sweep of the Gumbel-Softmax relaxation, simplex pictures and density.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    out: OutArgs,
    /// Samples per temperature in the sweep
    #[arg(long)]
    samples: Option<usize>,
    /// Points per panel of the simplex scatter
    #[arg(long)]
    simplex_points: Option<usize>,
    /// Cells per side of the density heat map
    #[arg(long)]
    cells: Option<usize>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let dir = args.out.dir("temperature_sweep")?;
    let mut cfg = Config::full(args.seed);
    cfg.samples = args.samples.unwrap_or(cfg.samples);
    cfg.simplex_points = args.simplex_points.unwrap_or(cfg.simplex_points);
    cfg.cells = args.cells.unwrap_or(cfg.cells);
    let t0 = std::time::Instant::now();
    let r = run(&cfg)?;
    println!(
        "Gumbel-Softmax temperature sweep: k = {}, {} samples per tau (same noise for every tau)",
        LOGITS.len(),
        cfg.samples
    );
    println!(
        "{:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8} {:>9} {:>8} {:>9}",
        "tau",
        "E[H(y)]",
        "E[maxy]",
        "E[1-maxy]",
        "asympt.",
        "|Ey-p|_1",
        "noise",
        "paired",
        "noise",
        "KL(p|Ey)"
    );
    for s in &r.sweep {
        println!(
            "{:>8.4} {:>8.4} {:>8.4} {:>9.3e} {:>9.3e} {:>9.2e} {:>8.1e} {:>9.2e} {:>8.1e} {:>9.2e}",
            s.tau,
            s.entropy.mean,
            s.max_y.mean,
            s.tv_onehot.mean,
            tv_small_tau(&LOGITS, s.tau),
            s.l1_softmax,
            s.l1_noise,
            s.l1_paired,
            s.l1_paired_noise,
            s.kl_softmax
        );
    }
    write_outputs(&r, &dir)?;
    println!(
        "wrote {} ({:.1} s)",
        dir.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
