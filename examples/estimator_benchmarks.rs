//! Two optimisation benchmarks from the literature, run with the library's estimators
//! (`gumbel_autograd::estimators`), every curve the *exact* expected loss of the current
//! parameters (both objectives have a closed form):
//!
//! 1. **Polynomial programming** (Liu et al., NeurIPS 2023, "Bridging Discrete and
//!    Backpropagation: Straight-Through and Beyond", the ReinMax paper; their code:
//!    github.com/LiyuanLucasLiu/ReinMax, `poly/poly_programming.py`). `theta` in R^{128 x 2}:
//!    128 independent binary latents, row `i` the logits of a 2-class categorical, `z_i` the
//!    first coordinate of its one-hot (`P(z_i = 1) = q_i = softmax(theta_i)_0`), and
//!
//!    ```text
//!    F(z) = (1/128) sum_i |z_i - 0.45|^p,          p in {1.5, 2, 3}
//!    L(theta) = E F = (1/128) sum_i [q_i 0.55^p + (1 - q_i) 0.45^p]   (exact)
//!    ```
//!
//!    minimised at `q = 0` (`L = 0.45^p`); it starts at `theta ~ U(-0.01, 0.01)`, `q ~ 1/2`.
//!    Estimators: `straight_through`, `st_gumbel_softmax`, `gumbel_softmax` (the loss on the
//!    relaxed value), `reinmax`, `gapped_st`, `gumbel_rao:10`, `reinforce_loo:2` and REBAR
//!    (`eta = 1` and `lambda = tau` at the start, both trained on the variance).
//!    As the authors: Adam (PyTorch defaults), every estimator at temperature 1, a batch of
//!    independent samples per step whose mean loss is differentiated, 10 seeds. Deviations,
//!    to fit a 2-core minute: by default 500 steps of batch 8 at learning rate 0.016 instead
//!    of 8,000 steps (40 epochs of 200) of batch 64 at 1e-3 (the same distance budget
//!    `steps * lr = 8` for Adam, whose step is at most about `lr` per coordinate); the
//!    curves are the exact loss (the authors print the training loss of the samples). The
//!    score-function estimators see the objective as a black box, as the authors' REINFORCE
//!    does: every latent's score term is weighted by the joint `F` of its sample, not by its
//!    own term (which would exploit a separability no real model has). REBAR's control
//!    variate `eta F(softmax(z / lambda))` is likewise one value per sample of 128 latents
//!    (the library's groups of rows). The pathwise estimators differentiate `F` itself.
//! 2. **RELAX's Bernoulli toy** (Grathwohl et al., ICLR 2018, figure 1; the authors'
//!    `pytorch_toy.py`, github.com/duvenaud/relax): one logit `phi`, `b ~ Bernoulli(sigmoid
//!    phi)`, `f(b) = (b - t)^2` with `t = 0.45` and `0.499`, exact loss
//!    `sigma(phi) (1 - t)^2 + (1 - sigma(phi)) t^2`, minimised as `phi -> -inf` (`t^2`). As
//!    the authors: `phi = 0`, Adam at learning rate 0.01 for `phi` and the control variate's
//!    parameters, batch 1, REBAR's `eta = 1` and `lambda = e^0.5` at the start (both trained),
//!    RELAX's surrogate a 10-unit tanh network on `2 sigma(z / lambda) - 1` (PyTorch's
//!    `nn.Linear` initialisation) with `lambda` trained, both on the variance objective
//!    `g^2` backpropagated in the same pass. REINFORCE is the library's `reinforce`, and
//!    ST-Gumbel-Softmax at `tau = 0.5` is there for contrast (biased: it need not descend);
//!    both run on the 2-class categorical with logits `(phi, 0)`, class 0 being `b = 1`.
//!    Every `var_every` steps the variance of the gradient estimate at the current `phi`
//!    (and control variate) is measured on `var_draws` fresh draws.
//!
//! Every run draws from its own `GumbelRng` seeded from (seed, problem, run): runs execute in
//! parallel and the results are the same for any number of rayon threads. Within a problem,
//! run `s` of every estimator starts from the same `theta` (common random numbers).
//!
//! ```sh
//! cargo run --release --example estimator_benchmarks [-- --out DIR --seed S --poly-steps N
//!     --poly-batch B --poly-lr LR --poly-seeds R --poly-estimators A,B --tau T
//!     --toy-steps N --toy-seeds R]
//! ```

#[path = "common/mod.rs"]
pub mod common;

use std::error::Error;
use std::path::Path;

use clap::Parser;
use common::out::{Csv, OutArgs};
use common::plot::{self, PlotResult};
use gumbel_autograd::estimators::{self, Family, control_variate_draw, rebar};
use gumbel_autograd::optim::{Adam, Optimizer};
use gumbel_autograd::{ParamId, ParamStore, Tape, Var, init};
use gumbel_tensor::Tensor;
use gumbel_tensor::ops::gumbel::{GumbelRng, Temperature};
use plotters::chart::SeriesLabelPosition;
use plotters::prelude::*;
use rayon::prelude::*;

