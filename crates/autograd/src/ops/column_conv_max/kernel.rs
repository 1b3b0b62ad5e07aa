//! Kernels of `column_conv_max` for one sample: `x` is its `[L, R]` block (time by column),
//! `y` and `arg` its `[R, F]` outputs. The forward is SIMD across filters (the weights
//! transposed to `[w, F]` so that the filters of one tap are contiguous) with a scalar twin
//! that makes the same roundings: `z = w_0 x_0`, then `z = w_j x_j + z` fused, taps in order,
//! the maximum over time taken before the bias is added (`max_t z_t + b`, the first
//! maximum on ties). The backward is plain loops (a gather and a scatter, a few flops per
//! output).

use gumbel_tensor::{Element, SimdFloat};

/// The sizes of one `column_conv_max`: `len` (`L`) steps, `cols` (`R`) columns, `filters`
/// (`F`) of `width` (`w`) taps.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub len: usize,
    pub cols: usize,
    pub filters: usize,
    pub width: usize,
}

impl Dims {
    /// The positions of a filter, `L - w + 1`.
    pub fn steps(&self) -> usize {
        self.len + 1 - self.width
    }
}

/// `W: [F, w]` as `[w, F]` (tap-major), the layout the kernels read.
pub fn transpose_weight<T: Element>(w: &[T], filters: usize, width: usize) -> Vec<T> {
    let mut wt = vec![T::ZERO; w.len()];
    for c in 0..filters {
        for j in 0..width {
            wt[j * filters + c] = w[c * width + j];
        }
    }
    wt
}

/// The scalar reference.
pub mod scalar {
    use super::*;

    /// `y[r, c] = relu(max_t sum_j W[c, j] x[t + j, r] + b[c])` and `arg[r, c]` = the first
    /// `t` that reaches the maximum.
    pub fn forward<T: Element>(
        d: Dims,
        x: &[T],
        wt: &[T],
        bias: &[T],
        y: &mut [T],
        arg: &mut [u32],
    ) {
        let (r_n, f) = (d.cols, d.filters);
        for r in 0..r_n {
            for c in 0..f {
                let (mut m, mut at) = (T::NEG_INFINITY, 0);
                for t in 0..d.steps() {
                    let mut z = wt[c] * x[t * r_n + r];
                    for j in 1..d.width {
                        z = wt[j * f + c].mul_add(x[(t + j) * r_n + r], z);
                    }
                    if z > m {
                        (m, at) = (z, t);
                    }
                }
                let v = m + bias[c];
                y[r * f + c] = if v > T::ZERO { v } else { T::ZERO };
                arg[r * f + c] = at as u32;
            }
        }
    }
}

/// The SIMD kernel: the scalar reference with the filters `LANES` at a time, [`BLOCK`](simd::BLOCK)
/// vectors of them per pass over the sample, so that each input value is broadcast once for
/// all of them and their taps stay in registers.
pub mod simd {
    use super::*;

    /// The vector type: 512 bits (`f32x16`, `f64x8`), whose wide blocks of filters amortise
    /// the broadcasts of `x` and the bookkeeping of the maximum; on CPUs without AVX-512 it
    /// is two 256-bit halves.
    type V<T> = <T as Element>::Lanes;

    /// Vectors of filters computed together.
    pub const BLOCK: usize = 4;

    /// [`scalar::forward`], bitwise identical where the target fuses `mul_add` (every
    /// filter makes the same operations in the same order).
    pub fn forward<T: Element>(
        d: Dims,
        x: &[T],
        wt: &[T],
        bias: &[T],
        y: &mut [T],
        arg: &mut [u32],
    ) {
        let (r_n, f, l, w) = (d.cols, d.filters, V::<T>::LANES, d.width);
        let zero = V::<T>::splat(T::ZERO);
        let mut tbuf = vec![T::ZERO; l];
        let mut c = 0;
        while c < f {
            let n = (BLOCK * l).min(f - c);
            let nv = n.div_ceil(l);
            // the block's biases, and its taps tap-major: taps[j * BLOCK + v]
            let mut bias_v = [zero; BLOCK];
            for (v, bv) in bias_v.iter_mut().enumerate().take(nv) {
                let lo = c + v * l;
                *bv = V::<T>::load_or(&bias[lo..(lo + l).min(c + n)], T::ZERO);
            }
            let mut taps = vec![zero; w * BLOCK];
            for j in 0..w {
                for v in 0..nv {
                    let lo = c + v * l;
                    let hi = (lo + l).min(c + n);
                    taps[j * BLOCK + v] = V::<T>::load_or(&wt[j * f + lo..j * f + hi], T::ZERO);
                }
            }
            for r in 0..r_n {
                // All BLOCK vectors, also in a last block with fewer filters (its missing
                // taps are zeros, and their results are not stored): a constant trip count
                // keeps z, m and at in registers.
                let mut m = [V::<T>::splat(T::NEG_INFINITY); BLOCK];
                let mut at = [zero; BLOCK];
                for t in 0..d.steps() {
                    let x0 = V::<T>::splat(x[t * r_n + r]);
                    let mut z = [zero; BLOCK];
                    for v in 0..BLOCK {
                        z[v] = taps[v] * x0;
                    }
                    for (j, tj) in taps.chunks_exact(BLOCK).enumerate().skip(1) {
                        let xj = V::<T>::splat(x[(t + j) * r_n + r]);
                        for v in 0..BLOCK {
                            z[v] = tj[v].mul_add(xj, z[v]);
                        }
                    }
                    let tv = V::<T>::splat(T::from_f64(t as f64));
                    for v in 0..BLOCK {
                        at[v] = z[v].select_gt(m[v], tv, at[v]);
                        m[v] = z[v].select_gt(m[v], z[v], m[v]);
                    }
                }
                for v in 0..nv {
                    let lo = c + v * l;
                    let hi = (lo + l).min(c + n);
                    let out = r * f + lo..r * f + hi;
                    let val = m[v] + bias_v[v];
                    let val = val.select_gt(zero, val, zero);
                    if hi - lo == l {
                        val.store(&mut y[out.clone()]);
                    } else {
                        val.store_part(&mut y[out.clone()]);
                    }
                    at[v].store_part(&mut tbuf[..hi - lo]);
                    for (a, t) in arg[out].iter_mut().zip(&tbuf) {
                        *a = t.to_f64() as u32;
                    }
                }
            }
            c += n;
        }
    }
}

