//! The numerical contract of the Gumbel kernels, one test per line of it: temperature
//! validation, NaN / +inf / all-masked rows, masked classes, finiteness over extreme
//! logits and temperatures, rows summing to 1, the noise-given variants, counters, shapes.

use crate::common::*;
use approx::{abs_diff_eq, relative_eq, ulps_eq};
use gumbel_tensor::ops::gumbel::{
    GumbelRng, Noise, Output, TempGrad, Temperature, composed, exp_concrete_log_density,
    gumbel_max, gumbel_noise, gumbel_softmax, gumbel_softmax_backward,
    gumbel_softmax_backward_into, gumbel_softmax_with_noise, scalar, uniform_noise,
};
use gumbel_tensor::{Element, Error, Tensor};

fn temperature_errors_name_the_value<T: Element>() {
    let l = Tensor::<T>::zeros([2, 3]);
    let y = Tensor::<T>::full([2, 3], T::from_f64(1.0 / 3.0));
    for v in bad_temperatures::<T>() {
        for temp in [Temperature::Tau(v), Temperature::Beta(v)] {
            let mut rng = GumbelRng::new(0);
            let check = |e: Error, op: &str| match e {
                Error::InvalidTemperature { op: o, name, value } => {
                    assert_eq!(o, op);
                    assert_eq!(name, temp.name());
                    assert!(
                        value.to_bits() == v.to_f64().to_bits() || (value.is_nan() && v.is_nan())
                    );
                    let msg = e.to_string();
                    assert!(
                        msg.contains(name) && msg.contains(&format!("{}", v.to_f64())),
                        "{msg}"
                    );
                }
                other => panic!("expected InvalidTemperature, got {other:?}"),
            };
            check(
                gumbel_softmax(&l, temp, &mut rng, Output::Soft).unwrap_err(),
                "gumbel_softmax",
            );
            assert_eq!(
                rng.counter(),
                0,
                "a failed call must not consume the counter"
            );
            check(
                gumbel_softmax_with_noise(&l, Noise::Gumbel(&l), temp, Output::Soft).unwrap_err(),
                "gumbel_softmax_with_noise",
            );
            check(
                gumbel_softmax_backward(&y, &y, temp, TempGrad::Compute).unwrap_err(),
                "gumbel_softmax_backward",
            );
            check(
                composed::forward(&l, temp, &mut rng).unwrap_err(),
                "composed::forward",
            );
        }
        assert!(matches!(
            exp_concrete_log_density(&l, &l, v),
            Err(Error::InvalidTemperature { name: "tau", .. })
        ));
    }
}

#[test]
fn invalid_temperatures_are_errors_naming_the_value() {
    temperature_errors_name_the_value::<f32>();
    temperature_errors_name_the_value::<f64>();
}

/// NaN and +inf logits at many positions (first, last, SIMD tails, chunk boundaries):
/// the error names the first bad row and its first bad column.
fn non_finite_logits_name_row_and_column<T: Element>() {
    let cols_list = [1usize, 7, 16, 17, 2047, 2048, 2049, 5000];
    for &cols in &cols_list {
        let positions: Vec<usize> = [0, cols / 2, cols.saturating_sub(1), 2047, 2048, 4095]
            .into_iter()
            .filter(|&c| c < cols)
            .collect();
        for &col in &positions {
            for bad in [T::NAN, T::INFINITY] {
                let mut l = Tensor::<T>::from_fn([3, cols], |i| T::from_f64((i % 13) as f64 * 0.1));
                l.row_mut(1)[col] = bad;
                // a later bad value in the same row and in a later row: not reported
                if col + 1 < cols {
                    l.row_mut(1)[cols - 1] = T::NAN;
                }
                l.row_mut(2)[0] = T::NAN;
                let mut rng = GumbelRng::new(3);
                let check = |e: Error| match e {
                    Error::NonFiniteLogit {
                        row, col: c, value, ..
                    } => {
                        assert_eq!((row, c), (1, col), "cols {cols}");
                        assert!(value.is_nan() == bad.is_nan());
                        assert!(e.to_string().contains("row 1"), "{e}");
                    }
                    other => {
                        panic!("cols {cols} col {col}: expected NonFiniteLogit, got {other:?}")
                    }
                };
                check(
                    gumbel_softmax(&l, Temperature::Tau(T::ONE), &mut rng, Output::Soft)
                        .unwrap_err(),
                );
                check(gumbel_max(&l, &mut rng).unwrap_err());
                check(
                    gumbel_softmax_with_noise(
                        &l,
                        Noise::Gumbel(&Tensor::zeros([3, cols])),
                        Temperature::Beta(T::ONE),
                        Output::Hard,
                    )
                    .unwrap_err(),
                );
                check(exp_concrete_log_density(&l, &Tensor::zeros([3, cols]), T::ONE).unwrap_err());
                assert_eq!(rng.counter(), 0);
            }
        }
    }
}

