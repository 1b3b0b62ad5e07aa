//! `column_conv_max`: a one-channel convolution over time applied to every column of the
//! input separately, then relu and the maximum over time, as one node. RelGAN's
//! discriminator (Nie et al. 2019) embeds each token into 64 numbers and treats each of the
//! 64 as a separate one-dimensional "representation" of the sequence: PyTorch's
//! `Conv2d(1, F, (w, 1))` over `[B, 1, L, R]`, `relu`, and `max_pool2d` over the whole time
//! axis.
//!
//! Shapes: input `x: [B, L, R]`, weight `W: [F, w]` (PyTorch's `[F, 1, w, 1]` reshaped),
//! bias `[F]`, output `y: [B, R, F]`:
//!
//! ```text
//! z[b, t, r, c] = sum_{j < w} W[c, j] x[b, t + j, r]          t < L - w + 1
//! y[b, r, c]    = relu(max_t z[b, t, r, c] + bias[c])
//! ```
//! (`relu(max_t(z + b)) = max_t relu(z + b)`: relu is monotone.) The `[B, L - w + 1, R, F]`
//! map of `z` is never stored: the kernel keeps the running maximum and its position
//! (`t*`, the first maximum). Derivative, where `y[b, r, c] > 0` (elsewhere nothing flows,
//! relu's derivative being 0 at and below 0, as in PyTorch):
//!
//! ```text
//! dx[b, t* + j, r] += dy[b, r, c] W[c, j]
//! dW[c, j]         += dy[b, r, c] x[b, t* + j, r]
//! dbias[c]         += dy[b, r, c]
//! ```
//!
//! Determinism: the forward and `dx` run one sample per task; `dW` and `dbias` one fixed
//! group of [`SAMPLES_PER_TASK`] samples per task (each summing over its samples, columns
//! and filters in order into its own buffer), the groups' sums then added in group order:
//! the same bits for any thread count.

pub mod kernel;

use gumbel_tensor::{Element, Error, Result, Tensor, parallel};

use crate::tape::Var;
pub use kernel::Dims;

/// Samples per task of the weight gradient (whose tasks then sum their buffers in order).
pub const SAMPLES_PER_TASK: usize = 4;

