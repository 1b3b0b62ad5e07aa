//! Gradient checks and cross-checks of the fused kernels:
//! - f64 central differences of `L = <w, y>` w.r.t. logits, tau and beta, over many
//!   random shapes with masked classes (fixed noise through the noise-given forward);
//! - the f32 kernels against the f64 scalar reference, with stated tolerances;
//! - the composed (unfused) twin against the fused kernels, in value and gradient;
//! - SIMD row kernels against the scalar reference on awkward lengths and edge values;
//! - bitwise identical results for 1, 2 and 7 threads.

use crate::common::*;
use approx::relative_eq;
use gumbel_tensor::ops::gumbel::{
    GumbelRng, Noise, Output, TempGrad, Temperature, composed, gumbel_max, gumbel_noise,
    gumbel_softmax, gumbel_softmax_backward, gumbel_softmax_with_noise, scalar, uniform_noise,
};
use gumbel_tensor::{Element, SimdFloat, Tensor};
use rand::RngExt;

/// `L(l, temp) = sum w * y(l, g, temp)` with the noise `g` fixed.
fn loss(l: &Tensor<f64>, g: &Tensor<f64>, w: &Tensor<f64>, temp: Temperature<f64>) -> f64 {
    let s = gumbel_softmax_with_noise(l, Noise::Gumbel(g), temp, Output::Soft).unwrap();
    s.y.as_slice()
        .iter()
        .zip(w.as_slice())
        .map(|(a, b)| a * b)
        .sum()
}

/// Central differences with step h = 1e-6. Error budget per component: truncation
/// h^2/6 |L'''| with |L'''| <= 6 c^3 max|w| (third derivatives of softmax are bounded by
/// 6 c^3), at most 1e-12 * 6 * 27 for c <= 3; rounding 2 eps |L| / (2h) ~ 2.2e-16 * 40 /
/// 2e-6 = 4.4e-9 for |L| <= 40. So |numeric - analytic| <= 1e-8 + 1e-6 |analytic|; checked
/// as `relative_eq!(epsilon = 1e-8, max_relative = 1e-6)` (either bound suffices, relative
/// to the larger of the two: no looser than the sum for gradients below 1e4).
#[test]
fn fused_backward_matches_central_differences_in_f64() {
    let mut data = data_rng(1234);
    let h = 1e-6;
    for case in 0..60 {
        let rows = data.random_range(1..5usize);
        let cols = data.random_range(1..40usize);
        let mut l = uniform_tensor(&mut data, rows, cols, -2.0, 2.0);
        if case % 2 == 0 {
            mask_some(&mut data, &mut l, 0.3);
        }
        let g = gumbel_noise::<f64>(&[rows, cols], &mut GumbelRng::new(case));
        let w = uniform_tensor(&mut data, rows, cols, -1.0, 1.0);
        let t = data.random_range(0.34..3.0);
        for temp in [Temperature::Tau(t), Temperature::Beta(1.0 / t)] {
            let s = gumbel_softmax_with_noise(&l, Noise::Gumbel(&g), temp, Output::Soft).unwrap();
            let (dl, dtemp) = gumbel_softmax_backward(&s.y, &w, temp, TempGrad::Compute).unwrap();
            for i in 0..rows * cols {
                if l.as_slice()[i] == f64::NEG_INFINITY {
                    assert_eq!(dl.as_slice()[i], 0.0, "masked gradient");
                    continue;
                }
                let (mut lp, mut lm) = (l.clone(), l.clone());
                lp.as_mut_slice()[i] += h;
                lm.as_mut_slice()[i] -= h;
                let num = (loss(&lp, &g, &w, temp) - loss(&lm, &g, &w, temp)) / (2.0 * h);
                let ana = dl.as_slice()[i];
                assert!(
                    relative_eq!(num, ana, epsilon = 1e-8, max_relative = 1e-6),
                    "case {case} {temp:?} dl[{i}]: {ana} vs {num}"
                );
            }
            let bump = |d: f64| shifted(temp, d);
            let num = (loss(&l, &g, &w, bump(h)) - loss(&l, &g, &w, bump(-h))) / (2.0 * h);
            let ana = dtemp.unwrap();
            assert!(
                relative_eq!(num, ana, epsilon = 1e-8, max_relative = 1e-6),
                "case {case} d{}: {ana} vs {num}",
                temp.name()
            );
        }
    }
}