#[test]
fn nan_and_inf_logits_are_errors_naming_row_and_column() {
    non_finite_logits_name_row_and_column::<f32>();
    non_finite_logits_name_row_and_column::<f64>();
}

/// A NaN hidden among -inf logits (the fully masked chunk path) is still found.
#[test]
fn nan_inside_a_fully_masked_chunk_is_found() {
    let cols = 6000;
    let mut l = Tensor::<f32>::full([1, cols], f32::NEG_INFINITY);
    l.row_mut(0)[5999] = 0.0;
    l.row_mut(0)[3000] = f32::NAN;
    let e = gumbel_softmax(
        &l,
        Temperature::Tau(1.0),
        &mut GumbelRng::new(0),
        Output::Soft,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::NonFiniteLogit {
                row: 0,
                col: 3000,
                ..
            }
        ),
        "{e:?}"
    );
    let e = gumbel_max(&l, &mut GumbelRng::new(0)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::NonFiniteLogit {
                row: 0,
                col: 3000,
                ..
            }
        ),
        "{e:?}"
    );
}

fn all_masked_rows_are_errors<T: Element>() {
    for cols in [1usize, 9, 2048, 4100] {
        let mut l = Tensor::<T>::zeros([3, cols]);
        l.row_mut(2).fill(T::NEG_INFINITY);
        let mut rng = GumbelRng::new(0);
        let e = gumbel_softmax(&l, Temperature::Tau(T::ONE), &mut rng, Output::Soft).unwrap_err();
        assert!(matches!(e, Error::AllMasked { row: 2, .. }), "{e:?}");
        assert!(e.to_string().contains("row 2"));
        let e = gumbel_max(&l, &mut rng).unwrap_err();
        assert!(matches!(e, Error::AllMasked { row: 2, .. }), "{e:?}");
        let e = exp_concrete_log_density(&l, &l, T::ONE).unwrap_err();
        assert!(matches!(e, Error::AllMasked { row: 2, .. }), "{e:?}");
        assert_eq!(rng.counter(), 0);
    }
}

#[test]
fn rows_of_only_masked_classes_are_errors() {
    all_masked_rows_are_errors::<f32>();
    all_masked_rows_are_errors::<f64>();
}

/// Masked classes: y exactly 0, gradient exactly 0, never the Gumbel-max index; including
/// whole masked chunks (2048 classes) and masked SIMD tails.
fn masked_classes_are_exactly_zero<T: Element>() {
    let mut data = data_rng(7);
    for &(rows, cols) in &[(50usize, 3usize), (20, 17), (8, 1023), (4, 6000)] {
        let mut l64 = uniform_tensor(&mut data, rows, cols, -3.0, 3.0);
        mask_some(&mut data, &mut l64, 0.4);
        if cols == 6000 {
            // one whole chunk masked in row 0
            l64.row_mut(0)[2048..4096].fill(f64::NEG_INFINITY);
        }
        let l: Tensor<T> = l64.cast();
        let dy: Tensor<T> = uniform_tensor(&mut data, rows, cols, -1.0, 1.0).cast();
        for temp in [
            Temperature::Tau(T::from_f64(0.3)),
            Temperature::Beta(T::from_f64(2.0)),
        ] {
            let mut rng = GumbelRng::new(11);
            for _ in 0..20 {
                let s = gumbel_softmax(&l, temp, &mut rng, Output::Hard).unwrap();
                let (dl, dt) = gumbel_softmax_backward(&s.y, &dy, temp, TempGrad::Compute).unwrap();
                assert!(dt.unwrap().is_finite());
                for r in 0..rows {
                    assert!(
                        l.row(r)[s.index[r]] != T::NEG_INFINITY,
                        "masked class chosen"
                    );
                    for j in 0..cols {
                        if l.row(r)[j] == T::NEG_INFINITY {
                            assert_eq!(s.y.row(r)[j], T::ZERO);
                            assert_eq!(dl.row(r)[j], T::ZERO);
                        }
                    }
                }
            }
            for i in gumbel_max(&l, &mut rng).unwrap().iter().enumerate() {
                assert!(l.row(i.0)[*i.1] != T::NEG_INFINITY);
            }
        }
    }
}

