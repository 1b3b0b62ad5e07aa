//! The binary Concrete (RelaxedBernoulli) kernels: the numerical contract (temperatures,
//! NaN and infinite logits, shapes, noise), SIMD against the scalar twin and against an f64
//! reference with stated budgets, bitwise determinism across thread counts, f64 gradient
//! checks by central differences (backward and log-density), and statistical tests (the
//! hard sample is Bernoulli(sigmoid(l)); the density integrates to 1 and matches a
//! histogram of the forward's samples).

use crate::common::*;
use approx::relative_eq;
use gumbel_tensor::ops::gumbel::{
    BinaryNoise, GumbelRng, Output, Space, TempGrad, Temperature, binary_concrete,
    binary_concrete_backward, binary_concrete_log_density, binary_concrete_log_density_backward,
    binary_concrete_with_noise, scalar, uniform_noise,
};
use gumbel_tensor::{Element, Error, Tensor};
use rand::RngExt;

/// `(y, hard)` of one element in f64 from `p = l + L` rounded to `T` (as the kernels do):
/// `sigmoid(c p)`.
fn sigmoid_ref(p: f64, c: f64) -> f64 {
    let z = c * p;
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        z.exp() / (1.0 + z.exp())
    }
}

/// `L = ln u - ln(1 - u)` in f64.
fn logistic_f64(u: f64) -> f64 {
    u.ln() - (-u).ln_1p()
}

/// Bound on `|p_kernel - p|` for `p = fl32(l + L)` with `L` exact: the kernel's
/// `L = ln(u / (1 - u))` is within 2^-24 (the quotient's rounding) + 2^-23 |L| (the `ln`,
/// 1 ulp) of the truth, which is below the `2^-23 (|ln u| + |ln(1 - u)|) + 2^-24 |L|` used
/// here (a bound that also covers `ln u - ln(1 - u)` with two `ln`): `|ln u| + |ln(1 - u)|
/// >= |L| + 0.62` where `|L| < 1`, and `>= |L|` with `2^-24 |L| >= 2^-24` elsewhere. Each
/// side rounds `l + L` once (2^-24 |p| each).
fn noise_error(u: f64, p: f64) -> f64 {
    let (a, b) = (u.ln(), (-u).ln_1p());
    (2f64.powi(-23) * (a.abs() + b.abs()) + 2f64.powi(-24) * (a - b).abs()) * 1.001
        + 2.0 * 2f64.powi(-24) * p.abs()
}

fn temperature_errors<T: Element>() {
    let l = Tensor::<T>::zeros([2, 3]);
    let y = Tensor::<T>::full([2, 3], T::from_f64(0.5));
    for v in bad_temperatures::<T>() {
        for temp in [Temperature::Tau(v), Temperature::Beta(v)] {
            let mut rng = GumbelRng::new(0);
            let check = |e: Error, op: &str| match &e {
                Error::InvalidTemperature { op: o, name, value } => {
                    assert_eq!(*o, op);
                    assert_eq!(*name, temp.name());
                    assert!(
                        value.to_bits() == v.to_f64().to_bits() || (value.is_nan() && v.is_nan())
                    );
                    assert!(e.to_string().contains(name), "{e}");
                }
                other => panic!("{op}: expected InvalidTemperature, got {other:?}"),
            };
            check(
                binary_concrete(&l, temp, &mut rng, Output::Soft).unwrap_err(),
                "binary_concrete",
            );
            check(
                scalar::binary_concrete(&l, temp, &mut rng, Output::Hard).unwrap_err(),
                "scalar::binary_concrete",
            );
            assert_eq!(
                rng.counter(),
                0,
                "a failed call must not consume the counter"
            );
            check(
                binary_concrete_with_noise(&l, BinaryNoise::Logistic(&l), temp, Output::Soft)
                    .unwrap_err(),
                "binary_concrete_with_noise",
            );
            check(
                binary_concrete_backward(&y, &y, temp, TempGrad::Compute).unwrap_err(),
                "binary_concrete_backward",
            );
            check(
                scalar::binary_concrete_backward(&y, &y, temp, TempGrad::Skip).unwrap_err(),
                "scalar::binary_concrete_backward",
            );
            check(
                binary_concrete_log_density(&l, &l, temp, Space::Logit).unwrap_err(),
                "binary_concrete_log_density",
            );
            check(
                binary_concrete_log_density_backward(&l, &l, temp, Space::Logit, &l).unwrap_err(),
                "binary_concrete_log_density_backward",
            );
        }
    }
}

#[test]
fn invalid_temperatures_are_errors_naming_the_value() {
    temperature_errors::<f32>();
    temperature_errors::<f64>();
}

/// NaN logits at many positions (first, middle, last, SIMD tails), with infinite logits
/// around them: the error names the first bad row and its first NaN column, for both
/// twins, the noise-given forward and the density; the counter is not consumed.
fn nan_logits_name_row_and_column<T: Element>() {
    for cols in [1usize, 7, 16, 17, 33, 1000] {
        for col in [0, cols / 2, cols - 1] {
            let mut l =
                Tensor::<T>::from_fn([3, cols], |i| T::from_f64((i % 13) as f64 * 0.1 - 0.6));
            // infinities (allowed) before and after the NaN, a later NaN in the same row
            // and one in a later row (neither reported)
            if col > 0 {
                l.row_mut(1)[col - 1] = T::INFINITY;
                l.row_mut(1)[0] = T::NEG_INFINITY;
            }
            l.row_mut(1)[col] = T::NAN;
            if col + 2 < cols {
                l.row_mut(1)[col + 1] = T::NEG_INFINITY;
                l.row_mut(1)[cols - 1] = T::NAN;
            }
            l.row_mut(2)[0] = T::NAN;
            let want_col = col;
            let check = |e: Error, what: &str| match &e {
                Error::NonFiniteLogit {
                    row, col: c, value, ..
                } => {
                    assert_eq!((*row, *c), (1, want_col), "{what} cols {cols}");
                    assert!(value.is_nan());
                    assert!(e.to_string().contains("row 1"), "{e}");
                }
                other => panic!("{what} cols {cols} col {col}: got {other:?}"),
            };
            let mut rng = GumbelRng::new(3);
            for out in [Output::Soft, Output::Hard] {
                let tau = Temperature::Tau(T::from_f64(0.5));
                check(binary_concrete(&l, tau, &mut rng, out).unwrap_err(), "simd");
                check(
                    scalar::binary_concrete(&l, tau, &mut rng, out).unwrap_err(),
                    "scalar",
                );
                let g = Tensor::zeros([3, cols]);
                check(
                    binary_concrete_with_noise(&l, BinaryNoise::Logistic(&g), tau, out)
                        .unwrap_err(),
                    "with_noise",
                );
            }
            assert_eq!(rng.counter(), 0);
            // the density rejects infinite logits too (tested below): without them here
            let finite = Tensor::from_fn([3, cols], |i| {
                let v = l.as_slice()[i];
                if v.is_nan() || v.is_finite() {
                    v
                } else {
                    T::ZERO
                }
            });
            let x = Tensor::zeros([3, cols]);
            check(
                binary_concrete_log_density(&finite, &x, Temperature::Tau(T::ONE), Space::Logit)
                    .unwrap_err(),
                "density",
            );
        }
    }
}