/// The f32 kernels against the f64 scalar reference on the same noise (the f32 noise,
/// widened) and the same `p = l + g` (rounded to f32 on both sides). Forward bound per
/// element: `y u (180 + 2 c |p - M|) + 2^-126` ([`fused_forward_units`]); backward bound:
/// [`backward_budget`] with the f32 side's lane sums (`n/16 + 4` terms) and a negligible
/// f64 side.
#[test]
fn f32_kernels_agree_with_the_f64_scalar_reference() {
    let u = 2f64.powi(-24);
    let mut data = data_rng(55);
    for &(rows, cols) in &[(64usize, 5000usize), (8, 50257), (300, 33), (7, 1)] {
        let l32: Tensor<f32> = uniform_tensor(&mut data, rows, cols, -8.0, 8.0).cast();
        let dy32: Tensor<f32> = uniform_tensor(&mut data, rows, cols, -1.0, 1.0).cast();
        for (t32, t64) in [
            (Temperature::Tau(0.5f32), Temperature::Tau(0.5f64)),
            (Temperature::Beta(3.0), Temperature::Beta(3.0)),
        ] {
            let c = t64.scale("test").unwrap();
            let mut rng = GumbelRng::new(8);
            let s32 = gumbel_softmax(&l32, t32, &mut rng, Output::Soft).unwrap();
            rng.set_counter(0);
            let g32 = gumbel_noise::<f32>(&[rows, cols], &mut rng);
            let s64 = scalar::gumbel_softmax_with_gumbel(&l32.cast(), &g32.cast(), t64).unwrap();
            assert_eq!(s32.index, s64.index);
            for r in 0..rows {
                let p: Vec<f64> = l32
                    .row(r)
                    .iter()
                    .zip(g32.row(r))
                    .map(|(a, b)| (a + b) as f64)
                    .collect();
                let big_m = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                for (j, &pj) in p.iter().enumerate() {
                    let (a, b) = (s32.y.row(r)[j] as f64, s64.y.row(r)[j]);
                    let tol = b * u * fused_forward_units(c, pj, big_m, 16) + 2f64.powi(-126);
                    assert!(
                        (a - b).abs() <= tol,
                        "fwd {rows}x{cols} [{r},{j}]: {a} vs {b}"
                    );
                }
            }
            let (dl32, dt32) =
                gumbel_softmax_backward(&s32.y, &dy32, t32, TempGrad::Compute).unwrap();
            let (y64, dy64): (Tensor<f64>, Tensor<f64>) = (s32.y.cast(), dy32.cast());
            let (dl64, dt64) =
                scalar::gumbel_softmax_backward(&y64, &dy64, t64, TempGrad::Compute).unwrap();
            let mut t_budget = 0.0;
            for r in 0..rows {
                let n = cols as f64;
                let (dl_b, t_b) = backward_budget(
                    y64.row(r),
                    dy64.row(r),
                    c,
                    u,
                    n / 16.0 + 4.0,
                    n / 16.0 + 5.0,
                    f32::MIN_POSITIVE as f64,
                );
                t_budget += t_b;
                for (j, &bound) in dl_b.iter().enumerate() {
                    let (a, b) = (dl32.row(r)[j] as f64, dl64.row(r)[j]);
                    assert!(
                        (a - b).abs() <= bound,
                        "bwd {rows}x{cols} [{r},{j}]: {a} vs {b}"
                    );
                }
            }
            let scale = 1.0 / t64.value();
            let (a, b) = (dt32.unwrap() as f64, dt64.unwrap());
            assert!(
                (a - b).abs() <= scale * t_budget + u * b.abs(),
                "dtemp {a} vs {b}"
            );
        }
    }
}