#[test]
fn masked_classes_get_zero_probability_and_zero_gradient() {
    masked_classes_are_exactly_zero::<f32>();
    masked_classes_are_exactly_zero::<f64>();
}

/// Finite logits with |l| up to 1e4 and tau from 1e-3 to 1e3 (and the matching betas):
/// y and every gradient finite, rows summing to 1 within the contract's tolerance.
fn finite_everywhere<T: Element>(sum_tol: f64) {
    let mut data = data_rng(99);
    let taus = [1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1e3];
    for &(rows, cols) in &[(16usize, 5usize), (8, 100), (4, 3000)] {
        for &spread in &[1.0, 1e2, 1e4] {
            let mut l64 = uniform_tensor(&mut data, rows, cols, -spread, spread);
            // extremes present in every row
            for r in 0..rows {
                l64.row_mut(r)[0] = spread;
                l64.row_mut(r)[cols - 1] = -spread;
            }
            let l: Tensor<T> = l64.cast();
            let dy: Tensor<T> = uniform_tensor(&mut data, rows, cols, -1.0, 1.0).cast();
            for &tau in &taus {
                for temp in [
                    Temperature::Tau(T::from_f64(tau)),
                    Temperature::Beta(T::from_f64(1.0 / tau)),
                ] {
                    let s = gumbel_softmax(&l, temp, &mut GumbelRng::new(5), Output::Soft).unwrap();
                    for r in 0..rows {
                        let row = s.y.row(r);
                        assert!(
                            row.iter().all(|y| y.is_finite() && *y >= T::ZERO),
                            "tau {tau}"
                        );
                        let sum: f64 = row.iter().map(|y| y.to_f64()).sum();
                        assert!(
                            abs_diff_eq!(sum, 1.0, epsilon = sum_tol),
                            "row sum {sum} (tau {tau}, spread {spread})"
                        );
                    }
                    let (dl, dt) =
                        gumbel_softmax_backward(&s.y, &dy, temp, TempGrad::Compute).unwrap();
                    assert!(dl.as_slice().iter().all(|x| x.is_finite()), "tau {tau}");
                    assert!(
                        dt.unwrap().is_finite(),
                        "dtemp (tau {tau}, spread {spread})"
                    );
                }
            }
        }
    }
}

#[test]
fn finite_logits_give_finite_outputs_and_rows_summing_to_one() {
    finite_everywhere::<f32>(1e-5);
    finite_everywhere::<f64>(1e-12);
}

