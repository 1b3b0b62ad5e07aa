//! Gradient estimators for a discrete sample, side by side against the exact gradient.
//!
//! The problem: minimise `L(l) = E_{D ~ Categorical(softmax(l))} f(e_D)` over logits `l`
//! (`e_D` the one-hot of class `D`), where `L` is known exactly by enumeration,
//! `L = sum_i p_i f(e_i)`, `p = softmax(l)`, and so is its gradient
//!
//! ```text
//! dL/dl_j = p_j (f(e_j) - L)                     (d p_i / d l_j = p_i (delta_ij - p_j)).
//! ```
//!
//! The toys ([`Toy`]), each with the quadratic `f(y) = sum_i w_i (y_i - t_i)^2` defined on all
//! of R^k (its values at the vertices are the discrete objective; inside the simplex it is
//! the continuous extension that the relaxed estimator evaluates):
//! - the REBAR/RELAX toy (Tucker et al. 2017, Grathwohl et al. 2018): `b ~ Bernoulli(theta)`,
//!   `f = (b - t)^2` with `t = 0.45` and `t = 0.499`, as k = 2 with logits `(phi, 0)`,
//!   `theta = P(class 0) = sigmoid(phi)`, `b = [D = 0]` and `f(y) = (y_0 - t)^2`. The
//!   gradient is taken with respect to `phi`:
//!   `dL/dphi = ((1-t)^2 - t^2) theta (1 - theta) = (1 - 2t) theta (1 - theta)`
//!   (`dL/dtheta = 1 - 2t`, times `dtheta/dphi = theta (1 - theta)`);
//! - a categorical toy, k = 10: `f(y) = ||y - t||^2` with `t_i = (i + 1)/20`, gradient with
//!   respect to all ten logits.
//!
//! The estimators ([`Estimator`]), per draw, of `dL/dl` (`g` Gumbel noise, `D = argmax(l + g)`,
//! `y = softmax((l + g)/tau)`, `J = dy/dl = (diag(y) - y y^T)/tau`):
//!
//! | estimator | formula | mean |
//! |---|---|---|
//! | REINFORCE | `f(e_D) (e_D - p)` (score function: `d ln p_D / dl = e_D - p`) | exact |
//! | REINFORCE + leave-one-out | two draws `D, D'`: `(f(e_D) - f(e_D')) (e_D - e_D') / 2` | exact |
//! | Gumbel-Softmax | `J^T grad f(y)`: the pathwise gradient of the relaxed `E f(y)` | biased |
//! | straight-through | `J^T grad f(e_D)`: forward at the one-hot, backward through `y` | biased |
//! | Gumbel-Rao, K | `(1/K) sum_k J_k^T grad f(e_D)`, `y_k` from noise drawn given `D` | = straight-through's |
//! | ReinMax (tau >= 1) | `2 J((softmax(l/tau) + e_D)/2) grad f(e_D) - J(p) grad f(e_D) / 2` | second order |
//! | gapped straight-through | `J(softmax(gapped(l, D)/tau)) grad f(e_D) / tau`, gap 1 | biased |
//! | REBAR | `(f(e_D) - c(z~)) (e_D - p) + grad c(z) - grad c(z~)`, `c = f(softmax(./tau))` | exact |
//!
//! The leave-one-out baseline (Kool et al. 2019, with two samples): each sample's
//! baseline is the other's `f`, independent of it, so the estimator stays unbiased; the
//! two terms `(f_1 - f_2)(e_1 - p)/2 + (f_2 - f_1)(e_2 - p)/2` simplify to the formula
//! above. It costs two evaluations of `f` per draw.
//!
//! Gumbel-Rao (Paulus, Maddison and Krause, ICLR 2021) is straight-through
//! Rao-Blackwellised over the noise: `E[ST | D]`, estimated with `K` draws of the noise
//! conditioned on its argmax being `D` ([`conditional_gumbel`]). Same mean as
//! straight-through, variance `Var(E[ST | D]) + E[Var(ST | D)]/K <= Var(ST)`.
//!
//! The relaxed estimators run on the library's fused kernels: `gumbel_softmax_with_noise`
//! for `y`, `gumbel_softmax_backward` for `J^T dy`.
//!
//! The last three come from the library, `gumbel_autograd::estimators`, run as they would
//! run in a model ([`library_gradients`]): a tape with `[n, k]` logits, each row the toy's
//! logits, so one backward pass gives `n` independent per-draw estimates (one per row). They
//! draw their own samples (a seed derived from the draws'), not [`Draws::g`]:
//! - ReinMax (Liu et al. 2023, `reinmax`): Heun's method where straight-through is Euler's;
//!   for an `f` quadratic in the one-hot, as on these toys, its mean at `tau = 1` is the
//!   exact gradient. Its authors require `tau >= 1`, so it has rows at those temperatures
//!   only (and no `1/tau` factor).
//! - gapped straight-through (Fan et al. 2022, `gapped_st`, fixed gap 1): no noise in the
//!   backward; the logits are moved so that `D` leads every other class by at least 1, and
//!   the gradient goes through `softmax` of them at temperature tau.
//! - REBAR (Tucker et al. 2017, `control_variate_draw` and `rebar`): REINFORCE with the
//!   control variate `c(z) = eta f(softmax(z / lambda))` on the Gumbel relaxation
//!   `z = ln p + g`, and `z~ ~ p(z | D)` drawn given the sample; `eta = 1` and
//!   `lambda = tau`, the relaxation at the same temperature as the others. Unbiased at every
//!   tau; tau only changes how well `c` tracks `f`. On the RELAX toy it is the authors'
//!   Bernoulli toy written as a 2-class categorical (the relaxation of `(phi, 0)` by
//!   `softmax` is the binary Concrete `sigmoid((phi + logistic)/tau)`).
//!
//! Outputs: bias and variance of each estimator across tau (with standard errors), and
//! optimisation curves (Adam on the logits with each estimator; the exact loss over steps).
//!
//! ```sh
//! cargo run --release --example estimators [-- --out DIR --draws N --steps S --seed S]
//! ```

#[path = "common/mod.rs"]
pub mod common;

use std::error::Error;
use std::path::Path;

use clap::Parser;
use common::out::{Csv, OutArgs};
use common::plot::{self, Chart, Series};
use common::stats::{VectorStats, log_grid, logsumexp, softmax, vector_stats};
use gumbel_autograd::estimators::{self, Family, control_variate_draw, rebar};
use gumbel_autograd::{Tape, Var};
use gumbel_tensor::Tensor;
use gumbel_tensor::ops::gumbel::{
    GumbelRng, Noise, Output, TempGrad, Temperature, gumbel_max, gumbel_noise,
    gumbel_softmax_backward, gumbel_softmax_with_noise, uniform_noise,
};
use gumbel_tensor::parallel::for_each_row_mut;
use plotters::chart::SeriesLabelPosition;
use rayon::prelude::*;

// ---------------------------------------------------------------------------------------
// The toys
// ---------------------------------------------------------------------------------------