/// Bound on `|sum_i a_i ln y_i - sum_i a_i z_i|` for one row between the fused backward
/// (its own `y`, `ln y`) and the composed one (its own `y`, stored `z`). In exact
/// arithmetic they agree: `sum_i a_i = 0` and `z_i - ln y_i = lse(z)`. In floating point:
/// - the two `y` differ by `dy_i = y_i u units_i` (the forward budget), so the `a_i`
///   differ by `da_i = dy_i |dy_i - dot| + y_i ddot` (plus 4 roundings), with
///   `ddot = (n + n/lanes + 8) u sum|y dy| + sum_j dy_j |dy_j|`; `da_i` meets `|z_i|`;
/// - `ln y_i` carries 2u |ln y_i| and y's relative error `u units_i`; `z_i` carries u |z_i|;
/// - the rounded `a_i` sum to `ddot + |dot| max_i(u units_i)` instead of 0, which the shift
///   `lse(z)` multiplies;
/// - each side's summation adds `n u sum_i |a_i| (|z_i| + |ln y_i|)`.
fn dtemp_twin_budget(y: &[f64], dy: &[f64], z: &[f64], u: f64, lanes: usize, units: &[f64]) -> f64 {
    let n = y.len() as f64;
    let dot: f64 = y.iter().zip(dy).map(|(a, b)| a * b).sum();
    let abs_dot: f64 = y.iter().zip(dy).map(|(a, b)| (a * b).abs()).sum();
    let zmax = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = zmax + z.iter().map(|v| (v - zmax).exp()).sum::<f64>().ln();
    let dyv: Vec<f64> = y.iter().zip(units).map(|(yi, k)| yi * u * k).collect();
    let ddot = (n + n / lanes as f64 + 8.0) * u * abs_dot
        + dyv.iter().zip(dy).map(|(a, b)| a * b.abs()).sum::<f64>();
    let max_units = units.iter().copied().fold(0.0, f64::max);
    let mut b = (lse.abs() + 1.0) * (2.0 * ddot + dot.abs() * max_units * u);
    for i in 0..y.len() {
        if z[i] == f64::NEG_INFINITY {
            continue;
        }
        let a = (y[i] * (dy[i] - dot)).abs();
        let da =
            dyv[i] * (dy[i] - dot).abs() + y[i] * ddot + 4.0 * u * y[i] * (dy[i].abs() + dot.abs());
        let ln = y[i].ln().abs();
        b += da * (z[i].abs() + ln + 1.0)
            + a * u * (z[i].abs() + 2.0 * ln + units[i])
            + 2.0 * n * u * (a + da) * (z[i].abs() + ln);
    }
    b
}

