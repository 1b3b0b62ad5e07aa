//! Tests of `examples/gumbel_max.rs` run small, and of the statistics it relies on
//! (`examples/common/stats.rs`): `ln Gamma`, the regularised incomplete gamma function,
//! Pearson's chi-square test, the Kolmogorov-Smirnov distance.

#[path = "../../examples/gumbel_max.rs"]
#[allow(dead_code)] // the tests run the example's core, not its main()
mod example;

use crate::support::{in_pool, scratch_dir};
use approx::{abs_diff_eq, assert_abs_diff_eq, relative_eq};
use example::common::stats::{chi_square, chi_square_sf, gamma_q, ln_gamma, ln_gamma_q, softmax};
use example::{Config, LOGITS, MASKED, Report, ks_uniform, run, write_outputs};

#[test]
fn ln_gamma_matches_factorials_and_half_integers() {
    // Gamma(n) = (n-1)!, Gamma(n + 1/2) = (2n)! sqrt(pi) / (4^n n!), by exact sums of logs.
    // Stirling's series is truncated below 1e-19; what is left is rounding: of the product
    // of up to 15 factors (~15 ulps relative, i.e. ~3e-15 absolute after ln) and of the
    // largest terms (x - 1/2) ln x and x (a few ulps of x ln x): tolerance 1e-14 (1 + x ln x).
    let ln_fact = |n: usize| (2..=n).map(|j| (j as f64).ln()).sum::<f64>();
    for n in 1..=120usize {
        let x = n as f64;
        let tol = 1e-14 * (1.0 + x * x.ln());
        let want = ln_fact(n - 1);
        assert!(
            abs_diff_eq!(ln_gamma(x), want, epsilon = tol),
            "ln_gamma({x}) = {} vs {want}",
            ln_gamma(x)
        );
        let want_half =
            ln_fact(2 * n) + 0.5 * std::f64::consts::PI.ln() - n as f64 * 4f64.ln() - ln_fact(n);
        let xh = x + 0.5;
        let tol = 1e-14 * (1.0 + xh * xh.ln());
        assert!(
            abs_diff_eq!(ln_gamma(xh), want_half, epsilon = tol),
            "ln_gamma({xh})"
        );
    }
    // the reflection branch: Gamma(1/4) Gamma(3/4) = pi sqrt(2)
    let lhs = ln_gamma(0.25) + ln_gamma(0.75);
    assert_abs_diff_eq!(
        lhs,
        (std::f64::consts::PI * 2f64.sqrt()).ln(),
        epsilon = 1e-14
    );
}

#[test]
fn gamma_q_matches_closed_forms_and_the_deep_tail() {
    // Q(1, x) = e^{-x}, Q(2, x) = e^{-x} (1 + x), Q(3, x) = e^{-x} (1 + x + x^2/2): both
    // branches (series below x = a + 1, continued fraction above). Tolerance 1e-14 relative:
    // both stop at 1e-16 increments; ln_gamma adds ~1e-15.
    for x in [1e-3f64, 0.1, 0.5, 1.0, 1.9, 2.5, 3.5, 7.0, 20.0, 60.0] {
        let e = (-x).exp();
        for (a, want) in [
            (1.0, e),
            (2.0, e * (1.0 + x)),
            (3.0, e * (1.0 + x + x * x / 2.0)),
        ] {
            let got = gamma_q(a, x);
            assert!(
                relative_eq!(got, want, epsilon = 0.0, max_relative = 1e-13),
                "Q({a}, {x}) = {got} vs {want}"
            );
        }
    }
    // far beyond f64's range of Q: ln Q(1, x) = -x, ln Q(2, x) = -x + ln(1 + x)
    for x in [800.0f64, 5000.0, 1e5] {
        assert_abs_diff_eq!(ln_gamma_q(1.0, x), -x, epsilon = 1e-12 * x);
        assert_abs_diff_eq!(ln_gamma_q(2.0, x), -x + (1.0 + x).ln(), epsilon = 1e-12 * x);
    }
    assert_eq!(gamma_q(2.5, 0.0), 1.0);
}