type Res<T> = gumbel_tensor::Result<T>;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The seed of run `run` of problem `problem` (SplitMix64's increment spreads them).
fn run_seed(seed: u64, problem: u64, run: u64) -> u64 {
    seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(problem.wrapping_mul(1_000_003))
        .wrapping_add(run.wrapping_mul(7919))
}

/// Mean, sample standard deviation, minimum and maximum of `xs`.
fn summary(xs: &[f64]) -> (f64, f64, f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mean, var.sqrt(), lo, hi)
}

/// A learning curve over runs: `steps[j]`, and per run the value at each step.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    pub estimator: String,
    pub steps: Vec<usize>,
    /// `runs[r][j]`: run `r` at `steps[j]`.
    pub runs: Vec<Vec<f64>>,
}

impl Curve {
    /// `(mean, sd, min, max)` over runs at point `j`.
    pub fn at(&self, j: usize) -> (f64, f64, f64, f64) {
        let xs: Vec<f64> = self.runs.iter().map(|r| r[j]).collect();
        summary(&xs)
    }

    /// `(mean, sd, min, max)` over runs at the last point.
    pub fn last(&self) -> (f64, f64, f64, f64) {
        self.at(self.steps.len() - 1)
    }
}

// ---------------------------------------------------------------------------------------
// 1. Polynomial programming
// ---------------------------------------------------------------------------------------

/// Latent variables of the polynomial problem.
pub const LATENTS: usize = 128;
/// Its target.
pub const POLY_T: f64 = 0.45;

/// The estimators of the polynomial benchmark: library names, and `rebar`.
pub const POLY_ESTIMATORS: [&str; 8] = [
    "straight_through",
    "st_gumbel_softmax",
    "gumbel_softmax",
    "reinmax",
    "gapped_st",
    "gumbel_rao:10",
    "reinforce_loo:2",
    "rebar",
];

/// The exact loss `(1/128) sum_i [q_i 0.55^p + (1 - q_i) 0.45^p]`, `q_i = sigmoid(theta_i0 -
/// theta_i1)`, of `theta` (`[latents, 2]`, row-major).
pub fn poly_exact_loss(theta: &[f64], p: f64) -> f64 {
    let (one, zero) = ((1.0 - POLY_T).powf(p), POLY_T.powf(p));
    let n = theta.len() / 2;
    theta
        .chunks(2)
        .map(|l| {
            let q = sigmoid(l[0] - l[1]);
            q * one + (1.0 - q) * zero
        })
        .sum::<f64>()
        / n as f64
}

/// Sizes of the polynomial benchmark.
#[derive(Debug, Clone)]
pub struct PolyConfig {
    pub ps: Vec<f64>,
    pub estimators: Vec<String>,
    pub steps: usize,
    /// Independent samples per step (their mean loss is differentiated).
    pub batch: usize,
    pub lr: f64,
    /// The estimators' temperature (REBAR's starting `lambda`).
    pub tau: f64,
    pub seeds: usize,
    /// Record the exact loss every this many steps.
    pub every: usize,
}

impl PolyConfig {
    /// The default run's sizes.
    pub fn full() -> PolyConfig {
        PolyConfig {
            ps: vec![1.5, 2.0, 3.0],
            estimators: POLY_ESTIMATORS.iter().map(|s| s.to_string()).collect(),
            steps: 500,
            batch: 8,
            lr: 0.016,
            tau: 1.0,
            seeds: 10,
            every: 10,
        }
    }
}

/// `|y_0 - t|^p / scale` per row of `y` (`[n, 2]`, one-hot or relaxed): `[n]`. `|x|^p` is
/// written `exp((p/2) ln(x^2))` (the engine has no `abs`); `x = 0` exactly would give a NaN
/// gradient, which a sample at `0.45` exactly never hits.
pub fn poly_terms<'t>(y: &Var<'t, f64>, p: f64, scale: f64) -> Res<Var<'t, f64>> {
    let n = y.shape()?[0];
    let x = y.slice(1, 0, 1)?.add_scalar(-POLY_T)?;
    x.mul(&x)?
        .ln()?
        .scale(p / 2.0)?
        .exp()?
        .reshape([n])?
        .scale(1.0 / scale)
}

/// `sum_i |y_{j n + i, 0} - t|^p / scale` per copy `j` of the `n = 128` latents: `[copies]`.
fn poly_joint<'t>(y: &Var<'t, f64>, p: f64, scale: f64, copies: usize) -> Res<Var<'t, f64>> {
    poly_terms(y, p, scale)?
        .reshape([copies, LATENTS])?
        .sum_axis(1)
}