/// Fused vs composed (unfused) twin, same noise: values, indices, gradients and the
/// temperature gradient (the composed one from the stored z, the fused one from ln y).
/// Forward: the fused budget plus the composed one (`z = c p` rounded: u c (|p| + |M|),
/// `z - max z`, exp, a lane sum of n/16 + 4 terms). Backward: [`backward_budget`] with a
/// sequential dot (composed) and a lane dot (fused). Temperature: [`dtemp_twin_budget`].
fn composed_twin_agrees<T: Element>(u: f64) {
    let lanes = 64 / std::mem::size_of::<T>();
    let mut data = data_rng(77);
    for &(rows, cols) in &[(5usize, 3usize), (20, 17), (6, 1023), (3, 5000)] {
        let mut l64 = uniform_tensor(&mut data, rows, cols, -3.0, 3.0);
        mask_some(&mut data, &mut l64, 0.2);
        let l: Tensor<T> = l64.cast();
        let dy: Tensor<T> = uniform_tensor(&mut data, rows, cols, -1.0, 1.0).cast();
        let n = cols as f64;
        for temp in [
            Temperature::Tau(T::from_f64(0.5)),
            Temperature::Beta(T::from_f64(1.5)),
        ] {
            let c = temp.scale("test").unwrap().to_f64();
            let fused = gumbel_softmax(&l, temp, &mut GumbelRng::new(4), Output::Soft).unwrap();
            let comp = composed::forward(&l, temp, &mut GumbelRng::new(4)).unwrap();
            assert_eq!(fused.index, comp.index);
            let (dl_f, dt_f) =
                gumbel_softmax_backward(&fused.y, &dy, temp, TempGrad::Compute).unwrap();
            let (dl_c, dt_c) = composed::backward(&comp, &dy, temp, TempGrad::Compute).unwrap();
            let mut t_budget = 0.0;
            for r in 0..rows {
                let p: Vec<f64> = comp.p.row(r).iter().map(|x| x.to_f64()).collect();
                let big_m = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let units: Vec<f64> = p
                    .iter()
                    .map(|&pj| {
                        let comp_units = 8.0
                            + n / 16.0
                            + 4.0
                            + c * (pj.abs().min(1e300) + big_m.abs() + (big_m - pj).min(1e300));
                        fused_forward_units(c, pj, big_m, lanes) + comp_units
                    })
                    .collect();
                for (j, &k) in units.iter().enumerate() {
                    let (a, b) = (fused.y.row(r)[j].to_f64(), comp.y.row(r)[j].to_f64());
                    assert!(
                        (a - b).abs() <= b * u * k + 1e-300,
                        "y [{r},{j}]: {a} vs {b}"
                    );
                }
                let y: Vec<f64> = fused.y.row(r).iter().map(|x| x.to_f64()).collect();
                let d: Vec<f64> = dy.row(r).iter().map(|x| x.to_f64()).collect();
                let z: Vec<f64> = comp.z.row(r).iter().map(|x| x.to_f64()).collect();
                // backward budget on the same y, plus the two y's difference: c (dy_j |dy_j - dot|
                // + y_j sum_i dy_i |dy_i|) with dy_i = y_i u units_i
                let (dl_b, _) = backward_budget(&y, &d, c, u, n + n / lanes as f64 + 8.0, 0.0, 0.0);
                let dot: f64 = y.iter().zip(&d).map(|(a, b)| a * b).sum();
                let shift: f64 = (0..cols).map(|i| y[i] * u * units[i] * d[i].abs()).sum();
                for j in 0..cols {
                    let (a, b) = (dl_f.row(r)[j].to_f64(), dl_c.row(r)[j].to_f64());
                    let tol =
                        dl_b[j] + c * (y[j] * u * units[j] * (d[j] - dot).abs() + y[j] * shift);
                    assert!((a - b).abs() <= tol, "dl [{r},{j}]: {a} vs {b}");
                }
                t_budget += dtemp_twin_budget(&y, &d, &z, u, lanes, &units);
            }
            let (a, b) = (dt_f.unwrap().to_f64(), dt_c.unwrap().to_f64());
            let scale = 1.0 / temp.value().to_f64();
            assert!(
                (a - b).abs() <= scale * t_budget + u * b.abs(),
                "dtemp {a} vs {b} (budget {})",
                scale * t_budget
            );
        }
    }
}

#[test]
fn composed_twin_agrees_with_fused_in_value_and_gradient() {
    composed_twin_agrees::<f32>(2f64.powi(-24));
    composed_twin_agrees::<f64>(2f64.powi(-53));
}