/// `Q(a, x)` for half-integer `a` by Simpson's rule on `1 - (2/Gamma(a)) int_0^sqrt(x)
/// s^{2a-1} e^{-s^2} ds` (the substitution `t = s^2` makes the integrand smooth): an
/// independent route to the odd degrees of freedom.
fn q_by_quadrature(a: f64, x: f64) -> f64 {
    let n = 20_000;
    let b = x.sqrt();
    let h = b / n as f64;
    let f = |s: f64| {
        if s == 0.0 && a == 0.5 {
            1.0
        } else {
            s.powf(2.0 * a - 1.0) * (-s * s).exp()
        }
    };
    let mut sum = f(0.0) + f(b);
    for i in 1..n {
        sum += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    1.0 - 2.0 * sum * h / 3.0 / ln_gamma(a).exp()
}

#[test]
fn chi_square_tail_matches_quadrature_and_tables() {
    // Simpson's error with h = sqrt(x)/20000 is ~h^4 f'''' ~ 1e-16: tolerance 1e-11 absolute
    // (the quadrature's own rounding over 20000 terms).
    for df in [1usize, 3, 5, 9] {
        for &x in &[0.3, 1.0, 4.0, 9.0, 16.0] {
            let a = df as f64 / 2.0;
            let (got, want) = (chi_square_sf(x, df), q_by_quadrature(a, x / 2.0));
            assert!(
                abs_diff_eq!(got, want, epsilon = 1e-11),
                "df {df}, x {x}: {got} vs {want}"
            );
        }
    }
    // textbook 5% and 1% critical values (R's qchisq, 16 digits): p within 1e-9
    for (x, df, p) in [
        (3.841458820694124, 1, 0.05),
        (7.814727903251178, 3, 0.05),
        (18.30703805327515, 10, 0.05),
        (21.66599433346194, 9, 0.01),
    ] {
        assert!(
            abs_diff_eq!(chi_square_sf(x, df), p, epsilon = 1e-9),
            "df {df}"
        );
    }
}

#[test]
fn chi_square_by_hand() {
    // expected 10, 20, 30: counts 12, 18, 30 give (4/10 + 4/20 + 0) = 0.6 on 2 df, whose tail
    // is exactly e^{-0.3}
    let probs = [1.0 / 6.0, 1.0 / 3.0, 0.5];
    let t = chi_square(&[12, 18, 30], &probs);
    assert_abs_diff_eq!(t.statistic, 0.6, epsilon = 1e-12);
    assert_eq!(t.df, 2);
    assert_abs_diff_eq!(t.p_value, (-0.3f64).exp(), epsilon = 1e-14);
    assert_abs_diff_eq!(t.min_expected, 10.0, epsilon = 1e-12);
    // a zero-probability class leaves the degrees of freedom ...
    let t = chi_square(&[12, 0, 18, 30], &[probs[0], 0.0, probs[1], probs[2]]);
    assert_eq!((t.df, t.impossible), (2, 0));
    assert_abs_diff_eq!(t.statistic, 0.6, epsilon = 1e-12);
    // ... and one draw of it is an impossible outcome
    let t = chi_square(&[12, 1, 18, 30], &[probs[0], 0.0, probs[1], probs[2]]);
    assert_eq!(
        (t.statistic, t.p_value, t.impossible),
        (f64::INFINITY, 0.0, 1)
    );
}

#[test]
fn ks_distance_by_hand() {
    // the midpoints (i + 1/2)/n are as uniform as n points get: D = 1/(2n)
    let n = 100;
    let grid: Vec<f64> = (0..n).map(|i| (i as f64 + 0.5) / n as f64).collect();
    let (d, p) = ks_uniform(&grid);
    assert_abs_diff_eq!(d, 0.005, epsilon = 1e-15);
    assert!(p > 0.999);
    // squeezed into the lower half: at the last point F_n = 1 while x = 1/2 - 1/(4n), so
    // D = 1/2 + 1/(4n); rejected
    let low: Vec<f64> = grid.iter().map(|x| x / 2.0).collect();
    let (d, p) = ks_uniform(&low);
    assert!(
        abs_diff_eq!(d, 0.5025, epsilon = 1e-12) && p < 1e-15,
        "D = {d}, p = {p}"
    );
}

fn small_report() -> Report {
    run(&Config::small(1)).unwrap()
}

#[test]
fn gumbel_max_passes_and_the_wrong_sampler_fails() {
    let r = small_report();
    let p = softmax(&LOGITS);
    for c in &r.cases {
        let n: u64 = c.counts.iter().sum();
        assert_eq!(n, Config::small(1).draws as u64);
        match c.name {
            // With a fixed seed these are fixed numbers; under the null a seed fails at
            // level 1e-3 with probability 1e-3. A failure means the sampler is off.
            "plain" => {
                assert_eq!(c.test.df, 9);
                assert!(
                    c.test.p_value > 1e-3,
                    "{} {}: {:?}",
                    c.name,
                    c.dtype,
                    c.test
                );
                assert_eq!(c.probs, p);
            }
            "masked" => {
                // masked classes are never drawn, and leave the degrees of freedom
                for &m in &MASKED {
                    assert_eq!(c.counts[m], 0, "{}: masked class {m} drawn", c.dtype);
                }
                assert_eq!((c.test.df, c.test.impossible), (6, 0));
                assert!(
                    c.test.p_value > 1e-3,
                    "{} {}: {:?}",
                    c.name,
                    c.dtype,
                    c.test
                );
            }
            // 2e5 draws from 0.95 l: expected statistic about 2e5 * sum (q - p)^2 / p ~ 270
            "wrong" => assert!(c.test.log10_p < -20.0, "{:?}", c.test),
            other => panic!("unknown case {other}"),
        }
    }
    // 200 replicate p-values are uniform (KS at level 1e-3)
    assert_eq!(r.replicate_p.len(), 200);
    assert!(r.ks_p > 1e-3, "KS D = {}, p = {}", r.ks, r.ks_p);
}

#[test]
fn same_seed_same_report_for_1_and_2_threads() {
    let one = in_pool(1, small_report);
    let two = in_pool(2, small_report);
    assert_eq!(one, two);
    assert_ne!(
        run(&Config::small(2)).unwrap().cases[0].counts,
        one.cases[0].counts
    );
}

#[test]
fn writes_csv_and_svg() {
    let r = small_report();
    let dir = scratch_dir("study_gumbel_max");
    write_outputs(&r, &dir).unwrap();
    let counts = std::fs::read_to_string(dir.join("counts.csv")).unwrap();
    assert_eq!(counts.lines().count(), 1 + r.cases.len() * LOGITS.len());
    let tests = std::fs::read_to_string(dir.join("chi_square.csv")).unwrap();
    assert_eq!(tests.lines().count(), 1 + r.cases.len());
    for svg in ["histogram.svg", "pvalues.svg"] {
        let s = std::fs::read_to_string(dir.join(svg)).unwrap();
        assert!(s.starts_with("<svg") && s.contains("</svg>"), "{svg}");
    }
}