#[test]
fn nan_logits_are_errors_naming_row_and_column() {
    nan_logits_name_row_and_column::<f32>();
    nan_logits_name_row_and_column::<f64>();
}

/// `+inf` logits: `y = hard = 1`; `-inf`: `y = hard = 0`; their `dl` exactly 0 and the
/// temperature gradient finite (their terms exactly 0), for both twins, every temperature,
/// at every position of a vector and in tails. The density rejects them.
fn infinite_logits_are_certain_outcomes<T: Element>() {
    let mut data = data_rng(17);
    for cols in [1usize, 5, 16, 17, 40] {
        let mut l64 = uniform_tensor(&mut data, 6, cols, -3.0, 3.0);
        for (i, x) in l64.as_mut_slice().iter_mut().enumerate() {
            match i % 3 {
                0 => *x = f64::INFINITY,
                1 => *x = f64::NEG_INFINITY,
                _ => {}
            }
        }
        let l: Tensor<T> = l64.cast();
        let dy: Tensor<T> = uniform_tensor(&mut data, 6, cols, -1.0, 1.0).cast();
        for temp in [
            Temperature::Tau(T::from_f64(1e-3)),
            Temperature::Tau(T::from_f64(0.7)),
            Temperature::Tau(T::from_f64(1e3)),
            Temperature::Beta(T::from_f64(40.0)),
        ] {
            let simd = binary_concrete(&l, temp, &mut GumbelRng::new(1), Output::Hard).unwrap();
            let sc =
                scalar::binary_concrete(&l, temp, &mut GumbelRng::new(1), Output::Hard).unwrap();
            for s in [&simd, &sc] {
                let (dl, dt) =
                    binary_concrete_backward(&s.y, &dy, temp, TempGrad::Compute).unwrap();
                assert!(dt.unwrap().is_finite());
                let hard = s.hard.as_ref().unwrap();
                for i in 0..l.numel() {
                    let li = l.as_slice()[i];
                    if li == T::INFINITY || li == T::NEG_INFINITY {
                        let want = if li > T::ZERO { T::ONE } else { T::ZERO };
                        assert_eq!(s.y.as_slice()[i], want, "{temp:?} [{i}]");
                        assert_eq!(hard.as_slice()[i], want);
                        assert_eq!(dl.as_slice()[i], T::ZERO);
                    }
                }
            }
        }
        let x = Tensor::<T>::zeros([6, cols]);
        let e = binary_concrete_log_density(&l, &x, Temperature::Tau(T::ONE), Space::Logit)
            .unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument { .. })
                && e.to_string().contains("row 0, column 0")
                && e.to_string().contains("point mass"),
            "{e}"
        );
    }
}

#[test]
fn infinite_logits_give_exact_zero_or_one_and_zero_gradient() {
    infinite_logits_are_certain_outcomes::<f32>();
    infinite_logits_are_certain_outcomes::<f64>();
}

/// Shapes: mismatches are errors naming the op and both shapes; any rank works (a scalar,
/// rank 3, rows of length 0).
#[test]
fn shapes_are_checked_and_any_rank_works() {
    let t = Temperature::Tau(0.5f32);
    let (a, b) = (Tensor::<f32>::zeros([2, 3]), Tensor::<f32>::zeros([3, 2]));
    let msgs = [
        binary_concrete_backward(&a, &b, t, TempGrad::Skip).unwrap_err(),
        binary_concrete_with_noise(&a, BinaryNoise::Uniform(&b), t, Output::Soft).unwrap_err(),
        binary_concrete_log_density(&a, &b, t, Space::Logit).unwrap_err(),
        binary_concrete_log_density_backward(&a, &a, t, Space::Logit, &b).unwrap_err(),
    ];
    for e in msgs {
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e:?}");
        let s = e.to_string();
        assert!(
            s.contains("binary_concrete") && s.contains("[2, 3]") && s.contains("[3, 2]"),
            "{s}"
        );
    }
    // a scalar, rank 3, empty rows
    let s = binary_concrete(
        &Tensor::scalar(0.0f64),
        Temperature::Tau(0.5),
        &mut GumbelRng::new(0),
        Output::Hard,
    )
    .unwrap();
    assert_eq!(s.y.shape(), &[] as &[usize]);
    assert!(s.y.item().unwrap() > 0.0 && s.y.item().unwrap() < 1.0);
    let l3 = Tensor::<f32>::zeros([2, 3, 4]);
    let s3 = binary_concrete(&l3, t, &mut GumbelRng::new(0), Output::Soft).unwrap();
    assert_eq!(s3.y.shape(), &[2, 3, 4]);
    let e = Tensor::<f32>::zeros([3, 0]);
    let s0 = binary_concrete(&e, t, &mut GumbelRng::new(0), Output::Hard).unwrap();
    assert_eq!(
        (s0.y.shape(), s0.hard.unwrap().shape()),
        (&[3usize, 0][..], &[3usize, 0][..])
    );
    let (dl, dt) = binary_concrete_backward(&e, &e, t, TempGrad::Compute).unwrap();
    assert_eq!((dl.shape(), dt), (&[3usize, 0][..], Some(0.0)));
}