/// A toy problem: minimise `L(l) = E_{D ~ softmax(l)} f(e_D)` over the logits listed in
/// `params` (the others stay fixed), with `f(y) = sum_i w_i (y_i - t_i)^2`.
#[derive(Debug, Clone)]
pub struct Toy {
    pub name: String,
    /// The starting logits (where the bias and variance are measured).
    pub logits: Vec<f64>,
    /// Indices of the trainable logits: the gradient is reported for these.
    pub params: Vec<usize>,
    pub w: Vec<f64>,
    pub t: Vec<f64>,
    /// `Some(t)` for the RELAX toy (whose relaxed estimators have a closed-form mean).
    pub relax_t: Option<f64>,
}

impl Toy {
    /// The REBAR/RELAX toy `E_{b ~ Bernoulli(sigmoid(phi))} (b - t)^2` at `phi = 0`: logits
    /// `(phi, 0)`, `b = [D = 0]`, `f(y) = (y_0 - t)^2`; gradient w.r.t. `phi` only.
    pub fn relax(t: f64) -> Toy {
        Toy {
            name: format!("relax_t{t}"),
            logits: vec![0.0, 0.0],
            params: vec![0],
            w: vec![1.0, 0.0],
            t: vec![t, 0.0],
            relax_t: Some(t),
        }
    }

    /// The categorical toy: k = 10, `f(y) = ||y - t||^2`, `t_i = (i + 1)/20`, starting at
    /// the logits `(1.5, 1.2, ..., -1.5)` (the best class, 9, starts least likely).
    pub fn categorical() -> Toy {
        let k = 10;
        Toy {
            name: "categorical".into(),
            logits: vec![1.5, 1.2, 0.9, 0.6, 0.3, 0.0, -0.3, -0.6, -1.0, -1.5],
            params: (0..k).collect(),
            w: vec![1.0; k],
            t: (0..k).map(|i| (i + 1) as f64 / 20.0).collect(),
            relax_t: None,
        }
    }

    /// Number of classes.
    pub fn k(&self) -> usize {
        self.w.len()
    }

    /// `f(y) = sum_i w_i (y_i - t_i)^2`.
    pub fn f(&self, y: &[f64]) -> f64 {
        y.iter()
            .zip(&self.w)
            .zip(&self.t)
            .map(|((y, w), t)| w * (y - t).powi(2))
            .sum()
    }

    /// `grad f(y) = 2 w (y - t)`, written to `out`.
    pub fn grad_f(&self, y: &[f64], out: &mut [f64]) {
        for (((o, y), w), t) in out.iter_mut().zip(y).zip(&self.w).zip(&self.t) {
            *o = 2.0 * w * (y - t);
        }
    }

    /// `f` at the vertices: `F_i = f(e_i)`.
    pub fn vertex_values(&self) -> Vec<f64> {
        (0..self.k())
            .map(|i| self.f(&one_hot(self.k(), i)))
            .collect()
    }

    /// The exact objective `L(l) = sum_i p_i f(e_i)`, by enumeration.
    pub fn exact_loss(&self, logits: &[f64]) -> f64 {
        let p = softmax(logits);
        p.iter().zip(self.vertex_values()).map(|(p, f)| p * f).sum()
    }

    /// The exact gradient w.r.t. the trainable logits, by enumeration:
    /// `dL/dl_j = p_j (F_j - L)`.
    pub fn exact_grad(&self, logits: &[f64]) -> Vec<f64> {
        let p = softmax(logits);
        let f = self.vertex_values();
        let loss: f64 = p.iter().zip(&f).map(|(p, f)| p * f).sum();
        self.params.iter().map(|&j| p[j] * (f[j] - loss)).collect()
    }

    /// The smallest value of the objective, `min_i f(e_i)` (approached as one class's
    /// probability goes to 1; for the RELAX toy, trainable `phi` reaches both vertices).
    pub fn optimum(&self) -> f64 {
        self.vertex_values()
            .into_iter()
            .fold(f64::INFINITY, f64::min)
    }
}