/// The extreme uniforms of the grid, given as noise: g finite. And u = 0, u = 1 (and out
/// of range or subnormal) given by a caller: errors, never a silent inf.
#[test]
fn extreme_uniforms_give_finite_noise_and_bad_ones_are_errors() {
    let lo = 2f32.powi(-24);
    let hi = 1.0 - 2f32.powi(-24);
    let u = Tensor::new([1, 4], vec![lo, hi, f32::MIN_POSITIVE, 0.5]).unwrap();
    let l = Tensor::<f32>::zeros([1, 4]);
    let s = gumbel_softmax_with_noise(&l, Noise::Uniform(&u), Temperature::Tau(1.0), Output::Soft)
        .unwrap();
    assert!(s.y.as_slice().iter().all(|y| y.is_finite()));
    // u = 1 - 2^-24 gives the largest g (about 16.6): it wins.
    assert_eq!(s.index[0], 1);
    for bad in [0.0f32, 1.0, -0.5, 2.0, f32::NAN, f32::MIN_POSITIVE / 2.0] {
        let u = Tensor::new([1, 4], vec![0.5, 0.5, bad, 0.5]).unwrap();
        let e =
            gumbel_softmax_with_noise(&l, Noise::Uniform(&u), Temperature::Tau(1.0), Output::Soft)
                .unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument { .. }) && e.to_string().contains("column 2"),
            "{e}"
        );
    }
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let g = Tensor::new([1, 4], vec![0.0, bad, 0.0, 0.0]).unwrap();
        let e =
            gumbel_softmax_with_noise(&l, Noise::Gumbel(&g), Temperature::Tau(1.0), Output::Soft)
                .unwrap_err();
        assert!(e.to_string().contains("column 1"), "{e}");
    }
    let e = gumbel_softmax_with_noise(
        &l,
        Noise::Gumbel(&Tensor::zeros([1, 5])),
        Temperature::Tau(1.0),
        Output::Soft,
    );
    assert!(matches!(e, Err(Error::ShapeMismatch { .. })));
    // l + g overflowing to +inf is an error naming the column, not a NaN row
    let l = Tensor::new([1, 3], vec![0.0f32, f32::MAX, 0.0]).unwrap();
    let g = Tensor::new([1, 3], vec![0.0f32, f32::MAX, 0.0]).unwrap();
    let e = gumbel_softmax_with_noise(&l, Noise::Gumbel(&g), Temperature::Tau(1.0), Output::Soft)
        .unwrap_err();
    assert!(
        e.to_string().contains("column 1") && e.to_string().contains("overflows"),
        "{e}"
    );
}

/// The noise-given forward reproduces the generator's forward bit for bit, from the
/// Gumbel noise and from the uniforms; Gumbel-max picks the same indices. At `tau = 1`
/// (the exponential race, which needs the uniforms) only the uniforms reproduce it bit
/// for bit; given Gumbel noise, the general path agrees within both paths' rounding:
/// `u (180 + 2 |p - M|)` each (docs/kernels.md), below `u 256` for `|p| <= 2 + 17`, so
/// relative `2^-24 512 = 256 EPSILON` together.
fn noise_given_variants_reproduce_the_fused_forward<T: Element>() {
    let shapes = [(3usize, 1usize), (5, 17), (4, 2049), (40, 1000)];
    for (rows, cols, race) in shapes
        .into_iter()
        .flat_map(|(r, c)| [(r, c, false), (r, c, true)])
    {
        let l: Tensor<T> = uniform_tensor(&mut data_rng(cols as u64), rows, cols, -2.0, 2.0).cast();
        let temp = Temperature::Tau(T::from_f64(if race { 1.0 } else { 0.7 }));
        let mut rng = GumbelRng::new(21);
        rng.set_counter(5);
        let s = gumbel_softmax(&l, temp, &mut rng, Output::Hard).unwrap();
        assert_eq!(rng.counter(), 6);
        rng.set_counter(5);
        let g = gumbel_noise::<T>(&[rows, cols], &mut rng);
        rng.set_counter(5);
        let u = uniform_noise::<T>(&[rows, cols], &mut rng);
        rng.set_counter(5);
        let idx = gumbel_max(&l, &mut rng).unwrap();
        rng.set_counter(5);
        let c = composed::forward(&l, temp, &mut rng).unwrap();
        let sg = gumbel_softmax_with_noise(&l, Noise::Gumbel(&g), temp, Output::Hard).unwrap();
        let su = gumbel_softmax_with_noise(&l, Noise::Uniform(&u), temp, Output::Hard).unwrap();
        assert_eq!(su, s);
        assert_eq!(c.g, g);
        if race {
            let eps = T::EPSILON.to_f64();
            for (a, b) in sg.y.as_slice().iter().zip(s.y.as_slice()) {
                let (a, b) = (a.to_f64(), b.to_f64());
                assert!(relative_eq!(a, b, max_relative = 256.0 * eps), "{a} vs {b}");
            }
        } else {
            assert_eq!(sg, s);
            assert_eq!(idx, s.index);
            assert_eq!(c.index, s.index);
        }
        for r in 0..rows {
            let hard = s.hard.as_ref().unwrap().row(r);
            assert_eq!(hard.iter().filter(|&&h| h == T::ONE).count(), 1);
            assert_eq!(hard.iter().filter(|&&h| h == T::ZERO).count(), cols - 1);
            assert_eq!(hard[s.index[r]], T::ONE);
        }
    }
}