/// Caller-given noise: the grid's extreme uniforms and `MIN_POSITIVE` give finite noise and
/// the f64 reference's `y`; bad uniforms (0, 1, outside, NaN, subnormal) and non-finite
/// logistic noise are errors naming the column; huge logistic noise overflowing `l + L`
/// gives `y = 0` or `1`.
#[test]
fn extreme_and_bad_caller_noise() {
    let lo = 2f32.powi(-24);
    let hi = 1.0 - 2f32.powi(-24);
    let u = Tensor::new([1, 4], vec![lo, hi, f32::MIN_POSITIVE, 0.5]).unwrap();
    let l = Tensor::<f32>::full([1, 4], 0.25);
    for temp in [
        Temperature::Tau(1.0f32),
        Temperature::Tau(1e-3),
        Temperature::Beta(1e-3),
    ] {
        let c = temp.scale("test").unwrap() as f64;
        let s =
            binary_concrete_with_noise(&l, BinaryNoise::Uniform(&u), temp, Output::Hard).unwrap();
        for j in 0..4 {
            let uj = u.as_slice()[j] as f64;
            let g = logistic_f64(uj);
            let p = (0.25 + g) as f32 as f64;
            let want = sigmoid_ref(p, c);
            let got = s.y.as_slice()[j] as f64;
            // the kernel's p differs from this one by noise_error(u, p), which moves y by
            // y (1 - y) c dp; plus the forward's own budget (f32_forward_matches_...)
            let tol = want * (1.0 - want) * c * noise_error(uj, p)
                + want * 2f64.powi(-24) * (9.0 + (c * p).abs())
                + 2f64.powi(-126);
            assert!(
                (got - want).abs() <= tol,
                "{temp:?} u {}: {got} vs {want}",
                u.as_slice()[j]
            );
            assert_eq!(
                s.hard.as_ref().unwrap().as_slice()[j] == 1.0,
                0.25 + g > 0.0
            );
        }
    }
    for bad in [0.0f32, 1.0, -0.5, 2.0, f32::NAN, f32::MIN_POSITIVE / 2.0] {
        let u = Tensor::new([1, 4], vec![0.5, 0.5, bad, 0.5]).unwrap();
        let e = binary_concrete_with_noise(
            &l,
            BinaryNoise::Uniform(&u),
            Temperature::Tau(1.0),
            Output::Soft,
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument { .. }) && e.to_string().contains("column 2"),
            "{e}"
        );
    }
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let g = Tensor::new([1, 4], vec![0.0, bad, 0.0, 0.0]).unwrap();
        let e = binary_concrete_with_noise(
            &l,
            BinaryNoise::Logistic(&g),
            Temperature::Tau(1.0),
            Output::Soft,
        )
        .unwrap_err();
        assert!(e.to_string().contains("column 1"), "{e}");
    }
    let l = Tensor::new([1, 3], vec![f32::MAX, -f32::MAX, 1.0]).unwrap();
    let g = Tensor::new([1, 3], vec![f32::MAX, -f32::MAX, 0.0]).unwrap();
    let s = binary_concrete_with_noise(
        &l,
        BinaryNoise::Logistic(&g),
        Temperature::Tau(1.0),
        Output::Hard,
    )
    .unwrap();
    assert_eq!(&s.y.as_slice()[..2], &[1.0, 0.0]);
    assert_eq!(s.hard.unwrap().as_slice(), &[1.0, 0.0, 1.0]);
}

/// Huge and tiny logits and temperatures (tau from 1e-30 to 1e30, |l| up to MAX): `y` in
/// `[0, 1]`, `hard` on the same side of 1/2 as `y`, gradients finite.
fn finite_everywhere<T: Element>() {
    let mut data = data_rng(99);
    let taus = [1e-30, 1e-3, 0.1, 1.0, 10.0, 1e3, 1e30];
    for &spread in &[1.0, 1e2, 1e4, 1e30] {
        let mut l64 = uniform_tensor(&mut data, 8, 37, -spread, spread);
        l64.row_mut(0)[0] = T::MAX.to_f64();
        l64.row_mut(0)[1] = -T::MAX.to_f64();
        l64.row_mut(1)[2] = 1e-30;
        let l: Tensor<T> = l64.cast();
        let dy: Tensor<T> = uniform_tensor(&mut data, 8, 37, -1.0, 1.0).cast();
        for &tau in &taus {
            for temp in [
                Temperature::Tau(T::from_f64(tau)),
                Temperature::Beta(T::from_f64(1.0 / tau)),
            ] {
                let s = binary_concrete(&l, temp, &mut GumbelRng::new(5), Output::Hard).unwrap();
                let hard = s.hard.as_ref().unwrap();
                for (y, h) in s.y.as_slice().iter().zip(hard.as_slice()) {
                    assert!(*y >= T::ZERO && *y <= T::ONE, "tau {tau}: {y}");
                    assert!(if *h == T::ONE {
                        *y >= T::from_f64(0.5)
                    } else {
                        *y <= T::from_f64(0.5)
                    });
                }
                let (dl, dt) =
                    binary_concrete_backward(&s.y, &dy, temp, TempGrad::Compute).unwrap();
                assert!(dl.as_slice().iter().all(|x| x.is_finite()), "tau {tau}");
                assert!(dt.unwrap().is_finite(), "tau {tau} spread {spread}");
            }
        }
    }
}

#[test]
fn extreme_logits_and_temperatures_give_finite_outputs_in_range() {
    finite_everywhere::<f32>();
    finite_everywhere::<f64>();
}

/// Rows of the kind the twin tests run on: random, huge with masks, zeros, tiny, mixed
/// infinities.
fn edge_rows(data: &mut rand_xoshiro::Xoshiro256PlusPlus, len: usize) -> Vec<Vec<f64>> {
    vec![
        (0..len).map(|_| data.random_range(-3.0..3.0)).collect(),
        (0..len)
            .map(|i| match i % 4 {
                0 => f64::NEG_INFINITY,
                1 => 1e4 * (i as f64 / len as f64),
                2 => f64::INFINITY,
                _ => -1e4 * (i as f64 / len as f64),
            })
            .collect(),
        vec![0.0; len],
        (0..len)
            .map(|i| (i as f64 - len as f64 / 2.0) * 1e-30)
            .collect(),
        (0..len).map(|i| (i as f64 % 200.0) - 100.0).collect(),
    ]
}