/// The mean of the Gumbel-Softmax estimate on the RELAX toy at `phi = 0`, which is also
/// the mean of the straight-through estimate there:
///
/// ```text
/// E[g] = (1 - 2t) int sigmoid'(u) sigmoid'(tau u) du,     sigmoid' = sigmoid (1 - sigmoid)
/// ```
///
/// At `phi = 0`, `y_0 = sigmoid(L/tau)` with `L = g_0 - g_1` standard Logistic (density
/// `sigmoid'`). Gumbel-Softmax's estimate `2 (y_0 - t) y_0 y_1 / tau` splits into
/// `2 (y_0 - 1/2) y_0 y_1 / tau`, odd in `L` (mean 0), and `(1 - 2t) y_0 y_1 / tau`, whose
/// mean is the integral above (`u = L/tau`). Straight-through's `2 (b - t) y_0 y_1 / tau`,
/// `b = [L > 0]`, splits the same way. As tau -> 0 the integral tends to
/// `sigmoid'(0) int sigmoid' = 1/4`: the exact `dL/dphi = (1 - 2t)/4`; as tau grows it falls
/// to 0, so the bias `E[g] - (1-2t)/4` grows in magnitude monotonically (`sigmoid'(tau u)`
/// falls with tau for every `u`) from 0 to the whole gradient.
///
/// Simpson's rule on `u` in `[-40, 40]` (`sigmoid'(40) < 5e-18`) with step `1e-3`: the
/// integrand varies on the scale `min(1, 1/tau)`, so for tau <= 20 the error is below
/// `(0.001 / 0.05)^4 ~ 2e-7` relative.
pub fn relax_relaxed_mean(t: f64, tau: f64) -> f64 {
    let ds = |x: f64| {
        let s = 1.0 / (1.0 + (-x).exp());
        s * (1.0 - s)
    };
    let (n, a) = (80_000, 40.0);
    let h = 2.0 * a / n as f64;
    let f = |u: f64| ds(u) * ds(tau * u);
    let mut sum = f(-a) + f(a);
    for i in 1..n {
        sum += f(-a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    (1.0 - 2.0 * t) * sum * h / 3.0
}

/// The one-hot vector `e_i` in R^k.
pub fn one_hot(k: usize, i: usize) -> Vec<f64> {
    let mut e = vec![0.0; k];
    e[i] = 1.0;
    e
}

// ---------------------------------------------------------------------------------------
// Conditional Gumbel noise
// ---------------------------------------------------------------------------------------

/// Gumbel noise conditioned on its argmax: given logits `l`, a class `d` and `k` uniforms
/// `u` in (0, 1), writes `g` such that `argmax_i (l_i + g_i) = d` and, if `u` is uniform,
/// `g` has the law of independent standard Gumbel noise conditioned on that event. The
/// "top-down" construction (Maddison, Tarlow and Minka, A* sampling, 2014; Paulus et al.
/// 2021, appendix):
///
/// ```text
/// M          = lse(l) - ln(-ln u_d)          the maximum of l + g: Gumbel(lse(l))
/// l_i + g_i  = l_i - ln(E_i + e^{l_i - M})   i != d, E_i = -ln u_i: Gumbel(l_i) truncated below M
/// g_d        = M - l_d
/// ```
///
/// Why: the density of `x = l + g` given `argmax x = d` is
/// `prod_i f_i(x_i) [x_d > x_j for all j] / p_d`, with `f_i`/`F_i` the density/CDF of
/// `Gumbel(l_i)`. Writing `M = x_d`, it factorises into
/// `f_d(M) prod_{j!=d} F_j(M) / p_d` (the density of `M`; it equals the `Gumbel(lse(l))`
/// density, because `f_d(M) prod_{j!=d} F_j(M) = e^{l_d - M} exp(-e^{lse(l) - M})`; so the
/// maximum is independent of the argmax) times `prod_{j!=d} f_j(x_j) [x_j < M] / F_j(M)`
/// (independent truncated Gumbels). Inverting the truncated CDF
/// `exp(-(e^{l_i - x} - e^{l_i - M}))` at `u_i` gives the second line.
///
/// `lse` is `logsumexp(l)`, passed in so that a caller drawing many rows computes it once.
pub fn conditional_gumbel(l: &[f64], lse: f64, d: usize, u: &[f64], g: &mut [f64]) {
    let top = lse - (-u[d].ln()).ln();
    for (i, gi) in g.iter_mut().enumerate() {
        *gi = if i == d {
            top - l[i]
        } else {
            -((-u[i].ln()) + (l[i] - top).exp()).ln()
        };
    }
}

/// `reps` conditional noise rows per draw: row `n * reps + r` is conditioned on
/// `index[n]`. Uniforms from `uniform_noise` (one counter value of `rng`); rows computed
/// in parallel, each a pure function of its uniforms.
pub fn conditional_noise(
    logits: &[f64],
    index: &[usize],
    reps: usize,
    rng: &mut GumbelRng,
) -> Tensor<f64> {
    let k = logits.len();
    let lse = logsumexp(logits);
    let u = uniform_noise::<f64>(&[index.len() * reps, k], rng);
    let mut g = Tensor::zeros([index.len() * reps, k]);
    for_each_row_mut(g.as_mut_slice(), k, |r, row| {
        conditional_gumbel(logits, lse, index[r / reps], u.row(r), row)
    });
    g
}

// ---------------------------------------------------------------------------------------
// The estimators
// ---------------------------------------------------------------------------------------

/// A gradient estimator (see the module docs for the formulas).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Estimator {
    /// The exact gradient (for the optimisation curves' reference).
    Exact,
    Reinforce,
    /// REINFORCE with the leave-one-out baseline over two samples.
    ReinforceLoo,
    GumbelSoftmax,
    StraightThrough,
    /// Gumbel-Rao with `K` conditional noise draws.
    GumbelRao(usize),
    /// ReinMax, the library's `reinmax` (`tau >= 1`).
    ReinMax,
    /// Gapped straight-through with the fixed gap 1, the library's `gapped_st`.
    GappedSt,
    /// REBAR with `eta = 1`, `lambda = tau`, the library's `rebar`.
    Rebar,
}

impl Estimator {
    /// The estimators of the bias/variance study.
    pub const STUDIED: [Estimator; 9] = [
        Estimator::Reinforce,
        Estimator::ReinforceLoo,
        Estimator::GumbelSoftmax,
        Estimator::StraightThrough,
        Estimator::GumbelRao(10),
        Estimator::GumbelRao(100),
        Estimator::ReinMax,
        Estimator::GappedSt,
        Estimator::Rebar,
    ];

    /// A short name for tables, files and legends.
    pub fn name(&self) -> String {
        match self {
            Estimator::Exact => "exact".into(),
            Estimator::Reinforce => "REINFORCE".into(),
            Estimator::ReinforceLoo => "REINFORCE+LOO".into(),
            Estimator::GumbelSoftmax => "Gumbel-Softmax".into(),
            Estimator::StraightThrough => "ST Gumbel-Softmax".into(),
            Estimator::GumbelRao(k) => format!("Gumbel-Rao K={k}"),
            Estimator::ReinMax => "ReinMax".into(),
            Estimator::GappedSt => "gapped ST".into(),
            Estimator::Rebar => "REBAR".into(),
        }
    }

    /// Whether the estimator depends on the temperature.
    pub fn uses_tau(&self) -> bool {
        !matches!(
            self,
            Estimator::Exact | Estimator::Reinforce | Estimator::ReinforceLoo
        )
    }

    /// The temperatures of `taus` the estimator is measured at: `[None]` for those that do
    /// not use one, and for ReinMax only `tau >= 1` (the library refuses the others, as its
    /// authors' code does).
    pub fn taus(&self, taus: &[f64]) -> Vec<Option<f64>> {
        if !self.uses_tau() {
            return vec![None];
        }
        taus.iter()
            .copied()
            .filter(|&t| *self != Estimator::ReinMax || t >= 1.0)
            .map(Some)
            .collect()
    }

    /// The estimator's mean on the RELAX toy `Toy::relax(t)` at its starting point `phi = 0`,
    /// in closed form, for the estimators with a temperature:
    /// - Gumbel-Softmax, straight-through and its Rao-Blackwellisation: [`relax_relaxed_mean`];
    /// - gapped straight-through: `(1 - 2t) sigmoid'(1/tau) / tau`. At `phi = 0` the moved
    ///   logits are 0 for `D` and -1 for the other class, so `y = softmax(gapped / tau)` has
    ///   `y_0 y_1 = sigmoid'(1/tau)` whatever `D` is, and the estimate is
    ///   `y_0 y_1 grad_0 f(e_D) / tau = 2 (b - t) sigmoid'(1/tau) / tau`, `E[b] = 1/2`;
    /// - ReinMax: the exact `(1 - 2t)/4`. At `phi = 0`, `softmax(l / tau) = (1/2, 1/2)` for
    ///   every tau, the midpoint is `(3/4, 1/4)` or `(1/4, 3/4)` with `J_00 = 3/16`,
    ///   `J(p)_00 = 1/4`, and `grad_0 f(e_D) = 2 (b - t)`, so every estimate is
    ///   `2 (3/16) 2 (b - t) - (1/4) 2 (b - t) / 2 = (b - t)/2` (variance exactly 1/16);
    /// - REBAR: the exact `(1 - 2t)/4` (it is unbiased).
    pub fn relax_mean(&self, t: f64, tau: f64) -> Option<f64> {
        let ds = |x: f64| {
            let s = 1.0 / (1.0 + (-x).exp());
            s * (1.0 - s)
        };
        match self {
            Estimator::GumbelSoftmax | Estimator::StraightThrough | Estimator::GumbelRao(_) => {
                Some(relax_relaxed_mean(t, tau))
            }
            Estimator::GappedSt => Some((1.0 - 2.0 * t) * ds(1.0 / tau) / tau),
            Estimator::ReinMax | Estimator::Rebar => Some((1.0 - 2.0 * t) / 4.0),
            Estimator::Exact | Estimator::Reinforce | Estimator::ReinforceLoo => None,
        }
    }

    /// The library's estimator behind ReinMax and gapped straight-through (REBAR is not an
    /// `estimators::Estimator`: it takes the objective as a function).
    pub fn library(&self) -> Option<estimators::Estimator> {
        let name = match self {
            Estimator::ReinMax => "reinmax",
            Estimator::GappedSt => "gapped_st",
            _ => return None,
        };
        Some(name.parse().expect("a name the library knows"))
    }

    /// Evaluations of `f` per draw, and backward passes through the softmax per draw.
    pub fn cost(&self) -> (usize, usize) {
        match self {
            Estimator::Exact => (0, 0),
            Estimator::Reinforce => (1, 0),
            Estimator::ReinforceLoo => (2, 0),
            Estimator::GumbelSoftmax | Estimator::StraightThrough => (1, 1),
            Estimator::GumbelRao(k) => (1, *k),
            // ReinMax: two Jacobian products (at the midpoint and at p); REBAR: f at the
            // sample and at the two relaxations, and a backward pass through each relaxation
            Estimator::ReinMax => (1, 2),
            Estimator::GappedSt => (1, 1),
            Estimator::Rebar => (3, 2),
        }
    }

    /// A colour index for plots, stable across figures.
    pub fn color(&self) -> usize {
        match self {
            Estimator::Exact => 7,
            Estimator::Reinforce => 0,
            Estimator::ReinforceLoo => 1,
            Estimator::GumbelSoftmax => 2,
            Estimator::StraightThrough => 3,
            Estimator::GumbelRao(k) if *k < 50 => 4,
            Estimator::GumbelRao(_) => 5,
            Estimator::ReinMax => 6,
            Estimator::GappedSt => 9,
            Estimator::Rebar => 8,
        }
    }
}

/// `n` draws at fixed logits: the randomness every estimator reads, so that estimators
/// and temperatures are compared on the same draws.
#[derive(Debug, Clone)]
pub struct Draws {
    /// The logits the draws were made at.
    pub logits: Vec<f64>,
    /// Gumbel noise, one row per draw.
    pub g: Tensor<f64>,
    /// The Gumbel-max samples `D = argmax(l + g)` (the first maximum).
    pub index: Vec<usize>,
    /// A second, independent sample per draw (the leave-one-out baseline's).
    pub index2: Vec<usize>,
    /// Seed of Gumbel-Rao's conditional noise: block `b` of draws with `K` samples uses
    /// the stream `(cond_seed + K * PHI, counter b)`. The library estimators' generator is
    /// seeded with `cond_seed ^ LIBRARY_SALT` ([`library_gradients`]).
    pub cond_seed: u64,
}

/// Draws per block of Gumbel-Rao's conditional noise (bounds its memory: `BLOCK * K * k`).
const GR_BLOCK: usize = 512;

impl Draws {
    /// `n` draws at `logits`, consuming two counter values of `rng` (`gumbel_noise`,
    /// `gumbel_max`); the conditional noise's seed is derived from `rng`'s state.
    pub fn new(logits: &[f64], n: usize, rng: &mut GumbelRng) -> gumbel_tensor::Result<Draws> {
        let k = logits.len();
        let cond_seed = rng.seed() ^ rng.counter().wrapping_mul(0xd1b5_4a32_d192_ed03);
        let g = gumbel_noise::<f64>(&[n, k], rng);
        let index = (0..n)
            .map(|r| {
                let row = g.row(r);
                let mut best = 0;
                for i in 1..k {
                    if logits[i] + row[i] > logits[best] + row[best] {
                        best = i;
                    }
                }
                best
            })
            .collect();
        let l = Tensor::from_fn([n, k], |i| logits[i % k]);
        let index2 = gumbel_max(&l, rng)?;
        Ok(Draws {
            logits: logits.to_vec(),
            g,
            index,
            index2,
            cond_seed,
        })
    }

    /// Number of draws.
    pub fn n(&self) -> usize {
        self.index.len()
    }
}

/// Per-draw gradient estimates at `draws.logits`: `n x params.len()` values, row-major.
/// `tau` is ignored by the estimators that do not use it.
pub fn gradients(
    toy: &Toy,
    est: Estimator,
    tau: f64,
    draws: &Draws,
) -> gumbel_tensor::Result<Vec<f64>> {
    let (k, n, l) = (toy.k(), draws.n(), &draws.logits[..]);
    let p = softmax(l);
    let f = toy.vertex_values();
    let pick = |full: &[f64], out: &mut Vec<f64>| out.extend(toy.params.iter().map(|&j| full[j]));
    let mut out = Vec::with_capacity(n * toy.params.len());
    match est {
        Estimator::Exact => {
            let g = toy.exact_grad(l);
            (0..n).for_each(|_| out.extend_from_slice(&g));
        }
        Estimator::Reinforce => {
            // f(e_D) (e_D - p)
            for &d in &draws.index {
                let score: Vec<f64> = (0..k)
                    .map(|j| f[d] * ((j == d) as u8 as f64 - p[j]))
                    .collect();
                pick(&score, &mut out);
            }
        }
        Estimator::ReinforceLoo => {
            // (f(e_D) - f(e_D')) (e_D - e_D') / 2
            for (&d, &d2) in draws.index.iter().zip(&draws.index2) {
                let mut v = vec![0.0; k];
                v[d] += (f[d] - f[d2]) / 2.0;
                v[d2] -= (f[d] - f[d2]) / 2.0;
                pick(&v, &mut out);
            }
        }
        Estimator::GumbelSoftmax | Estimator::StraightThrough => {
            let lt = Tensor::from_fn([n, k], |i| l[i % k]);
            let s = gumbel_softmax_with_noise(
                &lt,
                Noise::Gumbel(&draws.g),
                Temperature::Tau(tau),
                Output::Soft,
            )?;
            debug_assert_eq!(s.index, draws.index);
            // dy = grad f at the soft sample (relaxed objective) or at the one-hot (ST)
            let mut dy = Tensor::zeros([n, k]);
            for r in 0..n {
                match est {
                    Estimator::GumbelSoftmax => toy.grad_f(s.y.row(r), dy.row_mut(r)),
                    _ => toy.grad_f(&one_hot(k, draws.index[r]), dy.row_mut(r)),
                }
            }
            // J^T dy = y (dy - <dy, y>) / tau, the fused backward
            let (dl, _) =
                gumbel_softmax_backward(&s.y, &dy, Temperature::Tau(tau), TempGrad::Skip)?;
            (0..n).for_each(|r| pick(dl.row(r), &mut out));
        }
        Estimator::GumbelRao(reps) => {
            out = gumbel_rao(toy, reps, &[tau], draws)?.remove(0);
        }
        Estimator::ReinMax | Estimator::GappedSt | Estimator::Rebar => {
            out = library_gradients(toy, est, tau, draws)?;
        }
    }
    Ok(out)
}

/// Salt of the library estimators' seed: their generator is
/// `GumbelRng::new(draws.cond_seed ^ LIBRARY_SALT)`, the same for ReinMax and gapped
/// straight-through (so they share their samples `D`) and for every temperature.
const LIBRARY_SALT: u64 = 0x6c69_6272_6172_7921;

/// `f(y) = sum_i w_i (y_i - t_i)^2` for each row of `y` (one-hot or relaxed), on the tape.
fn tape_objective<'t>(
    w: &Var<'t, f64>,
    t: &Var<'t, f64>,
    y: &Var<'t, f64>,
) -> gumbel_tensor::Result<Var<'t, f64>> {
    let d = y.sub(t)?;
    d.mul(&d)?.mul(w)?.sum_axis(1)
}