/// One run: Adam on `theta` with estimator `name`; the exact loss every `cfg.every` steps.
pub fn poly_run(name: &str, p: f64, cfg: &PolyConfig, seed: u64) -> Res<Vec<f64>> {
    let (b, n) = (cfg.batch, LATENTS);
    let mut store = ParamStore::<f64>::new();
    let mut init_rng = init::seeded(seed);
    let theta = store.add("theta", init::uniform(&[n, 2], 0.01, &mut init_rng))?;
    let rebar_params = if name == "rebar" {
        let eta = store.add("eta", Tensor::full([1], 1.0))?;
        let log_lambda = store.add("log_lambda", Tensor::full([1], cfg.tau.ln()))?;
        Some((eta, log_lambda))
    } else {
        None
    };
    let mut est: Option<estimators::Estimator> = match rebar_params {
        Some(_) => None,
        None => Some(name.parse()?),
    };
    let mut adam = Adam::new(cfg.lr);
    let mut rng = GumbelRng::new(seed ^ 0x706f_6c79);
    let mut out = vec![poly_exact_loss(store.value(theta)?.as_slice(), p)];
    // per-sample terms are |z - t|^p / (128 b): the loss is the batch mean of F
    let scale = (n * b) as f64;
    for step in 1..=cfg.steps {
        let tape = Tape::<f64>::new();
        let th = store.var(&tape, theta)?;
        let logits = th.broadcast_axis(0, b)?.reshape([b * n, 2])?;
        let root = match (&mut est, rebar_params) {
            (Some(est), _) => {
                let draw = est.draw(&logits, Temperature::Tau(cfg.tau), &mut rng)?;
                let terms = poly_terms(&draw.value, p, scale)?;
                let f = match est {
                    // the black-box objective: each sample row carries its whole sample's F
                    estimators::Estimator::ScoreFunction(_) => {
                        let k = draw.samples;
                        let t = terms.value()?;
                        let t = t.as_slice();
                        // row (j * n + i) * k + s: latent i of copy j, sample s
                        let mut joint = vec![0.0; b * k];
                        for (r, v) in t.iter().enumerate() {
                            joint[(r / (n * k)) * k + r % k] += v;
                        }
                        let f: Vec<f64> = (0..t.len())
                            .map(|r| joint[(r / (n * k)) * k + r % k])
                            .collect();
                        tape.constant(Tensor::new([t.len()], f)?)
                    }
                    _ => terms,
                };
                est.loss(&draw, &f)?
            }
            (None, Some((eta, log_lambda))) => {
                let draw = control_variate_draw(&logits, Family::Categorical, &mut rng)?;
                // one value per copy (group of n rows): F / b
                let f = poly_joint(&draw.value, p, scale, b)?;
                let eta = store.var(&tape, eta)?;
                let lambda = store.var(&tape, log_lambda)?.exp()?;
                let e = rebar(&draw, &f, |y| poly_joint(y, p, scale, b), &eta, &lambda)?;
                e.loss.add(&e.variance)?
            }
            (None, None) => unreachable!("an estimator or REBAR's parameters"),
        };
        let mut grads = tape.backward(root)?;
        store.accumulate(&mut grads)?;
        adam.step(&mut store)?;
        store.zero_grad();
        if step % cfg.every == 0 {
            out.push(poly_exact_loss(store.value(theta)?.as_slice(), p));
        }
    }
    Ok(out)
}

/// The curves of one `p`: one per estimator, `cfg.seeds` runs each.
#[derive(Debug, Clone, PartialEq)]
pub struct PolyReport {
    pub p: f64,
    pub optimum: f64,
    pub curves: Vec<Curve>,
}

/// Runs every `(p, estimator, seed)` of `cfg` in parallel.
pub fn poly(cfg: &PolyConfig, seed: u64) -> Res<Vec<PolyReport>> {
    let jobs: Vec<(usize, usize, usize)> = (0..cfg.ps.len())
        .flat_map(|i| {
            (0..cfg.estimators.len()).flat_map(move |e| (0..cfg.seeds).map(move |s| (i, e, s)))
        })
        .collect();
    let runs: Vec<Vec<f64>> = jobs
        .par_iter()
        .with_max_len(1)
        .map(|&(i, e, s)| {
            // the same theta at the start for every estimator: the seed skips e
            poly_run(
                &cfg.estimators[e],
                cfg.ps[i],
                cfg,
                run_seed(seed, 1 + i as u64, s as u64),
            )
        })
        .collect::<Res<_>>()?;
    let points = 1 + cfg.steps / cfg.every;
    let steps: Vec<usize> = (0..points).map(|j| j * cfg.every).collect();
    let mut it = runs.into_iter();
    Ok(cfg
        .ps
        .iter()
        .map(|&p| PolyReport {
            p,
            optimum: POLY_T.powf(p),
            curves: cfg
                .estimators
                .iter()
                .map(|e| Curve {
                    estimator: e.clone(),
                    steps: steps.clone(),
                    runs: it.by_ref().take(cfg.seeds).collect(),
                })
                .collect(),
        })
        .collect())
}

