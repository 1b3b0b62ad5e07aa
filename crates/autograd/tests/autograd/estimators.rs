//! The gradient estimators of `gumbel_autograd::estimators` against gradients computed by
//! enumeration.
//!
//! The toy: each row of logits `l` (k classes) is an independent categorical variable with
//! objective `f(D) = sum_c w_c (D_c - t_c)^2` of its one-hot sample `D`, so
//!
//! ```text
//! E[f] = sum_d pi_d f(e_d),     d E[f] / d l_j = pi_j (f(e_j) - E[f]),     pi = softmax(l)
//! ```
//!
//! Every row of a `[n, k]` batch holds the same logits, so the `n` rows' gradients are `n`
//! independent draws of the estimator: their mean is compared with the exact gradient in
//! standard errors (fixed seeds; a 4-SE band per component fails by chance with
//! probability about 6e-5 per component). Each check is paired with a case that must fail
//! it (a biased estimator or a wrong baseline), so the band is known to be tight enough.

use approx::relative_eq;
use gumbel_autograd::Tape;
use gumbel_autograd::estimators::{
    Baseline, Estimator, Gap, ScoreFunction, gapped_logits, gapped_straight_through_with_sample,
    reinmax_with_sample, score_term, straight_through_with_sample,
};
use gumbel_autograd::tensor::Tensor;
use gumbel_autograd::tensor::ops::gumbel::{GumbelRng, Temperature};

/// One categorical variable and its quadratic objective.
pub(crate) struct Toy {
    pub(crate) l: Vec<f64>,
    pub(crate) w: Vec<f64>,
    pub(crate) t: Vec<f64>,
}

impl Toy {
    /// `k` classes with logits, weights and targets from a fixed formula (no two classes
    /// alike, probabilities neither tiny nor dominant).
    pub(crate) fn new(k: usize, salt: usize) -> Toy {
        let h = |i: usize, m: usize| ((i * 7919 + salt * 104_729 + m * 31) % 1000) as f64 / 1000.0;
        Toy {
            l: (0..k).map(|i| 2.0 * h(i, 1) - 1.0).collect(),
            w: (0..k).map(|i| 0.5 + h(i, 2)).collect(),
            t: (0..k).map(|i| h(i, 3)).collect(),
        }
    }

    pub(crate) fn k(&self) -> usize {
        self.l.len()
    }

    pub(crate) fn pi(&self) -> Vec<f64> {
        let m = self.l.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = self.l.iter().map(|x| (x - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|x| x / s).collect()
    }

    /// `f(e_d)`.
    pub(crate) fn f(&self, d: usize) -> f64 {
        (0..self.k())
            .map(|c| {
                let y = if c == d { 1.0 } else { 0.0 };
                self.w[c] * (y - self.t[c]).powi(2)
            })
            .sum()
    }

    /// `d E[f] / d l` by enumeration.
    pub(crate) fn exact(&self) -> Vec<f64> {
        let pi = self.pi();
        let ef: f64 = (0..self.k()).map(|d| pi[d] * self.f(d)).sum();
        (0..self.k()).map(|j| pi[j] * (self.f(j) - ef)).collect()
    }
}

/// Mean and standard error of each column of `rows`.
pub(crate) fn mean_se(rows: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
    let n = rows.len() as f64;
    let k = rows[0].len();
    let mean: Vec<f64> = (0..k)
        .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n)
        .collect();
    let se = (0..k)
        .map(|j| {
            let var = rows.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / (n - 1.0);
            (var / n).sqrt()
        })
        .collect();
    (mean, se)
}

/// The largest `|mean - exact| / se` over the components (`se` floored at 1e-12).
pub(crate) fn worst_z(rows: &[Vec<f64>], exact: &[f64]) -> f64 {
    let (mean, se) = mean_se(rows);
    mean.iter()
        .zip(&se)
        .zip(exact)
        .map(|((m, s), e)| (m - e).abs() / s.max(1e-12))
        .fold(0.0, f64::max)
}

/// `n` per-row gradient estimates of `est` on `toy` at temperature `tau`, the objective
/// computed on the tape from the drawn value (so pathwise estimators get their path).
fn estimates(est: &mut Estimator, toy: &Toy, n: usize, tau: f64, seed: u64) -> Vec<Vec<f64>> {
    let k = toy.k();
    let tape = Tape::<f64>::new();
    let logits = tape.leaf(Tensor::from_fn([n, k], |i| toy.l[i % k]));
    let w = tape.constant(Tensor::new([k], toy.w.clone()).unwrap());
    let t = tape.constant(Tensor::new([k], toy.t.clone()).unwrap());
    let mut rng = GumbelRng::new(seed);
    let draw = est.draw(&logits, Temperature::Tau(tau), &mut rng).unwrap();
    let d = draw.value.sub(&t).unwrap();
    let f = d.mul(&d).unwrap().mul(&w).unwrap().sum_axis(1).unwrap();
    let loss = est.loss(&draw, &f).unwrap();
    let g = tape.backward(loss).unwrap();
    let g = g.get(logits).unwrap();
    (0..n).map(|r| g.row(r).to_vec()).collect()
}