#[test]
fn noise_given_forward_and_gumbel_max_reproduce_the_fused_forward() {
    noise_given_variants_reproduce_the_fused_forward::<f32>();
    noise_given_variants_reproduce_the_fused_forward::<f64>();
}

/// Ties: with zero noise and equal logits, the first maximum is the index.
#[test]
fn ties_go_to_the_first_maximum() {
    for cols in [1usize, 2, 16, 17, 3000] {
        let l = Tensor::<f64>::full([2, cols], 1.5);
        let g = Tensor::<f64>::zeros([2, cols]);
        let s =
            gumbel_softmax_with_noise(&l, Noise::Gumbel(&g), Temperature::Tau(1.0), Output::Hard)
                .unwrap();
        assert_eq!(s.index, vec![0, 0]);
        let y0 = 1.0 / cols as f64;
        // 4 ulps of y0, at most the 4 f64::EPSILON * y0 (4 to 8 ulps) allowed before
        assert!(
            s.y.as_slice()
                .iter()
                .all(|&y| ulps_eq!(y, y0, epsilon = 0.0, max_ulps = 4)),
            "{cols}: {:?} vs {y0}",
            &s.y.as_slice()[..cols.min(4)]
        );
    }
}

#[test]
fn every_successful_call_consumes_exactly_one_counter_value() {
    let l = Tensor::<f32>::zeros([4, 10]);
    let mut rng = GumbelRng::new(1);
    gumbel_softmax(&l, Temperature::Tau(1.0), &mut rng, Output::Soft).unwrap();
    gumbel_max(&l, &mut rng).unwrap();
    gumbel_noise::<f32>(&[4, 10], &mut rng);
    uniform_noise::<f64>(&[4, 10], &mut rng);
    composed::forward(&l, Temperature::Tau(1.0), &mut rng).unwrap();
    assert_eq!(rng.counter(), 5);
    // different counters, different noise
    let mut a = GumbelRng::new(1);
    let ga = gumbel_noise::<f32>(&[1, 8], &mut a);
    let gb = gumbel_noise::<f32>(&[1, 8], &mut a);
    assert_ne!(ga, gb);
}

#[test]
fn shapes_single_class_empty_and_higher_rank() {
    // one class: y = 1 exactly, index 0
    let l = Tensor::<f32>::from_fn([5, 1], |i| i as f32);
    let s = gumbel_softmax(
        &l,
        Temperature::Tau(0.1),
        &mut GumbelRng::new(0),
        Output::Soft,
    )
    .unwrap();
    assert!(s.y.as_slice().iter().all(|&y| y == 1.0));
    assert_eq!(s.index, vec![0; 5]);
    // rank 1 and rank 3: rows are everything but the last dimension
    let l1 = Tensor::<f64>::from_fn([6], |i| i as f64);
    let s1 = gumbel_softmax(
        &l1,
        Temperature::Tau(1.0),
        &mut GumbelRng::new(0),
        Output::Soft,
    )
    .unwrap();
    assert_eq!((s1.y.shape(), s1.index.len()), (&[6usize][..], 1));
    let l3 = Tensor::<f64>::zeros([2, 3, 4]);
    let s3 = gumbel_softmax(
        &l3,
        Temperature::Tau(1.0),
        &mut GumbelRng::new(0),
        Output::Soft,
    )
    .unwrap();
    assert_eq!(s3.index.len(), 6);
    assert_eq!(
        exp_concrete_log_density(&l3, &l3, 1.0).unwrap().shape(),
        &[2, 3]
    );
    // no rows: fine; rows without classes or a scalar: errors
    let e = Tensor::<f32>::zeros([0, 7]);
    assert!(
        gumbel_softmax(
            &e,
            Temperature::Tau(1.0),
            &mut GumbelRng::new(0),
            Output::Soft
        )
        .unwrap()
        .index
        .is_empty()
    );
    assert!(
        gumbel_softmax(
            &Tensor::<f32>::zeros([3, 0]),
            Temperature::Tau(1.0),
            &mut GumbelRng::new(0),
            Output::Soft
        )
        .is_err()
    );
    assert!(gumbel_max(&Tensor::scalar(1.0f32), &mut GumbelRng::new(0)).is_err());
    // backward shape mismatch
    let y = Tensor::<f32>::zeros([2, 3]);
    assert!(matches!(
        gumbel_softmax_backward(
            &y,
            &Tensor::zeros([3, 2]),
            Temperature::Tau(1.0),
            TempGrad::Skip
        ),
        Err(Error::ShapeMismatch { .. })
    ));
}

