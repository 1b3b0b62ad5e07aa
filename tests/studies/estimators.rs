//! Tests of `examples/estimators.rs` run small: the exact gradients, the conditional
//! Gumbel sampler behind Gumbel-Rao, and the properties the study reports: REINFORCE (with
//! and without its baseline) unbiased, Gumbel-Softmax the exact gradient of the relaxed
//! objective with bias growing and variance falling in tau, Gumbel-Rao with
//! straight-through's mean and less variance; the library's estimators as the study runs
//! them (REBAR unbiased at every tau, ReinMax unbiased at tau = 1 on these quadratic toys
//! and less biased than straight-through, ReinMax and gapped straight-through equal to
//! their closed forms on the RELAX toy); optimisation; thread-count independence.

#[path = "../../examples/estimators.rs"]
#[allow(dead_code)] // the tests run the example's core, not its main()
mod example;

use crate::support::{in_pool, scratch_dir};
use approx::{abs_diff_eq, assert_abs_diff_eq};
use example::common::stats::{logsumexp, mean_se, softmax};
use example::{
    BiasVariance, Config, Draws, Estimator, Toy, bias_variance, conditional_noise, gradients,
    optimise, relax_relaxed_mean, run, toys, write_outputs,
};
use gumbel_tensor::Tensor;
use gumbel_tensor::ops::gumbel::{
    GumbelRng, Noise, Output, Temperature, gumbel_max, gumbel_softmax_with_noise,
};

const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

#[test]
fn exact_gradients_match_finite_differences_and_the_closed_form() {
    // central differences of the enumerated objective, eps = 1e-5: truncation eps^2 L'''/6
    // ~ 1e-11, rounding 1e-16 / eps ~ 1e-11: tolerance 1e-9
    for toy in toys() {
        let g = toy.exact_grad(&toy.logits);
        for (gi, &j) in g.iter().zip(&toy.params) {
            let (mut up, mut down) = (toy.logits.clone(), toy.logits.clone());
            up[j] += 1e-5;
            down[j] -= 1e-5;
            let fd = (toy.exact_loss(&up) - toy.exact_loss(&down)) / 2e-5;
            assert!(
                abs_diff_eq!(*gi, fd, epsilon = 1e-9),
                "{} dl_{j}: {gi} vs {fd}",
                toy.name
            );
        }
    }
    // RELAX toy: dL/dphi = (1 - 2t) theta (1 - theta), theta = sigmoid(phi)
    for t in [0.45, 0.499] {
        let toy = Toy::relax(t);
        for phi in [-3.0f64, -0.5, 0.0, 1.2] {
            let theta = 1.0 / (1.0 + (-phi).exp());
            let g = toy.exact_grad(&[phi, 0.0]);
            assert_eq!(g.len(), 1);
            let want = (1.0 - 2.0 * t) * theta * (1.0 - theta);
            assert!(
                abs_diff_eq!(g[0], want, epsilon = 1e-15),
                "t {t}, phi {phi}"
            );
            // and the loss: theta (1 - t)^2 + (1 - theta) t^2
            let loss = theta * (1.0 - t).powi(2) + (1.0 - theta) * t * t;
            assert_abs_diff_eq!(toy.exact_loss(&[phi, 0.0]), loss, epsilon = 1e-15);
        }
    }
}