#[test]
fn score_function_with_every_baseline_matches_enumeration() {
    for k in [3, 5, 10] {
        let toy = Toy::new(k, k);
        let exact = toy.exact();
        for (name, samples, n) in [
            ("reinforce", 1, 40_000),
            ("reinforce_mean", 1, 40_000),
            ("reinforce_loo:2", 2, 20_000),
            ("reinforce_loo:4", 4, 20_000),
        ] {
            let mut est: Estimator = name.parse().unwrap();
            assert_eq!(est.samples(), samples);
            if name == "reinforce_mean" {
                // one draw to set the running mean, so the measured draw uses a baseline
                estimates(&mut est, &toy, 1000, 1.0, 1);
            }
            let z = worst_z(&estimates(&mut est, &toy, n, 1.0, 7 + k as u64), &exact);
            assert!(
                z < 4.0,
                "{name}, k = {k}: {z:.2} standard errors from the exact gradient"
            );
        }
    }
}

#[test]
fn baselines_lower_the_variance() {
    // f is far from 0 here (w ~ 1.5): no baseline pays for it in variance.
    let toy = Toy::new(10, 3);
    let total_var = |est: &str| {
        let mut est: Estimator = est.parse().unwrap();
        estimates(&mut est, &toy, 500, 1.0, 2); // sets the running mean
        let (_, se) = mean_se(&estimates(&mut est, &toy, 20_000, 1.0, 3));
        se.iter().map(|s| s * s).sum::<f64>()
    };
    let (none, mean, loo) = (
        total_var("reinforce"),
        total_var("reinforce_mean"),
        total_var("reinforce_loo:2"),
    );
    assert!(
        mean < 0.5 * none,
        "running mean {mean:.3e} vs none {none:.3e}"
    );
    assert!(
        loo < 0.5 * none,
        "leave-one-out {loo:.3e} vs none {none:.3e}"
    );
}

/// Two toy variables scored together, `f(D1, D2) = f1(D1) + f2(D2) + D1^T A D2`, as pairs of
/// rows of one logits matrix (row `2i` the first variable, `2i + 1` the second). The exact
/// gradient of the first is `pi1_j (E[f | D1 = j] - E[f])`, and likewise for the second.
pub(crate) struct Coupled {
    pub(crate) a: Toy,
    pub(crate) b: Toy,
}

impl Coupled {
    pub(crate) fn new(k: usize) -> Coupled {
        Coupled {
            a: Toy::new(k, 11),
            b: Toy::new(k, 12),
        }
    }

    /// `A_ij`.
    pub(crate) fn coupling(i: usize, j: usize) -> f64 {
        ((i * 3 + j * 5) % 7) as f64 / 7.0 - 0.4
    }

    /// `f(e_i, e_j)`.
    pub(crate) fn f(&self, i: usize, j: usize) -> f64 {
        self.a.f(i) + self.b.f(j) + Self::coupling(i, j)
    }

    /// `[2 pairs, k]` logits: the two variables' logits in alternate rows.
    pub(crate) fn logits(&self, pairs: usize) -> Tensor<f64> {
        let k = self.a.k();
        Tensor::from_fn([2 * pairs, k], |i| {
            let (r, c) = (i / k, i % k);
            if r % 2 == 0 { self.a.l[c] } else { self.b.l[c] }
        })
    }

    /// The worst `|mean - exact| / se` of the estimates `g` (`[2 pairs, k]`) of each variable.
    pub(crate) fn worst_z(&self, g: &Tensor<f64>) -> (f64, f64) {
        let k = self.a.k();
        let (pa, pb) = (self.a.pi(), self.b.pi());
        let ef: f64 = (0..k)
            .flat_map(|i| (0..k).map(move |j| (i, j)))
            .map(|(i, j)| pa[i] * pb[j] * self.f(i, j))
            .sum();
        let exact_a: Vec<f64> = (0..k)
            .map(|i| pa[i] * ((0..k).map(|j| pb[j] * self.f(i, j)).sum::<f64>() - ef))
            .collect();
        let exact_b: Vec<f64> = (0..k)
            .map(|j| pb[j] * ((0..k).map(|i| pa[i] * self.f(i, j)).sum::<f64>() - ef))
            .collect();
        let pairs = g.rows() / 2;
        let rows_a: Vec<Vec<f64>> = (0..pairs).map(|p| g.row(2 * p).to_vec()).collect();
        let rows_b: Vec<Vec<f64>> = (0..pairs).map(|p| g.row(2 * p + 1).to_vec()).collect();
        (worst_z(&rows_a, &exact_a), worst_z(&rows_b, &exact_b))
    }
}