/// Length 0 (no classes): the forward and Gumbel-max (SIMD and scalar) reject the rows,
/// the backward and the noise return empty tensors of the right shape.
#[test]
fn rows_of_length_zero() {
    let l = Tensor::<f32>::zeros([3, 0]);
    let t = Temperature::Tau(1.0);
    assert!(matches!(
        gumbel_softmax(&l, t, &mut GumbelRng::new(0), Output::Soft),
        Err(Error::InvalidShape { .. })
    ));
    assert!(matches!(
        scalar::gumbel_softmax(&l, t, &mut GumbelRng::new(0), Output::Soft),
        Err(Error::InvalidShape { .. })
    ));
    assert!(matches!(
        gumbel_max(&l, &mut GumbelRng::new(0)),
        Err(Error::InvalidShape { .. })
    ));
    let (dl, dt) = gumbel_softmax_backward(&l, &l, t, TempGrad::Compute).unwrap();
    assert_eq!((dl.shape(), dt), (&[3usize, 0][..], Some(0.0)));
    let (dl, dt) = scalar::gumbel_softmax_backward(&l, &l, t, TempGrad::Compute).unwrap();
    assert_eq!((dl.shape(), dt), (&[3usize, 0][..], Some(0.0)));
    assert_eq!(
        gumbel_noise::<f64>(&[3, 0], &mut GumbelRng::new(0)).shape(),
        &[3, 0]
    );
}

#[test]
fn backward_into_a_buffer_is_the_allocating_backward_bit_for_bit() {
    let mut rng = data_rng(41);
    // Big enough to run row-parallel; one masked class in three.
    let mut l = uniform_tensor(&mut rng, 96, 700, -4.0, 4.0);
    mask_some(&mut rng, &mut l, 0.3);
    let to_f32 = |t: &Tensor<f64>| {
        Tensor::new(
            t.shape().to_vec(),
            t.as_slice().iter().map(|&x| x as f32).collect(),
        )
        .unwrap()
    };
    let l = to_f32(&l);
    let dy = to_f32(&uniform_tensor(&mut rng, 96, 700, -1.0, 1.0));
    for temp in [Temperature::Tau(0.7f32), Temperature::Beta(3.0)] {
        let y = gumbel_softmax(&l, temp, &mut GumbelRng::new(5), Output::Soft)
            .unwrap()
            .y;
        let (want, want_dtemp) = gumbel_softmax_backward(&y, &dy, temp, TempGrad::Compute).unwrap();
        for threads in [1, 2, 7] {
            // A buffer holding stale values: every element must be overwritten.
            let mut dx = Tensor::full([96, 700], f32::NAN);
            let dtemp = with_threads(threads, || {
                gumbel_softmax_backward_into(&y, &dy, temp, TempGrad::Compute, &mut dx).unwrap()
            });
            assert_eq!(dtemp.map(f32::to_bits), want_dtemp.map(f32::to_bits));
            let same = dx
                .as_slice()
                .iter()
                .zip(want.as_slice())
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{temp:?}, {threads} threads");
            assert_eq!(
                gumbel_softmax_backward_into(&y, &dy, temp, TempGrad::Skip, &mut dx).unwrap(),
                None
            );
        }
    }
    // A buffer of another shape is an error naming the op and both shapes.
    let y = Tensor::<f32>::full([2, 3], 1.0 / 3.0);
    let mut dx = Tensor::<f32>::zeros([3, 2]);
    let e = gumbel_softmax_backward_into(&y, &y, Temperature::Tau(1.0), TempGrad::Skip, &mut dx)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("gumbel_softmax_backward_into") && e.contains("[2, 3]") && e.contains("[3, 2]"),
        "{e}"
    );
}
