//! Statistical tests of the Gumbel kernels, with fixed seeds and thresholds derived from
//! the sampling distributions (each comment states the derivation):
//! - the noise has the Gumbel(0, 1) mean (Euler-Mascheroni) and variance (pi^2/6);
//! - Gumbel-max frequencies match softmax(logits) (chi-square);
//! - as tau falls the soft sample approaches the one-hot, at the rate the theory gives.

use crate::common::*;
use gumbel_tensor::ops::gumbel::{
    GumbelRng, Output, Temperature, gumbel_max, gumbel_noise, gumbel_softmax, uniform_noise,
};
use gumbel_tensor::{Element, Tensor};

const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Mean and variance of 4 x 10^6 draws within 4 standard errors of the Gumbel(0, 1)
/// moments. SE(mean) = sigma / sqrt(n), sigma^2 = pi^2/6. SE(variance) =
/// sqrt((mu4 - sigma^4) / n) with mu4 = (3 + 12/5) sigma^4 (the Gumbel excess kurtosis is
/// 12/5), i.e. sigma^2 sqrt(4.4 / n). The grid's tail truncation shifts the moments by
/// < 1e-6, far below these SEs (~6e-4 and ~1.7e-3).
fn gumbel_moments<T: Element>() {
    let (rows, cols) = (2000, 2000);
    let n = (rows * cols) as f64;
    let g = gumbel_noise::<T>(&[rows, cols], &mut GumbelRng::new(2024));
    let mean = g.as_slice().iter().map(|x| x.to_f64()).sum::<f64>() / n;
    let var = g
        .as_slice()
        .iter()
        .map(|x| (x.to_f64() - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    let sigma2 = std::f64::consts::PI.powi(2) / 6.0;
    let se_mean = (sigma2 / n).sqrt();
    let se_var = sigma2 * (4.4 / n).sqrt();
    assert!(
        (mean - EULER_GAMMA).abs() < 4.0 * se_mean,
        "{}: mean {mean}",
        T::NAME
    );
    assert!(
        (var - sigma2).abs() < 4.0 * se_var,
        "{}: variance {var}",
        T::NAME
    );
    // and the distribution function at a few points: P(g <= x) = exp(-exp(-x)),
    // binomial SE sqrt(F (1 - F) / n)
    for x in [-1.0f64, 0.0, 0.5, 2.0, 5.0] {
        let f: f64 = (-(-x).exp()).exp();
        let got = g.as_slice().iter().filter(|v| v.to_f64() <= x).count() as f64 / n;
        assert!(
            (got - f).abs() < 4.0 * (f * (1.0 - f) / n).sqrt(),
            "{}: F({x}) = {got} vs {f}",
            T::NAME
        );
    }
}

#[test]
fn gumbel_noise_has_the_gumbel_mean_and_variance() {
    gumbel_moments::<f32>();
    gumbel_moments::<f64>();
}

/// Upper `p`-quantile of chi-square with `df` degrees of freedom, by the Wilson-Hilferty
/// approximation (accurate to ~1% in the quantile for df >= 3 at these tail levels).
fn chi2_quantile(df: f64, z: f64) -> f64 {
    let a = 2.0 / (9.0 * df);
    df * (1.0 - a + z * a.sqrt()).powi(3)
}

/// Gumbel-max over 10^6 rows: class frequencies match softmax(l) by a chi-square test at
/// level 1e-4 (z = 3.719), and the masked class is never drawn. Both from `gumbel_max` and
/// from the forward's `index` at `tau = 1`, which the exponential race computes as the
/// argmax of `e^{l - M} / E` (`E = -ln u`, the same uniforms): the same index except where
/// two classes' `l + g` tie to within rounding (see `race_and_gumbel_max_agree`).
fn gumbel_max_frequencies<T: Element>() {
    let logits = [1.0, 0.0, -1.0, f64::NEG_INFINITY, 2.0, 0.5, -3.0, 0.0];
    let k = logits.len();
    let rows = 1_000_000;
    let l = Tensor::<T>::from_fn([rows, k], |i| T::from_f64(logits[i % k]));
    let idx = gumbel_max(&l, &mut GumbelRng::new(77)).unwrap();
    let fwd = gumbel_softmax(
        &l,
        Temperature::Tau(T::ONE),
        &mut GumbelRng::new(77),
        Output::Soft,
    )
    .unwrap();
    race_and_gumbel_max_agree(&l, &idx, &fwd.index, 77);
    for index in [&idx, &fwd.index] {
        chi_square_against_softmax::<T>(&logits, index);
    }
}

/// The race's index (`race`) and Gumbel-max's (`max`) for the same seed differ only where
/// the two classes' `l + g` (recomputed in f64 from the uniforms) lie within rounding of
/// each other: `|p_a - p_b| <= 2^-b 64 (1 + |p_a| + |p_b|)` (`b` = 24 / 53; both kernels
/// round `ln`, `exp`, `l - M` and `l + g` within a few ulp of their arguments' scale),
/// and on at most 1 row in 10^5 (a near-tie of the top two of 8 classes, density O(1) at
/// gap 0, is a ~1e-6 event per row in f32).
fn race_and_gumbel_max_agree<T: Element>(l: &Tensor<T>, max: &[usize], race: &[usize], seed: u64) {
    let u = uniform_noise::<T>(l.shape(), &mut GumbelRng::new(seed));
    let unit = T::EPSILON.to_f64() / 2.0;
    let differ: Vec<usize> = (0..max.len()).filter(|&r| max[r] != race[r]).collect();
    assert!(
        differ.len() * 100_000 <= max.len(),
        "{}: {} of {} rows differ",
        T::NAME,
        differ.len(),
        max.len()
    );
    for &r in &differ {
        let p = |i: usize| l.row(r)[i].to_f64() - (-u.row(r)[i].to_f64().ln()).ln();
        let (pa, pb) = (p(max[r]), p(race[r]));
        assert!(
            (pa - pb).abs() <= unit * 64.0 * (1.0 + pa.abs() + pb.abs()),
            "{} row {r}: classes {} and {} differ by {}",
            T::NAME,
            max[r],
            race[r],
            pa - pb
        );
    }
}

/// Chi-square of the counts of `index` against softmax(logits) at level 1e-4 (one masked
/// class, never drawn).
fn chi_square_against_softmax<T: Element>(logits: &[f64], index: &[usize]) {
    let (k, rows) = (logits.len(), index.len());
    let mut counts = vec![0usize; k];
    index.iter().for_each(|&i| counts[i] += 1);
    let m = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let z: f64 = logits.iter().map(|x| (x - m).exp()).sum();
    let mut chi2 = 0.0;
    for (j, &c) in counts.iter().enumerate() {
        let p = (logits[j] - m).exp() / z;
        if p > 0.0 {
            let e = p * rows as f64;
            chi2 += (c as f64 - e).powi(2) / e;
        } else {
            assert_eq!(c, 0, "{}: masked class {j} drawn", T::NAME);
        }
    }
    let df = (k - 2) as f64; // 7 possible classes
    let crit = chi2_quantile(df, 3.719);
    assert!(
        chi2 < crit,
        "{}: chi2 {chi2} >= {crit} (counts {counts:?})",
        T::NAME
    );
}

#[test]
fn gumbel_max_frequencies_match_softmax() {
    gumbel_max_frequencies::<f32>();
    gumbel_max_frequencies::<f64>();
}

/// `E[1 - y_I]`, `I` the Gumbel-max index, for two equal logits: `1 - y_I = sigma(-|L|/tau)`
/// with `L = g1 - g2 ~ Logistic(0, 1)`, so `E = 2 int_0^inf sigma(-x/tau) f(x) dx`,
/// `f(x) = e^-x / (1 + e^-x)^2`; for small tau `E ~ 2 ln2 f(0) tau = (ln 2 / 2) tau`.
/// Computed here by the trapezoid rule on a fine grid.
fn expected_gap(tau: f64) -> f64 {
    let sigma = |x: f64| 1.0 / (1.0 + (-x).exp());
    let f = |x: f64| (-x).exp() / (1.0 + (-x).exp()).powi(2);
    let (hi, n) = (60.0, 2_000_000);
    let h = hi / n as f64;
    let mut s = 0.0;
    for i in 0..=n {
        let x = i as f64 * h;
        let w = if i == 0 || i == n { 0.5 } else { 1.0 };
        s += w * sigma(-x / tau) * f(x);
    }
    2.0 * s * h
}

/// As tau falls to 0.01 the soft sample approaches the Gumbel-max one-hot: the argmax of
/// `y` is the Gumbel-max index, and the mean mass off the index matches the exact
/// `E[1 - y_I]` within 4 standard errors at tau = 1, 0.1, 0.01 (shrinking like tau).
fn soft_sample_approaches_one_hot<T: Element>() {
    let rows = 400_000;
    let l = Tensor::<T>::zeros([rows, 2]);
    let mut last = f64::INFINITY;
    for (i, tau) in [1.0, 0.1, 0.01].into_iter().enumerate() {
        let s = gumbel_softmax(
            &l,
            Temperature::Tau(T::from_f64(tau)),
            &mut GumbelRng::new(5 + i as u64),
            Output::Hard,
        )
        .unwrap();
        let gaps: Vec<f64> = (0..rows)
            .map(|r| {
                let y = s.y.row(r);
                let yi = y[s.index[r]].to_f64();
                assert!(
                    yi >= y[1 - s.index[r]].to_f64(),
                    "argmax y != Gumbel-max index"
                );
                1.0 - yi
            })
            .collect();
        let mean = gaps.iter().sum::<f64>() / rows as f64;
        let sd =
            (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / (rows as f64 - 1.0)).sqrt();
        let want = expected_gap(tau);
        assert!(
            (mean - want).abs() < 4.0 * sd / (rows as f64).sqrt(),
            "{} tau {tau}: mean gap {mean} vs {want}",
            T::NAME
        );
        assert!(mean < last);
        last = mean;
    }
    // at tau = 0.01: E[1 - y_I] ~ (ln 2 / 2) 0.01 = 0.0035
    assert!(last < 0.004);
}

#[test]
fn soft_sample_approaches_the_one_hot_as_tau_falls() {
    soft_sample_approaches_one_hot::<f32>();
    soft_sample_approaches_one_hot::<f64>();
}

/// The relaxation's marginals: with logits l and tau = 1, E[y] is not softmax(l), but the
/// *argmax* is Categorical(softmax(l)) for any tau (index does not depend on tau). Same
/// seed, different tau: identical indices.
#[test]
fn the_index_does_not_depend_on_the_temperature() {
    let l: Tensor<f32> = uniform_tensor(&mut data_rng(3), 300, 50, -2.0, 2.0).cast();
    let a = gumbel_softmax(
        &l,
        Temperature::Tau(0.05),
        &mut GumbelRng::new(9),
        Output::Soft,
    )
    .unwrap();
    let b = gumbel_softmax(
        &l,
        Temperature::Beta(0.3),
        &mut GumbelRng::new(9),
        Output::Soft,
    )
    .unwrap();
    assert_eq!(a.index, b.index);
}
