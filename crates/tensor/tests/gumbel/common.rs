//! Helpers shared by the test modules: seeded random tensors, thread pools, and the f64
//! reference of the forward pass.

use gumbel_tensor::ops::gumbel::Temperature;
use gumbel_tensor::{Element, Tensor};
use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// A seeded generator for test data (not for the noise under test).
pub fn data_rng(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

/// A `rows x cols` f64 tensor of uniform values in `[lo, hi)`.
pub fn uniform_tensor(
    rng: &mut Xoshiro256PlusPlus,
    rows: usize,
    cols: usize,
    lo: f64,
    hi: f64,
) -> Tensor<f64> {
    Tensor::from_fn([rows, cols], |_| rng.random_range(lo..hi))
}

/// Masks (sets to `-inf`) about a fraction `p` of the entries, keeping at least one
/// unmasked class per row.
pub fn mask_some(rng: &mut Xoshiro256PlusPlus, t: &mut Tensor<f64>, p: f64) {
    let cols = t.cols();
    for r in 0..t.rows() {
        let keep = rng.random_range(0..cols);
        for (j, x) in t.row_mut(r).iter_mut().enumerate() {
            if j != keep && rng.random_bool(p) {
                *x = f64::NEG_INFINITY;
            }
        }
    }
}

/// Runs `f` inside a rayon pool of `n` threads (`gumbel_tensor::parallel::with_threads`,
/// unwrapped for tests).
pub fn with_threads<R: Send>(n: usize, f: impl FnOnce() -> R + Send) -> R {
    gumbel_tensor::parallel::with_threads(n, f).unwrap()
}

/// `softmax(c (l + g))` of one row in f64, with `p = l + g` rounded to the kernel's type
/// first (`round`), as the kernels do; masked classes give 0.
pub fn softmax_ref(l: &[f64], g: &[f64], c: f64, round: impl Fn(f64) -> f64) -> Vec<f64> {
    let p: Vec<f64> = l.iter().zip(g).map(|(a, b)| round(a + b)).collect();
    let m = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = p.iter().map(|x| ((x - m) * c).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

/// Error budget of the fused forward (docs/kernels.md, "Accuracy"), relative to `y`, in
/// units of the unit roundoff `u` of the kernel's type: `180 + 2 c |p - M|`.
/// 180 covers two `exp` of <= 2 ulp (4u each), the lane sums of <= 128 (f32; 256 for f64)
/// terms and their 4-level fold, the combination of <= 25 chunks, and 4 roundings; the
/// second term the roundings of `p - m_k`, `m_k - M` and their products with `c`.
pub fn fused_forward_units(c: f64, p: f64, big_m: f64, lanes: usize) -> f64 {
    let chunk_terms = (2048 / lanes) as f64;
    let spread = if p == f64::NEG_INFINITY {
        0.0
    } else {
        c * (big_m - p)
    };
    chunk_terms + 52.0 + 2.0 * spread
}

/// Budget of two backward computations on the same `y` and `dy` (one row): per-element
/// bound on `|dl_1 - dl_2|`, and a bound on `|t_1 - t_2|` for `t = sum_i a_i ln y_i`.
/// `dot_units`: the two dot products' combined error in units of `u sum |y dy|` (a
/// sequential sum of n terms: n; a lane sum: n / lanes + 4 fold levels); `sum_units`: the
/// same for the two sums of `a ln y`. Each `a_i = y_i (dy_i - dot)` adds 2 roundings per
/// side, `c a_i` one more, each `ln` <= 1 ulp (2u) per side.
pub fn backward_budget(
    y: &[f64],
    dy: &[f64],
    c: f64,
    u: f64,
    dot_units: f64,
    sum_units: f64,
    tiny: f64,
) -> (Vec<f64>, f64) {
    let dot: f64 = y.iter().zip(dy).map(|(a, b)| a * b).sum();
    let abs_dot: f64 = y.iter().zip(dy).map(|(a, b)| (a * b).abs()).sum();
    let ddot = dot_units * u * abs_dot;
    let mut dl = Vec::with_capacity(y.len());
    let mut t = 0.0;
    for (&yi, &di) in y.iter().zip(dy) {
        let a = yi * (di - dot);
        let da = yi * ddot + 4.0 * u * yi * (di.abs() + dot.abs());
        dl.push(c * (da + 2.0 * u * a.abs()) + 1e-300);
        if yi >= tiny {
            let ln = yi.ln().abs();
            t += da * ln + a.abs() * ln * 6.0 * u + sum_units * u * a.abs() * ln;
        } else if yi > 0.0 {
            // one side may skip a subnormal y_i (contract: contributes 0)
            t += a.abs() * yi.ln().abs();
        }
    }
    (dl, t)
}

/// Temperatures no kernel may accept: 0, negative, NaN, +-inf, and a positive subnormal
/// whose reciprocal overflows.
pub fn bad_temperatures<T: Element>() -> Vec<T> {
    vec![
        T::ZERO,
        -T::ONE,
        T::NAN,
        T::INFINITY,
        T::NEG_INFINITY,
        // positive but its reciprocal overflows (a subnormal)
        T::MIN_POSITIVE / T::from_f64(1024.0),
    ]
}

/// `temp` with its value moved by `d`, in the same form (for central differences in the
/// temperature).
pub fn shifted(temp: Temperature<f64>, d: f64) -> Temperature<f64> {
    match temp {
        Temperature::Tau(v) => Temperature::Tau(v + d),
        Temperature::Beta(v) => Temperature::Beta(v + d),
    }
}