#[test]
fn conditional_gumbel_has_the_argmax_and_the_unconditional_law() {
    // D ~ softmax(l) by Gumbel-max, then noise conditioned on argmax = D: the argmax must
    // be D in every row, and, D being a fair sample, the noise must be iid standard
    // Gumbel: each component's mean (gamma), variance (pi^2/6), CDF at four points, the
    // correlation of two components, and the maximum M = max(l + g) ~ Gumbel(lse(l))
    // whatever D is. All within 4 standard errors.
    let l = Toy::categorical().logits;
    let k = l.len();
    let n = 200_000;
    let lt = Tensor::from_fn([n, k], |i| l[i % k]);
    let d = gumbel_max(&lt, &mut GumbelRng::new(31)).unwrap();
    let g = conditional_noise(&l, &d, 1, &mut GumbelRng::new(32));
    let lse = logsumexp(&l);
    let mut max_by_class = vec![Vec::new(); k];
    for r in 0..n {
        let row = g.row(r);
        let x: Vec<f64> = (0..k).map(|i| l[i] + row[i]).collect();
        let mut arg = 0;
        for i in 1..k {
            if x[i] > x[arg] {
                arg = i;
            }
        }
        assert_eq!(arg, d[r], "row {r}: argmax {arg}, conditioned on {}", d[r]);
        max_by_class[d[r]].push(x[arg] - lse);
    }
    let var = std::f64::consts::PI.powi(2) / 6.0;
    for i in 0..k {
        let col: Vec<f64> = (0..n).map(|r| g.row(r)[i]).collect();
        let m = mean_se(&col);
        assert!(
            (m.mean - EULER_GAMMA).abs() < 4.0 * m.se,
            "class {i}: mean {m:?}"
        );
        // se of the sample variance: sqrt((mu4 - sigma^4) / n), mu4 = (3 + 12/5) sigma^4
        let v = col.iter().map(|x| (x - m.mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        assert!(
            (v - var).abs() < 4.0 * var * (4.4 / n as f64).sqrt(),
            "class {i}: var {v}"
        );
        for x in [-1.0f64, 0.0, 1.0, 2.5] {
            let p = (-(-x).exp()).exp();
            let frac = col.iter().filter(|&&g| g <= x).count() as f64 / n as f64;
            assert!(
                (frac - p).abs() < 4.0 * (p * (1.0 - p) / n as f64).sqrt(),
                "class {i}, x {x}"
            );
        }
    }
    let (c0, c1): (Vec<f64>, Vec<f64>) = (0..n).map(|r| (g.row(r)[0], g.row(r)[1])).unzip();
    let cov = c0
        .iter()
        .zip(&c1)
        .map(|(a, b)| (a - EULER_GAMMA) * (b - EULER_GAMMA))
        .sum::<f64>()
        / n as f64;
    assert!(
        (cov / var).abs() < 4.0 / (n as f64).sqrt(),
        "correlation {}",
        cov / var
    );
    for (i, maxes) in max_by_class.iter().enumerate() {
        let m = mean_se(maxes);
        assert!(
            (m.mean - EULER_GAMMA).abs() < 4.0 * m.se,
            "max given D = {i}: {m:?}"
        );
    }
}

fn stats(toy: &Toy, est: Estimator, taus: &[f64], n: usize, seed: u64) -> Vec<BiasVariance> {
    bias_variance(toy, &[est], taus, n, seed).unwrap()
}

#[test]
fn reinforce_and_leave_one_out_are_unbiased() {
    // every component of the mean within 4 standard errors of the exact gradient; the
    // baseline lowers the variance (measured: 25x on the RELAX toy, 45x on the categorical)
    for toy in toys() {
        let r = &stats(&toy, Estimator::Reinforce, &[], 20_000, 41)[0];
        let loo = &stats(&toy, Estimator::ReinforceLoo, &[], 20_000, 41)[0];
        for s in [r, loo] {
            assert!(
                s.z_max < 4.0,
                "{} {}: z = {}, bias {:?}",
                toy.name,
                s.estimator.name(),
                s.z_max,
                s.bias
            );
        }
        let gap = r.stats.variance - loo.stats.variance;
        assert!(
            gap > 4.0 * r.stats.variance_se.hypot(loo.stats.variance_se),
            "{}",
            toy.name
        );
    }
}

#[test]
fn draws_index_is_the_forward_kernels_argmax() {
    let toy = Toy::categorical();
    let draws = Draws::new(&toy.logits, 5000, &mut GumbelRng::new(3)).unwrap();
    let k = toy.k();
    let lt = Tensor::from_fn([draws.n(), k], |i| toy.logits[i % k]);
    let s = gumbel_softmax_with_noise(
        &lt,
        Noise::Gumbel(&draws.g),
        Temperature::Tau(0.7),
        Output::Soft,
    )
    .unwrap();
    assert_eq!(s.index, draws.index);
}

#[test]
fn gumbel_softmax_is_the_gradient_of_the_relaxed_objective() {
    // The Gumbel-Softmax estimate, averaged over fixed noise, is exactly the gradient of the
    // sample average (1/n) sum_n f(softmax((l + g_n)/tau)): check it against central
    // differences of that average, computed here with a plain softmax. The kernels' exp is
    // accurate to a few ulps, so the average is known to ~1e-15 and its differences with
    // eps = 1e-5 to ~1e-10; truncation is eps^2 f'''/6 ~ 1e-10/tau^3: tolerance 1e-7.
    for toy in [Toy::relax(0.45), Toy::categorical()] {
        let n = 500;
        let draws = Draws::new(&toy.logits, n, &mut GumbelRng::new(5)).unwrap();
        let k = toy.k();
        for tau in [0.5, 2.0] {
            let g = gradients(&toy, Estimator::GumbelSoftmax, tau, &draws).unwrap();
            let dim = toy.params.len();
            let relaxed = |l: &[f64]| -> f64 {
                (0..n)
                    .map(|r| {
                        let z: Vec<f64> =
                            (0..k).map(|i| (l[i] + draws.g.row(r)[i]) / tau).collect();
                        toy.f(&softmax(&z))
                    })
                    .sum::<f64>()
                    / n as f64
            };
            for (c, &j) in toy.params.iter().enumerate() {
                let mean = (0..n).map(|r| g[r * dim + c]).sum::<f64>() / n as f64;
                let (mut up, mut down) = (toy.logits.clone(), toy.logits.clone());
                up[j] += 1e-5;
                down[j] -= 1e-5;
                let fd = (relaxed(&up) - relaxed(&down)) / 2e-5;
                assert!(
                    abs_diff_eq!(mean, fd, epsilon = 1e-7),
                    "{} tau {tau} dl_{j}: {mean} vs {fd}",
                    toy.name
                );
            }
        }
    }
}

#[test]
fn relaxed_bias_grows_and_variance_falls_with_tau() {
    // Gumbel-Softmax: at tau = 0.1 the bias is not resolved (it vanishes as tau -> 0 for
    // these quadratic f; measured z = 0.0 and 1.5 with 2e4 draws), at tau = 1 it is
    // (measured z = 16 and 37 with 2e4 draws, straight-through 6.5 and 24), and it grows to
    // tau = 5; the variance falls over the same range. Same for straight-through's bias
    // from 1 to 5 and its variance.
    for toy in [Toy::relax(0.45), Toy::categorical()] {
        for est in [Estimator::GumbelSoftmax, Estimator::StraightThrough] {
            let s = stats(&toy, est, &[0.1, 1.0, 5.0], 40_000, 43);
            let (lo, mid, hi) = (&s[0], &s[1], &s[2]);
            let name = format!("{} {}", toy.name, est.name());
            if est == Estimator::GumbelSoftmax {
                assert!(lo.z_max < 4.0, "{name}: tau 0.1 bias z = {}", lo.z_max);
            }
            assert!(mid.z_max > 4.0, "{name}: tau 1 bias z = {}", mid.z_max);
            assert!(
                hi.bias_norm - mid.bias_norm > 4.0 * hi.bias_noise.hypot(mid.bias_noise),
                "{name}: bias {} -> {}",
                mid.bias_norm,
                hi.bias_norm
            );
            for (a, b) in [(lo, mid), (mid, hi)] {
                assert!(
                    a.stats.variance - b.stats.variance
                        > 4.0 * a.stats.variance_se.hypot(b.stats.variance_se),
                    "{name}: variance {} at tau {:?} -> {} at {:?}",
                    a.stats.variance,
                    a.tau,
                    b.stats.variance,
                    b.tau
                );
            }
        }
    }
}

#[test]
fn relax_toy_relaxed_means_match_the_closed_form() {
    // At phi = 0 the means of Gumbel-Softmax and straight-through are both
    // (1 - 2t) int sigmoid'(u) sigmoid'(tau u) du (quadrature error < 1e-6 relative):
    // within 4 standard errors.
    let toy = Toy::relax(0.45);
    let s_gs = stats(
        &toy,
        Estimator::GumbelSoftmax,
        &[0.1, 0.5, 1.0, 5.0],
        40_000,
        47,
    );
    let s_st = stats(
        &toy,
        Estimator::StraightThrough,
        &[0.1, 0.5, 1.0, 5.0],
        40_000,
        47,
    );
    for s in s_gs.iter().chain(&s_st) {
        let want = relax_relaxed_mean(0.45, s.tau.unwrap());
        let (m, se) = (s.stats.mean[0], s.stats.mean_se[0]);
        assert!(
            (m - want).abs() < 4.0 * se + 1e-6 * want,
            "{} tau {:?}: {m} +- {se} vs {want}",
            s.estimator.name(),
            s.tau
        );
    }
    // the closed form's limits: the exact (1 - 2t)/4 as tau -> 0, and a bias that grows
    // monotonically with tau towards the whole gradient
    assert_abs_diff_eq!(relax_relaxed_mean(0.45, 1e-3), 0.025, epsilon = 1e-7);
    let taus = [0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 20.0];
    for w in taus.windows(2) {
        assert!(relax_relaxed_mean(0.45, w[1]) < relax_relaxed_mean(0.45, w[0]));
    }
    assert!(relax_relaxed_mean(0.45, 20.0) < 0.1 * 0.025);
}

#[test]
fn gumbel_rao_has_straight_throughs_mean_and_less_variance() {
    for toy in [Toy::relax(0.45), Toy::categorical()] {
        let n = 5000;
        let draws = Draws::new(&toy.logits, n, &mut GumbelRng::new(7)).unwrap();
        let dim = toy.params.len();
        for tau in [0.1, 1.0] {
            let st = gradients(&toy, Estimator::StraightThrough, tau, &draws).unwrap();
            let gr1 = gradients(&toy, Estimator::GumbelRao(1), tau, &draws).unwrap();
            let gr10 = gradients(&toy, Estimator::GumbelRao(10), tau, &draws).unwrap();
            let gr100 = gradients(&toy, Estimator::GumbelRao(100), tau, &draws).unwrap();
            let name = format!("{} tau {tau}", toy.name);
            // E[GR | D] = E[ST | D]: the paired differences have mean 0 in every component
            for gr in [&gr10, &gr100] {
                for c in 0..dim {
                    let diff: Vec<f64> =
                        (0..n).map(|r| gr[r * dim + c] - st[r * dim + c]).collect();
                    let m = mean_se(&diff);
                    assert!(m.mean.abs() < 4.0 * m.se, "{name}, component {c}: {m:?}");
                }
            }
            let var = |g: &[f64]| example::common::stats::vector_stats(g, dim);
            let (s_st, s1, s10, s100) = (var(&st), var(&gr1), var(&gr10), var(&gr100));
            // K = 1: one conditional draw given D has the law of the unconditional noise,
            // so Gumbel-Rao is straight-through in distribution: equal variances
            assert!(
                (s1.variance - s_st.variance).abs() < 4.0 * s1.variance_se.hypot(s_st.variance_se),
                "{name}: K=1 {} vs ST {}",
                s1.variance,
                s_st.variance
            );
            // Var(GR_K) = Var(E[ST|D]) + E[Var(ST|D)]/K: below straight-through's, and falling
            // in K where E[Var(ST|D)] is large (tau = 0.1; at tau = 1 the gain from K = 10
            // to 100 is 1%, measured)
            let pairs = if tau < 0.5 {
                vec![(&s_st, &s10), (&s10, &s100)]
            } else {
                vec![(&s_st, &s10)]
            };
            for (a, b) in pairs {
                assert!(
                    a.variance - b.variance > 4.0 * a.variance_se.hypot(b.variance_se),
                    "{name}: variance {} -> {}",
                    a.variance,
                    b.variance
                );
            }
        }
    }
}

#[test]
fn rebar_is_unbiased_at_every_tau() {
    // REBAR (eta = 1, lambda = tau) through the library: every component within 4 standard
    // errors of the exact gradient on the three toys at tau = 0.1, 1 and 10 (measured here:
    // z_max at most 2.4; in the full run at most 2.8 over ten temperatures). The tau only
    // changes the variance: on the categorical toy the control variate cuts REINFORCE's
    // variance 3.4x at tau = 1 (0.63 against 2.15, measured); on the RELAX toy it does not
    // (1.8e-2 against 1.6e-2), so only the categorical toy is checked for it.
    for toy in toys() {
        let s = stats(&toy, Estimator::Rebar, &[0.1, 1.0, 10.0], 20_000, 53);
        for r in &s {
            assert!(
                r.z_max < 4.0,
                "{} REBAR tau {:?}: z = {}, bias {:?}",
                toy.name,
                r.tau,
                r.z_max,
                r.bias
            );
        }
        if toy.relax_t.is_none() {
            let reinforce = &stats(&toy, Estimator::Reinforce, &[], 20_000, 53)[0];
            let rebar = &s[1];
            assert!(
                reinforce.stats.variance - rebar.stats.variance
                    > 4.0 * reinforce.stats.variance_se.hypot(rebar.stats.variance_se),
                "{}: REBAR variance {} vs REINFORCE {}",
                toy.name,
                rebar.stats.variance,
                reinforce.stats.variance
            );
        }
    }
}

#[test]
fn reinmax_is_unbiased_at_tau_1_and_less_biased_than_straight_through() {
    // ReinMax's mean is the exact gradient at tau = 1 for an f quadratic in the one-hot, as
    // on these toys: within 4 SE on all three. At tau = 5 it is biased on the categorical toy
    // (measured here: z = 190). And at tau = 1 on the categorical toy its bias norm
    // is below straight-through Gumbel-Softmax's by more than 4 combined noise levels
    // (measured here: 4.5e-3 with noise level 4.5e-3, against 3.8e-2 with 2.5e-3; the
    // difference is 6.5 combined noise levels).
    assert_eq!(
        Estimator::ReinMax.taus(&[0.1, 0.5, 1.0, 10.0]),
        vec![Some(1.0), Some(10.0)]
    );
    for toy in toys() {
        let s = stats(&toy, Estimator::ReinMax, &[1.0, 5.0], 40_000, 59);
        let (one, five) = (&s[0], &s[1]);
        assert!(
            one.z_max < 4.0,
            "{} ReinMax tau 1: z = {}",
            toy.name,
            one.z_max
        );
        if toy.relax_t.is_none() {
            assert!(
                five.z_max > 4.0,
                "{} ReinMax tau 5: z = {}",
                toy.name,
                five.z_max
            );
            let st = &stats(&toy, Estimator::StraightThrough, &[1.0], 40_000, 59)[0];
            assert!(
                st.bias_norm - one.bias_norm > 4.0 * st.bias_noise.hypot(one.bias_noise),
                "{}: bias ReinMax {} +- {} vs ST {} +- {}",
                toy.name,
                one.bias_norm,
                one.bias_noise,
                st.bias_norm,
                st.bias_noise
            );
        }
    }
}

#[test]
fn library_estimators_match_their_closed_forms_on_the_relax_toy() {
    // At phi = 0 (Estimator::relax_mean has the derivations): every ReinMax estimate is
    // (b - t)/2 and every gapped straight-through estimate 2 (b - t) sigmoid'(1/tau)/tau, for
    // b in {0, 1}; so their means are (1 - 2t)/4 (exact) and (1 - 2t) sigmoid'(1/tau)/tau,
    // within 4 SE, and their variances 1/16 and (sigmoid'(1/tau)/tau)^2 times
    // 4 Var(b) (4 frac (1 - frac) for the measured frequency of b = 1).
    // Rounding: the softmax is accurate to a few ulps, so 1e-10 relative.
    let n = 20_000;
    for t in [0.45, 0.499] {
        let toy = Toy::relax(t);
        let draws = Draws::new(&toy.logits, n, &mut GumbelRng::new(61)).unwrap();
        for (est, tau) in [
            (Estimator::ReinMax, 1.0f64),
            (Estimator::ReinMax, 3.0),
            (Estimator::GappedSt, 0.1),
            (Estimator::GappedSt, 0.5),
            (Estimator::GappedSt, 2.0),
        ] {
            let scale = match est {
                Estimator::ReinMax => 0.5,
                _ => {
                    let s = 1.0 / (1.0 + (-1.0 / tau).exp());
                    2.0 * s * (1.0 - s) / tau
                }
            };
            let g = gradients(&toy, est, tau, &draws).unwrap();
            let name = format!("{} {} tau {tau}", toy.name, est.name());
            let mut ones = 0;
            for &x in &g {
                let (hi, lo) = ((1.0 - t) * scale, -t * scale);
                if abs_diff_eq!(x, hi, epsilon = 1e-10 * scale) {
                    ones += 1;
                } else {
                    assert!(abs_diff_eq!(x, lo, epsilon = 1e-10 * scale), "{name}: {x}");
                }
            }
            // b = 1 about half the time
            let frac = ones as f64 / n as f64;
            assert!(
                (frac - 0.5).abs() < 4.0 * 0.5 / (n as f64).sqrt(),
                "{name}: {frac}"
            );
            let m = mean_se(&g);
            let want = est.relax_mean(t, tau).unwrap();
            assert!(
                (m.mean - want).abs() < 4.0 * m.se,
                "{name}: {m:?} vs {want}"
            );
            // two values a distance `scale` apart, the upper one with frequency `frac`
            let var = m.se * m.se * n as f64;
            let want_var = scale * scale * frac * (1.0 - frac) * n as f64 / (n - 1) as f64;
            assert!(
                (var - want_var).abs() < 1e-8 * want_var,
                "{name}: variance {var} vs {want_var}"
            );
        }
    }
}

#[test]
fn optimisation_curves() {
    // 600 Adam steps on the RELAX toy with t = 0.45 from phi = 0 (loss 0.2525): the exact
    // gradient and REINFORCE+LOO descend towards t^2 = 0.2025 (measured at 600 steps of the
    // full run: 0.2057 and 0.2089); Gumbel-Softmax at tau = 1 follows its relaxed
    // objective, whose minimiser keeps theta near 1/2, and stays above 0.235 (measured
    // 0.24 over 2000 steps).
    let toy = Toy::relax(0.45);
    let mut cfg = Config::small(1).opt;
    cfg.steps = 600;
    cfg.runs = 8;
    let exact = optimise(&toy, Estimator::Exact, None, &cfg, 9).unwrap();
    let loo = optimise(&toy, Estimator::ReinforceLoo, None, &cfg, 9).unwrap();
    let gs = optimise(&toy, Estimator::GumbelSoftmax, Some(1.0), &cfg, 9).unwrap();
    assert_eq!(exact.steps.len(), 1 + cfg.steps / cfg.every);
    assert_abs_diff_eq!(exact.mean[0], 0.2525, epsilon = 1e-12);
    let last = |c: &example::Curve| *c.mean.last().unwrap();
    assert!(last(&exact) < 0.21, "exact: {}", last(&exact));
    assert!(last(&loo) < 0.215, "LOO: {}", last(&loo));
    assert!(
        last(&gs) > 0.235,
        "Gumbel-Softmax at tau = 1: {}",
        last(&gs)
    );
    // the exact gradient's curve has no noise: every run is the same
    assert!(exact.sd.iter().all(|&s| s < 1e-12));
}

#[test]
fn same_seed_same_report_for_1_and_2_threads() {
    let small = || run(&Config::small(3)).unwrap();
    assert_eq!(in_pool(1, small), in_pool(2, small));
}

#[test]
fn writes_csv_and_svg() {
    let reports = run(&Config::small(4)).unwrap();
    let dir = scratch_dir("study_estimators");
    write_outputs(&reports, &dir).unwrap();
    let bv = std::fs::read_to_string(dir.join("bias_variance.csv")).unwrap();
    // per toy: REINFORCE, LOO, 4 relaxed estimators, gapped ST and REBAR at 3
    // temperatures, ReinMax at the 2 of them >= 1
    assert_eq!(bv.lines().count(), 1 + 3 * (2 + 6 * 3 + 2));
    // the RELAX toys' closed-form bias: for every estimator with a temperature, and only there
    for line in bv.lines().skip(1).filter(|l| l.starts_with("relax")) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(
            cells[2].is_empty(),
            cells.last().unwrap().is_empty(),
            "{line}"
        );
    }
    for rep in &reports {
        for prefix in ["bias_variance", "optimisation"] {
            let s = std::fs::read_to_string(dir.join(format!("{prefix}_{}.svg", rep.toy))).unwrap();
            assert!(
                s.starts_with("<svg") && s.contains("</svg>"),
                "{prefix} {}",
                rep.toy
            );
        }
    }
}