/// SIMD forward against the scalar twin (same noise bit for bit; std's `exp` in `T`):
/// `hard` bitwise equal; `y` within a relative 16u (u = EPSILON / 2) or `MIN_POSITIVE`. Budget: the polynomial
/// `exp` (<= 2 ulp) and std's (<= 1 ulp) differ by <= 3 ulp <= 6u relative on `e`; `1 + e`
/// then differs by <= 6u e/(1 + e) + 2 roundings <= 5u, the numerator (`e` when `z < 0`)
/// by 6u, the two quotients by 2 roundings: <= 13u relative; 16u stated. The polynomial flushes results below `MIN_POSITIVE` to 0
/// where std returns a subnormal: the absolute `MIN_POSITIVE`. The backward's `dl` uses the
/// same operations in both twins: bitwise equal.
fn simd_vs_scalar<T: Element>() {
    let u = T::EPSILON.to_f64() / 2.0;
    let mut data = data_rng(5);
    for len in [1usize, 7, 8, 9, 15, 16, 17, 1023, 2049] {
        let rows = edge_rows(&mut data, len);
        let nrows = rows.len();
        let l: Tensor<T> = Tensor::new([nrows, len], rows.concat()).unwrap().cast();
        let dy: Tensor<T> = uniform_tensor(&mut data, nrows, len, -1.0, 1.0).cast();
        for temp in [
            Temperature::Tau(T::from_f64(0.7)),
            Temperature::Beta(T::from_f64(40.0)),
            Temperature::Tau(T::from_f64(1e-3)),
            Temperature::Tau(T::from_f64(1e3)),
        ] {
            let simd = binary_concrete(&l, temp, &mut GumbelRng::new(6), Output::Hard).unwrap();
            let sc =
                scalar::binary_concrete(&l, temp, &mut GumbelRng::new(6), Output::Hard).unwrap();
            assert_eq!(simd.hard, sc.hard, "len {len}");
            for (i, (a, b)) in simd.y.as_slice().iter().zip(sc.y.as_slice()).enumerate() {
                let (a, b) = (a.to_f64(), b.to_f64());
                assert!(
                    relative_eq!(
                        a,
                        b,
                        epsilon = T::MIN_POSITIVE.to_f64(),
                        max_relative = 16.0 * u
                    ),
                    "len {len} {temp:?} y[{i}]: {a:e} vs {b:e}"
                );
            }
            let (d1, _) = binary_concrete_backward(&simd.y, &dy, temp, TempGrad::Skip).unwrap();
            let (d2, _) =
                scalar::binary_concrete_backward(&simd.y, &dy, temp, TempGrad::Skip).unwrap();
            let same = d1
                .as_slice()
                .iter()
                .zip(d2.as_slice())
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "len {len}: dl differs between the twins");
            // the noise-given forward reproduces the generator's bit for bit, both twins
            let u = uniform_noise::<T>(&[nrows, len], &mut GumbelRng::new(6));
            let su = binary_concrete_with_noise(&l, BinaryNoise::Uniform(&u), temp, Output::Hard)
                .unwrap();
            assert_eq!(su, simd);
            let scu = scalar::binary_concrete_with_noise(
                &l,
                BinaryNoise::Uniform(&u),
                temp,
                Output::Hard,
            )
            .unwrap();
            assert_eq!(scu, sc);
        }
    }
}

#[test]
fn simd_forward_and_backward_match_the_scalar_twin() {
    simd_vs_scalar::<f32>();
    simd_vs_scalar::<f64>();
}

/// The temperature gradient, SIMD (polynomial `ln`, lane sums) against the scalar twin
/// (std's `ln`, a sequential sum). Both form the same `a_i = dy_i y_i (1 - y_i)` (bitwise).
/// Per term: each `ln` within 1 ulp (f32; 2 ulp of std's for f64) on each side, i.e.
/// <= 4u |ln y_i| + 4u |ln(1 - y_i)|, the subtraction and the product 2u |a_i z_i| per side;
/// the sums: a lane sum of n/lanes terms plus a 4-level fold against a sequential sum,
/// (n + n/lanes + 4) u sum |a_i z_i|; a subnormal `y_i` (skipped by the scalar twin) at
/// most |a_i| 90. Times `c`, plus the final roundings `2u |dtau|`.
fn dtemp_vs_scalar<T: Element>(u: f64) {
    let lanes = (64 / std::mem::size_of::<T>()) as f64;
    let mut data = data_rng(8);
    for len in [1usize, 17, 1023, 5000] {
        let mut rows = edge_rows(&mut data, len);
        rows.push((0..len).map(|_| data.random_range(-40.0..40.0)).collect());
        let nrows = rows.len();
        let l: Tensor<T> = Tensor::new([nrows, len], rows.concat()).unwrap().cast();
        let dy: Tensor<T> = uniform_tensor(&mut data, nrows, len, -1.0, 1.0).cast();
        for temp in [
            Temperature::Tau(T::from_f64(0.7)),
            Temperature::Beta(T::from_f64(3.0)),
        ] {
            let c = temp.scale("test").unwrap().to_f64();
            let y = binary_concrete(&l, temp, &mut GumbelRng::new(9), Output::Soft)
                .unwrap()
                .y;
            let (_, t1) = binary_concrete_backward(&y, &dy, temp, TempGrad::Compute).unwrap();
            let (_, t2) =
                scalar::binary_concrete_backward(&y, &dy, temp, TempGrad::Compute).unwrap();
            let (a, b) = (t1.unwrap().to_f64(), t2.unwrap().to_f64());
            let n = len as f64;
            let mut budget = 0.0;
            for r in 0..nrows {
                let mut sum_az = 0.0;
                for (yi, di) in y.row(r).iter().zip(dy.row(r)) {
                    let (yi, di) = (yi.to_f64(), di.to_f64());
                    let ai = (di * yi * (1.0 - yi)).abs();
                    if yi <= 0.0 || yi >= 1.0 {
                        continue;
                    }
                    if yi < T::MIN_POSITIVE.to_f64() {
                        budget += ai * 90.0;
                        continue;
                    }
                    let (ly, lq) = (yi.ln().abs(), (1.0 - yi).ln().abs());
                    let z = yi.ln() - (1.0 - yi).ln();
                    budget += ai * u * (4.0 * (ly + lq) + 4.0 * z.abs());
                    sum_az += ai * z.abs();
                }
                budget += (n + n / lanes + 4.0) * u * sum_az;
            }
            // each side rounds its result to T once
            let tol = c * budget + 2.0 * u * b.abs() + 1e-300;
            assert!(
                (a - b).abs() <= tol,
                "len {len} {temp:?}: {a} vs {b} (budget {tol:e})"
            );
        }
    }
}

#[test]
fn temperature_gradient_matches_the_scalar_twin_within_its_budget() {
    dtemp_vs_scalar::<f32>(2f64.powi(-24));
    dtemp_vs_scalar::<f64>(2f64.powi(-53));
}