/// SIMD vs scalar twins on the awkward lengths and on edge values (huge logits, masks,
/// a constant row): the same indices (also from both Gumbel-max kernels), y within the
/// forward budget (the scalar reference is f64 after `p`), dl and dtemp within
/// [`backward_budget`] (sequential vs lane dot and sums, `std` vs polynomial `ln`).
fn simd_vs_scalar<T: Element>(u: f64) {
    let lanes = 64 / std::mem::size_of::<T>();
    let mut data = data_rng(5);
    for len in [1usize, 7, 8, 9, 15, 16, 17, 1023] {
        let mut rows: Vec<Vec<f64>> = vec![
            (0..len).map(|_| data.random_range(-3.0..3.0)).collect(),
            (0..len)
                .map(|i| {
                    if i % 3 == 1 {
                        f64::NEG_INFINITY
                    } else {
                        1e4 * (i as f64 / len as f64)
                    }
                })
                .collect(),
            vec![0.0; len],
            (0..len)
                .map(|i| if i == len - 1 { -1e4 } else { 1e4 })
                .collect(),
        ];
        rows[1][0] = 2.0;
        let l: Tensor<T> = Tensor::new([rows.len(), len], rows.concat())
            .unwrap()
            .cast();
        let dy: Tensor<T> = uniform_tensor(&mut data, 4, len, -1.0, 1.0).cast();
        let n = len as f64;
        // tau = 1 and beta = 1 run the exponential race (kernel and reference alike)
        for temp in [
            Temperature::Tau(T::from_f64(0.7)),
            Temperature::Beta(T::from_f64(40.0)),
            Temperature::Tau(T::ONE),
            Temperature::Beta(T::ONE),
        ] {
            let c = temp.scale("test").unwrap().to_f64();
            let simd = gumbel_softmax(&l, temp, &mut GumbelRng::new(6), Output::Soft).unwrap();
            let sc =
                scalar::gumbel_softmax(&l, temp, &mut GumbelRng::new(6), Output::Soft).unwrap();
            assert_eq!(simd.index, sc.index, "len {len}");
            let max = gumbel_max(&l, &mut GumbelRng::new(6)).unwrap();
            assert_eq!(scalar::gumbel_max(&l, &mut GumbelRng::new(6)).unwrap(), max);
            if c != 1.0 {
                // (the race's index may differ from Gumbel-max's on a rounding near-tie:
                // stats.rs, race_and_gumbel_max_agree)
                assert_eq!(max, sc.index);
            }
            let g = gumbel_noise::<T>(&[4, len], &mut GumbelRng::new(6));
            let (d1, t1) = gumbel_softmax_backward(&simd.y, &dy, temp, TempGrad::Compute).unwrap();
            let (d2, t2) =
                scalar::gumbel_softmax_backward(&simd.y, &dy, temp, TempGrad::Compute).unwrap();
            let mut t_budget = 0.0;
            for r in 0..4 {
                let p: Vec<f64> = l
                    .row(r)
                    .iter()
                    .zip(g.row(r))
                    .map(|(a, b)| (*a + *b).to_f64())
                    .collect();
                let big_m = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                for (j, &pj) in p.iter().enumerate() {
                    let (a, b) = (simd.y.row(r)[j].to_f64(), sc.y.row(r)[j].to_f64());
                    let tol =
                        b * u * fused_forward_units(c, pj, big_m, lanes) + T::MIN_POSITIVE.to_f64();
                    assert!((a - b).abs() <= tol, "len {len} y[{r},{j}]: {a} vs {b}");
                }
                let y: Vec<f64> = simd.y.row(r).iter().map(|x| x.to_f64()).collect();
                let d: Vec<f64> = dy.row(r).iter().map(|x| x.to_f64()).collect();
                let units = n + n / lanes as f64 + 8.0;
                let (dl_b, t_b) =
                    backward_budget(&y, &d, c, u, units, units, T::MIN_POSITIVE.to_f64());
                t_budget += t_b;
                for (j, &bound) in dl_b.iter().enumerate() {
                    let (a, b) = (d1.row(r)[j].to_f64(), d2.row(r)[j].to_f64());
                    assert!((a - b).abs() <= bound, "len {len} dl[{r},{j}]: {a} vs {b}");
                }
            }
            let (a, b) = (t1.unwrap().to_f64(), t2.unwrap().to_f64());
            let scale = 1.0 / temp.value().to_f64();
            assert!(
                (a - b).abs() <= scale * t_budget + u * b.abs(),
                "len {len} dtemp {a} vs {b}"
            );
        }
    }
}