/// Two coupled variables: rows `2i` and `2i + 1` share the objective
/// `f(D1, D2) = f1(D1) + f2(D2) + D1^T A D2`. Each row's score-function term gets the pair's
/// `f`; the exact gradient of row 1 is `pi1_j (E[f | D1 = j] - E[f])`, and likewise for row 2.
#[test]
fn score_function_on_two_coupled_variables_matches_enumeration() {
    for (k, samples) in [(3, 1), (4, 3)] {
        let toys = Coupled::new(k);
        let pairs = 30_000;
        let baseline = if samples > 1 {
            Baseline::LeaveOneOut
        } else {
            Baseline::None
        };
        let mut est = Estimator::ScoreFunction(ScoreFunction::new(samples, baseline).unwrap());
        let tape = Tape::<f64>::new();
        let logits = tape.leaf(toys.logits(pairs));
        let draw = est
            .draw(&logits, Temperature::Tau(1.0), &mut GumbelRng::new(5))
            .unwrap();
        // f of every sample: sample s of row 2i pairs with sample s of row 2i + 1
        let fv: Vec<f64> = (0..2 * pairs * samples)
            .map(|idx| {
                let (row, s) = (idx / samples, idx % samples);
                let first = (row / 2) * 2;
                toys.f(
                    draw.index[first * samples + s],
                    draw.index[(first + 1) * samples + s],
                )
            })
            .collect();
        let fvar = tape.constant(Tensor::new([fv.len()], fv).unwrap());
        let loss = est.loss(&draw, &fvar).unwrap();
        let g = tape.backward(loss).unwrap();
        let (za, zb) = toys.worst_z(g.get(logits).unwrap());
        assert!(
            za < 4.0 && zb < 4.0,
            "k = {k}, K = {samples}: {za:.2}, {zb:.2} SE"
        );
    }
}

/// The classic mistake: a baseline that includes the sample's own `f` (the mean over all
/// `K` samples instead of the others) scales the gradient by `(K - 1)/K`. The enumeration
/// check must catch it, while the leave-one-out weights on the same draws pass.
#[test]
fn a_baseline_that_sees_its_own_sample_fails_the_check() {
    let toy = Toy::new(5, 2);
    let exact = toy.exact();
    let (n, samples) = (20_000, 2);
    let tape = Tape::<f64>::new();
    let logits = tape.leaf(Tensor::from_fn([n, 5], |i| toy.l[i % 5]));
    let est = Estimator::ScoreFunction(ScoreFunction::new(samples, Baseline::LeaveOneOut).unwrap());
    let draw = est
        .draw(&logits, Temperature::Tau(1.0), &mut GumbelRng::new(9))
        .unwrap();
    let f: Vec<f64> = draw.index.iter().map(|&d| toy.f(d)).collect();
    // a fresh tape per backward pass, on the same samples
    let grads_with = |weights: Vec<f64>| {
        let tape = Tape::<f64>::new();
        let logits = tape.leaf(Tensor::from_fn([n, 5], |i| toy.l[i % 5]));
        let term = score_term(&logits, &draw.index, &weights).unwrap();
        let g = tape.backward(term).unwrap();
        let g = g.get(logits).unwrap();
        (0..n).map(|r| g.row(r).to_vec()).collect::<Vec<_>>()
    };
    let k = samples as f64;
    let own_mean: Vec<f64> = f
        .chunks(samples)
        .flat_map(|row| {
            let m = row.iter().sum::<f64>() / k;
            row.iter().map(move |x| (x - m) / k).collect::<Vec<_>>()
        })
        .collect();
    let loo: Vec<f64> = f
        .chunks(samples)
        .flat_map(|row| {
            let s: f64 = row.iter().sum();
            row.iter()
                .map(move |x| (x - (s - x) / (k - 1.0)) / k)
                .collect::<Vec<_>>()
        })
        .collect();
    let z_wrong = worst_z(&grads_with(own_mean), &exact);
    let z_right = worst_z(&grads_with(loo), &exact);
    assert!(z_right < 4.0, "leave-one-out: {z_right:.2} SE");
    assert!(
        z_wrong > 4.0,
        "a baseline that sees its own sample passed: {z_wrong:.2} SE"
    );
}

/// ReinMax is second-order accurate: for an `f` quadratic in the one-hot its expectation is
/// the exact gradient at `tau = 1`. Straight-through's is not (its bias, computed by
/// enumeration for this toy, is many standard errors): the same check fails it.
#[test]
fn reinmax_is_unbiased_on_a_quadratic_and_straight_through_is_not() {
    for k in [3, 10] {
        let toy = Toy::new(k, 20 + k);
        let exact = toy.exact();
        let n = 40_000;
        let z_reinmax = worst_z(&estimates(&mut Estimator::ReinMax, &toy, n, 1.0, 4), &exact);
        let z_st = worst_z(
            &estimates(&mut Estimator::StraightThrough, &toy, n, 1.0, 4),
            &exact,
        );
        assert!(
            z_reinmax < 4.0,
            "k = {k}: ReinMax {z_reinmax:.2} SE from exact"
        );
        assert!(
            z_st > 4.0,
            "k = {k}: straight-through only {z_st:.2} SE from exact"
        );
    }
}