/// The f32 kernel against sigmoid in f64 from the same `p = l + L` (rounded to f32):
/// relative error of `y` at most u (9 + |z|) plus 2^-126. Derivation: `z = c p` rounded
/// (u |z| relative on z, which moves y by y (1 - y) u |z|: relative (1 - y) u |z|); the
/// polynomial `exp` 2 ulp (4u); in `e / (1 + e)` the numerator 4u, the denominator
/// 4u e/(1 + e) + u <= 3u, the quotient u: 8u; 1u for the f64 reference's own error.
#[test]
fn f32_forward_matches_the_f64_reference() {
    let u = 2f64.powi(-24);
    let mut data = data_rng(55);
    for &(rows, cols) in &[(64usize, 5000usize), (300, 33), (7, 1)] {
        let l32: Tensor<f32> = uniform_tensor(&mut data, rows, cols, -8.0, 8.0).cast();
        for temp in [
            Temperature::Tau(0.5f32),
            Temperature::Beta(3.0),
            Temperature::Tau(0.01),
        ] {
            let c = temp.scale("test").unwrap() as f64;
            let s = binary_concrete(&l32, temp, &mut GumbelRng::new(8), Output::Soft).unwrap();
            let un = uniform_noise::<f32>(&[rows, cols], &mut GumbelRng::new(8));
            for i in 0..rows * cols {
                // the kernel's L (two polynomial ln) is not public: take L in f64 and
                // budget the difference of the two p (noise_error), which moves z by c dp
                let uj = un.as_slice()[i] as f64;
                let p = (l32.as_slice()[i] as f64 + logistic_f64(uj)) as f32 as f64;
                let want = sigmoid_ref(p, c);
                let got = s.y.as_slice()[i] as f64;
                let tol = want * u * (9.0 + (c * p).abs())
                    + want * (1.0 - want) * c * noise_error(uj, p)
                    + 2f64.powi(-126);
                assert!(
                    (got - want).abs() <= tol,
                    "{rows}x{cols} {temp:?} [{i}]: {got} vs {want}"
                );
            }
        }
    }
}

