//! Slice kernels of the axis reductions. A tensor reduced along one axis is viewed as
//! `[outer, n, inner]` (`n` the axis, `outer`/`inner` the products of the dimensions
//! before/after it); the reduction sums over `n` in index order.

use gumbel_tensor::Element;

/// `out[o, i] = sum_j x[o, j, i]`, summed in `j` order. `x.len() == outer * n * inner`,
/// `out.len() == outer * inner`.
pub fn sum_axis<T: Element>(x: &[T], outer: usize, n: usize, inner: usize, out: &mut [T]) {
    debug_assert_eq!(x.len(), outer * n * inner);
    debug_assert_eq!(out.len(), outer * inner);
    for (o, out_row) in out.chunks_exact_mut(inner.max(1)).enumerate().take(outer) {
        out_row.fill(T::ZERO);
        for j in 0..n {
            let src = &x[(o * n + j) * inner..(o * n + j + 1) * inner];
            for (acc, &v) in out_row.iter_mut().zip(src) {
                *acc += v;
            }
        }
    }
}

/// The adjoint of [`sum_axis`] scaled by `s`: `dx[o, j, i] = s * dy[o, i]` for every `j`.
pub fn broadcast_axis<T: Element>(
    dy: &[T],
    outer: usize,
    n: usize,
    inner: usize,
    s: T,
    dx: &mut [T],
) {
    debug_assert_eq!(dx.len(), outer * n * inner);
    debug_assert_eq!(dy.len(), outer * inner);
    for (o, block) in dx
        .chunks_exact_mut((n * inner).max(1))
        .enumerate()
        .take(outer)
    {
        let src = &dy[o * inner..(o + 1) * inner];
        for row in block.chunks_exact_mut(inner.max(1)) {
            for (d, &v) in row.iter_mut().zip(src) {
                *d = s * v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_axis_by_hand() {
        // x: [2, 3, 2] = 0..12; sum over the middle axis
        let x: Vec<f64> = (0..12).map(f64::from).collect();
        let mut out = vec![0.0; 4];
        sum_axis(&x, 2, 3, 2, &mut out);
        assert_eq!(
            out,
            [
                0.0 + 2.0 + 4.0,
                1.0 + 3.0 + 5.0,
                6.0 + 8.0 + 10.0,
                7.0 + 9.0 + 11.0
            ]
        );
        let mut dx = vec![0.0; 12];
        broadcast_axis(&[1.0, 2.0, 3.0, 4.0], 2, 3, 2, 0.5, &mut dx);
        assert_eq!(
            dx,
            [0.5, 1.0, 0.5, 1.0, 0.5, 1.0, 1.5, 2.0, 1.5, 2.0, 1.5, 2.0]
        );
    }
}