// ---------------------------------------------------------------------------------------
// 2. RELAX's Bernoulli toy
// ---------------------------------------------------------------------------------------

/// The estimators of the toy.
pub const TOY_ESTIMATORS: [&str; 4] = ["reinforce", "rebar", "relax", "st_gumbel_softmax"];

/// The exact loss `sigma(phi) (1 - t)^2 + (1 - sigma(phi)) t^2`.
pub fn toy_exact_loss(phi: f64, t: f64) -> f64 {
    let q = sigmoid(phi);
    q * (1.0 - t).powi(2) + (1.0 - q) * t * t
}

/// Sizes of the toy benchmark.
#[derive(Debug, Clone)]
pub struct ToyConfig {
    pub ts: Vec<f64>,
    pub estimators: Vec<String>,
    pub steps: usize,
    pub seeds: usize,
    pub lr: f64,
    /// ST-Gumbel-Softmax's temperature.
    pub st_tau: f64,
    /// Record the exact loss every this many steps.
    pub every: usize,
    /// Measure the estimator's variance every this many steps ...
    pub var_every: usize,
    /// ... on this many fresh draws.
    pub var_draws: usize,
}

impl ToyConfig {
    /// The default run's sizes.
    pub fn full() -> ToyConfig {
        ToyConfig {
            ts: vec![0.45, 0.499],
            estimators: TOY_ESTIMATORS.iter().map(|s| s.to_string()).collect(),
            steps: 5000,
            seeds: 10,
            lr: 0.01,
            st_tau: 0.5,
            every: 10,
            var_every: 100,
            var_draws: 1000,
        }
    }
}

/// The toy's parameters: the logit, REBAR's `eta` and `lambda`, RELAX's network.
struct ToyParams {
    store: ParamStore<f64>,
    phi: ParamId,
    eta: ParamId,
    log_lambda: ParamId,
    w1: ParamId,
    b1: ParamId,
    w2: ParamId,
    b2: ParamId,
}

impl ToyParams {
    /// `phi = 0`, `eta = 1`, `ln lambda = 0.5` (the authors' start), the network as
    /// PyTorch's `nn.Linear(1, 10)`, `nn.Linear(10, 1)`: `U(+-1/sqrt(fan_in))`.
    fn new(seed: u64) -> Res<ToyParams> {
        let mut store = ParamStore::new();
        let mut r = init::seeded(seed);
        Ok(ToyParams {
            phi: store.add("phi", Tensor::zeros([1]))?,
            eta: store.add("eta", Tensor::full([1], 1.0))?,
            log_lambda: store.add("log_lambda", Tensor::full([1], 0.5))?,
            w1: store.add("w1", init::uniform(&[10, 1], 1.0, &mut r))?,
            b1: store.add("b1", init::uniform(&[10], 1.0, &mut r))?,
            w2: store.add("w2", init::uniform(&[1, 10], 0.1f64.sqrt(), &mut r))?,
            b2: store.add("b2", init::uniform(&[1], 0.1f64.sqrt(), &mut r))?,
            store,
        })
    }

    fn phi(&self) -> Res<f64> {
        self.store.value(self.phi)?.item()
    }
}

/// `(b - t)^2` per row of `[n, 1]` (Bernoulli `b`) or of the first column of `[n, 2]`.
fn toy_f<'t>(y: &Var<'t, f64>, t: f64) -> Res<Var<'t, f64>> {
    let n = y.shape()?[0];
    let d = y.slice(1, 0, 1)?.add_scalar(-t)?;
    d.mul(&d)?.reshape([n])
}

