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
        let (r_n, f, l, w) = (d.cols, d.filters, T::LANES, d.width);
        let zero = T::Simd::splat(T::ZERO);
        let mut tbuf = vec![T::ZERO; l];
        let mut xb = vec![zero; w];
        let mut c = 0;
        while c < f {
            let n = (BLOCK * l).min(f - c);
            let nv = n.div_ceil(l);
            // the block's taps, tap-major: taps[j * BLOCK + v]
            let mut taps = vec![zero; w * BLOCK];
            for j in 0..w {
                for v in 0..nv {
                    let lo = c + v * l;
                    let hi = (lo + l).min(c + n);
                    taps[j * BLOCK + v] = T::Simd::load_or(&wt[j * f + lo..j * f + hi], T::ZERO);
                }
            }
            for r in 0..r_n {
                let mut m = [T::Simd::splat(T::NEG_INFINITY); BLOCK];
                let mut at = [zero; BLOCK];
                for t in 0..d.steps() {
                    for (j, b) in xb.iter_mut().enumerate() {
                        *b = T::Simd::splat(x[(t + j) * r_n + r]);
                    }
                    let tv = T::Simd::splat(T::from_f64(t as f64));
                    for v in 0..nv {
                        let mut z = taps[v] * xb[0];
                        for j in 1..w {
                            z = taps[j * BLOCK + v].mul_add(xb[j], z);
                        }
                        at[v] = z.select_gt(m[v], tv, at[v]);
                        m[v] = z.select_gt(m[v], z, m[v]);
                    }
                }
                for v in 0..nv {
                    let lo = c + v * l;
                    let hi = (lo + l).min(c + n);
                    let out = r * f + lo..r * f + hi;
                    let val = m[v] + T::Simd::load_or(&bias[lo..hi], T::ZERO);
                    val.select_gt(zero, val, zero)
                        .store_part(&mut y[out.clone()]);
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
/// 0` (a filter whose maximum was cut by the relu passes nothing back).
pub fn backward_input<T: Element>(d: Dims, w: &[T], y: &[T], arg: &[u32], dy: &[T], dx: &mut [T]) {
    let (r_n, f) = (d.cols, d.filters);
    for r in 0..r_n {
        for c in 0..f {
            let k = r * f + c;
            if y[k] > T::ZERO {
                let t = arg[k] as usize;
                for j in 0..d.width {
                    dx[(t + j) * r_n + r] += dy[k] * w[c * d.width + j];
                }
            }
        }
    }
}

/// Backward into filters `c0 ..` over every sample, `out` holding one row `[dW[c, 0..w] |
/// db[c]]` per filter: `dW[c, j] += dy[b, r, c] x[b, arg + j, r]` and `db[c] += dy[b, r, c]`
/// where `y > 0`, samples and columns in order (the same sums for any split of the filters).
#[allow(clippy::too_many_arguments)]
pub fn backward_filters<T: Element>(
    d: Dims,
    batch: usize,
    c0: usize,
    x: &[T],
    y: &[T],
    arg: &[u32],
    dy: &[T],
    out: &mut [T],
) {
    let (l, r_n, f, w) = (d.len, d.cols, d.filters, d.width);
    for b in 0..batch {
        let xb = &x[b * l * r_n..(b + 1) * l * r_n];
        for r in 0..r_n {
            let row = (b * r_n + r) * f + c0;
            for (i, o) in out.chunks_exact_mut(w + 1).enumerate() {
                let k = row + i;
                if y[k] > T::ZERO {
                    let t = arg[k] as usize;
                    for j in 0..w {
                        o[j] += dy[k] * xb[(t + j) * r_n + r];
                    }
                    o[w] += dy[k];
                }
            }
        }
    }
}
