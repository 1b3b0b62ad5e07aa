//! Gumbel-Rao (`gumbel_rao_backward`) and its conditional Gumbel sampler
//! (`conditional_gumbel_noise`):
//! - the law of the conditional noise (argmax, the maximum's law and its independence of
//!   the index, the truncated coordinates, and the mixture over the index), by
//!   Kolmogorov-Smirnov tests;
//! - the estimator: the mean of straight-through, a variance no larger and falling with K;
//! - the per-draw `J^T v` against central differences of the softmax, and the kernel against
//!   its composed twin (materialised noise, forward, backward, mean);
//! - SIMD vs scalar twins within derived budgets, the error contract, masked classes, and
//!   bitwise identical results for 1, 2 and 7 threads; f32 and f64.
//!
//! Statistical tests use fixed seeds. Each KS test has level `1e-4` (critical value
//! `sqrt(ln(2 / alpha) / (2 n))`, the asymptotic Kolmogorov bound, conservative at these
//! sample sizes); there are 27 per element type, so the chance that a correct sampler fails
//! the suite for a given seed is at most 54 x 1e-4 = 0.54%. The mean and variance
//! comparisons use z = 4.5 (two-sided 6.8e-6 each, 60 comparisons: at most 0.04%).

use crate::common::*;
use approx::relative_eq;
use gumbel_tensor::ops::gumbel::{
    GumbelRng, Noise, Output, TempGrad, Temperature, conditional_gumbel_noise, gumbel_max,
    gumbel_rao_backward, gumbel_softmax, gumbel_softmax_backward, gumbel_softmax_with_noise,
    scalar, uniform_noise,
};
use gumbel_tensor::{Element, Error, Tensor};
use rand::RngExt;

const KS_ALPHA: f64 = 1e-4;
const Z: f64 = 4.5;

/// The Kolmogorov-Smirnov statistic of `xs` against the distribution function `cdf`.
fn ks_stat(xs: &mut [f64], cdf: impl Fn(f64) -> f64) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = xs.len() as f64;
    let mut d = 0.0f64;
    for (i, &x) in xs.iter().enumerate() {
        let f = cdf(x);
        d = d.max((i as f64 + 1.0) / n - f).max(f - i as f64 / n);
    }
    d
}

/// Asserts `xs` follow `cdf` by a KS test at level [`KS_ALPHA`].
fn assert_ks(what: &str, mut xs: Vec<f64>, cdf: impl Fn(f64) -> f64) {
    let n = xs.len() as f64;
    let crit = ((2.0 / KS_ALPHA).ln() / (2.0 * n)).sqrt();
    let d = ks_stat(&mut xs, cdf);
    assert!(d < crit, "{what}: KS statistic {d} >= {crit} (n = {n})");
}

fn gumbel_cdf(x: f64) -> f64 {
    (-(-x).exp()).exp()
}