/// One step's estimate for `n` rows at the current `phi` (`phi_rows`, `[n]`): the scalar to
/// backpropagate (model loss plus, for REBAR and RELAX, the variance objective) and the
/// logits `Var` whose gradient column 0 holds each row's estimate (library estimators), or
/// the estimate itself (REBAR, RELAX).
fn toy_estimate<'t>(
    p: &ToyParams,
    name: &str,
    t: f64,
    st_tau: f64,
    n: usize,
    phi_rows: Var<'t, f64>,
    rng: &mut GumbelRng,
) -> Res<(Var<'t, f64>, Option<Var<'t, f64>>)> {
    let tape = phi_rows.tape();
    let var = |id| p.store.var(tape, id);
    match name {
        "rebar" | "relax" => {
            let logits = phi_rows.reshape([n, 1])?;
            let draw = control_variate_draw(&logits, Family::Bernoulli, rng)?;
            let f = toy_f(&draw.value, t)?;
            let lambda = var(p.log_lambda)?.exp()?;
            let e = if name == "rebar" {
                rebar(&draw, &f, |y| toy_f(y, t), &var(p.eta)?, &lambda)?
            } else {
                let (w1, b1, w2, b2) = (var(p.w1)?, var(p.b1)?, var(p.w2)?, var(p.b2)?);
                let q = |z: &Var<'t, f64>| -> Res<Var<'t, f64>> {
                    draw.relaxed(z, &lambda)?
                        .scale(2.0)?
                        .add_scalar(-1.0)?
                        .linear(&w1, Some(&b1))?
                        .tanh()?
                        .linear(&w2, Some(&b2))?
                        .reshape([n])
                };
                draw.estimate(&f, &q(&draw.z)?, &q(&draw.z_tilde)?)?
            };
            Ok((e.loss.add(&e.variance)?, Some(e.gradient)))
        }
        _ => {
            // a 2-class categorical with logits (phi, 0): class 0 is b = 1
            let mut est: estimators::Estimator = name.parse()?;
            let e0 = tape.constant(Tensor::new([2, 1], vec![1.0, 0.0])?);
            let logits = phi_rows.reshape([n, 1])?.linear(&e0, None)?;
            let draw = est.draw(&logits, Temperature::Tau(st_tau), rng)?;
            let f = toy_f(&draw.value, t)?;
            Ok((est.loss(&draw, &f)?, None))
        }
    }
}

/// The variance of `n` single-draw estimates of `dL/dphi` at the current parameters.
fn toy_variance(
    p: &ToyParams,
    name: &str,
    t: f64,
    st_tau: f64,
    n: usize,
    rng: &mut GumbelRng,
) -> Res<f64> {
    let tape = Tape::<f64>::new();
    let phi = p.phi()?;
    let rows = tape.leaf(Tensor::full([n], phi));
    let (root, gradient) = toy_estimate(p, name, t, st_tau, n, rows, rng)?;
    let g: Vec<f64> = match gradient {
        Some(g) => g.value()?.as_slice().to_vec(),
        None => {
            let grads = tape.backward(root)?;
            let g = grads.get(rows).expect("the rows reach the loss");
            g.as_slice().to_vec()
        }
    };
    Ok(summary(&g).1.powi(2))
}

/// One toy run: `(exact loss every cfg.every steps, variance every cfg.var_every steps)`.
pub fn toy_run(name: &str, t: f64, cfg: &ToyConfig, seed: u64) -> Res<(Vec<f64>, Vec<f64>)> {
    let mut p = ToyParams::new(seed)?;
    let mut adam = Adam::new(cfg.lr);
    let mut rng = GumbelRng::new(seed ^ 0x0074_6f79);
    let mut vrng = GumbelRng::new(seed ^ 0x7661_7269_616e_6365);
    let mut losses = vec![toy_exact_loss(p.phi()?, t)];
    let mut vars = vec![toy_variance(
        &p,
        name,
        t,
        cfg.st_tau,
        cfg.var_draws,
        &mut vrng,
    )?];
    for step in 1..=cfg.steps {
        let tape = Tape::<f64>::new();
        let phi = p.store.var(&tape, p.phi)?;
        let (root, _) = toy_estimate(&p, name, t, cfg.st_tau, 1, phi, &mut rng)?;
        let mut grads = tape.backward(root)?;
        p.store.accumulate(&mut grads)?;
        adam.step(&mut p.store)?;
        p.store.zero_grad();
        if step % cfg.every == 0 {
            losses.push(toy_exact_loss(p.phi()?, t));
        }
        if step % cfg.var_every == 0 {
            vars.push(toy_variance(
                &p,
                name,
                t,
                cfg.st_tau,
                cfg.var_draws,
                &mut vrng,
            )?);
        }
    }
    Ok((losses, vars))
}

/// The curves of one target `t`: per estimator, the exact loss and the gradient variance.
#[derive(Debug, Clone, PartialEq)]
pub struct ToyReport {
    pub t: f64,
    pub optimum: f64,
    pub losses: Vec<Curve>,
    pub variances: Vec<Curve>,
}

