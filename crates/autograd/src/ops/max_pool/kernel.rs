//! Max along the middle axis of an `[outer, n, inner]` view, with the index of the maximum.

use gumbel_tensor::Element;

/// `out[o, i] = max_j x[o, j, i]` and `arg[o, i]` = the first `j` attaining it (a NaN
/// counts as the maximum, so it propagates, as in PyTorch). `n >= 1`.
pub fn max_axis<T: Element>(
    x: &[T],
    outer: usize,
    n: usize,
    inner: usize,
    out: &mut [T],
    arg: &mut [u32],
) {
    debug_assert!(n >= 1);
    for o in 0..outer {
        let (best, idx) = (
            &mut out[o * inner..(o + 1) * inner],
            &mut arg[o * inner..(o + 1) * inner],
        );
        best.copy_from_slice(&x[o * n * inner..][..inner]);
        idx.fill(0);
        for j in 1..n {
            let row = &x[(o * n + j) * inner..][..inner];
            for i in 0..inner {
                let (v, b) = (row[i], best[i]);
                if v > b || (v.is_nan() && !b.is_nan()) {
                    best[i] = v;
                    idx[i] = j as u32;
                }
            }
        }
    }
}

/// The adjoint: `dx[o, arg[o, i], i] += dy[o, i]`.
pub fn max_axis_backward<T: Element>(
    dy: &[T],
    arg: &[u32],
    outer: usize,
    n: usize,
    inner: usize,
    dx: &mut [T],
) {
    for o in 0..outer {
        for i in 0..inner {
            dx[(o * n + arg[o * inner + i] as usize) * inner + i] += dy[o * inner + i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_and_routing_by_hand() {
        // [1, 3, 2]: columns (3, 7, 5) and (4, 4, -1): maxima 7 at 1, and 4 at 0 (first tie)
        let x = [3.0f64, 4.0, 7.0, 4.0, 5.0, -1.0];
        let (mut out, mut arg) = ([0.0; 2], [0u32; 2]);
        max_axis(&x, 1, 3, 2, &mut out, &mut arg);
        assert_eq!((out, arg), ([7.0, 4.0], [1, 0]));
        let mut dx = [0.0; 6];
        max_axis_backward(&[10.0, 20.0], &arg, 1, 3, 2, &mut dx);
        assert_eq!(dx, [0.0, 20.0, 10.0, 0.0, 0.0, 0.0]);
        let (mut out, mut arg) = ([0.0; 1], [0u32; 1]);
        max_axis(&[1.0, f64::NAN, 2.0], 1, 3, 1, &mut out, &mut arg);
        assert!(out[0].is_nan() && arg[0] == 1);
    }
}
