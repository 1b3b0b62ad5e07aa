//! Slice kernels of the axis reductions. A tensor reduced along one axis is viewed as
//! `[outer, n, inner]` (`n` the axis, `outer`/`inner` the products of the dimensions
//! before/after it); the reduction sums over `n` in index order.

use gumbel_tensor::Element;

/// `out[o, i] = sum_j x[o, j, i]`, summed in `j` order. `x.len() == outer * n * inner`,
/// `out.len() == outer * inner`.
pub fn sum_axis<T: Element>(x: &[T], outer: usize, n: usize, inner: usize, out: &mut [T]) {
    debug_assert_eq!(x.len(), outer * n * inner);
    debug_assert_eq!(out.len(), outer * inner);
    if inner == 1 && n > 0 {
        return sum_rows_serial(x, n, out);
    }
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

/// [`sum_axis`] over the last axis (`inner == 1`): each row of `x` (`n` long) summed in
/// index order into `out`. A single row's sum is one chain of dependent additions (an
/// addition's latency per element); [`ROWS`] rows at a time run as independent chains that
/// the CPU overlaps, with every row's own sum in the same order as one at a time, so the
/// result is bit for bit that of the plain loop.
fn sum_rows_serial<T: Element>(x: &[T], n: usize, out: &mut [T]) {
    const ROWS: usize = 8;
    let mut blocks = out.chunks_exact_mut(ROWS);
    let mut r0 = 0;
    for block in blocks.by_ref() {
        let rows: [&[T]; ROWS] = std::array::from_fn(|k| &x[(r0 + k) * n..(r0 + k + 1) * n]);
        let mut acc = [T::ZERO; ROWS];
        // `j` indexes the ROWS rows at once (an iterator per row would not vectorise the
        // chains any better and reads worse)
        #[allow(clippy::needless_range_loop)]
        for j in 0..n {
            for k in 0..ROWS {
                acc[k] += rows[k][j];
            }
        }
        block.copy_from_slice(&acc);
        r0 += ROWS;
    }
    for (k, o) in blocks.into_remainder().iter_mut().enumerate() {
        let row = &x[(r0 + k) * n..(r0 + k + 1) * n];
        *o = row.iter().fold(T::ZERO, |a, &v| a + v);
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
    if inner == 1 && n > 0 {
        // a new last axis: each row of dx is one value
        for (block, &v) in dx.chunks_exact_mut(n).zip(dy) {
            block.fill(s * v);
        }
        return;
    }
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

    /// The last-axis paths (8 rows at a time, and a fill) give the plain loops' bits.
    #[test]
    fn last_axis_paths_match_the_plain_loops() {
        let (rows, n) = (19, 37);
        let x: Vec<f32> = (0..rows * n)
            .map(|i| ((i * 7919 % 1009) as f32 - 500.0) * 1.37e-3)
            .collect();
        let mut out = vec![0.0f32; rows];
        sum_axis(&x, rows, n, 1, &mut out);
        for (r, &o) in out.iter().enumerate() {
            let mut acc = 0.0f32;
            for &v in &x[r * n..(r + 1) * n] {
                acc += v;
            }
            assert_eq!(o.to_bits(), acc.to_bits(), "row {r}");
        }
        let mut dx = vec![0.0f32; rows * n];
        broadcast_axis(&out, rows, n, 1, 0.3, &mut dx);
        for (i, &d) in dx.iter().enumerate() {
            assert_eq!(d.to_bits(), (0.3 * out[i / n]).to_bits(), "element {i}");
        }
    }

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
