//! Statistics for the study examples: softmax and log-sum-exp on plain slices, sample
//! means and variances with their standard errors, log-spaced grids, and Pearson's
//! chi-square test with a p-value from our own regularised incomplete gamma function.

use std::f64::consts::PI;

/// `ln sum_i e^{x_i}`, stable for any finite or `-inf` entries (at least one finite).
pub fn logsumexp(x: &[f64]) -> f64 {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + x.iter().map(|&v| (v - m).exp()).sum::<f64>().ln()
}

/// `softmax(x)_i = e^{x_i - lse(x)}`; `-inf` entries get probability 0.
pub fn softmax(x: &[f64]) -> Vec<f64> {
    let lse = logsumexp(x);
    x.iter().map(|&v| (v - lse).exp()).collect()
}

/// `n` points `lo * (hi/lo)^{j/(n-1)}`, `j = 0..n`: a grid even on a log axis, with both
/// ends exact.
pub fn log_grid(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    assert!(lo > 0.0 && hi > lo && n >= 2, "log_grid({lo}, {hi}, {n})");
    let step = (hi / lo).ln() / (n - 1) as f64;
    (0..n)
        .map(|j| match j {
            0 => lo,
            j if j == n - 1 => hi,
            j => lo * (step * j as f64).exp(),
        })
        .collect()
}

/// A sample mean with its standard error `s / sqrt(n)` (`s` the sample standard deviation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanSe {
    /// The sample mean.
    pub mean: f64,
    /// Its standard error.
    pub se: f64,
}

/// The mean of `xs` and its standard error. Needs at least two values.
pub fn mean_se(xs: &[f64]) -> MeanSe {
    let n = xs.len();
    assert!(n >= 2, "mean_se needs two values, got {n}");
    let mean = xs.iter().sum::<f64>() / n as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    MeanSe {
        mean,
        se: (var / n as f64).sqrt(),
    }
}

/// Statistics of `n` draws of a random vector `x in R^d` (rows of `draws`, `d` columns):
///
/// ```text
/// mean_j   = (1/n) sum_n x_nj                     with se_j = s_j / sqrt(n)
/// variance = (1/(n-1)) sum_n ||x_n - mean||^2     the trace of the covariance
/// ```
///
/// The variance's standard error is that of the mean of `e_n = ||x_n - mean||^2 n/(n-1)`,
/// `sd(e) / sqrt(n)` (the delta method's leading term; for `d = 1` it is the familiar
/// `sqrt((m4 - s^4) / n)`).
#[derive(Debug, Clone, PartialEq)]
pub struct VectorStats {
    /// Per component: the mean ...
    pub mean: Vec<f64>,
    /// ... and its standard error.
    pub mean_se: Vec<f64>,
    /// The trace of the covariance (unbiased), and its standard error.
    pub variance: f64,
    pub variance_se: f64,
}

/// [`VectorStats`] of the `n = draws.len() / d` rows of `draws` (row-major, `d` columns).
/// Sums run in row order: the same numbers for any thread count that produced the rows.
pub fn vector_stats(draws: &[f64], d: usize) -> VectorStats {
    assert!(d > 0 && draws.len().is_multiple_of(d));
    let n = draws.len() / d;
    assert!(n >= 2, "vector_stats needs two draws, got {n}");
    let nf = n as f64;
    let mut mean = vec![0.0; d];
    for row in draws.chunks_exact(d) {
        mean.iter_mut().zip(row).for_each(|(m, x)| *m += x);
    }
    mean.iter_mut().for_each(|m| *m /= nf);
    let mut var_j = vec![0.0; d];
    let e: Vec<f64> = draws
        .chunks_exact(d)
        .map(|row| {
            let mut sq = 0.0;
            for ((v, x), m) in var_j.iter_mut().zip(row).zip(&mean) {
                let dev = (x - m).powi(2);
                *v += dev;
                sq += dev;
            }
            sq * nf / (nf - 1.0)
        })
        .collect();
    let se = var_j.iter().map(|v| (v / (nf - 1.0) / nf).sqrt()).collect();
    let e_stats = mean_se(&e);
    VectorStats {
        mean,
        mean_se: se,
        variance: e_stats.mean,
        variance_se: e_stats.se,
    }
}