/// Per-draw estimates of the library's estimators (ReinMax, gapped straight-through, REBAR),
/// in the layout of [`gradients`]: `[n, k]` logits on a tape, every row the toy's logits at
/// `draws.logits`, the objective computed on the tape from the drawn value, one backward pass;
/// row `r` of the logits' gradient is draw `r`'s estimate (the rows are independent
/// variables). `n = draws.n()`; the samples are the library's own, drawn from
/// `GumbelRng::new(draws.cond_seed ^ LIBRARY_SALT)`.
pub fn library_gradients(
    toy: &Toy,
    est: Estimator,
    tau: f64,
    draws: &Draws,
) -> gumbel_tensor::Result<Vec<f64>> {
    let (k, n) = (toy.k(), draws.n());
    let tape = Tape::<f64>::new();
    let logits = tape.leaf(Tensor::from_fn([n, k], |i| draws.logits[i % k]));
    let w = tape.constant(Tensor::new([k], toy.w.clone())?);
    let t = tape.constant(Tensor::new([k], toy.t.clone())?);
    let mut rng = GumbelRng::new(draws.cond_seed ^ LIBRARY_SALT);
    let loss = match (est, est.library()) {
        (_, Some(mut lib)) => {
            let draw = lib.draw(&logits, Temperature::Tau(tau), &mut rng)?;
            let f = tape_objective(&w, &t, &draw.value)?;
            lib.loss(&draw, &f)?
        }
        (Estimator::Rebar, None) => {
            let draw = control_variate_draw(&logits, Family::Categorical, &mut rng)?;
            let f = tape_objective(&w, &t, &draw.value)?;
            let eta = tape.constant(Tensor::new([1], vec![1.0])?);
            let lambda = tape.constant(Tensor::new([1], vec![tau])?);
            rebar(&draw, &f, |y| tape_objective(&w, &t, y), &eta, &lambda)?.loss
        }
        _ => {
            return Err(gumbel_tensor::Error::invalid_argument(
                "library_gradients",
                format!("{} is not one of the library's estimators", est.name()),
            ));
        }
    };
    let grads = tape.backward(loss)?;
    let g = grads.get(logits).ok_or_else(|| {
        gumbel_tensor::Error::invalid_argument(
            "library_gradients",
            format!("{}: no gradient reached the logits", est.name()),
        )
    })?;
    let mut out = Vec::with_capacity(n * toy.params.len());
    for r in 0..n {
        out.extend(toy.params.iter().map(|&j| g.row(r)[j]));
    }
    Ok(out)
}