fn lse(l: &[f64]) -> f64 {
    let m = l.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + l.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// Logits of the law tests: unequal, one masked class.
const LAW_LOGITS: [f64; 5] = [1.0, -0.5, 0.0, f64::NEG_INFINITY, 2.0];

/// Given `d`, with 20 000 draws: (a) `l + g` has its strict maximum at `d` in `T`, and the
/// library's forward on that noise returns `d`; (b) the maximum `M = l_d + g_d` is
/// Gumbel(lse(l)) for every `d` (so independent of `d`); (c) for every other unmasked `i`,
/// `F_i(x_i | M) = exp(-(e^{l_i - x_i} - e^{l_i - M}))`, the distribution function of
/// Gumbel(l_i) truncated to `(-inf, M)`, is Uniform(0, 1); a masked class's `g_i` is
/// standard Gumbel.
fn conditional_law<T: Element>() {
    let n = 20_000;
    let cols = LAW_LOGITS.len();
    let l = Tensor::<T>::from_fn([1, cols], |i| T::from_f64(LAW_LOGITS[i]));
    let top = lse(&LAW_LOGITS);
    for d in [0usize, 1, 2, 4] {
        let mut rng = GumbelRng::new(100 + d as u64);
        let g = conditional_gumbel_noise(&l, &[d], n, &mut rng).unwrap();
        assert_eq!(rng.counter(), 1);
        assert_eq!(g.shape(), &[n, cols]);
        // (a), in T and through the forward kernel
        let lr = Tensor::<T>::from_fn([n, cols], |i| l.row(0)[i % cols]);
        let fwd = gumbel_softmax_with_noise(
            &lr,
            Noise::Gumbel(&g),
            Temperature::Tau(T::ONE),
            Output::Soft,
        )
        .unwrap();
        assert!(fwd.index.iter().all(|&i| i == d), "{} d {d}", T::NAME);
        let mut ms = Vec::with_capacity(n);
        let mut us = vec![Vec::with_capacity(n); cols];
        for r in 0..n {
            let x: Vec<T> = l
                .row(0)
                .iter()
                .zip(g.row(r))
                .map(|(a, b)| *a + *b)
                .collect();
            for i in 0..cols {
                assert!(i == d || x[i] < x[d], "{} d {d} row {r}: {x:?}", T::NAME);
            }
            let m = x[d].to_f64();
            ms.push(m - top);
            for i in (0..cols).filter(|&i| i != d) {
                let li = LAW_LOGITS[i];
                us[i].push(if li == f64::NEG_INFINITY {
                    gumbel_cdf(g.row(r)[i].to_f64())
                } else {
                    (-((li - x[i].to_f64()).exp() - (li - m).exp())).exp()
                });
            }
        }
        // (b)
        assert_ks(&format!("{} d {d}: M - lse", T::NAME), ms, gumbel_cdf);
        // (c)
        for i in (0..cols).filter(|&i| i != d) {
            assert_ks(
                &format!("{} d {d}: truncated class {i}", T::NAME),
                std::mem::take(&mut us[i]),
                |u| u.clamp(0.0, 1.0),
            );
        }
    }
}

#[test]
fn conditional_noise_has_the_argmax_the_maximum_law_and_truncated_coordinates() {
    conditional_law::<f32>();
    conditional_law::<f64>();
}

/// The key property: with `d ~ Categorical(softmax(l))` (here from `gumbel_max`), the
/// conditional noise is unconditional Gumbel noise. Each coordinate is standard Gumbel
/// (KS, 40 000 draws), and two joint statistics have their unconditional laws: `g_0 - g_1`
/// and `g_2 - g_4` are standard Logistic (distribution function `sigmoid`).
fn mixture_is_unconditional<T: Element>() {
    let rows = 40_000;
    let cols = LAW_LOGITS.len();
    let l = Tensor::<T>::from_fn([rows, cols], |i| T::from_f64(LAW_LOGITS[i % cols]));
    let idx = gumbel_max(&l, &mut GumbelRng::new(7)).unwrap();
    let g = conditional_gumbel_noise(&l, &idx, 1, &mut GumbelRng::new(8)).unwrap();
    let col = |i: usize| -> Vec<f64> { (0..rows).map(|r| g.row(r)[i].to_f64()).collect() };
    for i in 0..cols {
        assert_ks(&format!("{} mixture: g_{i}", T::NAME), col(i), gumbel_cdf);
    }
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    for (a, b) in [(0usize, 1usize), (2, 4)] {
        let diff: Vec<f64> = col(a).iter().zip(col(b)).map(|(x, y)| x - y).collect();
        assert_ks(
            &format!("{} mixture: g_{a} - g_{b}", T::NAME),
            diff,
            sigmoid,
        );
    }
}

#[test]
fn mixing_the_conditional_noise_over_the_index_gives_unconditional_gumbel_noise() {
    mixture_is_unconditional::<f32>();
    mixture_is_unconditional::<f64>();
}

/// Column means and variances (with the standard error of each variance,
/// `sqrt((m4 - var^2) / n)`) of an `n x k` tensor.
fn column_stats<T: Element>(t: &Tensor<T>) -> Vec<(f64, f64, f64)> {
    let (n, k) = (t.rows(), t.cols());
    (0..k)
        .map(|j| {
            let xs: Vec<f64> = (0..n).map(|r| t.row(r)[j].to_f64()).collect();
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
            let m4 = xs.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n as f64;
            (mean, var, ((m4 - var * var).max(0.0) / n as f64).sqrt())
        })
        .collect()
}

/// Gumbel-Rao against straight-through on 200 000 draws of a 6-class row (one masked),
/// tau = 0.7, with an upstream gradient that depends on the sample (`dy = B[D]`, a fixed
/// table, as `grad f(e_D)` does): per component, the means agree (z = 4.5 on the
/// difference of two independent means); K = 1 has straight-through's variance (the same
/// law); K = 3 and K = 10 have smaller variances than K = 1 and 3, each by more than 4.5
/// standard errors of the difference. The masked component is exactly 0 throughout.
fn rao_vs_straight_through<T: Element>() {
    let logits = [0.5, -0.3, 1.2, -1.0, 0.0, f64::NEG_INFINITY];
    let (rows, k) = (200_000, logits.len());
    let tau = Temperature::Tau(T::from_f64(0.7));
    let mut data = data_rng(3);
    let table: Vec<f64> = (0..k * k).map(|_| data.random_range(-1.0..1.0)).collect();
    let l = Tensor::<T>::from_fn([rows, k], |i| T::from_f64(logits[i % k]));
    let dy_of = |idx: &[usize]| -> Tensor<T> {
        Tensor::from_fn([rows, k], |i| T::from_f64(table[idx[i / k] * k + i % k]))
    };
    let s = gumbel_softmax(&l, tau, &mut GumbelRng::new(21), Output::Hard).unwrap();
    let (st, _) = gumbel_softmax_backward(&s.y, &dy_of(&s.index), tau, TempGrad::Skip).unwrap();
    let idx = gumbel_max(&l, &mut GumbelRng::new(22)).unwrap();
    let dy = dy_of(&idx);
    let st = column_stats(&st);
    let gr: Vec<Vec<(f64, f64, f64)>> = [1usize, 3, 10]
        .iter()
        .map(|&kk| {
            let g = gumbel_rao_backward(&l, &idx, &dy, tau, kk, &mut GumbelRng::new(23)).unwrap();
            assert!(
                (0..rows).all(|r| g.row(r)[k - 1] == T::ZERO),
                "masked class"
            );
            column_stats(&g)
        })
        .collect();
    let n = rows as f64;
    for j in 0..k - 1 {
        let (m_st, v_st, se_st) = st[j];
        for (kk, g) in [1, 3, 10].iter().zip(&gr) {
            let (m, v, _) = g[j];
            let se = ((v_st + v) / n).sqrt();
            assert!(
                (m - m_st).abs() < Z * se,
                "{} class {j} K {kk}: mean {m} vs straight-through {m_st} (se {se})",
                T::NAME
            );
        }
        let (v1, se1) = (gr[0][j].1, gr[0][j].2);
        assert!(
            (v1 - v_st).abs() < Z * (se1 * se1 + se_st * se_st).sqrt(),
            "{} class {j}: K = 1 variance {v1} vs straight-through {v_st}",
            T::NAME
        );
        for w in gr.windows(2) {
            let ((va, sa), (vb, sb)) = ((w[0][j].1, w[0][j].2), (w[1][j].1, w[1][j].2));
            assert!(
                vb + Z * (sa * sa + sb * sb).sqrt() < va,
                "{} class {j}: variance {vb} not below {va}",
                T::NAME
            );
        }
    }
}

#[test]
fn gumbel_rao_has_the_mean_of_straight_through_and_a_variance_falling_with_k() {
    rao_vs_straight_through::<f32>();
    rao_vs_straight_through::<f64>();
}

/// `softmax((l + g) / tau)` in f64 with std's exp.
fn softmax_at(l: &[f64], g: &[f64], tau: f64) -> Vec<f64> {
    softmax_ref(l, g, 1.0 / tau, |x| x)
}

/// The per-draw formula `J^T v = y (v - <y, v>) / tau` against central differences of
/// `<v, softmax((l + g)/tau)>` in `l` (g fixed, the materialised conditional noise), in f64,
/// through the kernel with K = 1: `relative_eq(epsilon = 1e-8, max_relative = 1e-6)` (the
/// central difference with h = 1e-6 has truncation error ~h^2 |f'''| ~ 1e-12 and rounding
/// error ~1e-16 / h = 1e-10).
#[test]
fn the_per_draw_vector_jacobian_product_matches_central_differences() {
    let mut data = data_rng(11);
    let (rows, cols) = (6, 9);
    let mut l = uniform_tensor(&mut data, rows, cols, -2.0, 2.0);
    l.row_mut(2)[4] = f64::NEG_INFINITY;
    let v = uniform_tensor(&mut data, rows, cols, -1.0, 1.0);
    let idx: Vec<usize> = (0..rows).map(|r| (r * 5) % cols).collect();
    for tau in [0.3, 1.0, 2.5] {
        let temp = Temperature::Tau(tau);
        let dl = gumbel_rao_backward(&l, &idx, &v, temp, 1, &mut GumbelRng::new(5)).unwrap();
        let g = conditional_gumbel_noise(&l, &idx, 1, &mut GumbelRng::new(5)).unwrap();
        let h = 1e-6;
        for r in 0..rows {
            let f = |lr: &[f64]| -> f64 {
                let y = softmax_at(lr, g.row(r), tau);
                y.iter().zip(v.row(r)).map(|(a, b)| a * b).sum()
            };
            for j in 0..cols {
                if l.row(r)[j] == f64::NEG_INFINITY {
                    assert_eq!(dl.row(r)[j], 0.0);
                    continue;
                }
                let mut lp = l.row(r).to_vec();
                let mut lm = lp.clone();
                lp[j] += h;
                lm[j] -= h;
                let num = (f(&lp) - f(&lm)) / (2.0 * h);
                let ana = dl.row(r)[j];
                assert!(
                    relative_eq!(num, ana, epsilon = 1e-8, max_relative = 1e-6),
                    "tau {tau} row {r} col {j}: {num} vs {ana}"
                );
            }
        }
    }
}

/// The composed twin: materialise the K conditional noise vectors, run the fused forward on
/// each (it must return the index), the Gumbel-Softmax backward on each, and average. In
/// f64 the kernel agrees within `relative_eq(epsilon = 1e-13 c max|dy|, max_relative =
/// 1e-9)`: both compute the same `y_k` up to rounding (the kernel from `l + g - M`
/// directly, the twin from `g` rounded and then `l + g`), about `1e-15 c |l + g|`.
/// K = 1 is the edge where Gumbel-Rao is straight-through at one conditional draw.
#[test]
fn the_kernel_equals_the_mean_of_straight_through_backwards_on_the_materialised_noise() {
    let mut data = data_rng(13);
    let (rows, cols) = (7, 300);
    let mut l = uniform_tensor(&mut data, rows, cols, -4.0, 4.0);
    mask_some(&mut data, &mut l, 0.2);
    let dy = uniform_tensor(&mut data, rows, cols, -1.0, 1.0);
    let idx: Vec<usize> = (0..rows)
        .map(|r| {
            (0..cols)
                .find(|&j| l.row(r)[(j * 37 + r) % cols] != f64::NEG_INFINITY)
                .map(|j| (j * 37 + r) % cols)
                .unwrap()
        })
        .collect();
    for (k, temp) in [
        (1usize, Temperature::Tau(0.5)),
        (4, Temperature::Tau(2.0)),
        (3, Temperature::Beta(5.0)),
        // c = 1: the kernel's exponential race (w / (E r + w), no ln or exp of z)
        (5, Temperature::Tau(1.0)),
        (2, Temperature::Beta(1.0)),
    ] {
        let c = temp.scale("test").unwrap();
        let dl = gumbel_rao_backward(&l, &idx, &dy, temp, k, &mut GumbelRng::new(9)).unwrap();
        let g = conditional_gumbel_noise(&l, &idx, k, &mut GumbelRng::new(9)).unwrap();
        let lk = Tensor::from_fn([rows * k, cols], |i| l.row(i / cols / k)[i % cols]);
        let dyk = Tensor::from_fn([rows * k, cols], |i| dy.row(i / cols / k)[i % cols]);
        let s = gumbel_softmax_with_noise(&lk, Noise::Gumbel(&g), temp, Output::Soft).unwrap();
        assert_eq!(
            s.index,
            (0..rows * k).map(|j| idx[j / k]).collect::<Vec<_>>()
        );
        let (st, _) = gumbel_softmax_backward(&s.y, &dyk, temp, TempGrad::Skip).unwrap();
        for r in 0..rows {
            for j in 0..cols {
                let want = (0..k).map(|q| st.row(r * k + q)[j]).sum::<f64>() / k as f64;
                let got = dl.row(r)[j];
                if l.row(r)[j] == f64::NEG_INFINITY {
                    assert_eq!(got, 0.0);
                }
                assert!(
                    relative_eq!(got, want, epsilon = 1e-13 * c, max_relative = 1e-9),
                    "k {k} row {r} col {j}: {got} vs {want}"
                );
            }
        }
    }
}

/// The f64 recomputation of a draw from `uniform_noise` (the documented stream layout:
/// `u_top` in column 0, `u_i` in column LANES + i), for the twin budgets: per class
/// `(a_i, q_i, z_i)` with `a = l - m0`, `q = ln(E r + w)`, `z = a - q` (`z_d = 0`).
fn draw_terms(l: &[f64], d: usize, u: &[f64], lanes: usize) -> Vec<(f64, f64, f64)> {
    let m0 = l.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let zsum: f64 = l.iter().map(|x| (x - m0).exp()).sum();
    let r = zsum / -u[0].ln();
    (0..l.len())
        .map(|i| {
            let a = l[i] - m0;
            let q = (-u[lanes + i].ln() * r + a.exp()).ln();
            (a, q, if i == d { 0.0 } else { (a - q).min(0.0) })
        })
        .collect()
}

/// SIMD kernels vs their scalar references (the same uniforms, f64 with std's ln/exp) on
/// the awkward lengths, with masks, logits spread over 1e4, constant rows, the index in
/// the SIMD tail; K = 1 and 3, Tau and Beta.
///
/// Budgets, in units of the kernel type's unit roundoff `u` (derivation): `E = -ln u`,
/// `e_top` and the `ln` of the arguments within 1 ulp in f32 (<= 3 ulp vs exact in f64:
/// 2 of the polynomial against std, 1 of std), i.e. relative `2u` / `6u`; `Z' = sum w` has
/// relative error `rho = (n / LANES + 8 + n/e) u` (lane sums and fold, `exp` of `w` 4u, and
/// `w_i (l_i - m0)` rounding, `sum_i w_i |a_i| <= n/e`); so `r` is within `rho + 4u`.
/// - noise: `|g - g_ref| <= base_i = rho + u (14 + |a_i| + 8 |g_i|)` (argument of the ln,
///   the ln itself, the final rounding), plus for `i != d` the tie-break allowance
///   `base_d + 6 u (|l_i| + |g_i| + |l_d| + |g_d|)`: a tie-break lowers `g_i` below the
///   twin's own `l_d + g_d` (which differ by `g_d`'s error) in steps of about 2 ulp;
/// - backward: `z_i` is within `dz_i = rho + u (8 + 2 |a_i| + 6 |q_i| + |z_i|)`, so `e_i`
///   within relative `eps_i = c (dz_i + u |z_i|) + 5u`, `y_i = e_i / S` within `eps_i +
///   eps_S + u`, `eps_S = sum_i y_i eps_i + (n / LANES + 4) u`; then
///   `|dl_i - ref_i| <= (c / K) sum_k y_ik [|dy_i - dot_k| (eps_ik + eps_S + 4u) +
///   sum_j y_jk |dy_j| (eps_jk + eps_S + (n / LANES + 6) u)] + 2 K u |ref_i| + 4 c 2^-126`
///   (the last term: `exp` flushes results below the smallest normal to 0).
fn twins<T: Element>(u: f64) {
    let lanes = 64 / std::mem::size_of::<T>();
    let mut data = data_rng(17);
    for n in [1usize, 7, 8, 9, 15, 16, 17, 1023, 2049] {
        let mut rows: Vec<Vec<f64>> = vec![
            (0..n).map(|_| data.random_range(-3.0..3.0)).collect(),
            (0..n)
                .map(|i| {
                    if i % 3 == 1 {
                        f64::NEG_INFINITY
                    } else {
                        1e4 * (i as f64 / n as f64)
                    }
                })
                .collect(),
            vec![0.0; n],
            (0..n)
                .map(|i| if i == n - 1 { -1e4 } else { 1e4 })
                .collect(),
        ];
        rows[1][0] = 2.0;
        let nr = rows.len();
        // a middle class; the last unless masked; the tail of a constant row; the lowest
        // logit (probability e^-2e4) against 1e4's
        let last_live = if (n - 1) % 3 == 1 { 0 } else { n - 1 };
        let idx = vec![n / 2, last_live, n - 1, n - 1];
        let l: Tensor<T> = Tensor::new([nr, n], rows.concat()).unwrap().cast();
        let l64: Tensor<f64> = l.cast();
        let dy: Tensor<T> = uniform_tensor(&mut data, nr, n, -1.0, 1.0).cast();
        for k in [1usize, 3] {
            // noise
            let g = conditional_gumbel_noise(&l, &idx, k, &mut GumbelRng::new(6)).unwrap();
            let gs = scalar::conditional_gumbel_noise(&l, &idx, k, &mut GumbelRng::new(6)).unwrap();
            let un = uniform_noise::<T>(&[nr * k, lanes + n], &mut GumbelRng::new(6));
            let nf = n as f64;
            let rho = (nf / lanes as f64 + 8.0 + nf / std::f64::consts::E) * u;
            for j in 0..nr * k {
                let (lr, d) = (l64.row(j / k), idx[j / k]);
                let uj: Vec<f64> = un.row(j).iter().map(|x| x.to_f64()).collect();
                let terms = draw_terms(lr, d, &uj, lanes);
                let fin = |x: f64| if x.is_finite() { x.abs() } else { 0.0 };
                let base = |i: usize| {
                    rho + u * (14.0 + fin(terms[i].0) + 8.0 * gs.row(j)[i].to_f64().abs())
                };
                let gd = gs.row(j)[d].to_f64().abs();
                for i in 0..n {
                    let (a, b) = (g.row(j)[i].to_f64(), gs.row(j)[i].to_f64());
                    // i != d: a tie-break moves g_i to below the twin's own l_d + g_d, which
                    // differs by g_d's error, in steps of about 2 ulp of l_i + g_i
                    let fix = if i == d {
                        0.0
                    } else {
                        base(d) + 6.0 * u * (fin(lr[i]) + b.abs() + fin(lr[d]) + gd)
                    };
                    let tol = base(i) + fix;
                    assert!(
                        (a - b).abs() <= tol,
                        "{} n {n} k {k} noise [{j},{i}]: {a} vs {b} (tol {tol})",
                        T::NAME
                    );
                }
            }
            for temp in [
                Temperature::Tau(T::from_f64(0.7)),
                Temperature::Beta(T::from_f64(40.0)),
                Temperature::Tau(T::ONE), // the c = 1 path
            ] {
                let c = temp.scale("test").unwrap().to_f64();
                let dl =
                    gumbel_rao_backward(&l, &idx, &dy, temp, k, &mut GumbelRng::new(6)).unwrap();
                let dr =
                    scalar::gumbel_rao_backward(&l, &idx, &dy, temp, k, &mut GumbelRng::new(6))
                        .unwrap();
                for (r, &d) in idx.iter().enumerate() {
                    let lr = l64.row(r);
                    let dyr: Vec<f64> = dy.row(r).iter().map(|x| x.to_f64()).collect();
                    let mut tol = vec![0.0f64; n];
                    for q in 0..k {
                        let uj: Vec<f64> = un.row(r * k + q).iter().map(|x| x.to_f64()).collect();
                        let terms = draw_terms(lr, d, &uj, lanes);
                        let e: Vec<f64> = terms.iter().map(|t| (c * t.2).exp()).collect();
                        let s: f64 = e.iter().sum();
                        let y: Vec<f64> = e.iter().map(|x| x / s).collect();
                        let dot: f64 = y.iter().zip(&dyr).map(|(a, b)| a * b).sum();
                        let eps: Vec<f64> = terms
                            .iter()
                            .map(|&(a, qq, z)| {
                                if !z.is_finite() {
                                    return 0.0;
                                }
                                let dz = rho + u * (8.0 + 2.0 * a.abs() + 6.0 * qq.abs() + z.abs());
                                c * (dz + u * z.abs()) + 5.0 * u
                            })
                            .collect();
                        let eps_s = y.iter().zip(&eps).map(|(a, b)| a * b).sum::<f64>()
                            + (nf / lanes as f64 + 4.0) * u;
                        let ddot: f64 = y
                            .iter()
                            .zip(&dyr)
                            .zip(&eps)
                            .map(|((yj, dj), ej)| {
                                yj * dj.abs() * (ej + eps_s + (nf / lanes as f64 + 6.0) * u)
                            })
                            .sum();
                        for i in 0..n {
                            tol[i] += c / k as f64
                                * y[i]
                                * ((dyr[i] - dot).abs() * (eps[i] + eps_s + 4.0 * u) + ddot);
                        }
                    }
                    for i in 0..n {
                        let (a, b) = (dl.row(r)[i].to_f64(), dr.row(r)[i].to_f64());
                        // exp flushes e below the smallest normal to 0: y_i and the terms of
                        // dot move by at most that, times c (|dy| <= 1, |dy_i - dot| <= 2)
                        let flush = 4.0 * c * T::MIN_POSITIVE.to_f64();
                        let t = tol[i] + 2.0 * k as f64 * u * b.abs() + flush;
                        assert!(
                            (a - b).abs() <= t,
                            "{} n {n} k {k} {temp:?} dl[{r},{i}]: {a} vs {b} (tol {t})",
                            T::NAME
                        );
                        if lr[i] == f64::NEG_INFINITY {
                            assert_eq!(a, 0.0);
                            assert_eq!(b, 0.0);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn simd_kernels_match_the_scalar_references_within_the_budget() {
    twins::<f32>(2f64.powi(-24));
    twins::<f64>(2f64.powi(-53));
}

/// Same seed and counter: bitwise the same gradient and noise for 1, 2 and 7 threads, on
/// shapes that run in parallel.
fn bitwise_across_threads<T: Element>() {
    for &(rows, cols, k) in &[(37usize, 5003usize, 3usize), (300, 257, 2), (5, 70000, 1)] {
        let l: Tensor<T> = uniform_tensor(&mut data_rng(1), rows, cols, -4.0, 4.0).cast();
        let dy: Tensor<T> = uniform_tensor(&mut data_rng(2), rows, cols, -1.0, 1.0).cast();
        let idx: Vec<usize> = (0..rows).map(|r| (r * 7919) % cols).collect();
        let run = || {
            let mut rng = GumbelRng::new(31);
            let temp = Temperature::Tau(T::from_f64(0.4));
            let dl = gumbel_rao_backward(&l, &idx, &dy, temp, k, &mut rng).unwrap();
            // and the c = 1 path
            let unit = gumbel_rao_backward(&l, &idx, &dy, Temperature::Tau(T::ONE), k, &mut rng);
            let g = conditional_gumbel_noise(&l, &idx, k, &mut rng).unwrap();
            (dl, unit.unwrap(), g)
        };
        let one = with_threads(1, run);
        for n in [2, 7] {
            let other = with_threads(n, run);
            assert!(
                other == one,
                "{} {rows}x{cols} k {k}: {n} threads differ from 1",
                T::NAME
            );
        }
    }
}

#[test]
fn results_are_bitwise_identical_for_1_2_and_7_threads() {
    bitwise_across_threads::<f32>();
    bitwise_across_threads::<f64>();
}

/// Every error of the contract, from the SIMD kernels and the scalar references alike, with
/// messages naming the op, row and column; a failed call leaves the counter alone.
fn errors<T: Element>() {
    let ok = Tensor::<T>::from_fn([3, 5], |i| T::from_f64((i % 5) as f64 * 0.3));
    let dy = Tensor::<T>::zeros([3, 5]);
    let tau = Temperature::Tau(T::ONE);
    let idx = [0usize, 1, 2];
    type Call<T> = fn(
        &Tensor<T>,
        &[usize],
        &Tensor<T>,
        Temperature<T>,
        usize,
        &mut GumbelRng,
    ) -> gumbel_tensor::Result<Tensor<T>>;
    let calls: [(&str, Call<T>); 4] = [
        ("gumbel_rao_backward", gumbel_rao_backward::<T>),
        (
            "scalar::gumbel_rao_backward",
            scalar::gumbel_rao_backward::<T>,
        ),
        ("conditional_gumbel_noise", |l, i, _, _, k, rng| {
            conditional_gumbel_noise(l, i, k, rng)
        }),
        ("scalar::conditional_gumbel_noise", |l, i, _, _, k, rng| {
            scalar::conditional_gumbel_noise(l, i, k, rng)
        }),
    ];
    for (op, f) in calls {
        let noise = op.contains("noise");
        let run = |l: &Tensor<T>, i: &[usize], d: &Tensor<T>, t: Temperature<T>, k: usize| {
            let mut rng = GumbelRng::new(1);
            let e = f(l, i, d, t, k, &mut rng).unwrap_err();
            assert_eq!(rng.counter(), 0, "{op}: a failed call consumed the counter");
            let msg = e.to_string();
            assert!(msg.starts_with(op), "{msg}");
            (e, msg)
        };
        // k = 0
        let (e, msg) = run(&ok, &idx, &dy, tau, 0);
        assert!(
            matches!(e, Error::InvalidArgument { .. }) && msg.contains("k"),
            "{msg}"
        );
        // NaN / +inf logits: the first bad row and its first bad column
        for bad in [T::NAN, T::INFINITY] {
            let mut l = ok.clone();
            l.row_mut(1)[3] = bad;
            l.row_mut(1)[4] = T::NAN;
            l.row_mut(2)[0] = T::NAN;
            let (e, _) = run(&l, &idx, &dy, tau, 2);
            assert!(
                matches!(e, Error::NonFiniteLogit { row: 1, col: 3, .. }),
                "{op}: {e:?}"
            );
        }
        // a row of only -inf
        let mut l = ok.clone();
        l.row_mut(2).fill(T::NEG_INFINITY);
        let (e, _) = run(&l, &idx, &dy, tau, 1);
        assert!(matches!(e, Error::AllMasked { row: 2, .. }), "{op}: {e:?}");
        // the index out of range, or at a masked class
        let (e, msg) = run(&ok, &[0, 5, 0], &dy, tau, 1);
        assert!(matches!(e, Error::InvalidArgument { .. }), "{e:?}");
        assert!(
            msg.contains("row 1: index 5 is out of range for 5 classes"),
            "{msg}"
        );
        let mut l = ok.clone();
        l.row_mut(2)[2] = T::NEG_INFINITY;
        let (_, msg) = run(&l, &idx, &dy, tau, 1);
        assert!(
            msg.contains("row 2, column 2") && msg.contains("masked"),
            "{msg}"
        );
        // one index per row
        let (_, msg) = run(&ok, &[0, 1], &dy, tau, 1);
        assert!(
            msg.contains("index holds 2 entries") && msg.contains("3 rows"),
            "{msg}"
        );
        // logits without classes
        let (e, _) = run(
            &Tensor::<T>::zeros([3, 0]),
            &idx,
            &Tensor::zeros([3, 0]),
            tau,
            1,
        );
        assert!(matches!(e, Error::InvalidShape { .. }), "{e:?}");
        if !noise {
            // dy of another shape
            let (e, _) = run(&ok, &idx, &Tensor::zeros([3, 4]), tau, 1);
            assert!(matches!(e, Error::ShapeMismatch { .. }), "{e:?}");
            // bad temperatures
            for v in [T::ZERO, -T::ONE, T::NAN, T::INFINITY] {
                for t in [Temperature::Tau(v), Temperature::Beta(v)] {
                    let (e, _) = run(&ok, &idx, &dy, t, 1);
                    assert!(matches!(e, Error::InvalidTemperature { .. }), "{e:?}");
                }
            }
        }
    }
    // success consumes exactly one counter value; an empty batch is fine
    let mut rng = GumbelRng::new(1);
    gumbel_rao_backward(&ok, &idx, &dy, tau, 4, &mut rng).unwrap();
    conditional_gumbel_noise(&ok, &idx, 4, &mut rng).unwrap();
    assert_eq!(rng.counter(), 2);
    let empty = Tensor::<T>::zeros([0, 5]);
    assert_eq!(
        gumbel_rao_backward(&empty, &[], &empty, tau, 2, &mut rng)
            .unwrap()
            .shape(),
        &[0, 5]
    );
}

#[test]
fn errors_name_the_op_row_and_column_and_leave_the_counter() {
    errors::<f32>();
    errors::<f64>();
}

/// Masked classes get exactly 0 on long rows (whole masked stretches, masked SIMD tails),
/// huge logits and extreme temperatures give finite gradients whose rows sum to ~0.
fn masked_and_extremes<T: Element>() {
    let mut data = data_rng(19);
    for &(rows, cols) in &[(20usize, 17usize), (4, 6000)] {
        let mut l = uniform_tensor(&mut data, rows, cols, -1e4, 1e4);
        mask_some(&mut data, &mut l, 0.4);
        if cols == 6000 {
            l.row_mut(0)[2048..4096].fill(f64::NEG_INFINITY);
        }
        let idx: Vec<usize> = (0..rows)
            .map(|r| {
                (0..cols)
                    .find(|&j| l.row(r)[j] != f64::NEG_INFINITY)
                    .unwrap()
            })
            .collect();
        let l: Tensor<T> = l.cast();
        let dy: Tensor<T> = uniform_tensor(&mut data, rows, cols, -1.0, 1.0).cast();
        for temp in [
            Temperature::Tau(T::from_f64(1e-3)),
            Temperature::Tau(T::from_f64(1e3)),
            Temperature::Beta(T::from_f64(2.0)),
        ] {
            let dl = gumbel_rao_backward(&l, &idx, &dy, temp, 3, &mut GumbelRng::new(2)).unwrap();
            let c = temp.scale("test").unwrap().to_f64();
            for r in 0..rows {
                let mut sum = 0.0;
                let mut mag = 0.0;
                for j in 0..cols {
                    let x = dl.row(r)[j];
                    assert!(x.is_finite());
                    if l.row(r)[j] == T::NEG_INFINITY {
                        assert_eq!(x, T::ZERO);
                    }
                    sum += x.to_f64();
                    mag += x.to_f64().abs();
                }
                // each J^T v sums to 0; rounding leaves about n u (c max|dy| + sum |dl|)
                let u = T::EPSILON.to_f64();
                assert!(
                    sum.abs() <= cols as f64 * u * (c + mag) + 1e-30,
                    "{} row {r}: sum {sum}",
                    T::NAME
                );
            }
        }
    }
}

#[test]
fn masked_classes_get_exactly_zero_and_extremes_stay_finite() {
    masked_and_extremes::<f32>();
    masked_and_extremes::<f64>();
}

/// The uniforms of the draws below (`uniform_noise::<f64>(&[6, 8 + 5], GumbelRng::new(11))`,
/// row `r K + k`: `u_top`, then `u_0 .. u_4`; the stream layout of the kernel's draws).
const NSHEPPERD_U: [[f64; 6]; 6] = [
    [
        0.9788886119162984,
        0.039502139106919354,
        0.5103033902252473,
        0.8819639691125406,
        0.7275080371618935,
        0.8649697813291067,
    ],
    [
        0.2819915518423609,
        0.20951389975623014,
        0.8283466807702563,
        0.1185124806204979,
        0.8208352188020992,
        0.5711507295719255,
    ],
    [
        0.7252350820902477,
        0.6278098466970953,
        0.1049117036402275,
        0.8970966677226505,
        0.5476987091183664,
        0.3933184997786262,
    ],
    [
        0.20323241874549314,
        0.9176071873760342,
        0.49116226375261285,
        0.9263125213632336,
        0.2705554738022026,
        0.19084442277076563,
    ],
    [
        0.5763830482831435,
        0.06897569837648077,
        0.4580082268919673,
        0.7910256779929316,
        0.6342469851596723,
        0.9284477804720755,
    ],
    [
        0.35278772630961497,
        0.953130745827144,
        0.2570393384566524,
        0.5747874984139213,
        0.11930040281110432,
        0.1549552464855407,
    ],
];

/// The gradient nshepperd's `gumbel_rao` gives on the inputs below with those uniforms.
const NSHEPPERD_DL: [f64; 10] = [
    0.0031446528435851856,
    0.04159970956310201,
    0.027811623890649,
    -0.06308787475474034,
    -0.009468111542595869,
    0.08410222933894135,
    0.051183877276562484,
    -0.023011730031678546,
    -0.01131567578969224,
    -0.10095870079413298,
];

/// Gumbel-Rao against an independent implementation: `gumbel_rao` of
/// github.com/nshepperd/gumbel-rao-pytorch (at a09747d, `gumbel_rao.py`, run unchanged in
/// PyTorch 2.15 float64), the public PyTorch one, whose conditional sampler takes
/// exponentials `E` (`-ln(E_i e^{-l_i} + E_D / Z)` off the sample, `ln Z - ln E_D` on it):
/// fed `E_i = -ln u_i` and `E_D = -ln u_top` from our kernel's uniforms, it draws the same
/// noise as ours up to a constant per draw (ours is shifted so that the sample's `z` is 0),
/// and its gradient is the mean of the straight-through backwards through
/// `softmax((l + g_k)/tau)`. Both the kernel and the scalar reference must give its
/// gradient, and the uniforms written into the script must be the kernel's. The script
/// (`sys.path` pointing at a copy of `gumbel_rao.py`; `U` the rows of [`NSHEPPERD_U`]):
///
/// ```text
/// import sys, math, torch
/// import gumbel_rao as gr
/// torch.set_default_dtype(torch.float64)
/// U = [...]  # NSHEPPERD_U
/// R, C, K, TAU = 2, 5, 3, 0.7
/// I = torch.tensor([3, 1])
/// logits = torch.tensor([[2.0 * math.sin(0.7 * (r * C + c) + 0.1) for c in range(C)]
///                        for r in range(R)], requires_grad=True)
/// dy = torch.tensor([[math.cos(0.3 * (r * C + c) + 0.2) for c in range(C)] for r in range(R)])
/// E = torch.empty(K, R, C)
/// for r in range(R):
///     for k in range(K):
///         row = U[r * K + k]
///         for c in range(C):
///             E[k, r, c] = -math.log(row[0] if c == I[r] else row[1 + c])
/// torch.distributions.exponential.Exponential.sample = lambda self, shape=torch.Size(): E
/// out = gr.gumbel_rao(logits, K, temp=TAU, I=I)
/// (out * dy).sum().backward()
/// print(logits.grad.flatten().tolist())
/// ```
#[test]
fn gumbel_rao_matches_nshepperds_pytorch_implementation() {
    let (rows, cols, k) = (2, 5, 3);
    let u = uniform_noise::<f64>(&[rows * k, 8 + cols], &mut GumbelRng::new(11));
    for (j, want) in NSHEPPERD_U.iter().enumerate() {
        let row = u.row(j);
        assert_eq!(row[0], want[0], "u_top of draw row {j}");
        assert_eq!(&row[8..], &want[1..], "class uniforms of draw row {j}");
    }
    let l = Tensor::<f64>::from_fn([rows, cols], |i| 2.0 * (0.7 * i as f64 + 0.1).sin());
    let dy = Tensor::<f64>::from_fn([rows, cols], |i| (0.3 * i as f64 + 0.2).cos());
    let temp = Temperature::Tau(0.7);
    let kernel = gumbel_rao_backward(&l, &[3, 1], &dy, temp, k, &mut GumbelRng::new(11)).unwrap();
    let reference =
        scalar::gumbel_rao_backward(&l, &[3, 1], &dy, temp, k, &mut GumbelRng::new(11)).unwrap();
    for (name, dl) in [("kernel", &kernel), ("scalar reference", &reference)] {
        for (i, (&ours, theirs)) in dl.as_slice().iter().zip(NSHEPPERD_DL).enumerate() {
            assert!(
                relative_eq!(ours, theirs, max_relative = 1e-12),
                "{name}, element {i}: {ours} vs nshepperd's {theirs}"
            );
        }
    }
}