/// The issue's property: ReinMax's bias on a quadratic is below straight-through's, also at
/// `tau > 1` where neither is exact.
#[test]
fn reinmax_bias_is_below_straight_throughs() {
    let toy = Toy::new(6, 4);
    let exact = toy.exact();
    let bias = |est: &mut Estimator, tau: f64| {
        let (mean, _) = mean_se(&estimates(est, &toy, 40_000, tau, 8));
        mean.iter()
            .zip(&exact)
            .map(|(m, e)| (m - e).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    for tau in [1.0, 1.5] {
        let (rm, st) = (
            bias(&mut Estimator::ReinMax, tau),
            bias(&mut Estimator::StraightThrough, tau),
        );
        assert!(
            rm < st,
            "tau = {tau}: ReinMax bias {rm:.4} vs straight-through {st:.4}"
        );
    }
}

/// The issue's property for the estimators built on the Gumbel relaxation (Gumbel-Softmax,
/// straight-through Gumbel-Softmax, Gumbel-Rao): their bias falls as `tau` falls, on the
/// 6-class toy and on a 2-class (Bernoulli-like) one. Each step down in `tau` must lower the
/// bias's norm by more than 4 times its Monte Carlo noise (`sqrt(sum se^2)`; 240,000 / k
/// draws, so that the 2-class toy's smaller steps are resolved).
/// Straight-through and gapped straight-through are not in the list: their backward has no
/// noise, `softmax(l / tau)` tends to a one-hot as `tau` falls, and their bias grows again
/// below `tau = 1` (docs/estimators.md has the table).
#[test]
fn relaxed_estimators_bias_falls_as_tau_falls() {
    for toy in [Toy::new(6, 7), Toy::new(2, 5)] {
        let exact = toy.exact();
        for name in ["gumbel_softmax", "st_gumbel_softmax", "gumbel_rao:10"] {
            let bias_noise = |tau: f64| {
                let mut est: Estimator = name.parse().unwrap();
                let n = 240_000 / toy.k();
                let (mean, se) = mean_se(&estimates(&mut est, &toy, n, tau, 31));
                let bias = mean
                    .iter()
                    .zip(&exact)
                    .map(|(m, e)| (m - e).powi(2))
                    .sum::<f64>();
                (bias.sqrt(), se.iter().map(|s| s * s).sum::<f64>().sqrt())
            };
            let path: Vec<(f64, f64)> = [2.0, 1.0, 0.5].map(bias_noise).to_vec();
            for (hot, cold) in path.iter().zip(&path[1..]) {
                assert!(
                    cold.0 < hot.0 - 4.0 * hot.1.max(cold.1),
                    "{name}, k = {}: bias at tau 2, 1, 0.5: {path:?}",
                    toy.k()
                );
            }
        }
    }
}

/// ReinMax and straight-through against their reference formulas on fixed inputs, given
/// samples, `tau = 1.7`: `ReinMaxCore.backward` of github.com/microsoft/ReinMax
/// (`reinmax/reinmax.py`, with its final row-mean subtraction, which ours leaves out:
/// zero in exact arithmetic) and PyTorch's `y_soft_tau - y_soft_tau.detach() + one_hot`
/// idiom, both transcribed into plain f64 Python. The values were printed by this script
/// (`python3 reinmax_reference.py`):
///
// # ReinMaxCore.backward of github.com/microsoft/ReinMax (reinmax/reinmax.py), transcribed
// # line by line into plain Python floats (IEEE f64), and straight-through's
// # `y_soft_tau - y_soft_tau.detach() + one_hot` gradient; on fixed inputs.
// import math
// R, C, TAU = 3, 5, 1.7
// INDEX = [1, 4, 0]
// logits = [[2.0 * math.sin(0.7 * (r * C + c) + 0.1) for c in range(C)] for r in range(R)]
// dy = [[math.cos(0.3 * (r * C + c) + 0.2) for c in range(C)] for r in range(R)]
//
// def softmax(x):
//     m = max(x); e = [math.exp(v - m) for v in x]; s = sum(e)
//     return [v / s for v in e]
//
// reinmax, st = [], []
// for r in range(R):
//     one_hot = [1.0 if c == INDEX[r] else 0.0 for c in range(C)]
//     y_soft = softmax(logits[r])
//     y_tau = softmax([v / TAU for v in logits[r]])
//     shifted_y_soft = [0.5 * (a + b) for a, b in zip(y_tau, one_hot)]
//     g1 = [2.0 * g * s for g, s in zip(dy[r], shifted_y_soft)]
//     s1 = sum(g1)
//     g1 = [g - s * s1 for g, s in zip(g1, shifted_y_soft)]
//     g0 = [(-0.5 * g + 0.0) * y for g, y in zip(dy[r], y_soft)]
//     s0 = sum(g0)
//     g0 = [g - y * s0 for g, y in zip(g0, y_soft)]
//     g = [a + b for a, b in zip(g0, g1)]
//     m = sum(g) / C
//     reinmax += [v - m for v in g]
//     dot = sum(a * b for a, b in zip(dy[r], y_tau))
//     st += [y * (g - dot) / TAU for g, y in zip(dy[r], y_tau)]
// print("const REINMAX_DL: &[f64] = &[" + ", ".join(repr(v) for v in reinmax) + "];")
// print("const STRAIGHT_THROUGH_DL: &[f64] = &[" + ", ".join(repr(v) for v in st) + "];")
#[test]
fn reinmax_and_straight_through_match_their_reference_formulas() {
    const REINMAX_DL: &[f64] = &[
        0.0129426764528541,
        0.11917298561442481,
        -0.028574443407219423,
        -0.049646554427491,
        -0.053894664232568494,
        0.08642386400996928,
        0.03623540658304694,
        0.015127907025093158,
        0.0024380461949976965,
        -0.14022522381310706,
        -0.08855044799908811,
        0.0064485010363193995,
        0.021203834535361538,
        0.03163985466715021,
        0.029258257760256964,
    ];
    const STRAIGHT_THROUGH_DL: &[f64] = &[
        0.02115270595146739,
        0.03051092734827712,
        0.009958635920737159,
        -0.02696066152695807,
        -0.034661607693523576,
        0.06596923193807469,
        0.018144898999158394,
        0.0009932076179797575,
        -0.0184267932939046,
        -0.06668054526130825,
        -0.023187656259335228,
        -0.02010864886512961,
        0.00592350579616561,
        0.01947502579656359,
        0.017897773531735713,
    ];
    let (rows, classes, tau) = (3, 5, 1.7);
    let index = [1, 4, 0];
    let fill = |f: &dyn Fn(f64) -> f64| Tensor::from_fn([rows, classes], |i| f(i as f64));
    let dy = fill(&|i| (0.3 * i + 0.2).cos());
    let temp = Temperature::Tau(tau);
    for (name, want) in [
        ("reinmax", REINMAX_DL),
        ("straight_through", STRAIGHT_THROUGH_DL),
    ] {
        let tape = Tape::<f64>::new();
        let logits = tape.leaf(fill(&|i| 2.0 * (0.7 * i + 0.1).sin()));
        let node = match name {
            "reinmax" => reinmax_with_sample(&logits, &index, temp),
            _ => straight_through_with_sample(&logits, &index, temp),
        }
        .unwrap();
        let g = tape.backward_with_seed(node, dy.clone()).unwrap();
        let got = g.get(logits).unwrap().as_slice();
        for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
            assert!(
                relative_eq!(a, b, epsilon = 1e-15, max_relative = 1e-12),
                "{name} [{i}]: {a} vs reference {b}"
            );
        }
    }
}

/// ReinMax against the authors' package itself (`reinmax` 0.1.0 from PyPI, its
/// `ReinMax_Auto` autograd function, PyTorch 2.15 in float64) on the inputs above, with the
/// sample the package drew. Printed by this script (`python reinmax_package.py` in the
/// peers venv of ../shared/peers/setup.sh, plus `pip install reinmax==0.1.0`):
///
// # ReinMax's gradient from the authors' package (pip install reinmax==0.1.0, class ReinMax_Auto, PyTorch 2.15,
// # float64) on fixed inputs: the sample comes from the package's own torch.multinomial.
// import math, torch
// from reinmax.reinmax import ReinMax_Auto as ReinMaxCore
// torch.set_default_dtype(torch.float64)
// torch.manual_seed(0)
// R, C, TAU = 3, 5, 1.7
// logits = torch.tensor([[2.0 * math.sin(0.7 * (r * C + c) + 0.1) for c in range(C)] for r in range(R)], requires_grad=True)
// dy = torch.tensor([[math.cos(0.3 * (r * C + c) + 0.2) for c in range(C)] for r in range(R)])
// one_hot, y_soft = ReinMaxCore.apply(logits, torch.tensor([TAU]))
// (one_hot * dy).sum().backward()
// print("const PACKAGE_INDEX: [usize; 3] = " + repr(one_hot.argmax(-1).tolist()) + ";")
// print("const PACKAGE_DL: &[f64] = &[" + ", ".join(repr(v) for v in logits.grad.reshape(-1).tolist()) + "];")
#[test]
fn reinmax_matches_the_authors_package() {
    const PACKAGE_INDEX: [usize; 3] = [2, 4, 1];
    const PACKAGE_DL: &[f64] = &[
        0.02254026277188556,
        0.02083770806036279,
        0.02676264142623642,
        -0.027554173312878353,
        -0.04258643894560642,
        0.08642386400996928,
        0.036235406583046935,
        0.015127907025093154,
        0.002438046194997692,
        -0.14022522381310706,
        -0.011901850200661366,
        -0.056516306593336535,
        0.013322460713006539,
        0.02763571374218427,
        0.02745998233880709,
    ];
    let tape = Tape::<f64>::new();
    let fill = |f: &dyn Fn(f64) -> f64| Tensor::from_fn([3, 5], |i| f(i as f64));
    let logits = tape.leaf(fill(&|i| 2.0 * (0.7 * i + 0.1).sin()));
    let dy = fill(&|i| (0.3 * i + 0.2).cos());
    let node = reinmax_with_sample(&logits, &PACKAGE_INDEX, Temperature::Tau(1.7)).unwrap();
    let g = tape.backward_with_seed(node, dy).unwrap();
    for (i, (&a, &b)) in g
        .get(logits)
        .unwrap()
        .as_slice()
        .iter()
        .zip(PACKAGE_DL)
        .enumerate()
    {
        assert!(
            relative_eq!(a, b, epsilon = 1e-15, max_relative = 1e-12),
            "[{i}]: {a} vs the package's {b}"
        );
    }
}

/// Gumbel-Rao is ST-Gumbel-Softmax's gradient averaged over noise drawn given the sample:
/// the same mean (checked component by component against independent ST-GS estimates, in
/// combined standard errors) and a smaller variance, falling with `K`.
#[test]
fn gumbel_rao_has_st_gumbel_softmaxs_mean_and_less_variance() {
    let toy = Toy::new(6, 5);
    let (n, tau) = (40_000, 0.5);
    let st = estimates(&mut Estimator::StGumbelSoftmax, &toy, n, tau, 1);
    let gr1 = estimates(&mut Estimator::GumbelRao { draws: 1 }, &toy, n, tau, 2);
    let gr10 = estimates(&mut Estimator::GumbelRao { draws: 10 }, &toy, n, tau, 3);
    let (m_st, se_st) = mean_se(&st);
    let total_var = |se: &[f64]| se.iter().map(|s| s * s * n as f64).sum::<f64>();
    for (name, rows) in [("K = 1", &gr1), ("K = 10", &gr10)] {
        let (m, se) = mean_se(rows);
        for c in 0..6 {
            let z = (m[c] - m_st[c]).abs() / (se[c].powi(2) + se_st[c].powi(2)).sqrt();
            assert!(
                z < 4.0,
                "{name}, class {c}: {z:.2} SE from ST-Gumbel-Softmax's mean"
            );
        }
    }
    let (v_st, v1, v10) = (
        total_var(&se_st),
        total_var(&mean_se(&gr1).1),
        total_var(&mean_se(&gr10).1),
    );
    assert!(
        v10 < 0.8 * v1 && v10 < 0.8 * v_st,
        "variance: ST {v_st:.4}, K=1 {v1:.4}, K=10 {v10:.4}"
    );
}

/// Every estimator's draw consumes exactly one counter value of the generator (Gumbel-Rao
/// included: its backward's conditional draws come from a side stream, and running the
/// backward does not touch the generator), so a model that draws at every step gets the
/// same sequence of counters whichever estimator it uses; and the one-hot estimators draw
/// the same sample for the same counter (Gumbel-max).
#[test]
fn every_draw_consumes_one_counter_value_and_one_hot_samples_agree() {
    let logits = Tensor::from_fn([4, 7], |i| ((i * 37 % 11) as f64 - 5.0) / 3.0);
    let mut samples = vec![];
    for name in [
        "reinforce",
        "reinforce_loo:3",
        "straight_through",
        "gumbel_softmax",
        "st_gumbel_softmax",
        "reinmax",
        "gumbel_rao:5",
        "gapped_st",
        "gapped_st:p",
    ] {
        let tape = Tape::<f64>::new();
        let l = tape.leaf(logits.clone());
        let est: Estimator = name.parse().unwrap();
        let mut rng = GumbelRng::new(12);
        rng.set_counter(40);
        let draw = est.draw(&l, Temperature::Tau(1.0), &mut rng).unwrap();
        assert_eq!(rng.counter(), 41, "{name}: the draw");
        let f = draw.value.sum_axis(1).unwrap();
        est.clone().loss(&draw, &f).unwrap().backward().unwrap();
        assert_eq!(rng.counter(), 41, "{name}: the backward");
        if draw.samples == 1 && name != "gumbel_softmax" {
            samples.push((name, draw.index));
        }
    }
    for (name, index) in &samples {
        assert_eq!(
            index, &samples[0].1,
            "{name} drew another sample than {}",
            samples[0].0
        );
    }
}

#[test]
fn forward_values_are_exact_samples_and_errors_are_named() {
    let tape = Tape::<f32>::new();
    let l = tape.leaf(
        Tensor::new(
            [2, 3],
            vec![0.0, f32::NEG_INFINITY, 1.0, 2.0, 0.0, f32::NEG_INFINITY],
        )
        .unwrap(),
    );
    for name in [
        "reinforce_loo:3",
        "straight_through",
        "st_gumbel_softmax",
        "reinmax",
        "gapped_st",
        "gapped_st:p",
    ] {
        let est: Estimator = name.parse().unwrap();
        let draw = est
            .draw(&l, Temperature::Tau(1.0), &mut GumbelRng::new(3))
            .unwrap();
        let v = draw.value.value().unwrap();
        assert_eq!(v.rows(), 2 * est.samples(), "{name}");
        for (r, &c) in draw.index.iter().enumerate() {
            let row = v.row(r);
            assert_eq!(row[c], 1.0, "{name}");
            assert_eq!(row.iter().sum::<f32>(), 1.0, "{name}: one-hot");
            assert_ne!(
                c,
                [1, 2][r / est.samples()],
                "{name}: a masked class was drawn"
            );
        }
    }
    let bad = tape.leaf(Tensor::new([1, 2], vec![f32::NAN, 0.0]).unwrap());
    for name in [
        "reinforce",
        "straight_through",
        "reinmax",
        "gumbel_softmax",
        "gapped_st",
    ] {
        let est: Estimator = name.parse().unwrap();
        let err = est
            .draw(&bad, Temperature::Tau(1.0), &mut GumbelRng::new(3))
            .unwrap_err();
        assert!(err.to_string().contains("NaN"), "{name}: {err}");
    }
    let err = Estimator::ReinMax
        .draw(&l, Temperature::Tau(0.5), &mut GumbelRng::new(3))
        .unwrap_err();
    assert!(err.to_string().contains("tau >= 1"), "{err}");
    let err = Estimator::StraightThrough
        .draw(&l, Temperature::Tau(0.0), &mut GumbelRng::new(3))
        .unwrap_err();
    assert!(err.to_string().contains("tau"), "{err}");
    // the objective must have one value per drawn sample
    let mut est: Estimator = "reinforce_loo:3".parse().unwrap();
    let draw = est
        .draw(&l, Temperature::Tau(1.0), &mut GumbelRng::new(3))
        .unwrap();
    let f = tape.constant(Tensor::zeros([2]));
    let err = est.loss(&draw, &f).unwrap_err();
    assert!(
        err.to_string().contains("2 values for 6 drawn samples"),
        "{err}"
    );
}

/// Gapped straight-through against the authors' code itself: `gst_mover` of
/// github.com/chijames/GST (`model/basic.py`, run unchanged with PyTorch 2.15 in float64),
/// with our sample injected in place of its `OneHotCategorical.sample`, on the inputs of the
/// ReinMax check above, with the fixed gap 1 and with the exact adaptive gap
/// `-ln(1 - pi_D) / pi_D` passed row by row (its own adaptive path scales `pi_D` by
/// `1 - 1e-5` first, which ours leaves out). Printed by this script (`PYTHONPATH=GST python
/// gst_reference.py` in the peers venv of ../shared/peers/setup.sh):
///
// import math, torch
// from model.basic import gst_mover
// torch.set_default_dtype(torch.float64)
// R, C, TAU = 3, 5, 1.7
// INDEX = [1, 4, 0]
// logits0 = [[2.0 * math.sin(0.7 * (r * C + c) + 0.1) for c in range(C)] for r in range(R)]
// dy = torch.tensor([[math.cos(0.3 * (r * C + c) + 0.2) for c in range(C)] for r in range(R)])
// sample = torch.nn.functional.one_hot(torch.tensor(INDEX), C).to(torch.float64)
//
// def grad(rows, gap):
//     torch.distributions.one_hot_categorical.OneHotCategorical.sample = lambda self: sample[rows]
//     logits = torch.tensor([logits0[r] for r in rows], requires_grad=True)
//     out = gst_mover(logits, TAU, hard=True, gap=gap)
//     assert torch.equal(out.argmax(-1), torch.tensor([INDEX[r] for r in rows]))
//     (out * dy[rows]).sum().backward()
//     return logits.grad.reshape(-1).tolist()
//
// def exact_gap(r):  # -ln(1 - pi_D) / pi_D, without the reference's 1 - 1e-5 factor
//     l = logits0[r]; d = INDEX[r]
//     lse = math.log(sum(math.exp(v) for v in l))
//     rest = math.log(sum(math.exp(v) for i, v in enumerate(l) if i != d))
//     return (lse - rest) / math.exp(l[d] - lse)
//
// fixed = grad([0, 1, 2], 1.0)
// adaptive = sum((grad([r], exact_gap(r)) for r in range(R)), [])
// print("const GST_FIXED_DL: &[f64] = &[" + ", ".join(repr(v) for v in fixed) + "];")
// print("const GST_ADAPTIVE_DL: &[f64] = &[" + ", ".join(repr(v) for v in adaptive) + "];")
#[test]
fn gapped_straight_through_matches_the_authors_code() {
    const GST_FIXED_DL: &[f64] = &[
        0.02198930597694304,
        0.04220252576831964,
        0.002836240772164282,
        -0.024850468044702298,
        -0.04217760447272467,
        0.06596923193807468,
        0.018144898999158388,
        0.0009932076179797566,
        -0.018426793293904595,
        -0.06668054526130823,
        -0.03603537754218777,
        -0.012508376005520983,
        0.005142586231133138,
        0.022678345726992347,
        0.02072282158958327,
    ];
    const GST_ADAPTIVE_DL: &[f64] = &[
        0.022415488958828726,
        0.04282655885727743,
        0.002407207068941964,
        -0.024026033553981935,
        -0.043623221331066185,
        0.05900176610806783,
        0.020365732760726285,
        0.0023059953970891974,
        -0.01619583932314808,
        -0.06547765494273523,
        -0.03745441142291872,
        -0.012035019706926817,
        0.004784119780199648,
        0.023337697481023184,
        0.021367613868622706,
    ];
    let index = [1, 4, 0];
    let fill = |f: &dyn Fn(f64) -> f64| Tensor::from_fn([3, 5], |i| f(i as f64));
    let dy = fill(&|i| (0.3 * i + 0.2).cos());
    for (gap, want) in [
        (Gap::Fixed(1.0), GST_FIXED_DL),
        (Gap::Adaptive, GST_ADAPTIVE_DL),
    ] {
        let tape = Tape::<f64>::new();
        let logits = tape.leaf(fill(&|i| 2.0 * (0.7 * i + 0.1).sin()));
        let node = gapped_straight_through_with_sample(&logits, &index, Temperature::Tau(1.7), gap)
            .unwrap();
        let g = tape.backward_with_seed(node, dy.clone()).unwrap();
        for (i, (&a, &b)) in g
            .get(logits)
            .unwrap()
            .as_slice()
            .iter()
            .zip(want)
            .enumerate()
        {
            assert!(
                relative_eq!(a, b, epsilon = 1e-15, max_relative = 1e-12),
                "{gap:?} [{i}]: {a} vs the authors' {b}"
            );
        }
    }
}

/// The moved logits: the sample takes the row's maximum, every other class sits at least
/// `kappa` below it, classes already that far below (and masked ones) do not move, and the
/// adaptive gap is exact where `pi_D` rounds to 1.
#[test]
fn gapped_logits_put_the_sample_ahead_by_the_gap() {
    let (rows, classes) = (50, 7);
    let l = Tensor::from_fn([rows, classes], |i| {
        if i % 11 == 3 {
            f64::NEG_INFINITY
        } else {
            3.0 * (1.3 * i as f64 + 0.4).sin()
        }
    });
    let index: Vec<usize> = (0..rows)
        .map(|r| {
            (0..classes)
                .map(|c| (r * 5 + c) % classes)
                .find(|&c| l.row(r)[c].is_finite())
                .unwrap()
        })
        .collect();
    for gap in [
        Gap::Fixed(0.0),
        Gap::Fixed(1.0),
        Gap::Fixed(2.5),
        Gap::Adaptive,
    ] {
        let moved = gapped_logits(&l, &index, gap).unwrap();
        for (r, &d) in index.iter().enumerate() {
            let (row, new) = (l.row(r), moved.row(r));
            let top = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            assert_eq!(new[d], top, "{gap:?} row {r}: the sample takes the maximum");
            let kappa = match gap {
                Gap::Fixed(k) => k,
                Gap::Adaptive => {
                    // -ln(1 - pi_D) / pi_D by direct summation
                    let z: f64 = row.iter().map(|v| v.exp()).sum();
                    let pi_d = row[d].exp() / z;
                    -(1.0 - pi_d).ln() / pi_d
                }
            };
            for c in (0..classes).filter(|&c| c != d) {
                if row[c] <= top - kappa {
                    assert_eq!(new[c], row[c], "{gap:?} row {r} class {c} moved");
                } else {
                    assert!(
                        relative_eq!(new[c], top - kappa, max_relative = 1e-12),
                        "{gap:?} row {r} class {c}: {} vs {}",
                        new[c],
                        top - kappa
                    );
                }
            }
        }
    }
    // a sure sample (pi_D rounds to 1; kappa ~ l_D - logsumexp(others) stays finite) leads
    // by more than its gap already: nothing moves, nothing turns NaN
    let sure = Tensor::new([1, 3], vec![40.0, 0.0, -1.0]).unwrap();
    let moved = gapped_logits(&sure, &[0], Gap::Adaptive).unwrap();
    assert_eq!(moved.as_slice(), sure.as_slice());
    let sure = Tensor::new([1, 3], vec![20.0f32, 0.0, -1.0]).unwrap();
    let moved = gapped_logits(&sure, &[0], Gap::Adaptive).unwrap();
    assert_eq!(moved.as_slice(), sure.as_slice());
    // no other class left: they stay masked, nothing turns NaN
    let alone = Tensor::new([1, 3], vec![f64::NEG_INFINITY, 0.5, f64::NEG_INFINITY]).unwrap();
    let moved = gapped_logits(&alone, &[1], Gap::Adaptive).unwrap();
    assert_eq!(moved.as_slice(), alone.as_slice());
    // errors name the problem
    for (l, index, gap, says) in [
        (vec![0.0, f64::NAN], 0, Gap::Fixed(1.0), "logit is NaN"),
        (vec![0.0, f64::INFINITY], 0, Gap::Fixed(1.0), "logit is inf"),
        (vec![0.0, 1.0], 0, Gap::Fixed(-1.0), "gap -1"),
        (
            vec![0.0, 1.0],
            0,
            Gap::Fixed(f64::INFINITY),
            "finite and >= 0",
        ),
        (vec![0.0, f64::NEG_INFINITY], 1, Gap::Fixed(1.0), "masked"),
        (vec![0.0, 1.0], 2, Gap::Adaptive, "out of range"),
    ] {
        let l = Tensor::new([1, 2], l).unwrap();
        let err = gapped_logits(&l, &[index], gap).unwrap_err().to_string();
        assert!(err.contains(says), "{err}");
    }
}

/// Where the sample already leads every other class by the gap nothing moves, and the
/// gradient is straight-through's, bit for bit; where it does not, the two differ.
#[test]
fn gapped_straight_through_is_straight_through_where_the_sample_leads() {
    let fill = |v: &[f64]| Tensor::new([1, 4], v.to_vec()).unwrap();
    let dy = fill(&[0.3, -1.0, 0.7, 0.2]);
    let grads = |l: &[f64], d: usize| {
        let mut out = Vec::new();
        for gapped in [false, true] {
            let tape = Tape::<f64>::new();
            let logits = tape.leaf(fill(l));
            let temp = Temperature::Tau(0.7);
            let node = if gapped {
                gapped_straight_through_with_sample(&logits, &[d], temp, Gap::Fixed(1.0))
            } else {
                straight_through_with_sample(&logits, &[d], temp)
            }
            .unwrap();
            let g = tape.backward_with_seed(node, dy.clone()).unwrap();
            out.push(g.get(logits).unwrap().as_slice().to_vec());
        }
        out
    };
    let lead = grads(&[0.1, 2.5, -0.3, 1.5], 1); // 2.5 - 1.5 >= 1
    assert_eq!(lead[0], lead[1]);
    let behind = grads(&[0.1, 2.5, -0.3, 1.5], 3);
    assert_ne!(behind[0], behind[1]);
}
