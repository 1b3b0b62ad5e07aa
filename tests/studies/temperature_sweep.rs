//! Tests of `examples/temperature_sweep.rs` run small: the sweep's numbers against exact
//! k = 2 integrals and the k = 10 asymptotes, monotonicity in tau, `E[y]` against
//! `softmax(l)`, the simplex density against samples (the change of variables `v -> y`),
//! thread-count independence, and the files it writes.

#[path = "../../examples/temperature_sweep.rs"]
#[allow(dead_code)] // the tests run the example's core, not its main()
mod example;

use crate::support::{in_pool, scratch_dir};
use approx::{abs_diff_eq, assert_abs_diff_eq, relative_eq};
use example::common::plot::{self, Cell};
use example::common::stats::{chi_square, log_grid, softmax};
use example::{
    Config, LOGITS, Report, cell_probabilities, entropy_large_tau, logits3, max_y_large_tau, run,
    simplex_log_density, simplex_samples, sweep, top_gap_density, tv_small_tau, tv_two_way,
    write_outputs,
};

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `E[y_1]` for k = 2 by quadrature: `y_1 = sigmoid((d + L)/tau)` with `d = l_1 - l_2` and
/// `L = g_1 - g_2` standard Logistic (density `sigmoid(s) sigmoid(-s)`). Simpson's rule on
/// `[-60, 60]` with step `min(tau, 1)/50`: the integrand varies on the scale `tau` around
/// `s = -d`, so the error is about `(1/50)^4 ~ 2e-7` relative, far below the Monte Carlo
/// errors it is compared with.
fn mean_y1_k2(d: f64, tau: f64) -> f64 {
    let h0 = tau.min(1.0) / 50.0;
    let n = ((120.0 / h0) as usize / 2) * 2;
    let h = 120.0 / n as f64;
    let f = |s: f64| sigmoid((d + s) / tau) * sigmoid(s) * sigmoid(-s);
    let mut sum = f(-60.0) + f(60.0);
    for i in 1..n {
        sum += f(-60.0 + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    sum * h / 3.0
}

#[test]
fn two_classes_match_exact_integrals() {
    // k = 2: E[1 - max y] = int rho(D) sigmoid(-D/tau) dD exactly, and E[y_1] by quadrature;
    // the Monte Carlo means must agree within 4 standard errors (quadrature errors are
    // below 1e-6 relative).
    let logits = [0.7, -0.3];
    let taus = [0.01, 0.1, 1.0, 10.0];
    let rows = sweep(&logits, &taus, 200_000, 11).unwrap();
    for r in &rows {
        let tv = tv_two_way(&logits, r.tau);
        assert!(
            (r.tv_onehot.mean - tv).abs() < 4.0 * r.tv_onehot.se + 1e-6 * tv,
            "tau {}: E[1 - max y] = {} +- {} vs {tv}",
            r.tau,
            r.tv_onehot.mean,
            r.tv_onehot.se
        );
        let m = mean_y1_k2(1.0, r.tau);
        assert!(
            (r.mean_y[0].mean - m).abs() < 4.0 * r.mean_y[0].se + 1e-6,
            "tau {}: E[y_1] = {:?} vs {m}",
            r.tau,
            r.mean_y[0]
        );
    }
    // the ingredients: tau -> 0 gives P(class 1) = sigmoid(d); the gap density integrates
    // to 1 (Simpson on [0, 60] with step 1e-3: error ~1e-13; the tail beyond is ~e^-60)
    assert_abs_diff_eq!(mean_y1_k2(1.0, 1e-3), sigmoid(1.0), epsilon = 1e-6);
    for l in [&logits[..], &LOGITS[..]] {
        let p = softmax(l);
        let (n, h) = (60_000, 1e-3);
        let mut sum = top_gap_density(&p, 0.0) + top_gap_density(&p, 60.0);
        for i in 1..n {
            sum += top_gap_density(&p, i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        assert!(
            abs_diff_eq!(sum * h / 3.0, 1.0, epsilon = 1e-10),
            "{}",
            sum * h / 3.0
        );
    }
}

#[test]
fn ten_classes_limits_and_monotonicity() {
    let taus = log_grid(0.01, 10.0, 7);
    let rows = sweep(&LOGITS, &taus, 100_000, 12).unwrap();
    let k = LOGITS.len() as f64;
    for w in rows.windows(2) {
        // the same noise for every tau: per sample, H(softmax(x/tau)) rises and max falls
        // with tau, so the means do too, without statistical slack
        assert!(w[1].entropy.mean > w[0].entropy.mean);
        assert!(w[1].max_y.mean < w[0].max_y.mean);
        assert!(w[1].tv_onehot.mean > w[0].tv_onehot.mean);
    }
    for r in &rows {
        // argmax y = argmax (l + g), so TV(y, one_hot) = 1 - max y sample by sample
        assert_abs_diff_eq!(r.tv_onehot.mean, 1.0 - r.max_y.mean, epsilon = 1e-12);
        assert!(r.entropy.mean > 0.0 && r.entropy.mean < k.ln());
    }

    // tau = 0.01: E[1 - max y] = ln 2 (1 - sum p^2) tau (1 + O(tau)). The relative
    // corrections (slope of the gap density: -0.8% here; three-way near ties: +0.9%,
    // measured with 4e5 samples) are bounded by 3 tau = 3%; plus 4 standard errors.
    let r = &rows[0];
    let asym = tv_small_tau(&LOGITS, r.tau);
    assert!(
        (r.tv_onehot.mean / asym - 1.0).abs() < 4.0 * r.tv_onehot.se / asym + 3.0 * r.tau,
        "tau 0.01: {:?} vs {asym}",
        r.tv_onehot
    );
    // ... and E[y] = softmax(l) + O(tau^2): every class of the paired mean of y - H is 0
    // within 4 standard errors (the l1 distance below its noise level)
    assert!(
        r.l1_paired < 4.0 * r.l1_paired_noise,
        "{} vs {}",
        r.l1_paired,
        r.l1_paired_noise
    );

    // tau = 1: E[y] is not softmax(l): the distance is 40 times its noise level or more
    // (measured: 0.155 against 0.002)
    let r1 = rows
        .iter()
        .find(|r| abs_diff_eq!(r.tau, 1.0, epsilon = 1e-12))
        .unwrap();
    assert!(
        r1.l1_softmax > 40.0 * r1.l1_noise,
        "{} vs {}",
        r1.l1_softmax,
        r1.l1_noise
    );

    // tau = 10: to first order in 1/tau, E[y] = softmax(l/tau) = (1 + (l - mean l)/tau)/k:
    // the distance to softmax(l/tau) is second order, below 5% of the distance to uniform
    let r = rows.last().unwrap();
    assert!(
        r.l1_softmax_tau < 0.05 * r.l1_uniform,
        "{} vs {}",
        r.l1_softmax_tau,
        r.l1_uniform
    );
    // E[max y] - 1/k ~ (lse(l) - mean l)/(k tau) and ln k - E[H] ~ (var l + (k-1)/k pi^2/6)
    // / (2 tau^2), each up to a relative O(1/tau) (coefficients measured 1.2 and 0.4):
    // bound 2/tau = 20%
    let excess = (r.max_y.mean - 1.0 / k) / (max_y_large_tau(&LOGITS, r.tau) - 1.0 / k);
    assert!(
        (excess - 1.0).abs() < 2.0 / r.tau,
        "max y excess ratio {excess}"
    );
    let deficit = (k.ln() - r.entropy.mean) / (k.ln() - entropy_large_tau(&LOGITS, r.tau));
    assert!(
        (deficit - 1.0).abs() < 2.0 / r.tau,
        "entropy deficit ratio {deficit}"
    );
}

/// Counts of `points` in the cells of `plot::simplex_cells(n)`, in that order.
fn cell_counts(n: usize, cells: &[Cell], points: &[[f64; 3]]) -> Vec<u64> {
    let mut counts = vec![0u64; cells.len()];
    for &y in points {
        let (a, b, up) = plot::locate(n, y);
        let i = cells
            .iter()
            .position(|c| (c.a, c.b, c.up) == (a, b, up))
            .unwrap();
        counts[i] += 1;
    }
    counts
}

#[test]
fn simplex_density_matches_samples() {
    // Cut the triangle into 16 cells; integrate the density over each by the midpoint rule
    // (48^2 sub-cells: relative error ~1e-4 where the density is smooth) and compare with
    // the frequencies of 1e5 samples by a chi-square test. The three corner cells hold the
    // density's integrable singularities at the vertices (tau < 2), where the midpoint rule
    // fails: they are lumped into one class whose probability is 1 minus the rest, so the
    // test also checks the normalisation.
    let n = 4;
    let cells = plot::simplex_cells(n);
    let corner = |c: &Cell| c.up && [(0, 0), (n - 1, 0), (0, n - 1)].contains(&(c.a, c.b));
    for (seed, tau) in [(21, 0.5), (22, 1.0)] {
        let pts = simplex_samples(logits3(), &[tau], 100_000, seed)
            .unwrap()
            .remove(0);
        let counts = cell_counts(n, &cells, &pts);
        let probs = cell_probabilities(logits3(), tau, n, 48).unwrap();
        let (mut c, mut p) = (vec![0u64], vec![0.0]);
        for ((cell, prob), &count) in probs.iter().zip(&counts) {
            if corner(cell) {
                c[0] += count;
            } else {
                c.push(count);
                p.push(*prob);
            }
        }
        p[0] = 1.0 - p[1..].iter().sum::<f64>();
        let t = chi_square(&c, &p);
        assert_eq!(t.df, 13);
        assert!(t.p_value > 1e-3, "tau {tau}: {t:?}");

        // The ExpConcrete density of v = ln y used as if it were the density of y (no
        // 1 / prod y_i): even conditioned on the inner cells (renormalised), it is rejected.
        let wrong: Vec<f64> = probs
            .iter()
            .filter(|(cell, _)| !corner(cell))
            .map(|(cell, _)| {
                let lp = simplex_log_density(logits3(), tau, &[cell.centroid()]).unwrap()[0];
                (lp + cell.centroid().iter().map(|x| x.ln()).sum::<f64>()).exp()
            })
            .collect();
        let total: f64 = wrong.iter().sum();
        let wrong: Vec<f64> = wrong.iter().map(|w| w / total).collect();
        let t = chi_square(&c[1..], &wrong);
        assert!(
            t.log10_p < -10.0,
            "tau {tau}: the v-space density passed: {t:?}"
        );
    }
}

#[test]
fn simplex_density_is_the_concrete_density() {
    // Maddison et al.'s Concrete density on the simplex, written out:
    // (k-1)! tau^(k-1) prod_i alpha_i y_i^(-tau-1) / (sum_i alpha_i y_i^(-tau))^k
    let alpha: Vec<f64> = logits3().iter().map(|l| l.exp()).collect();
    for tau in [0.3, 1.0, 2.5] {
        for y in [[0.2f64, 0.3, 0.5], [0.6, 0.1, 0.3], [0.01, 0.98, 0.01]] {
            let num: f64 = (0..3).map(|i| alpha[i] * y[i].powf(-tau - 1.0)).product();
            let den: f64 = (0..3)
                .map(|i| alpha[i] * y[i].powf(-tau))
                .sum::<f64>()
                .powi(3);
            let want = (2.0 * tau * tau * num / den).ln();
            let got = simplex_log_density(logits3(), tau, &[y]).unwrap()[0];
            assert!(
                relative_eq!(got, want, epsilon = 1e-12, max_relative = 1e-12),
                "tau {tau}, y {y:?}"
            );
        }
    }
    // the sweep's logits are a distribution: softmax sums to 1
    assert_abs_diff_eq!(softmax(&LOGITS).iter().sum::<f64>(), 1.0, epsilon = 1e-15);
}

fn small_report() -> Report {
    run(&Config::small(5)).unwrap()
}

#[test]
fn same_seed_same_report_for_1_and_2_threads() {
    // the sweep's tensors (2e4 x 10) are above the kernels' parallel threshold
    assert_eq!(in_pool(1, small_report), in_pool(2, small_report));
}

#[test]
fn writes_csv_and_svg() {
    let r = small_report();
    let dir = scratch_dir("study_temperature_sweep");
    write_outputs(&r, &dir).unwrap();
    let sweep_csv = std::fs::read_to_string(dir.join("sweep.csv")).unwrap();
    assert_eq!(sweep_csv.lines().count(), 1 + Config::small(5).taus);
    for svg in ["sweep.svg", "simplex_samples.svg", "simplex_density.svg"] {
        let s = std::fs::read_to_string(dir.join(svg)).unwrap();
        assert!(s.starts_with("<svg") && s.contains("</svg>"), "{svg}");
    }
}
