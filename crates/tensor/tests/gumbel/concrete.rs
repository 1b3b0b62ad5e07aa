//! The ExpConcrete log-density: it normalises (k = 2 and k = 3, by quadrature in f64),
//! it equals an independent derivation from the Gumbel densities, it is the density of
//! the fused forward's samples (`v = ln y`, noise-given and generated), and it keeps the
//! error contract (masked classes dropped, bad inputs rejected).

use crate::common::*;
use approx::{abs_diff_eq, assert_abs_diff_eq};
use gumbel_tensor::ops::gumbel::{
    GumbelRng, Noise, Output, Temperature, exp_concrete_log_density, gumbel_noise, gumbel_softmax,
    gumbel_softmax_with_noise,
};
use gumbel_tensor::{Error, Tensor};

/// log p of one row at (l, v, tau), through the public function.
fn log_p(l: &[f64], v: &[f64], tau: f64) -> f64 {
    let k = l.len();
    let lt = Tensor::new([k], l.to_vec()).unwrap();
    let vt = Tensor::new([k], v.to_vec()).unwrap();
    exp_concrete_log_density(&lt, &vt, tau)
        .unwrap()
        .item()
        .unwrap()
}

/// k = 2: the density of t = v1 - v2 integrates to 1. It is logistic in t with centre
/// (l1 - l2)/tau and scale 1/tau (docs/math.md), so the trapezoid rule over the centre
/// +- 60/tau (tails below e^-60) with step 1/(200 tau) (smooth on that scale) errs far
/// below the 1e-6 asked.
#[test]
fn density_normalises_for_two_classes() {
    let cases: [(f64, f64, f64); 4] = [
        (0.0, 0.0, 1.0),
        (1.5, -0.5, 0.5),
        (-2.0, 1.0, 0.1),
        (0.3, 0.2, 3.0),
    ];
    for (l1, l2, tau) in cases {
        let (centre, half) = ((l1 - l2) / tau, 60.0 / tau);
        let h = 1.0 / (200.0 * tau);
        let n = (2.0 * half / h) as usize;
        let mut s = 0.0;
        for i in 0..=n {
            let t = centre - half + i as f64 * h;
            let w = if i == 0 || i == n { 0.5 } else { 1.0 };
            s += w * log_p(&[l1, l2], &[t, 0.0], tau).exp();
        }
        assert!(
            abs_diff_eq!(s * h, 1.0, epsilon = 1e-6),
            "k=2 l=({l1},{l2}) tau={tau}: integral {}",
            s * h
        );
    }
}

/// k = 3: the density of (v1 - v3, v2 - v3) integrates to 1 over a square (2-D trapezoid).
#[test]
fn density_normalises_for_three_classes() {
    let (l, tau) = ([0.5, -0.3, 0.0], 0.7);
    let (half, h) = (40.0, 0.02);
    let n = (2.0 * half / h) as usize;
    let mut s = 0.0;
    for i in 0..=n {
        let wi = if i == 0 || i == n { 0.5 } else { 1.0 };
        let d1 = -half + i as f64 * h;
        for j in 0..=n {
            let wj = if j == 0 || j == n { 0.5 } else { 1.0 };
            let d2 = -half + j as f64 * h;
            s += wi * wj * log_p(&l, &[d1, d2, 0.0], tau).exp();
        }
    }
    assert!(
        abs_diff_eq!(s * h * h, 1.0, epsilon = 1e-5),
        "k=3 integral {}",
        s * h * h
    );
}

/// The density from first principles: with W_i = (l_i + G_i) / tau independent, the
/// log-ratios D_i = W_i - W_k have density int prod_{i<k} f_i(w + d_i) f_k(w) dw, where
/// f_i(w) = tau exp(l_i - tau w - exp(l_i - tau w)) is the density of W_i. Computed by
/// quadrature and compared with the closed form at random points.
#[test]
fn density_equals_the_integral_over_gumbel_densities() {
    let mut data = data_rng(12);
    use rand::RngExt;
    for _ in 0..20 {
        let k = data.random_range(2..5usize);
        let tau = data.random_range(0.3..2.0);
        let l: Vec<f64> = (0..k).map(|_| data.random_range(-1.5..1.5)).collect();
        let d: Vec<f64> = (0..k)
            .map(|i| {
                if i == k - 1 {
                    0.0
                } else {
                    data.random_range(-2.0..2.0)
                }
            })
            .collect();
        let f = |i: usize, w: f64| {
            let a = l[i] - tau * w;
            tau * (a - a.exp()).exp()
        };
        let (lo, hi, n) = (-60.0 / tau, 60.0 / tau, 400_000);
        let h = (hi - lo) / n as f64;
        let mut s = 0.0;
        for m in 0..=n {
            let w = lo + m as f64 * h;
            let wt = if m == 0 || m == n { 0.5 } else { 1.0 };
            s += wt * (0..k).map(|i| f(i, w + d[i])).product::<f64>();
        }
        let want = (s * h).ln();
        let got = log_p(&l, &d, tau);
        assert!(
            abs_diff_eq!(got, want, epsilon = 1e-8),
            "k={k} tau={tau}: {got} vs {want}"
        );
        // shift invariance: adding a constant to v changes nothing
        let shifted: Vec<f64> = d.iter().map(|x| x + 0.7).collect();
        assert_abs_diff_eq!(log_p(&l, &shifted, tau), got, epsilon = 1e-12);
    }
}