/// Same seed and counter: bitwise identical forward (soft and hard), backward with the
/// temperature gradient, log-density and its gradients for 1, 2 and 7 threads, on shapes
/// large enough to run in parallel.
fn bitwise_across_threads<T: Element>() {
    for &(rows, cols) in &[(37usize, 5003usize), (300, 257), (5, 70000)] {
        let l: Tensor<T> = uniform_tensor(&mut data_rng(1), rows, cols, -4.0, 4.0).cast();
        let dy: Tensor<T> = uniform_tensor(&mut data_rng(2), rows, cols, -1.0, 1.0).cast();
        let run = || {
            let temp = Temperature::Tau(T::from_f64(0.4));
            let mut rng = GumbelRng::new(31);
            let s = binary_concrete(&l, temp, &mut rng, Output::Hard).unwrap();
            let (dl, dt) = binary_concrete_backward(&s.y, &dy, temp, TempGrad::Compute).unwrap();
            let sc = scalar::binary_concrete(&l, temp, &mut rng, Output::Soft).unwrap();
            let (sdl, sdt) =
                scalar::binary_concrete_backward(&sc.y, &dy, temp, TempGrad::Compute).unwrap();
            let lp = binary_concrete_log_density(&l, &dy, temp, Space::Logit).unwrap();
            let (gl, gt) =
                binary_concrete_log_density_backward(&l, &dy, temp, Space::Logit, &dy).unwrap();
            let bits = |x: Option<T>| x.unwrap().to_f64().to_bits();
            (
                s,
                dl,
                bits(dt),
                sc,
                sdl,
                bits(sdt),
                lp,
                gl,
                gt.to_f64().to_bits(),
            )
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

/// The temperature does not change the hard sample (`[l + L > 0]` has no tau); every
/// successful call consumes one counter value and a later call draws other noise.
#[test]
fn hard_sample_ignores_the_temperature_and_calls_consume_the_counter() {
    let l: Tensor<f32> = uniform_tensor(&mut data_rng(3), 300, 50, -2.0, 2.0).cast();
    let a = binary_concrete(
        &l,
        Temperature::Tau(0.05),
        &mut GumbelRng::new(9),
        Output::Hard,
    )
    .unwrap();
    let b = binary_concrete(
        &l,
        Temperature::Beta(0.3),
        &mut GumbelRng::new(9),
        Output::Hard,
    )
    .unwrap();
    assert_eq!(a.hard, b.hard);
    let mut rng = GumbelRng::new(9);
    let c = binary_concrete(&l, Temperature::Tau(0.05), &mut rng, Output::Soft).unwrap();
    assert_eq!(c.y, a.y);
    assert!(c.hard.is_none());
    let d = binary_concrete(&l, Temperature::Tau(0.05), &mut rng, Output::Soft).unwrap();
    assert_eq!(rng.counter(), 2);
    assert_ne!(c.y, d.y);
}

/// Central differences in f64 of `L = <w, y(l, L, temp)>` with the noise fixed (given
/// uniforms), against the fused backward, for tau in [0.5, 2] (c <= 2). The numeric
/// derivative is formed as `sum_j w_j (y_j(+h) - y_j(-h)) / 2h`, so elements that do not
/// move contribute exactly 0 and a leak between elements would show.
/// Budget, per component: truncation h^2/6 |d^3 L| with |d^3 y / dl^3| = c^3 |sigma'''| <=
/// c^3/8 = 1 (l) and, for tau, |d^3 y / dtau^3| <= 6 (|p|/tau^2)^3 ... bounded by 5e3 for
/// |p| <= 40, tau >= 0.5: h^2/6 5e3 n = 1e-12/6 5e3 160 < 2e-7 at worst; rounding 2 eps
/// |w y| / 2h <= 1.2e-10 per element. So `epsilon = 1e-8` (l), `2e-7` (tau), plus a
/// relative 1e-6.
#[test]
fn backward_matches_central_differences_in_f64() {
    let mut data = data_rng(1234);
    let h = 1e-6;
    for case in 0..60u64 {
        let rows = data.random_range(1..5usize);
        let cols = data.random_range(1..40usize);
        let l = uniform_tensor(&mut data, rows, cols, -3.0, 3.0);
        let u = uniform_noise::<f64>(&[rows, cols], &mut GumbelRng::new(case));
        let w = uniform_tensor(&mut data, rows, cols, -1.0, 1.0);
        let t = data.random_range(0.5..2.0);
        let y_of = |l: &Tensor<f64>, temp: Temperature<f64>| {
            binary_concrete_with_noise(l, BinaryNoise::Uniform(&u), temp, Output::Soft)
                .unwrap()
                .y
        };
        let diff = |a: &Tensor<f64>, b: &Tensor<f64>| -> f64 {
            a.as_slice()
                .iter()
                .zip(b.as_slice())
                .zip(w.as_slice())
                .map(|((p, m), wi)| wi * (p - m))
                .sum::<f64>()
                / (2.0 * h)
        };
        for temp in [Temperature::Tau(t), Temperature::Beta(1.0 / t)] {
            let y = y_of(&l, temp);
            let (dl, dtemp) = binary_concrete_backward(&y, &w, temp, TempGrad::Compute).unwrap();
            for i in 0..rows * cols {
                let (mut lp, mut lm) = (l.clone(), l.clone());
                lp.as_mut_slice()[i] += h;
                lm.as_mut_slice()[i] -= h;
                let num = diff(&y_of(&lp, temp), &y_of(&lm, temp));
                let ana = dl.as_slice()[i];
                assert!(
                    relative_eq!(num, ana, epsilon = 1e-8, max_relative = 1e-6),
                    "case {case} {temp:?} dl[{i}]: {ana} vs {num}"
                );
            }
            let bump = |d: f64| shifted(temp, d);
            let num = diff(&y_of(&l, bump(h)), &y_of(&l, bump(-h)));
            let ana = dtemp.unwrap();
            assert!(
                relative_eq!(num, ana, epsilon = 2e-7, max_relative = 1e-6),
                "case {case} d{}: {ana} vs {num}",
                temp.name()
            );
        }
    }
}

/// Central differences in f64 of `sum_i w_i ln p_i(l, x, temp)` against
/// [`binary_concrete_log_density_backward`], in both spaces (the same gradients), for
/// tau in [0.5, 2], |l| <= 3, |x| <= 6. Budget: truncation h^2/6 |d^3|: in l,
/// |d^3 ln p / dl^3| = |d^2 tanh(s/2)/ds^2| / 2 <= 0.1; in tau, 2/tau^3 <= 16 plus
/// |x|^3 0.1 <= 22: h^2/6 38 n < 1e-9; rounding 2 eps |w ln p| / 2h with |ln p| <= 40:
/// 9e-9 per element, n <= 160 of them for tau: 1.4e-6 at worst, 1e-7 typically
/// (independent roundings). So `epsilon = 1e-7` (l: one element, 1e-8 would do),
/// `2e-6` (tau), plus a relative 1e-6.
#[test]
fn log_density_gradients_match_central_differences_in_f64() {
    let mut data = data_rng(4321);
    let h = 1e-6;
    for case in 0..40 {
        let rows = data.random_range(1..5usize);
        let cols = data.random_range(1..40usize);
        let l = uniform_tensor(&mut data, rows, cols, -3.0, 3.0);
        let x = uniform_tensor(&mut data, rows, cols, -6.0, 6.0);
        let y = Tensor::from_fn([rows, cols], |i| 1.0 / (1.0 + (-x.as_slice()[i]).exp()));
        let w = uniform_tensor(&mut data, rows, cols, -1.0, 1.0);
        let t = data.random_range(0.5..2.0);
        for (space, v) in [(Space::Logit, &x), (Space::Unit, &y)] {
            for temp in [Temperature::Tau(t), Temperature::Beta(1.0 / t)] {
                let lp =
                    |l: &Tensor<f64>, temp| binary_concrete_log_density(l, v, temp, space).unwrap();
                let diff = |a: &Tensor<f64>, b: &Tensor<f64>| -> f64 {
                    a.as_slice()
                        .iter()
                        .zip(b.as_slice())
                        .zip(w.as_slice())
                        .map(|((p, m), wi)| wi * (p - m))
                        .sum::<f64>()
                        / (2.0 * h)
                };
                let (dl, dtemp) =
                    binary_concrete_log_density_backward(&l, v, temp, space, &w).unwrap();
                for i in 0..rows * cols {
                    let (mut lp_, mut lm) = (l.clone(), l.clone());
                    lp_.as_mut_slice()[i] += h;
                    lm.as_mut_slice()[i] -= h;
                    let num = diff(&lp(&lp_, temp), &lp(&lm, temp));
                    let ana = dl.as_slice()[i];
                    assert!(
                        relative_eq!(num, ana, epsilon = 1e-7, max_relative = 1e-6),
                        "case {case} {space:?} {temp:?} dl[{i}]: {ana} vs {num}"
                    );
                }
                let bump = |d: f64| shifted(temp, d);
                let num = diff(&lp(&l, bump(h)), &lp(&l, bump(-h)));
                assert!(
                    relative_eq!(num, dtemp, epsilon = 2e-6, max_relative = 1e-6),
                    "case {case} {space:?} d{}: {dtemp} vs {num}",
                    temp.name()
                );
            }
        }
    }
}

/// The hard sample (and so `y > 1/2`) is Bernoulli(sigmoid(l)): for each of 7 logits,
/// 10^6 draws (f32 and f64, fixed seeds), the count of ones within z = 5.33 binomial
/// standard deviations of n sigmoid(l): a two-sided level of 1e-7 per test, 14 tests, so a
/// false-alarm rate below 1.4e-6 for the whole test. (The grid truncates L at |L| <= 16.6,
/// which moves the probability by < 6e-8, far below one standard deviation, >= 1.4e-4.)
fn hard_sample_is_bernoulli<T: Element>(seed: u64) {
    let logits: [f64; 7] = [-4.0, -1.5, -0.3, 0.0, 0.7, 2.0, 5.0];
    let per = 1_000_000usize;
    let cols = 1000;
    let rows = per / cols * logits.len();
    let l = Tensor::<T>::from_fn([rows, cols], |i| T::from_f64(logits[i / per]));
    let s = binary_concrete(
        &l,
        Temperature::Tau(T::from_f64(0.5)),
        &mut GumbelRng::new(seed),
        Output::Hard,
    )
    .unwrap();
    let hard = s.hard.unwrap();
    for (k, &lk) in logits.iter().enumerate() {
        let ones = hard.as_slice()[k * per..(k + 1) * per]
            .iter()
            .filter(|&&h| h == T::ONE)
            .count();
        let above = s.y.as_slice()[k * per..(k + 1) * per]
            .iter()
            .filter(|&&y| y > T::from_f64(0.5))
            .count();
        let p = 1.0 / (1.0 + (-lk).exp());
        let (mean, sd) = (per as f64 * p, (per as f64 * p * (1.0 - p)).sqrt());
        assert!(
            (ones as f64 - mean).abs() < 5.33 * sd,
            "{} l = {lk}: {ones} ones, expected {mean} +- {sd}",
            T::NAME
        );
        // y > 1/2 is the same event except where y rounds to exactly 1/2 (|z| < ~6e-8,
        // probability ~1e-8 per draw): allow a handful.
        assert!((ones as i64 - above as i64).abs() <= 3, "{ones} vs {above}");
    }
}

#[test]
fn hard_sample_is_bernoulli_of_sigmoid_l() {
    hard_sample_is_bernoulli::<f32>(2024);
    hard_sample_is_bernoulli::<f64>(2025);
}

/// The density integrates to 1 in both spaces: in x by the trapezoid rule over the centre
/// `l / tau +- 60 / tau` (tails below e^-60) with step 1/(200 tau) (smooth on the scale
/// 1/tau), to 1e-6; in y through the substitution y = sigmoid(x),
/// `int p(y) dy = int p(y(x)) y (1 - y) dx`, which checks the Jacobian term: on the window
/// |x| <= 25 (beyond it f64 cannot hold 1 - y accurately) it must equal the x-space mass of
/// the same window, to 1e-6.
#[test]
fn log_density_integrates_to_one() {
    for (l, tau) in [(0.0, 1.0), (1.5, 0.5), (-2.0, 0.1), (0.3, 3.0), (4.0, 0.7)] {
        let (centre, half, hstep) = (l / tau, 60.0 / tau, 1.0 / (200.0 * tau));
        let n = (2.0 * half / hstep) as usize;
        let xs: Vec<f64> = (0..=n).map(|i| centre - half + i as f64 * hstep).collect();
        let lt = Tensor::full([xs.len()], l);
        let xt = Tensor::new([xs.len()], xs.clone()).unwrap();
        let px =
            binary_concrete_log_density(&lt, &xt, Temperature::Tau(tau), Space::Logit).unwrap();
        let trap = |f: &dyn Fn(usize) -> f64| {
            (0..=n)
                .map(|i| if i == 0 || i == n { 0.5 } else { 1.0 } * f(i))
                .sum::<f64>()
                * hstep
        };
        let ix = trap(&|i| px.as_slice()[i].exp());
        assert!((ix - 1.0).abs() < 1e-6, "x space l={l} tau={tau}: {ix}");
        // y space on the window |x| <= 25, where y and 1 - y are known to a relative 1e-5
        // in f64 (so the x the density recovers from y is within 1e-5 of the grid's),
        // against the x-space mass of the same window
        let ys: Vec<f64> = xs.iter().map(|x| 1.0 / (1.0 + (-x).exp())).collect();
        let inside: Vec<bool> = xs.iter().map(|x| x.abs() <= 25.0).collect();
        let safe: Vec<f64> = ys
            .iter()
            .zip(&inside)
            .map(|(&y, &ok)| if ok { y } else { 0.5 })
            .collect();
        let py = binary_concrete_log_density(
            &lt,
            &Tensor::new([safe.len()], safe.clone()).unwrap(),
            Temperature::Tau(tau),
            Space::Unit,
        )
        .unwrap();
        let iy = trap(&|i| {
            if inside[i] {
                py.as_slice()[i].exp() * safe[i] * (1.0 - safe[i])
            } else {
                0.0
            }
        });
        let ix_window = trap(&|i| {
            if inside[i] {
                px.as_slice()[i].exp()
            } else {
                0.0
            }
        });
        assert!(
            (iy - ix_window).abs() < 1e-6 && ix_window > 0.5,
            "y space l={l} tau={tau}: {iy} vs {ix_window}"
        );
    }
}

/// The forward's samples follow the density: 200 000 draws (f64) binned into 40 bins
/// equiprobable under the CDF obtained by integrating the density (trapezoid, step 1e-3;
/// in x for tau = 0.6, in y itself for tau = 1.5, where p(y) is bounded), chi-square with 39
/// degrees of freedom at level 1e-4 (< 78.4 by Wilson-Hilferty; two tests, 2e-4 in all).
#[test]
fn forward_samples_follow_the_log_density() {
    let rows = 200_000;
    let bins = 40;
    let df = (bins - 1) as f64;
    let a = 2.0 / (9.0 * df);
    let crit = df * (1.0 - a + 3.719 * a.sqrt()).powi(3);
    for (l, tau, space) in [(0.8f64, 0.6f64, Space::Logit), (-0.5, 1.5, Space::Unit)] {
        let lt = Tensor::full([rows, 1], l);
        let s = binary_concrete(
            &lt,
            Temperature::Tau(tau),
            &mut GumbelRng::new(3),
            Output::Soft,
        )
        .unwrap();
        let (lo, hi, h): (f64, f64, f64) = match space {
            Space::Logit => (-80.0, 80.0, 1e-3),
            Space::Unit => (0.0, 1.0, 1e-5),
        };
        let n = ((hi - lo) / h).round() as usize;
        // density on the grid (y space: open interval, the end points' density is finite
        // for tau > 1 and taken as the limit 0 here)
        let grid: Vec<f64> = (0..=n).map(|i| lo + i as f64 * h).collect();
        let interior: Vec<f64> = grid
            .iter()
            .map(|&v| {
                if space == Space::Unit {
                    v.clamp(h / 2.0, 1.0 - h / 2.0)
                } else {
                    v
                }
            })
            .collect();
        let dens = binary_concrete_log_density(
            &Tensor::full([n + 1], l),
            &Tensor::new([n + 1], interior).unwrap(),
            Temperature::Tau(tau),
            space,
        )
        .unwrap();
        let d: Vec<f64> = dens
            .as_slice()
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if space == Space::Unit && (i == 0 || i == n) {
                    0.0
                } else {
                    v.exp()
                }
            })
            .collect();
        let mut cdf = vec![0.0; n + 1];
        for i in 1..=n {
            cdf[i] = cdf[i - 1] + 0.5 * h * (d[i - 1] + d[i]);
        }
        assert!((cdf[n] - 1.0).abs() < 1e-4, "{space:?}: total {}", cdf[n]);
        let mut counts = vec![0usize; bins];
        for &y in s.y.as_slice() {
            let v = match space {
                Space::Logit => y.ln() - (-y).ln_1p(),
                Space::Unit => y,
            };
            let i = (((v - lo) / h) as usize).min(n);
            let b = ((cdf[i] / cdf[n] * bins as f64) as usize).min(bins - 1);
            counts[b] += 1;
        }
        let e = rows as f64 / bins as f64;
        let chi2: f64 = counts.iter().map(|&c| (c as f64 - e).powi(2) / e).sum();
        assert!(chi2 < crit, "{space:?}: chi2 {chi2} >= {crit}: {counts:?}");
    }
}

/// The density against Maddison et al.'s closed form in y,
/// `p(y) = tau alpha y^(-tau-1) (1-y)^(-tau-1) / (alpha y^(-tau) + (1-y)^(-tau))^2`,
/// `alpha = e^l`, at random points (in f64, relative 1e-12), and bad samples are errors.
#[test]
fn log_density_equals_the_papers_closed_form_and_checks_its_input() {
    let mut data = data_rng(77);
    for _ in 0..200 {
        let l: f64 = data.random_range(-3.0..3.0);
        let tau: f64 = data.random_range(0.2..3.0);
        let y: f64 = data.random_range(0.01..0.99);
        let alpha = l.exp();
        let want = (tau * alpha * y.powf(-tau - 1.0) * (1.0 - y).powf(-tau - 1.0)
            / (alpha * y.powf(-tau) + (1.0 - y).powf(-tau)).powi(2))
        .ln();
        let got = binary_concrete_log_density(
            &Tensor::scalar(l),
            &Tensor::scalar(y),
            Temperature::Beta(1.0 / tau),
            Space::Unit,
        )
        .unwrap()
        .item()
        .unwrap();
        assert!(
            relative_eq!(got, want, epsilon = 1e-12, max_relative = 1e-12),
            "{got} vs {want}"
        );
    }
    let l = Tensor::<f32>::zeros([2, 3]);
    for bad in [0.0f32, 1.0, -0.1, 1.5, f32::NAN] {
        let mut y = Tensor::<f32>::full([2, 3], 0.5);
        y.row_mut(1)[2] = bad;
        let e =
            binary_concrete_log_density(&l, &y, Temperature::Tau(1.0), Space::Unit).unwrap_err();
        assert!(e.to_string().contains("row 1, column 2"), "{e}");
    }
    for bad in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN] {
        let mut x = Tensor::<f32>::zeros([2, 3]);
        x.row_mut(0)[1] = bad;
        let e =
            binary_concrete_log_density(&l, &x, Temperature::Tau(1.0), Space::Logit).unwrap_err();
        assert!(e.to_string().contains("row 0, column 1"), "{e}");
    }
}