/// One-channel convolution over time of every column, relu, max over time; see the module
/// docs. `Err` if `x` is not `[B, L, R]`, `W` not `[F, w]` with `1 <= w <= L`, or the bias
/// not `[F]`.
pub fn column_conv_max<'t, T: Element>(
    x: &Var<'t, T>,
    weight: &Var<'t, T>,
    bias: Option<&Var<'t, T>>,
) -> Result<Var<'t, T>> {
    const OP: &str = "column_conv_max";
    let (xv, wv) = (x.value()?, weight.value()?);
    let [batch, len, cols] = *xv.shape() else {
        return Err(Error::invalid_shape(
            OP,
            xv.shape(),
            "input must be 3-D [batch, time, columns]",
        ));
    };
    let [filters, width] = *wv.shape() else {
        return Err(Error::invalid_shape(
            OP,
            wv.shape(),
            "weight must be 2-D [filters, width]",
        ));
    };
    if width == 0 || len < width {
        return Err(Error::shape_mismatch(
            "column_conv_max (input [B, L, R] vs weight [F, w]: needs 1 <= w <= L)",
            xv.shape(),
            wv.shape(),
        ));
    }
    let bv = match bias {
        Some(b) => {
            let bv = b.value()?;
            if bv.shape() != [filters] {
                return Err(Error::shape_mismatch(
                    "column_conv_max (bias vs filters)",
                    bv.shape(),
                    &[filters],
                ));
            }
            bv.as_slice().to_vec()
        }
        None => vec![T::ZERO; filters],
    };
    let d = Dims {
        len,
        cols,
        filters,
        width,
    };
    let wt = kernel::transpose_weight(wv.as_slice(), filters, width);
    let (in_row, out_row) = (len * cols, cols * filters);
    let mut y = Tensor::zeros([batch, cols, filters]);
    let mut arg = vec![0u32; batch * out_row];
    {
        // One sample per task; each returns its positions of the maxima.
        let xs = xv.as_slice();
        let per_sample = parallel::map_rows_mut(y.as_mut_slice(), out_row, |b, yb| {
            let mut a = vec![0u32; out_row];
            kernel::simd::forward(d, &xs[b * in_row..(b + 1) * in_row], &wt, &bv, yb, &mut a);
            a
        });
        for (dst, a) in arg.chunks_mut(out_row.max(1)).zip(per_sample) {
            dst.copy_from_slice(&a);
        }
    }
    let y = std::sync::Arc::new(y);
    let (ix, iw, ib) = (x.id(), weight.id(), bias.map(|v| v.id()));
    let mut inputs = vec![*x, *weight];
    inputs.extend(bias.copied());
    x.tape().op_shared(OP, y.clone(), &inputs, move |_, dy, g| {
        let (ys, dys) = (y.as_slice(), dy.as_slice());
        if let Some(dx) = g.slot(ix) {
            let ws = wv.as_slice();
            parallel::for_each_row_mut(dx.as_mut_slice(), in_row, |b, dxb| {
                let span = b * out_row..(b + 1) * out_row;
                kernel::backward_input(
                    d,
                    ws,
                    &ys[span.clone()],
                    &arg[span.clone()],
                    &dys[span],
                    dxb,
                );
            });
        }
        let want_w = g.wants(iw);
        let want_b = ib.is_some_and(|ib| g.wants(ib));
        if want_w || want_b {
            // one row [dW[c, ..] | db[c]] per filter; `chunk` only keeps zero filters legal
            let per = filters * (width + 1);
            let chunk = per.max(1);
            let mut partial = vec![T::ZERO; batch.div_ceil(SAMPLES_PER_TASK) * per];
            let xs = xv.as_slice();
            let work = SAMPLES_PER_TASK * cols;
            parallel::for_each_chunk_mut(&mut partial, chunk, work, |start, o| {
                let b0 = start / chunk * SAMPLES_PER_TASK;
                let samples = b0..(b0 + SAMPLES_PER_TASK).min(batch);
                kernel::backward_filters(d, samples, xs, ys, &arg, dys, o);
            });
            let mut groups = partial.chunks_exact(chunk);
            let mut out = groups
                .next()
                .map_or_else(|| vec![T::ZERO; per], <[T]>::to_vec);
            for p in groups {
                for (o, &v) in out.iter_mut().zip(p) {
                    *o += v;
                }
            }
            if want_w {
                let dw = out
                    .chunks_exact(width + 1)
                    .flat_map(|r| r[..width].iter().copied());
                g.add(iw, Tensor::new([filters, width], dw.collect())?)?;
            }
            if let Some(ib) = ib.filter(|_| want_b) {
                let db = out.chunks_exact(width + 1).map(|r| r[width]);
                g.add(ib, Tensor::new([filters], db.collect())?)?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use approx::assert_relative_eq;

    use super::*;
    use crate::Tape;
    use crate::ops::conv1d::conv1d;
    use crate::ops::testutil::{check, rand, weighted_sum};

    #[test]
    fn column_conv_max_gradcheck() {
        // 11 filters: two full f64 vectors of 4 and a tail of 3. Widths from 1 to L (one
        // position only).
        for w in [1, 2, 3, 5] {
            let x = rand(&[2, 5, 3], 81);
            let wt = rand(&[11, w], 82 + w as u64);
            let b = rand(&[11], 88);
            check(
                |_, v| weighted_sum(column_conv_max(&v[0], &v[1], Some(&v[2]))?, 89),
                &[x.clone(), wt.clone(), b],
            );
            check(
                |_, v| weighted_sum(column_conv_max(&v[0], &v[1], None)?, 90),
                &[x, wt],
            );
        }
    }

    /// The fused op against its definition written with other ops: for every column `r`,
    /// `max_axis(relu(conv1d(x[:, :, r])))` with the weight as a one-channel `[F, 1, w]`
    /// filter bank. Values and all three gradients.
    #[test]
    fn column_conv_max_equals_conv1d_relu_max_per_column() {
        // 9 samples: weight-gradient groups of 4, 4 and 1
        let (b, l, r_n, f, w) = (9, 7, 4, 10, 3);
        let x = rand(&[b, l, r_n], 91);
        let wt = rand(&[f, w], 92);
        let bias = rand(&[f], 93);
        let dy = rand(&[b, r_n, f], 94);
        // fused
        let tape = Tape::<f64>::new();
        let (xv, wv, bv) = (
            tape.leaf(x.clone()),
            tape.leaf(wt.clone()),
            tape.leaf(bias.clone()),
        );
        let y = column_conv_max(&xv, &wv, Some(&bv)).unwrap();
        let y_fused = y.value().unwrap();
        let mut g = tape
            .backward(y.mul(&tape.constant(dy.clone())).unwrap().sum().unwrap())
            .unwrap();
        let fused = [
            g.take(xv).unwrap(),
            g.take(wv).unwrap(),
            g.take(bv).unwrap(),
        ];
        // composed: one conv1d per column, outputs [B, F] stacked to [B, R, F]
        let tape = Tape::<f64>::new();
        let (xv, wv, bv) = (tape.leaf(x), tape.leaf(wt), tape.leaf(bias));
        let w3 = wv.reshape([f, 1, w]).unwrap();
        let cols: Vec<_> = (0..r_n)
            .map(|r| {
                let xr = xv
                    .reshape([b * l, r_n])
                    .unwrap()
                    .slice(1, r, r + 1)
                    .unwrap();
                let z = conv1d(&xr.reshape([b, l, 1]).unwrap(), &w3, Some(&bv)).unwrap();
                z.relu().unwrap().max_axis(1).unwrap()
            })
            .collect();
        let y = Var::stack(&cols, 1).unwrap();
        assert_eq!(y.shape().unwrap(), [b, r_n, f]);
        for (p, q) in y.value().unwrap().as_slice().iter().zip(y_fused.as_slice()) {
            assert_relative_eq!(p, q, max_relative = 1e-14);
        }
        let mut g = tape
            .backward(y.mul(&tape.constant(dy)).unwrap().sum().unwrap())
            .unwrap();
        let composed = [
            g.take(xv).unwrap(),
            g.take(wv).unwrap(),
            g.take(bv).unwrap(),
        ];
        for (name, (p, q)) in ["dx", "dW", "dbias"]
            .iter()
            .zip(fused.iter().zip(&composed))
        {
            for (a, c) in p.as_slice().iter().zip(q.as_slice()) {
                assert_relative_eq!(a, c, epsilon = 1e-15, max_relative = 1e-13);
            }
            assert!(p.as_slice().iter().any(|&v| v != 0.0), "{name} is all zero");
        }
    }

    /// RelGAN's sizes (300 filters, 64 columns) on 9 samples (weight-gradient groups of 4, 4
    /// and 1), large enough to run in parallel: the value and all three gradients are the
    /// same bits on 1, 2 and 7 threads.
    #[test]
    fn column_conv_max_gives_the_same_bits_on_1_2_and_7_threads() {
        let x = rand(&[9, 20, 64], 95).cast::<f32>();
        let wt = rand(&[300, 3], 96).cast::<f32>();
        let bias = rand(&[300], 97).cast::<f32>();
        let dy = rand(&[9, 64, 300], 98).cast::<f32>();
        let run = |threads: usize| {
            gumbel_tensor::parallel::with_threads(threads, || {
                let tape = Tape::<f32>::new();
                let (xv, wv, bv) = (
                    tape.leaf(x.clone()),
                    tape.leaf(wt.clone()),
                    tape.leaf(bias.clone()),
                );
                let y = column_conv_max(&xv, &wv, Some(&bv)).unwrap();
                let yv = (*y.value().unwrap()).clone();
                let loss = y.mul(&tape.constant(dy.clone())).unwrap().sum().unwrap();
                let mut g = tape.backward(loss).unwrap();
                let bits = |t: Tensor<f32>| t.as_slice().iter().map(|v| v.to_bits()).collect();
                let out: Vec<Vec<u32>> = vec![
                    bits(yv),
                    bits(g.take(xv).unwrap()),
                    bits(g.take(wv).unwrap()),
                    bits(g.take(bv).unwrap()),
                ];
                out
            })
            .unwrap()
        };
        let one = run(1);
        assert!(one[2].iter().any(|&b| b != 0), "dW is all zero");
        for threads in [2, 7] {
            assert!(run(threads) == one, "{threads} threads differ from 1");
        }
    }

    /// The SIMD forward against its scalar twin, on filter counts with and without a tail:
    /// the same bits where the target fuses `mul_add` (both sides then make the same
    /// roundings), within rounding elsewhere.
    fn simd_matches_scalar<T: Element>() {
        for (f, w) in [(37, 2), (16, 5), (3, 1)] {
            let d = Dims {
                len: 9,
                cols: 5,
                filters: f,
                width: w,
            };
            let x: Vec<T> = rand(&[9 * 5], 95)
                .as_slice()
                .iter()
                .map(|&v| T::from_f64(v))
                .collect();
            let wv: Vec<T> = rand(&[f * w], 96)
                .as_slice()
                .iter()
                .map(|&v| T::from_f64(v))
                .collect();
            let b: Vec<T> = rand(&[f], 97)
                .as_slice()
                .iter()
                .map(|&v| T::from_f64(v * 0.3))
                .collect();
            let wt = kernel::transpose_weight(&wv, f, w);
            let (mut y0, mut y1) = (vec![T::ZERO; 5 * f], vec![T::ZERO; 5 * f]);
            let (mut a0, mut a1) = (vec![0u32; 5 * f], vec![0u32; 5 * f]);
            kernel::scalar::forward(d, &x, &wt, &b, &mut y0, &mut a0);
            kernel::simd::forward(d, &x, &wt, &b, &mut y1, &mut a1);
            assert!(y0.iter().any(|&v| v > T::ZERO) && y0.contains(&T::ZERO));
            if cfg!(target_feature = "fma") {
                assert_eq!(y0, y1);
                assert_eq!(a0, a1);
            } else {
                for (p, q) in y0.iter().zip(&y1) {
                    assert_relative_eq!(
                        p.to_f64(),
                        q.to_f64(),
                        epsilon = 1e-6,
                        max_relative = 1e-5
                    );
                }
            }
        }
    }

    #[test]
    fn simd_forward_matches_scalar_f32() {
        simd_matches_scalar::<f32>();
    }

    #[test]
    fn simd_forward_matches_scalar_f64() {
        simd_matches_scalar::<f64>();
    }

    #[test]
    fn column_conv_max_shape_errors() {
        let tape = Tape::<f32>::new();
        let x = tape.leaf(Tensor::zeros([2, 3, 4]));
        let w = tape.leaf(Tensor::zeros([5, 4]));
        let msg = column_conv_max(&x, &w, None).unwrap_err().to_string();
        assert!(msg.contains("[2, 3, 4]") && msg.contains("[5, 4]"), "{msg}");
        let w = tape.leaf(Tensor::zeros([5, 1, 2]));
        assert!(
            column_conv_max(&x, &w, None)
                .unwrap_err()
                .to_string()
                .contains("2-D")
        );
        let w = tape.leaf(Tensor::zeros([5, 2]));
        let b = tape.leaf(Tensor::zeros([4]));
        assert!(
            column_conv_max(&x, &w, Some(&b))
                .unwrap_err()
                .to_string()
                .contains("bias")
        );
        let flat = tape.leaf(Tensor::zeros([2, 3]));
        assert!(
            column_conv_max(&flat, &w, None)
                .unwrap_err()
                .to_string()
                .contains("3-D")
        );
    }
}