/// Runs every `(t, estimator, seed)` of `cfg` in parallel.
pub fn toy(cfg: &ToyConfig, seed: u64) -> Res<Vec<ToyReport>> {
    let jobs: Vec<(usize, usize, usize)> = (0..cfg.ts.len())
        .flat_map(|i| {
            (0..cfg.estimators.len()).flat_map(move |e| (0..cfg.seeds).map(move |s| (i, e, s)))
        })
        .collect();
    let runs: Vec<(Vec<f64>, Vec<f64>)> = jobs
        .par_iter()
        .with_max_len(1)
        .map(|&(i, e, s)| {
            toy_run(
                &cfg.estimators[e],
                cfg.ts[i],
                cfg,
                run_seed(seed, 100 + i as u64, s as u64),
            )
        })
        .collect::<Res<_>>()?;
    let loss_steps: Vec<usize> = (0..=cfg.steps / cfg.every).map(|j| j * cfg.every).collect();
    let var_steps: Vec<usize> = (0..=cfg.steps / cfg.var_every)
        .map(|j| j * cfg.var_every)
        .collect();
    let mut it = runs.into_iter();
    Ok(cfg
        .ts
        .iter()
        .map(|&t| {
            let (mut losses, mut variances) = (Vec::new(), Vec::new());
            for e in &cfg.estimators {
                let (l, v): (Vec<_>, Vec<_>) = it.by_ref().take(cfg.seeds).unzip();
                losses.push(Curve {
                    estimator: e.clone(),
                    steps: loss_steps.clone(),
                    runs: l,
                });
                variances.push(Curve {
                    estimator: e.clone(),
                    steps: var_steps.clone(),
                    runs: v,
                });
            }
            ToyReport {
                t,
                optimum: t * t,
                losses,
                variances,
            }
        })
        .collect())
}

// ---------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------

/// A legend name: the toy's ST-Gumbel-Softmax with its temperature.
fn label(name: &str, st_tau: Option<f64>) -> String {
    match (name, st_tau) {
        ("st_gumbel_softmax", Some(tau)) => format!("st_gumbel_softmax tau {tau}"),
        _ => name.to_string(),
    }
}

/// A colour per estimator, stable across figures.
fn color_of(name: &str) -> usize {
    match name {
        "reinforce" | "reinforce_loo:2" => 0,
        "relax" => 1,
        "gumbel_softmax" => 2,
        "straight_through" => 3,
        "gumbel_rao:10" => 4,
        "st_gumbel_softmax" => 5,
        "reinmax" => 6,
        "gapped_st" => 9,
        "rebar" => 8,
        _ => 7,
    }
}

/// A curve of [`band_chart`]: name, colour, the mean's points, the band `(x, lo, hi)`.
type Band = (String, usize, Vec<(f64, f64)>, Vec<(f64, f64, f64)>);