/// Gumbel-Rao's per-draw estimates at several temperatures (the layout of [`gradients`],
/// one vector per tau). The conditional noise does not depend on tau: each block of draws
/// gets its noise once, then every tau is evaluated on it.
pub fn gumbel_rao(
    toy: &Toy,
    reps: usize,
    taus: &[f64],
    draws: &Draws,
) -> gumbel_tensor::Result<Vec<Vec<f64>>> {
    let (k, l) = (toy.k(), &draws.logits[..]);
    // grad f at each vertex: every conditional sample of a draw has the draw's argmax,
    // so the upstream gradient of all its rows is grad f(e_D)
    let grad_at: Vec<Vec<f64>> = (0..k)
        .map(|i| {
            let mut g = vec![0.0; k];
            toy.grad_f(&one_hot(k, i), &mut g);
            g
        })
        .collect();
    let mut rng = GumbelRng::new(
        draws
            .cond_seed
            .wrapping_add((reps as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
    );
    let mut out = vec![Vec::with_capacity(draws.n() * toy.params.len()); taus.len()];
    for (b, block) in draws.index.chunks(GR_BLOCK).enumerate() {
        rng.set_counter(b as u64);
        let g = conditional_noise(l, block, reps, &mut rng);
        let rows = block.len() * reps;
        let lt = Tensor::from_fn([rows, k], |i| l[i % k]);
        let dy = Tensor::from_fn([rows, k], |i| grad_at[block[i / k / reps]][i % k]);
        for (tau, out) in taus.iter().zip(out.iter_mut()) {
            let temp = Temperature::Tau(*tau);
            let s = gumbel_softmax_with_noise(&lt, Noise::Gumbel(&g), temp, Output::Soft)?;
            let (dl, _) = gumbel_softmax_backward(&s.y, &dy, temp, TempGrad::Skip)?;
            // the average of the K straight-through gradients of each draw
            for d in 0..block.len() {
                for &j in &toy.params {
                    let sum: f64 = (d * reps..(d + 1) * reps).map(|r| dl.row(r)[j]).sum();
                    out.push(sum / reps as f64);
                }
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Bias and variance
// ---------------------------------------------------------------------------------------

/// Bias and variance of one estimator at one temperature, over `n` draws.
#[derive(Debug, Clone, PartialEq)]
pub struct BiasVariance {
    pub estimator: Estimator,
    /// `None` for the estimators that do not use it.
    pub tau: Option<f64>,
    pub n: usize,
    /// The exact gradient (trainable logits).
    pub exact: Vec<f64>,
    /// Mean, standard errors and trace variance of the per-draw estimates.
    pub stats: VectorStats,
    /// `mean - exact`.
    pub bias: Vec<f64>,
    /// `||mean - exact||_2`.
    pub bias_norm: f64,
    /// `sqrt(variance / n)`: the typical `||mean - E[estimate]||_2` from sampling alone;
    /// a bias norm near it is not resolved.
    pub bias_noise: f64,
    /// `max_j |bias_j| / se_j`: beyond about 4, the bias is significant.
    pub z_max: f64,
    /// Cosine between the mean estimate and the exact gradient.
    pub cosine: f64,
}

impl BiasVariance {
    fn new(estimator: Estimator, tau: Option<f64>, exact: Vec<f64>, draws: &[f64]) -> Self {
        let d = exact.len();
        let stats = vector_stats(draws, d);
        let n = draws.len() / d;
        let bias: Vec<f64> = stats.mean.iter().zip(&exact).map(|(m, e)| m - e).collect();
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let z_max = bias
            .iter()
            .zip(&stats.mean_se)
            .map(|(b, se)| {
                if *se > 0.0 {
                    b.abs() / se
                } else if *b == 0.0 {
                    0.0
                } else {
                    f64::INFINITY
                }
            })
            .fold(0.0, f64::max);
        let dot: f64 = stats.mean.iter().zip(&exact).map(|(a, b)| a * b).sum();
        BiasVariance {
            estimator,
            tau,
            n,
            bias_norm: norm(&bias),
            bias_noise: (stats.variance / n as f64).sqrt(),
            z_max,
            cosine: dot / (norm(&stats.mean) * norm(&exact)),
            exact,
            stats,
            bias,
        }
    }

    /// Mean squared error of one draw: `||bias||^2 + variance`.
    pub fn mse(&self) -> f64 {
        self.bias_norm.powi(2) + self.stats.variance
    }
}

fn cfg_taus(taus: &[Option<f64>]) -> Vec<f64> {
    taus.iter().map(|t| t.unwrap_or(1.0)).collect()
}

/// Bias and variance of `estimators` at the toy's starting logits, over the same `n`
/// draws for every estimator and temperature.
pub fn bias_variance(
    toy: &Toy,
    estimators: &[Estimator],
    taus: &[f64],
    n: usize,
    seed: u64,
) -> gumbel_tensor::Result<Vec<BiasVariance>> {
    let draws = Draws::new(&toy.logits, n, &mut GumbelRng::new(seed))?;
    let exact = toy.exact_grad(&toy.logits);
    let mut out = Vec::new();
    for &est in estimators {
        let taus = est.taus(taus);
        let grads = match est {
            Estimator::GumbelRao(reps) => gumbel_rao(toy, reps, &cfg_taus(&taus), &draws)?,
            _ => taus
                .iter()
                .map(|tau| gradients(toy, est, tau.unwrap_or(1.0), &draws))
                .collect::<gumbel_tensor::Result<_>>()?,
        };
        for (tau, g) in taus.into_iter().zip(grads) {
            out.push(BiasVariance::new(est, tau, exact.clone(), &g));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Optimisation
// ---------------------------------------------------------------------------------------

/// Adam (Kingma and Ba, 2015) on a parameter vector.
struct Adam {
    lr: f64,
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
}

impl Adam {
    const B1: f64 = 0.9;
    const B2: f64 = 0.999;
    const EPS: f64 = 1e-8;

    fn new(lr: f64, dim: usize) -> Adam {
        Adam {
            lr,
            m: vec![0.0; dim],
            v: vec![0.0; dim],
            t: 0,
        }
    }

    /// `x -= lr m_hat / (sqrt(v_hat) + eps)` with bias-corrected moment estimates.
    fn step(&mut self, x: &mut [f64], grad: &[f64]) {
        self.t += 1;
        let (c1, c2) = (1.0 - Self::B1.powi(self.t), 1.0 - Self::B2.powi(self.t));
        for (((x, g), m), v) in x.iter_mut().zip(grad).zip(&mut self.m).zip(&mut self.v) {
            *m = Self::B1 * *m + (1.0 - Self::B1) * g;
            *v = Self::B2 * *v + (1.0 - Self::B2) * g * g;
            *x -= self.lr * (*m / c1) / ((*v / c2).sqrt() + Self::EPS);
        }
    }
}

/// Settings of the optimisation runs.
#[derive(Debug, Clone)]
pub struct OptConfig {
    pub steps: usize,
    /// Independent runs per estimator (curves show their mean).
    pub runs: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Draws per step (the gradient is their mean).
    pub batch: usize,
    /// Record the exact loss every this many steps.
    pub every: usize,
}

/// An optimisation curve: the exact loss over steps, mean and standard deviation over runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    pub estimator: Estimator,
    pub tau: Option<f64>,
    pub steps: Vec<usize>,
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
}

/// Minimises the toy from its starting logits with Adam and the estimator's gradients;
/// returns the exact loss over steps. Runs execute in parallel, run `r` drawing from
/// `GumbelRng::new(seed + r)`: the curve is the same for any thread count.
pub fn optimise(
    toy: &Toy,
    est: Estimator,
    tau: Option<f64>,
    cfg: &OptConfig,
    seed: u64,
) -> gumbel_tensor::Result<Curve> {
    let runs: Vec<Vec<f64>> = (0..cfg.runs)
        .into_par_iter()
        .map(|run| {
            let mut rng = GumbelRng::new(seed.wrapping_add(run as u64));
            let mut logits = toy.logits.clone();
            let mut adam = Adam::new(cfg.lr, toy.params.len());
            let mut losses = vec![toy.exact_loss(&logits)];
            for step in 1..=cfg.steps {
                let draws = Draws::new(&logits, cfg.batch, &mut rng)?;
                let g = gradients(toy, est, tau.unwrap_or(1.0), &draws)?;
                let dim = toy.params.len();
                let mean: Vec<f64> = (0..dim)
                    .map(|j| g.iter().skip(j).step_by(dim).sum::<f64>() / cfg.batch as f64)
                    .collect();
                let mut x: Vec<f64> = toy.params.iter().map(|&j| logits[j]).collect();
                adam.step(&mut x, &mean);
                for (&j, v) in toy.params.iter().zip(x) {
                    logits[j] = v;
                }
                if step % cfg.every == 0 {
                    losses.push(toy.exact_loss(&logits));
                }
            }
            Ok(losses)
        })
        .collect::<gumbel_tensor::Result<_>>()?;
    let points = runs[0].len();
    let r = cfg.runs as f64;
    let mean: Vec<f64> = (0..points)
        .map(|i| runs.iter().map(|c| c[i]).sum::<f64>() / r)
        .collect();
    let sd = (0..points)
        .map(|i| {
            let v = runs.iter().map(|c| (c[i] - mean[i]).powi(2)).sum::<f64>() / (r - 1.0).max(1.0);
            v.sqrt()
        })
        .collect();
    Ok(Curve {
        estimator: est,
        tau,
        steps: (0..points).map(|i| i * cfg.every).collect(),
        mean,
        sd,
    })
}

// ---------------------------------------------------------------------------------------
// The study
// ---------------------------------------------------------------------------------------

/// Temperatures of the bias/variance study.
pub const TAUS: [f64; 10] = [0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0];

/// Temperatures of the optimisation curves.
pub const OPT_TAUS: [f64; 2] = [0.1, 1.0];

/// Sizes of a run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Draws per estimator and temperature in the bias/variance study.
    pub draws: usize,
    pub taus: Vec<f64>,
    pub opt: OptConfig,
    pub opt_taus: Vec<f64>,
    pub seed: u64,
}

impl Config {
    /// The sizes of `cargo run --example estimators`.
    pub fn full(seed: u64) -> Config {
        Config {
            draws: 20_000,
            taus: TAUS.to_vec(),
            opt: OptConfig {
                steps: 2000,
                runs: 16,
                lr: 0.01,
                batch: 1,
                every: 10,
            },
            opt_taus: OPT_TAUS.to_vec(),
            seed,
        }
    }

    /// Small sizes for the tests.
    pub fn small(seed: u64) -> Config {
        Config {
            draws: 2_000,
            taus: vec![0.1, 1.0, 10.0],
            opt: OptConfig {
                steps: 100,
                runs: 4,
                lr: 0.01,
                batch: 1,
                every: 10,
            },
            opt_taus: vec![1.0],
            seed,
        }
    }
}

/// The results for one toy.
#[derive(Debug, Clone, PartialEq)]
pub struct ToyReport {
    pub toy: String,
    pub exact: Vec<f64>,
    pub rows: Vec<BiasVariance>,
    pub curves: Vec<Curve>,
    pub optimum: f64,
    /// `Some(t)` for a RELAX toy.
    pub relax_t: Option<f64>,
    /// RELAX toys: `(tau, |bias|)` of Gumbel-Softmax and straight-through in closed form
    /// ([`relax_relaxed_mean`]) on a fine tau grid; empty for the categorical toy.
    pub relaxed_bias_exact: Vec<(f64, f64)>,
    /// RELAX toys: the same for gapped straight-through ([`Estimator::relax_mean`]).
    pub gapped_bias_exact: Vec<(f64, f64)>,
}

/// The three toys of the study.
pub fn toys() -> Vec<Toy> {
    vec![Toy::relax(0.45), Toy::relax(0.499), Toy::categorical()]
}

/// Runs the bias/variance study and the optimisation curves on every toy.
pub fn run(cfg: &Config) -> gumbel_tensor::Result<Vec<ToyReport>> {
    toys()
        .iter()
        .enumerate()
        .map(|(i, toy)| {
            let seed = cfg
                .seed
                .wrapping_mul(1_000_003)
                .wrapping_add(i as u64 * 7919);
            let rows = bias_variance(toy, &Estimator::STUDIED, &cfg.taus, cfg.draws, seed)?;
            let mut curves = vec![optimise(toy, Estimator::Exact, None, &cfg.opt, seed + 1)?];
            for est in Estimator::STUDIED {
                for tau in est.taus(&cfg.opt_taus) {
                    // every estimator gets the same run seeds
                    curves.push(optimise(toy, est, tau, &cfg.opt, seed + 100)?);
                }
            }
            let exact = toy.exact_grad(&toy.logits);
            // |closed-form mean - exact| of `est` on a fine tau grid (RELAX toys)
            let closed_form_bias = |est: Estimator| match toy.relax_t {
                Some(t) if cfg.taus.len() > 1 => {
                    let lo = cfg.taus.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = cfg.taus.iter().copied().fold(0.0, f64::max);
                    log_grid(lo, hi, 60)
                        .into_iter()
                        .filter_map(|tau| Some((tau, (est.relax_mean(t, tau)? - exact[0]).abs())))
                        .collect()
                }
                _ => Vec::new(),
            };
            let relaxed_bias_exact = closed_form_bias(Estimator::GumbelSoftmax);
            let gapped_bias_exact = closed_form_bias(Estimator::GappedSt);
            Ok(ToyReport {
                toy: toy.name.clone(),
                exact,
                rows,
                curves,
                optimum: toy.optimum(),
                relax_t: toy.relax_t,
                relaxed_bias_exact,
                gapped_bias_exact,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------

fn tau_str(tau: Option<f64>) -> String {
    tau.map_or(String::new(), |t| t.to_string())
}

/// Writes `bias_variance.csv`, `mean_gradients.csv`, `optimisation.csv`, and per toy
/// `bias_variance_TOY.svg` and `optimisation_TOY.svg` to `dir`.
pub fn write_outputs(reports: &[ToyReport], dir: &Path) -> Result<(), Box<dyn Error>> {
    let mut bv = Csv::create(
        &dir.join("bias_variance.csv"),
        &[
            "toy",
            "estimator",
            "tau",
            "draws",
            "f_evals",
            "backward_passes",
            "exact_norm",
            "bias_norm",
            "bias_noise",
            "z_max",
            "variance",
            "variance_se",
            "mse",
            "cosine",
            "closed_form_bias",
        ],
    )?;
    let mut mg = Csv::create(
        &dir.join("mean_gradients.csv"),
        &[
            "toy",
            "estimator",
            "tau",
            "component",
            "exact",
            "mean",
            "se",
            "bias",
        ],
    )?;
    let mut oc = Csv::create(
        &dir.join("optimisation.csv"),
        &[
            "toy",
            "estimator",
            "tau",
            "step",
            "exact_loss_mean",
            "exact_loss_sd",
            "optimum",
        ],
    )?;
    for rep in reports {
        let exact_norm = rep.exact.iter().map(|x| x * x).sum::<f64>().sqrt();
        for r in &rep.rows {
            let (fe, bp) = r.estimator.cost();
            bv.row(&[
                &rep.toy,
                &r.estimator.name(),
                &tau_str(r.tau),
                &r.n,
                &fe,
                &bp,
                &exact_norm,
                &r.bias_norm,
                &r.bias_noise,
                &r.z_max,
                &r.stats.variance,
                &r.stats.variance_se,
                &r.mse(),
                &r.cosine,
                // the RELAX toy's estimators with a temperature ([`Estimator::relax_mean`])
                &match (rep.relax_t, r.tau) {
                    (Some(t), Some(tau)) => r
                        .estimator
                        .relax_mean(t, tau)
                        .map_or(String::new(), |m| (m - r.exact[0]).to_string()),
                    _ => String::new(),
                },
            ])?;
            for j in 0..r.exact.len() {
                mg.row(&[
                    &rep.toy,
                    &r.estimator.name(),
                    &tau_str(r.tau),
                    &j,
                    &r.exact[j],
                    &r.stats.mean[j],
                    &r.stats.mean_se[j],
                    &r.bias[j],
                ])?;
            }
        }
        for c in &rep.curves {
            for i in 0..c.steps.len() {
                oc.row(&[
                    &rep.toy,
                    &c.estimator.name(),
                    &tau_str(c.tau),
                    &c.steps[i],
                    &c.mean[i],
                    &c.sd[i],
                    &rep.optimum,
                ])?;
            }
        }
        plot::write_svg(
            &dir.join(format!("bias_variance_{}.svg", rep.toy)),
            (1200, 460),
            |root| bias_variance_panels(root, rep),
        )?;
        plot::write_svg(
            &dir.join(format!("optimisation_{}.svg", rep.toy)),
            (1200, 460),
            |root| optimisation_panels(root, rep),
        )?;
    }
    bv.finish()?;
    mg.finish()?;
    oc.finish()?;
    Ok(())
}

/// The variance panel's floor: smaller variances (gapped straight-through's at small tau)
/// are in the CSV, not in the plot.
const VARIANCE_FLOOR: f64 = 1e-8;

/// Bias (left) and variance (right) against tau, log-log, with 2-standard-error bars;
/// the temperature-free estimators as dashed horizontal lines (their measured bias norm is
/// sampling noise: they are unbiased).
fn bias_variance_panels(root: &plot::Area, rep: &ToyReport) -> plot::PlotResult {
    let panels = root.split_evenly((1, 2));
    let mut taus: Vec<f64> = rep.rows.iter().filter_map(|r| r.tau).collect();
    taus.sort_by(f64::total_cmp);
    taus.dedup();
    let mut estimators: Vec<Estimator> = Vec::new();
    for r in &rep.rows {
        if !estimators.contains(&r.estimator) {
            estimators.push(r.estimator);
        }
    }
    // one curve per estimator: `value` with error bars `2 err` against tau, or a flat line
    let curve = |est: Estimator, value: fn(&BiasVariance) -> f64, err: fn(&BiasVariance) -> f64| {
        let rows: Vec<&BiasVariance> = rep.rows.iter().filter(|r| r.estimator == est).collect();
        if est.uses_tau() {
            let pts = rows
                .iter()
                .map(|r| (r.tau.unwrap_or(1.0), value(r)))
                .collect();
            let errs = rows.iter().map(|r| 2.0 * err(r)).collect();
            Series::new(est.name(), pts, est.color()).with_err(errs)
        } else {
            let pts = taus.iter().map(|&t| (t, value(rows[0]))).collect();
            Series::new(est.name(), pts, est.color()).dashed()
        }
    };
    let mut bias: Vec<Series> = estimators
        .iter()
        .map(|&e| curve(e, |r| r.bias_norm, |r| r.bias_noise))
        .collect();
    let var: Vec<Series> = estimators
        .iter()
        .map(|&e| curve(e, |r| r.stats.variance, |r| r.stats.variance_se))
        .collect();
    let exact_norm = rep.exact.iter().map(|x| x * x).sum::<f64>().sqrt();
    let flat = taus.iter().map(|&t| (t, exact_norm)).collect();
    bias.push(Series::new("||exact gradient||", flat, 7).dashed());
    if !rep.relaxed_bias_exact.is_empty() {
        let closed = rep.relaxed_bias_exact.clone();
        let gs = Estimator::GumbelSoftmax.color();
        bias.push(Series::new("GS and ST, closed form", closed, gs).dashed());
    }
    if !rep.gapped_bias_exact.is_empty() {
        let closed = rep.gapped_bias_exact.clone();
        let gapped = Estimator::GappedSt.color();
        bias.push(Series::new("gapped ST, closed form", closed, gapped).dashed());
    }
    // gapped straight-through's variance falls like exp(-2/tau) as tau -> 0 (1e-40 at
    // tau = 0.02): points below the floor are left out, so that the others stay readable
    let var: Vec<Series> = var
        .into_iter()
        .map(|s| {
            let kept: Vec<usize> = (0..s.points.len())
                .filter(|&i| s.points[i].1 >= VARIANCE_FLOOR)
                .collect();
            Series {
                points: kept.iter().map(|&i| s.points[i]).collect(),
                err: kept.iter().filter_map(|&i| s.err.get(i).copied()).collect(),
                ..s
            }
        })
        .collect();
    plot::line_chart(
        &panels[0],
        &Chart::new(
            format!("{}: bias ||E[g] - grad||", rep.toy),
            "tau",
            "bias norm (bars: 2 x noise level)",
        )
        .log_x()
        .log_y()
        .legend(SeriesLabelPosition::LowerRight),
        &bias,
    )?;
    plot::line_chart(
        &panels[1],
        &Chart::new(
            format!("{}: variance tr Cov[g]", rep.toy),
            "tau",
            "variance per draw (bars: 2 se; below 1e-8 not drawn)",
        )
        .log_x()
        .log_y()
        .legend(SeriesLabelPosition::LowerLeft),
        &var,
    )?;
    Ok(())
}

/// The exact loss over Adam steps, one panel per temperature of the relaxed estimators
/// (the temperature-free ones appear in both).
fn optimisation_panels(root: &plot::Area, rep: &ToyReport) -> plot::PlotResult {
    let mut taus: Vec<f64> = rep.curves.iter().filter_map(|c| c.tau).collect();
    taus.sort_by(f64::total_cmp);
    taus.dedup();
    let panels = root.split_evenly((1, taus.len().max(1)));
    for (area, &tau) in panels.iter().zip(&taus) {
        let mut series: Vec<Series> = rep
            .curves
            .iter()
            .filter(|c| c.tau.is_none() || c.tau == Some(tau))
            .map(|c| {
                let pts = c
                    .steps
                    .iter()
                    .zip(&c.mean)
                    .map(|(&s, &m)| (s as f64, m))
                    .collect();
                let s = Series::new(c.estimator.name(), pts, c.estimator.color()).plain();
                if c.estimator == Estimator::Exact {
                    s.dashed()
                } else {
                    s
                }
            })
            .collect();
        let last = rep.curves[0].steps.last().copied().unwrap_or(0) as f64;
        series.push(
            Series::new("optimum", vec![(0.0, rep.optimum), (last, rep.optimum)], 7).dashed(),
        );
        plot::line_chart(
            area,
            &Chart::new(
                format!("{}: Adam, relaxed at tau = {tau}", rep.toy),
                "step",
                "exact loss (mean of runs)",
            )
            .legend(SeriesLabelPosition::UpperRight)
            .headroom(0.6),
            &series,
        )?;
    }
    Ok(())
}

/// Gradient estimators against the exact gradient: bias, variance, optimisation.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    out: OutArgs,
    /// Draws per estimator and temperature
    #[arg(long)]
    draws: Option<usize>,
    /// Adam steps per optimisation run
    #[arg(long)]
    steps: Option<usize>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let dir = args.out.dir("estimators")?;
    let mut cfg = Config::full(args.seed);
    cfg.draws = args.draws.unwrap_or(cfg.draws);
    cfg.opt.steps = args.steps.unwrap_or(cfg.opt.steps);
    let t0 = std::time::Instant::now();
    let reports = run(&cfg)?;
    for rep in &reports {
        println!(
            "\n== {}: exact gradient {:?} (norm {:.4e}); {} draws per row",
            rep.toy,
            rep.exact
                .iter()
                .map(|x| format!("{x:.4e}"))
                .collect::<Vec<_>>(),
            rep.exact.iter().map(|x| x * x).sum::<f64>().sqrt(),
            cfg.draws
        );
        println!(
            "{:<18} {:>6} {:>11} {:>10} {:>7} {:>11} {:>10} {:>8}",
            "estimator", "tau", "|bias|", "noise", "z_max", "variance", "se", "cosine"
        );
        for r in &rep.rows {
            if r.tau.is_some_and(|t| ![0.1, 0.5, 1.0, 5.0].contains(&t)) {
                continue;
            }
            println!(
                "{:<18} {:>6} {:>11.3e} {:>10.2e} {:>7.1} {:>11.3e} {:>10.2e} {:>8.4}",
                r.estimator.name(),
                tau_str(r.tau),
                r.bias_norm,
                r.bias_noise,
                r.z_max,
                r.stats.variance,
                r.stats.variance_se,
                r.cosine
            );
        }
        println!(
            "final exact loss after {} steps (optimum {:.5}):",
            cfg.opt.steps, rep.optimum
        );
        for c in &rep.curves {
            println!(
                "  {:<18} {:>5} {:.5} (sd over runs {:.5})",
                c.estimator.name(),
                tau_str(c.tau),
                c.mean.last().unwrap(),
                c.sd.last().unwrap()
            );
        }
    }
    write_outputs(&reports, &dir)?;
    println!(
        "\nwrote {} ({:.1} s)",
        dir.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