/// The forward's samples follow the density: for k = 2, t = ln y1 - ln y2 over 200 000
/// rows, binned into 40 equiprobable bins under the density's CDF (computed by
/// quadrature); chi-square with 39 degrees of freedom at level 1e-4 (< 78.4 by
/// Wilson-Hilferty). The samples come from the generator (f64) and, for the noise-given
/// path, the same through `Noise::Gumbel`: identical t's.
#[test]
fn forward_samples_follow_the_density() {
    let (l1, l2, tau) = (0.8f64, -0.4f64, 0.6f64);
    let rows = 200_000;
    let l = Tensor::from_fn([rows, 2], |i| if i % 2 == 0 { l1 } else { l2 });
    let s = gumbel_softmax(
        &l,
        Temperature::Tau(tau),
        &mut GumbelRng::new(3),
        Output::Soft,
    )
    .unwrap();
    let g = gumbel_noise::<f64>(&[rows, 2], &mut GumbelRng::new(3));
    let sg = gumbel_softmax_with_noise(&l, Noise::Gumbel(&g), Temperature::Tau(tau), Output::Soft)
        .unwrap();
    assert_eq!(sg.y, s.y, "the noise-given forward draws the same samples");
    let t: Vec<f64> = (0..rows)
        .map(|r| s.y.row(r)[0].ln() - s.y.row(r)[1].ln())
        .collect();
    // CDF of t by the trapezoid rule on a fine grid
    let (lo, hi, h) = (-80.0, 80.0, 1e-3);
    let n = ((hi - lo) / h) as usize;
    let dens = |x: f64| log_p(&[l1, l2], &[x, 0.0], tau).exp();
    let mut cdf = Vec::with_capacity(n + 1);
    let mut acc = 0.0;
    cdf.push(0.0);
    for i in 1..=n {
        let (a, b) = (lo + (i - 1) as f64 * h, lo + i as f64 * h);
        acc += 0.5 * h * (dens(a) + dens(b));
        cdf.push(acc);
    }
    assert_abs_diff_eq!(acc, 1.0, epsilon = 1e-6);
    let bins = 40;
    let mut counts = vec![0usize; bins];
    for &x in &t {
        let i = (((x - lo) / h) as usize).min(n);
        let b = ((cdf[i] * bins as f64) as usize).min(bins - 1);
        counts[b] += 1;
    }
    let e = rows as f64 / bins as f64;
    let chi2: f64 = counts.iter().map(|&c| (c as f64 - e).powi(2) / e).sum();
    let df = (bins - 1) as f64;
    let a = 2.0 / (9.0 * df);
    let crit = df * (1.0 - a + 3.719 * a.sqrt()).powi(3);
    assert!(chi2 < crit, "chi2 {chi2} >= {crit}: {counts:?}");
}

/// Masked classes are dropped: the density of a row with a masked class equals the
/// density of the row without it; v there is ignored. The density evaluated at the
/// noise-given forward's ln y uses exactly the sample's log-ratios.
#[test]
fn masked_classes_are_dropped_and_inputs_are_checked() {
    let tau = 0.8;
    let full = log_p(&[0.2, -1.0, 0.4], &[-0.5, -2.0, -0.8], tau);
    let masked = log_p(
        &[0.2, f64::NEG_INFINITY, -1.0, 0.4],
        &[-0.5, f64::NEG_INFINITY, -2.0, -0.8],
        tau,
    );
    assert_abs_diff_eq!(full, masked, epsilon = 1e-14);
    // ln y from a noise-given forward, with its masked class at -inf
    let l = Tensor::new([1, 3], vec![0.2, f64::NEG_INFINITY, 0.4]).unwrap();
    let g = Tensor::new([1, 3], vec![0.3, 1.0, -0.2]).unwrap();
    let s = gumbel_softmax_with_noise(&l, Noise::Gumbel(&g), Temperature::Tau(tau), Output::Soft)
        .unwrap();
    let v = Tensor::new([1, 3], s.y.as_slice().iter().map(|y| y.ln()).collect()).unwrap();
    let lp = exp_concrete_log_density(&l, &v, tau).unwrap();
    assert_eq!(lp.shape(), &[1]);
    assert!(lp.as_slice()[0].is_finite());
    // errors
    let bad_v = Tensor::new([1, 3], vec![f64::NAN, 0.0, 0.0]).unwrap();
    assert!(matches!(
        exp_concrete_log_density(&l, &bad_v, tau),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        exp_concrete_log_density(&l, &Tensor::zeros([1, 2]), tau),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        exp_concrete_log_density(&l, &v, 0.0),
        Err(Error::InvalidTemperature { .. })
    ));
}