/// The composed (unfused) twin from the crate's elementwise ops, `L = ln u - ln(1 - u)`,
/// `p = l + L`, `z = c p`, `y = sigmoid(z)`, `dl = c sigmoid_backward(y, dy)`, against the
/// fused kernels on the same uniforms. Budget (eps = EPSILON, u = eps/2): the composed `L`
/// has two of wide's `ln` (<= 1 ulp) and a rounded difference, the fused one a rounded
/// quotient and one polynomial `ln` (<= 2 ulp counting std's for f64), so
/// `dL <= 4 eps (|ln u| + |ln(1 - u)|) + eps |L|` (as in `noise_error`);
/// `dp <= dL + eps |p|`, `dz <= c dp + eps |z|`, which moves y by `y (1 - y) dz`; the two
/// sigmoids differ by the fused 8u and the composed 6 ulp (12u): 20u relative; the flush
/// below `MIN_POSITIVE`. On the same `y`, the two `dl` differ by <= 4 roundings per side:
/// relative 8u.
fn composed_twin_agrees<T: Element>() {
    use gumbel_tensor::ops;
    let eps = T::EPSILON.to_f64();
    let u_ = eps / 2.0;
    let mut data = data_rng(71);
    for &(rows, cols) in &[(5usize, 3usize), (20, 17), (6, 1023), (3, 5000)] {
        let l: Tensor<T> = uniform_tensor(&mut data, rows, cols, -6.0, 6.0).cast();
        let dy: Tensor<T> = uniform_tensor(&mut data, rows, cols, -1.0, 1.0).cast();
        for temp in [
            Temperature::Tau(T::from_f64(0.5)),
            Temperature::Beta(T::from_f64(1.5)),
        ] {
            let c = temp.scale("test").unwrap();
            let u = uniform_noise::<T>(&[rows, cols], &mut GumbelRng::new(12));
            let fused = binary_concrete(&l, temp, &mut GumbelRng::new(12), Output::Soft).unwrap();
            let one_minus_u = ops::add_scalar(&ops::neg(&u), T::ONE);
            let noise = ops::sub(&ops::ln(&u), &ops::ln(&one_minus_u)).unwrap();
            let z = ops::scale(&ops::add(&l, &noise).unwrap(), c);
            let y = ops::sigmoid(&z);
            let c = c.to_f64();
            for i in 0..rows * cols {
                let uj = u.as_slice()[i].to_f64();
                let (a, b) = (uj.ln(), (-uj).ln_1p());
                let p = l.as_slice()[i].to_f64() + (a - b);
                let dl_noise = 4.0 * eps * (a.abs() + b.abs()) + eps * (a - b).abs();
                let dz = c * (dl_noise + eps * p.abs()) + eps * (c * p).abs();
                let (f, g) = (fused.y.as_slice()[i].to_f64(), y.as_slice()[i].to_f64());
                let tol = g * (1.0 - g) * dz + 20.0 * u_ * g + T::MIN_POSITIVE.to_f64();
                assert!(
                    (f - g).abs() <= tol,
                    "{rows}x{cols} {temp:?} y[{i}]: {f} vs {g}"
                );
            }
            let (dl_f, _) = binary_concrete_backward(&fused.y, &dy, temp, TempGrad::Skip).unwrap();
            let dl_c = ops::scale(
                &ops::sigmoid_backward(&fused.y, &dy).unwrap(),
                T::from_f64(c),
            );
            for (a, b) in dl_f.as_slice().iter().zip(dl_c.as_slice()) {
                assert!(
                    relative_eq!(
                        a.to_f64(),
                        b.to_f64(),
                        epsilon = 1e-300,
                        max_relative = 8.0 * u_
                    ),
                    "{a} vs {b}"
                );
            }
        }
    }
}

#[test]
fn fused_kernels_agree_with_the_composed_twin() {
    composed_twin_agrees::<f32>();
    composed_twin_agrees::<f64>();
}