/// Curves `(name, colour, points of the mean, band (x, lo, hi))` against the step, the
/// band (min to max over runs) translucent, on a linear or log y axis.
fn band_chart(
    area: &plot::Area,
    title: &str,
    y_label: &str,
    log_y: bool,
    curves: &[Band],
    reference: Option<(String, f64)>,
    legend: SeriesLabelPosition,
) -> PlotResult {
    let xmax = curves
        .iter()
        .flat_map(|c| c.2.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let ys = curves
        .iter()
        .flat_map(|c| c.3.iter().flat_map(|b| [b.1, b.2]))
        .chain(reference.iter().map(|r| r.1))
        .filter(|y| y.is_finite() && (!log_y || *y > 0.0));
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for y in ys {
        lo = lo.min(y);
        hi = hi.max(y);
    }
    if lo >= hi {
        (lo, hi) = if log_y {
            (lo / 2.0, lo * 2.0)
        } else {
            (lo - 1.0, lo + 1.0)
        };
    }
    let mut chart = ChartBuilder::on(area);
    chart
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70);
    macro_rules! draw {
        ($ctx:expr) => {{
            let mut ctx = $ctx;
            ctx.configure_mesh()
                .x_desc("step")
                .y_desc(y_label)
                .x_label_formatter(&plot::tick_label)
                .y_label_formatter(&plot::tick_label)
                .light_line_style(WHITE.mix(0.0))
                .draw()?;
            let keep = |y: f64| y.is_finite() && (!log_y || y > 0.0);
            for (name, c, mean, band) in curves {
                let col = plot::color(*c);
                let poly: Vec<(f64, f64)> = band
                    .iter()
                    .filter(|b| keep(b.2))
                    .map(|b| (b.0, b.2))
                    .chain(band.iter().rev().filter(|b| keep(b.1)).map(|b| (b.0, b.1)))
                    .collect();
                ctx.draw_series(std::iter::once(Polygon::new(poly, col.mix(0.15).filled())))?;
                let style = col.stroke_width(2);
                let pts: Vec<(f64, f64)> = mean.iter().copied().filter(|p| keep(p.1)).collect();
                ctx.draw_series(LineSeries::new(pts, style))?
                    .label(name.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            }
            if let Some((name, y)) = &reference {
                let style = plot::color(7).stroke_width(2);
                ctx.draw_series(DashedLineSeries::new(
                    vec![(0.0, *y), (xmax, *y)],
                    6,
                    4,
                    style,
                ))?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            }
            ctx.configure_series_labels()
                .position(legend.clone())
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .label_font(("sans-serif", 13))
                .draw()?;
        }};
    }
    if log_y {
        let (lo, hi) = (
            10f64.powf(lo.log10().floor()),
            10f64.powf(hi.log10().ceil()),
        );
        draw!(chart.build_cartesian_2d(0.0..xmax, (lo..hi).log_scale())?);
    } else {
        let pad = 0.05 * (hi - lo);
        draw!(chart.build_cartesian_2d(0.0..xmax, (lo - pad)..(hi + pad))?);
    }
    Ok(())
}

/// A curve's mean and min/max band, with `shift` subtracted from every value.
fn band(c: &Curve, name: String, shift: f64) -> Band {
    let (mut mean, mut bands) = (Vec::new(), Vec::new());
    for (j, &s) in c.steps.iter().enumerate() {
        let (m, _, lo, hi) = c.at(j);
        mean.push((s as f64, m - shift));
        bands.push((s as f64, lo - shift, hi - shift));
    }
    (name, color_of(&c.estimator), mean, bands)
}

/// Writes `poly_curves.csv`, `poly_final.csv`, `poly_p{P}.svg` for every `p`, and
/// `toy_curves.csv`, `toy_variance.csv`, `relax_toy_t{T}.svg` for every `t`, to `dir`.
pub fn write_outputs(
    polys: &[PolyReport],
    toys: &[ToyReport],
    st_tau: f64,
    dir: &Path,
) -> Result<(), Box<dyn Error>> {
    let stats_header = ["mean", "sd", "min", "max"];
    let header = |first: &[&'static str]| -> Vec<&'static str> {
        first.iter().copied().chain(stats_header).collect()
    };
    let mut pc = Csv::create(
        &dir.join("poly_curves.csv"),
        &header(&["p", "estimator", "step", "optimum"]),
    )?;
    let mut pf = Csv::create(
        &dir.join("poly_final.csv"),
        &["p", "estimator", "seed", "final_exact_loss"],
    )?;
    for rep in polys {
        for c in &rep.curves {
            for (j, s) in c.steps.iter().enumerate() {
                let (m, sd, lo, hi) = c.at(j);
                pc.row(&[&rep.p, &c.estimator, s, &rep.optimum, &m, &sd, &lo, &hi])?;
            }
            for (s, r) in c.runs.iter().enumerate() {
                pf.row(&[&rep.p, &c.estimator, &s, r.last().unwrap()])?;
            }
        }
        let bands: Vec<Band> = rep
            .curves
            .iter()
            .map(|c| band(c, c.estimator.clone(), rep.optimum))
            .collect();
        plot::write_svg(
            &dir.join(format!("poly_p{}.svg", rep.p)),
            (900, 560),
            |root| {
                band_chart(
                    root,
                    &format!(
                        "polynomial programming, p = {}: exact loss - optimum ({:.4})",
                        rep.p, rep.optimum
                    ),
                    "L(theta) - 0.45^p (mean over seeds; band min-max)",
                    true,
                    &bands,
                    None,
                    SeriesLabelPosition::LowerLeft,
                )
            },
        )?;
    }
    pc.finish()?;
    pf.finish()?;
    let mut tc = Csv::create(
        &dir.join("toy_curves.csv"),
        &header(&["t", "estimator", "step", "optimum"]),
    )?;
    let mut tv = Csv::create(
        &dir.join("toy_variance.csv"),
        &header(&["t", "estimator", "step"]),
    )?;
    for rep in toys {
        for c in &rep.losses {
            for (j, s) in c.steps.iter().enumerate() {
                let (m, sd, lo, hi) = c.at(j);
                tc.row(&[&rep.t, &c.estimator, s, &rep.optimum, &m, &sd, &lo, &hi])?;
            }
        }
        for c in &rep.variances {
            for (j, s) in c.steps.iter().enumerate() {
                let (m, sd, lo, hi) = c.at(j);
                tv.row(&[&rep.t, &c.estimator, s, &m, &sd, &lo, &hi])?;
            }
        }
        let losses: Vec<Band> = rep
            .losses
            .iter()
            .map(|c| band(c, label(&c.estimator, Some(st_tau)), 0.0))
            .collect();
        let vars: Vec<Band> = rep
            .variances
            .iter()
            .map(|c| band(c, label(&c.estimator, Some(st_tau)), 0.0))
            .collect();
        plot::write_svg(
            &dir.join(format!("relax_toy_t{}.svg", rep.t)),
            (1300, 520),
            |root| {
                let panels = root.split_evenly((1, 2));
                band_chart(
                    &panels[0],
                    &format!("RELAX toy, t = {}: exact loss", rep.t),
                    "E[(b - t)^2] at sigma(phi) (mean; band min-max)",
                    false,
                    &losses,
                    Some((format!("optimum t^2 = {:.6}", rep.optimum), rep.optimum)),
                    SeriesLabelPosition::UpperRight,
                )?;
                band_chart(
                    &panels[1],
                    &format!("RELAX toy, t = {}: variance of the estimate", rep.t),
                    "Var[g] at the current phi (mean; band min-max)",
                    true,
                    &vars,
                    None,
                    SeriesLabelPosition::LowerLeft,
                )
            },
        )?;
    }
    tc.finish()?;
    tv.finish()?;
    Ok(())
}

/// Two optimisation benchmarks: ReinMax's polynomial programming and RELAX's toy.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    out: OutArgs,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Adam steps of the polynomial benchmark [default: 500]
    #[arg(long)]
    poly_steps: Option<usize>,
    /// Samples per step of the polynomial benchmark [default: 8]
    #[arg(long)]
    poly_batch: Option<usize>,
    /// Adam's learning rate on the polynomial benchmark [default: 0.016]
    #[arg(long)]
    poly_lr: Option<f64>,
    /// Seeds (runs per estimator and p) of the polynomial benchmark [default: 10]
    #[arg(long)]
    poly_seeds: Option<usize>,
    /// Estimators of the polynomial benchmark, comma-separated [default: all eight]
    #[arg(long, value_delimiter = ',')]
    poly_estimators: Option<Vec<String>>,
    /// Temperature of the polynomial benchmark's estimators [default: 1]
    #[arg(long)]
    tau: Option<f64>,
    /// Adam steps of the RELAX toy [default: 5000]
    #[arg(long)]
    toy_steps: Option<usize>,
    /// Seeds of the RELAX toy [default: 10]
    #[arg(long)]
    toy_seeds: Option<usize>,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let dir = args.out.dir("estimator_benchmarks")?;
    let mut pc = PolyConfig::full();
    pc.steps = args.poly_steps.unwrap_or(pc.steps);
    pc.batch = args.poly_batch.unwrap_or(pc.batch);
    pc.lr = args.poly_lr.unwrap_or(pc.lr);
    pc.seeds = args.poly_seeds.unwrap_or(pc.seeds);
    pc.tau = args.tau.unwrap_or(pc.tau);
    pc.estimators = args.poly_estimators.unwrap_or(pc.estimators);
    let mut tc = ToyConfig::full();
    tc.steps = args.toy_steps.unwrap_or(tc.steps);
    tc.seeds = args.toy_seeds.unwrap_or(tc.seeds);

    let t0 = std::time::Instant::now();
    let polys = poly(&pc, args.seed)?;
    let t_poly = t0.elapsed().as_secs_f64();
    println!(
        "== polynomial programming: {} latents, t = {POLY_T}, {} steps of batch {}, Adam lr {}, \
         tau {}, {} seeds ({t_poly:.1} s)",
        LATENTS, pc.steps, pc.batch, pc.lr, pc.tau, pc.seeds
    );
    println!("final exact loss, mean +- sd over seeds [min, max]:");
    print!("{:<18}", "estimator");
    for rep in &polys {
        print!(" {:>30}", format!("p = {} (opt {:.4})", rep.p, rep.optimum));
    }
    println!();
    for (e, name) in pc.estimators.iter().enumerate() {
        print!("{name:<18}");
        for rep in &polys {
            let (m, sd, lo, hi) = rep.curves[e].last();
            print!(" {:>30}", format!("{m:.5} +- {sd:.5} [{lo:.4}, {hi:.4}]"));
        }
        println!();
    }
    println!(
        "start (mean over seeds): {}",
        polys
            .iter()
            .map(|r| format!("p = {}: {:.5}", r.p, r.curves[0].at(0).0))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let t1 = std::time::Instant::now();
    let toys = toy(&tc, args.seed)?;
    let t_toy = t1.elapsed().as_secs_f64();
    println!(
        "\n== RELAX toy: {} steps, Adam lr {}, {} seeds, variance every {} steps on {} draws \
         ({t_toy:.1} s)",
        tc.steps, tc.lr, tc.seeds, tc.var_every, tc.var_draws
    );
    for rep in &toys {
        println!(
            "t = {} (start {:.6}, optimum {:.6}):",
            rep.t,
            toy_exact_loss(0.0, rep.t),
            rep.optimum
        );
        println!(
            "  {:<24} {:>22} {:>12} {:>12} {:>12}",
            "estimator", "final loss (+- sd)", "var start", "var end", "var mean"
        );
        for (l, v) in rep.losses.iter().zip(&rep.variances) {
            let (m, sd, _, _) = l.last();
            let all: Vec<f64> = v.runs.iter().flatten().copied().collect();
            println!(
                "  {:<24} {:>22} {:>12.3e} {:>12.3e} {:>12.3e}",
                label(&l.estimator, Some(tc.st_tau)),
                format!("{m:.6} +- {sd:.6}"),
                v.at(0).0,
                v.last().0,
                summary(&all).0
            );
        }
    }
    write_outputs(&polys, &toys, tc.st_tau, &dir)?;
    println!(
        "\nwrote {} ({:.1} s)",
        dir.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