/// Backward into the sample's input: `dx[arg + j, r] += dy[r, c] W[c, j]` where `y[r, c] >
/// 0` (a filter whose maximum was cut by the relu passes nothing back: its terms are
/// exact zeros, selected after the product so that not even a NaN weight leaks through; a
/// select, where a branch would mispredict on rows whose signs mix).
/// Column by column: the column `dx[:, r]` is copied out, receives the filters'
/// contributions in order (contiguous adds instead of strided ones), and is written back.
pub fn backward_input<T: Element>(d: Dims, w: &[T], y: &[T], arg: &[u32], dy: &[T], dx: &mut [T]) {
    let (r_n, f, width) = (d.cols, d.filters, d.width);
    let mut col = vec![T::ZERO; d.len];
    for r in 0..r_n {
        for (t, v) in col.iter_mut().enumerate() {
            *v = dx[t * r_n + r];
        }
        let row = r * f..(r + 1) * f;
        let (ys, dys, args) = (&y[row.clone()], &dy[row.clone()], &arg[row]);
        for (c, wc) in w.chunks_exact(width).enumerate() {
            let (pos, g, t) = (ys[c] > T::ZERO, dys[c], args[c] as usize);
            for (v, &wj) in col[t..t + width].iter_mut().zip(wc) {
                *v += if pos { g * wj } else { T::ZERO };
            }
        }
        for (t, &v) in col.iter().enumerate() {
            dx[t * r_n + r] = v;
        }
    }
}

/// Backward into every filter from the samples `samples`, `out` holding one row
/// `[dW[c, 0..w] | db[c]]` per filter (added to): `dW[c, j] += dy[b, r, c] x[b, arg + j, r]`
/// and `db[c] += dy[b, r, c]` where `y > 0` (zeros selected elsewhere, as in
/// [`backward_input`]), samples, columns and filters in order. The rows of `y`, `dy` and
/// `arg` are read in storage order, and the column `x[b, :, r]` is copied out once so that
/// each filter reads its window contiguously.
#[allow(clippy::too_many_arguments)]
pub fn backward_filters<T: Element>(
    d: Dims,
    samples: std::ops::Range<usize>,
    x: &[T],
    y: &[T],
    arg: &[u32],
    dy: &[T],
    out: &mut [T],
) {
    let (l, r_n, f, w) = (d.len, d.cols, d.filters, d.width);
    debug_assert_eq!(out.len(), f * (w + 1));
    let mut col = vec![T::ZERO; l];
    for b in samples {
        let xb = &x[b * l * r_n..(b + 1) * l * r_n];
        for r in 0..r_n {
            for (t, v) in col.iter_mut().enumerate() {
                *v = xb[t * r_n + r];
            }
            let row = (b * r_n + r) * f..(b * r_n + r + 1) * f;
            let (ys, dys, args) = (&y[row.clone()], &dy[row.clone()], &arg[row]);
            for (c, o) in out.chunks_exact_mut(w + 1).enumerate() {
                let (pos, g, t) = (ys[c] > T::ZERO, dys[c], args[c] as usize);
                let (ow, ob) = o.split_at_mut(w);
                for (o, &xv) in ow.iter_mut().zip(&col[t..t + w]) {
                    *o += if pos { g * xv } else { T::ZERO };
                }
                ob[0] += if pos { g } else { T::ZERO };
            }
        }
    }
}