/// `ln Gamma(x)` for `x > 0`: Stirling's series from `x >= 15` on,
///
/// ```text
/// ln Gamma(x) = (x - 1/2) ln x - x + ln(2 pi)/2 + sum_{k=1..7} B_2k / (2k (2k-1) x^(2k-1))
///             = ... + 1/(12x) - 1/(360x^3) + 1/(1260x^5) - 1/(1680x^7) + 1/(1188x^9)
///                   - 691/(360360x^11) + 1/(156x^13)
/// ```
///
/// (the first omitted term, `3617/(122400 x^15)`, is below `1e-19` at `x = 15`), and below 15
/// through `Gamma(x) = Gamma(x + n) / (x (x+1) ... (x+n-1))`. Relative error a few ulps.
pub fn ln_gamma(x: f64) -> f64 {
    assert!(
        x > 0.0 && x.is_finite(),
        "ln_gamma({x}): x must be finite and > 0"
    );
    if x < 15.0 {
        // shift up: ln Gamma(x) = ln Gamma(x + n) - ln prod_{j<n} (x + j)
        let n = (15.0 - x).ceil();
        let mut prod = 1.0;
        let mut j = 0.0;
        while j < n {
            prod *= x + j;
            j += 1.0;
        }
        return ln_gamma(x + n) - prod.ln();
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    // Horner in 1/x^2 of the Bernoulli terms
    let series = inv
        * (1.0 / 12.0
            + inv2
                * (-1.0 / 360.0
                    + inv2
                        * (1.0 / 1260.0
                            + inv2
                                * (-1.0 / 1680.0
                                    + inv2
                                        * (1.0 / 1188.0
                                            + inv2 * (-691.0 / 360360.0 + inv2 / 156.0))))));
    (x - 0.5) * x.ln() - x + 0.5 * (2.0 * PI).ln() + series
}

/// The regularised upper incomplete gamma function
/// `Q(a, x) = Gamma(a, x) / Gamma(a) = (1/Gamma(a)) int_x^inf t^{a-1} e^{-t} dt`,
/// for `a > 0`, `x >= 0`. See [`ln_gamma_q`].
pub fn gamma_q(a: f64, x: f64) -> f64 {
    ln_gamma_q(a, x).exp()
}

/// `ln Q(a, x)`, finite far into the tail where `Q` itself underflows.
///
/// Below `x = a + 1` through the series of the lower function,
/// `P(a, x) = e^{-x} x^a / Gamma(a + 1) * sum_n x^n / ((a+1)...(a+n))`, and `Q = 1 - P`
/// (no cancellation: there `Q >= 0.2` or so); beyond it by the continued fraction
/// `Q(a, x) = e^{-x} x^a / Gamma(a) * 1/(x+1-a- 1(1-a)/(x+3-a- 2(2-a)/(x+5-a- ...)))`,
/// evaluated with Lentz's method, which keeps full relative accuracy in the tail
/// (Numerical Recipes, 3rd ed., section 6.2). Both stop at relative increments below
/// `1e-16`.
pub fn ln_gamma_q(a: f64, x: f64) -> f64 {
    assert!(a > 0.0 && x >= 0.0, "gamma_q({a}, {x}): need a > 0, x >= 0");
    if x == 0.0 {
        return 0.0;
    }
    if x.is_infinite() {
        return f64::NEG_INFINITY;
    }
    // ln(e^{-x} x^a / Gamma(a))
    let ln_prefactor = -x + a * x.ln() - ln_gamma(a);
    if x < a + 1.0 {
        let (mut ap, mut term) = (a, 1.0 / a);
        let mut sum = term;
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-16 {
                // P = e^{-x} x^a / Gamma(a) * sum, since Gamma(a + 1) = a Gamma(a) and the
                // series above starts at 1/a
                return (-(sum * ln_prefactor.exp())).ln_1p();
            }
        }
        panic!("gamma_q({a}, {x}): series did not converge");
    }
    const TINY: f64 = 1e-300;
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..10_000 {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < TINY {
            d = TINY;
        }
        c = b + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            return ln_prefactor + h.ln();
        }
    }
    panic!("gamma_q({a}, {x}): continued fraction did not converge");
}

/// Upper tail of the chi-square distribution with `df` degrees of freedom:
/// `P(X >= stat) = Q(df/2, stat/2)`.
pub fn chi_square_sf(stat: f64, df: usize) -> f64 {
    assert!(df > 0, "chi-square needs df >= 1");
    gamma_q(df as f64 / 2.0, stat / 2.0)
}

/// `log10 P(X >= stat)` for `X ~ chi2(df)`: finite where the p-value underflows.
pub fn chi_square_log10_sf(stat: f64, df: usize) -> f64 {
    assert!(df > 0, "chi-square needs df >= 1");
    ln_gamma_q(df as f64 / 2.0, stat / 2.0) / std::f64::consts::LN_10
}

/// Pearson's chi-square goodness-of-fit test of observed counts against probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct ChiSquare {
    /// `sum_i (n_i - N p_i)^2 / (N p_i)` over the classes with `p_i > 0`; `+inf` if a
    /// class with `p_i = 0` was observed (an impossible outcome).
    pub statistic: f64,
    /// Classes with `p_i > 0`, minus one.
    pub df: usize,
    /// `P(chi2_df >= statistic)`; 0 when an impossible class was observed.
    pub p_value: f64,
    /// `log10` of the p-value (finite where `p_value` underflows to 0, `-inf` when an
    /// impossible class was observed).
    pub log10_p: f64,
    /// The smallest expected count `N p_i` over the possible classes (the chi-square
    /// approximation wants it `>= 5`).
    pub min_expected: f64,
    /// Draws that fell on classes with `p_i = 0`.
    pub impossible: u64,
}

/// Pearson's test of `counts` against `probs` (which must sum to 1 within `1e-9`). Classes
/// with `p_i = 0` (masked) leave the statistic and the degrees of freedom: a test with `m`
/// possible classes has `m - 1` degrees of freedom. Any draw of such a class is reported in
/// `impossible` and makes the statistic infinite.
pub fn chi_square(counts: &[u64], probs: &[f64]) -> ChiSquare {
    assert_eq!(counts.len(), probs.len());
    assert!(
        (probs.iter().sum::<f64>() - 1.0).abs() < 1e-9,
        "probs must sum to 1"
    );
    let n: u64 = counts.iter().sum();
    let nf = n as f64;
    let (mut statistic, mut possible, mut impossible) = (0.0, 0usize, 0u64);
    let mut min_expected = f64::INFINITY;
    for (&c, &p) in counts.iter().zip(probs) {
        if p > 0.0 {
            let e = nf * p;
            statistic += (c as f64 - e).powi(2) / e;
            possible += 1;
            min_expected = min_expected.min(e);
        } else {
            impossible += c;
        }
    }
    assert!(
        possible >= 2,
        "a chi-square test needs two possible classes"
    );
    let df = possible - 1;
    if impossible > 0 {
        statistic = f64::INFINITY;
    }
    let log10_p = chi_square_log10_sf(statistic, df);
    ChiSquare {
        statistic,
        df,
        p_value: chi_square_sf(statistic, df),
        log10_p,
        min_expected,
        impossible,
    }
}