/// The exponential race (`tau = 1`) against the exact sample: `y = softmax(l + g)` in f64
/// with `g = -ln(-ln u)` from the same uniforms (no rounding of `g` or `l + g`), logits
/// spread up to `1e4`. Budget per element, in units of `u`: `e_i = exp(l_i - M) / E_i`
/// carries `|l_i - M|` (the rounding of `l - M` inside `exp`) `+ 7` (`exp` 2 ulp, `ln` 1
/// ulp, the division); the sum `S` the y-weighted mean of those, plus `2048 / lanes + 4`
/// (lane sums, fold) `+ 25` (chunk combination); `1 / S` and the product 2 more: so
/// `y u (2048 / lanes + 52 + |l_i - M| + sum_j y_j |l_j - M|)`. Classes whose `e` flushes
/// below the smallest normal come out 0: absolute `MIN_POSITIVE E_max / E_min`, the
/// grid's `E = -ln u` in `[2^-b-1, 40]` (`b` = 24 / 53), since `S >= 1 / E_max`. The f64
/// truth rounds `p = l + g`, `p - max p` and their weighted mean in `S`: relative
/// `2^-53 4 (spread + 40)` (`|p| <= spread + 40`), which matters for the f64 kernel.
fn race_accuracy<T: Element>() {
    let mut data = data_rng(71);
    let unit = T::EPSILON.to_f64() / 2.0;
    let lanes = <T::Lanes as SimdFloat>::LANES as f64;
    let flush = T::MIN_POSITIVE.to_f64() * 40.0 / (T::EPSILON.to_f64() / 4.0);
    for &(rows, cols) in &[(8usize, 5000usize), (3, 9000), (50, 7)] {
        for spread in [1.0, 30.0, 1e4] {
            let l: Tensor<T> = uniform_tensor(&mut data, rows, cols, -spread, spread).cast();
            let s = gumbel_softmax(
                &l,
                Temperature::Tau(T::ONE),
                &mut GumbelRng::new(4),
                Output::Soft,
            )
            .unwrap();
            let u = uniform_noise::<T>(&[rows, cols], &mut GumbelRng::new(4));
            for r in 0..rows {
                let lr: Vec<f64> = l.row(r).iter().map(|x| x.to_f64()).collect();
                let g: Vec<f64> = u.row(r).iter().map(|x| -(-x.to_f64().ln()).ln()).collect();
                let truth = softmax_ref(&lr, &g, 1.0, |p| p);
                let big_m = lr.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let mean_spread: f64 = truth.iter().zip(&lr).map(|(y, x)| y * (big_m - x)).sum();
                for (j, (&a, &b)) in s.y.row(r).iter().zip(&truth).enumerate() {
                    let units = 2048.0 / lanes + 52.0 + (big_m - lr[j]) + mean_spread;
                    let truth_err = 2f64.powi(-53) * 4.0 * (spread + 40.0);
                    let tol = b * (unit * units + truth_err) + flush;
                    assert!(
                        (a.to_f64() - b).abs() <= tol,
                        "{} spread {spread} y[{r},{j}]: {a} vs {b}",
                        T::NAME
                    );
                }
            }
        }
    }
}

#[test]
fn the_exponential_race_is_the_exact_sample_within_its_budget() {
    race_accuracy::<f32>();
    race_accuracy::<f64>();
}

#[test]
fn simd_kernels_match_scalar_references_on_awkward_lengths_and_edges() {
    simd_vs_scalar::<f32>(2f64.powi(-24));
    simd_vs_scalar::<f64>(2f64.powi(-53));
}

/// Same seed and counter: bitwise identical forward (general and, at `tau = 1`, the race),
/// backward (including the temperature gradient summed over rows), Gumbel-max and noise
/// for 1, 2 and 7 threads, on shapes
/// large enough to run in parallel.
fn bitwise_across_threads<T: Element>() {
    for &(rows, cols) in &[(37usize, 5003usize), (300, 257), (5, 70000)] {
        let l: Tensor<T> = uniform_tensor(&mut data_rng(1), rows, cols, -4.0, 4.0).cast();
        let dy: Tensor<T> = uniform_tensor(&mut data_rng(2), rows, cols, -1.0, 1.0).cast();
        let run = || {
            let mut rng = GumbelRng::new(31);
            let s = gumbel_softmax(
                &l,
                Temperature::Tau(T::from_f64(0.4)),
                &mut rng,
                Output::Hard,
            )
            .unwrap();
            let b = gumbel_softmax_backward(
                &s.y,
                &dy,
                Temperature::Tau(T::from_f64(0.4)),
                TempGrad::Compute,
            )
            .unwrap();
            let m = gumbel_max(&l, &mut rng).unwrap();
            let g = gumbel_noise::<T>(&[rows, cols], &mut rng);
            // tau = 1: the exponential race
            let race = gumbel_softmax(&l, Temperature::Tau(T::ONE), &mut rng, Output::Hard);
            (s, b.0, b.1.unwrap().to_f64().to_bits(), m, g, race.unwrap())
        };
        let one = with_threads(1, run);
        for n in [2, 7] {
            let other = with_threads(n, run);
            assert!(
                other == one,
                "{} {rows}x{cols}: {n} threads differ from 1",
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
