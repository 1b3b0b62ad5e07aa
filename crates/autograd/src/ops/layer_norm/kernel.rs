//! Row kernels of `layer_norm`: plain loops over one row, simple enough to be their own
//! scalar reference (the compiler vectorizes the sums and the maps).

use gumbel_tensor::Element;

/// Forward of one row `x` (length `n`): `mean = sum(x) / n`, `var = sum((x - mean)^2) / n`
/// (two passes: no cancellation of `E[x^2] - mean^2`), `y = (x - mean) * rstd` with
/// `rstd = 1 / sqrt(var + eps)`. Returns `rstd`.
pub fn row_forward<T: Element>(x: &[T], eps: T, y: &mut [T]) -> T {
    let n = T::from_f64(x.len() as f64);
    let mean = x.iter().fold(T::ZERO, |s, &v| s + v) / n;
    let mut var = T::ZERO;
    for &v in x {
        let d = v - mean;
        var += d * d;
    }
    let rstd = (var / n + eps).sqrt().recip();
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = (xi - mean) * rstd;
    }
    rstd
}

/// Backward of one row: `dx += rstd * (dy - mean(dy) - y * mean(dy * y))`, from the
/// forward's output `y` and `rstd`.
pub fn row_backward<T: Element>(y: &[T], dy: &[T], rstd: T, dx: &mut [T]) {
    let n = T::from_f64(y.len() as f64);
    let (mut sd, mut sdy) = (T::ZERO, T::ZERO);
    for (&d, &yi) in dy.iter().zip(y) {
        sd += d;
        sdy += d * yi;
    }
    let (a, b) = (sd / n, sdy / n);
    for ((o, &d), &yi) in dx.iter_mut().zip(dy).zip(y) {
        *o += rstd * (d - a - yi * b);
    }
}
