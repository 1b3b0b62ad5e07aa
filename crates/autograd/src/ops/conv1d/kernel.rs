//! im2col / col2im for a 1-D convolution over time with channels last, and the weight
//! permutation between PyTorch's `[F, C, w]` layout and the `[F, w*C]` matrix the matmul
//! uses.
//!
//! With `x: [B, L, C]` (row-major, channels last), the receptive field of output `(b, t)`
//! is `x[b, t .. t+w, :]`, which is **one contiguous run** of `w*C` elements starting at
//! `(b*L + t)*C`. So im2col is a `memcpy` per output row, provided the patch is ordered
//! `(k, c)` (time offset major); the weight is permuted to match:
//! `W'[f, k*C + c] = W[f, c, k]`.

use std::mem::MaybeUninit;

use gumbel_tensor::{Element, parallel};

/// `patches[(b*T + t), :] = x[b, t .. t+w, :]` (flattened), with `T = L - w + 1`. Every
/// element of `patches` is written (it may be uninitialised memory: no zero-fill first).
pub fn im2col<T: Element>(
    x: &[T],
    batch: usize,
    len: usize,
    ch: usize,
    w: usize,
    patches: &mut [MaybeUninit<T>],
) {
    let t_out = len + 1 - w;
    let run = w * ch;
    debug_assert_eq!(x.len(), batch * len * ch);
    debug_assert_eq!(patches.len(), batch * t_out * run);
    parallel::for_each_row_mut(patches, run, |r, row| {
        let (b, t) = (r / t_out, r % t_out);
        let start = (b * len + t) * ch;
        for (p, &v) in row.iter_mut().zip(&x[start..start + run]) {
            p.write(v);
        }
    });
}

/// The adjoint of [`im2col`]: `dx[b, t .. t+w, :] += dpatches[(b*T + t), :]` for every
/// output row; overlapping windows add up. Batches run in parallel; within a batch the
/// windows are added in time order (deterministic).
pub fn col2im_add<T: Element>(
    dpatches: &[T],
    batch: usize,
    len: usize,
    ch: usize,
    w: usize,
    dx: &mut [T],
) {
    let t_out = len + 1 - w;
    let run = w * ch;
    debug_assert_eq!(dx.len(), batch * len * ch);
    debug_assert_eq!(dpatches.len(), batch * t_out * run);
    parallel::for_each_row_mut(dx, len * ch, |b, xb| {
        for t in 0..t_out {
            let src = &dpatches[(b * t_out + t) * run..][..run];
            for (d, &s) in xb[t * ch..t * ch + run].iter_mut().zip(src) {
                *d += s;
            }
        }
    });
}

/// `out[f, k*C + c] = w[f, c, k]`: PyTorch's `[F, C, w]` weight as the `[F, w*C]` matrix.
pub fn weight_to_matrix<T: Element>(wt: &[T], f: usize, ch: usize, w: usize, out: &mut [T]) {
    for fi in 0..f {
        for c in 0..ch {
            for k in 0..w {
                out[fi * w * ch + k * ch + c] = wt[(fi * ch + c) * w + k];
            }
        }
    }
}

/// The inverse of [`weight_to_matrix`]: `out[f, c, k] = m[f, k*C + c]`.
pub fn matrix_to_weight<T: Element>(m: &[T], f: usize, ch: usize, w: usize, out: &mut [T]) {
    for fi in 0..f {
        for c in 0..ch {
            for k in 0..w {
                out[(fi * ch + c) * w + k] = m[fi * w * ch + k * ch + c];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn im2col_and_col2im_by_hand() {
        // B = 1, L = 3, C = 2, w = 2: x = [[0, 1], [2, 3], [4, 5]]
        let x: Vec<f64> = (0..6).map(f64::from).collect();
        let mut p = vec![MaybeUninit::new(f64::NAN); 2 * 4];
        im2col(&x, 1, 3, 2, 2, &mut p);
        // SAFETY: MaybeUninit::new initialised every element (im2col overwrote them all).
        let p: Vec<f64> = p.iter().map(|v| unsafe { v.assume_init() }).collect();
        assert_eq!(p, [0.0, 1.0, 2.0, 3.0, 2.0, 3.0, 4.0, 5.0]);
        let mut dx = vec![0.0; 6];
        col2im_add(&[1.0; 8], 1, 3, 2, 2, &mut dx);
        assert_eq!(dx, [1.0, 1.0, 2.0, 2.0, 1.0, 1.0]); // the middle step is in both windows
    }

    #[test]
    fn weight_permutation_round_trips() {
        let (f, c, w) = (2, 3, 4);
        let wt: Vec<f64> = (0..f * c * w).map(|i| i as f64).collect();
        let mut m = vec![0.0; wt.len()];
        weight_to_matrix(&wt, f, c, w, &mut m);
        // f = 0, k = 1, c = 1 sits at k*C + c = 4 of the matrix and at c*w + k = 5 of the weight
        assert_eq!(m[4], wt[5]);
        let mut back = vec![0.0; wt.len()];
        matrix_to_weight(&m, f, c, w, &mut back);
        assert_eq!(back, wt);
    }
}
