//! Losses: `cross_entropy` from logits against token indices (with an ignore/pad index),
//! and `bce_with_logits`.
//!
//! ## Cross-entropy
//! For logits `x` (rows = tokens, cols = classes) and targets `t`, over the `N` rows whose
//! target is not the ignore index:
//!
//! ```text
//! L = (1/N) sum_i (lse(x_i) - x_i[t_i]),         lse(x_i) = ln sum_j exp(x_ij)
//! dL/dx_ij = (1/N) (softmax(x_i)_j - [j == t_i])   (0 for ignored rows)
//! ```
//! The forward pass computes `exp(x_ij - m_i)` once (`m_i` the row max) and, when a
//! gradient will be needed, stores it in the buffer that becomes the gradient: the backward
//! scales it in place by `scale / sum_j exp(x_ij - m_i)` and subtracts `scale` at the
//! target, with no second pass of `exp`. The buffer has the logits' size, the same as the
//! gradient the backward must produce anyway, so the peak memory does not grow.
//!
//! ## Binary cross-entropy with logits
//! `L = mean(max(x, 0) - x y + ln(1 + e^-|x|))`, `dL/dx = (sigmoid(x) - y) / n`,
//! `dL/dy = -x / n` (targets may be a constant or a value with a gradient).

pub mod kernel;

use gumbel_tensor::ops as k;
use gumbel_tensor::{Element, Error, Result, Tensor, parallel};
use rayon::prelude::*;

use crate::ops::matmul::{matmul_backward, plus_product};
use crate::tape::Var;

/// Rows per block of the fused cross-entropy backward's column sums (the bias gradient of
/// [`Var::linear_cross_entropy`]): a block's rows are added in order, then the blocks.
pub const ROW_BLOCK: usize = 64;

/// The number of rows whose target is not `ignore_index`; `Err` naming `op` if a target is
/// out of range for `cols` classes or every row is ignored.
fn count_targets(
    op: &'static str,
    cols: usize,
    targets: &[usize],
    ignore_index: Option<usize>,
) -> Result<usize> {
    let mut count = 0usize;
    for (i, &t) in targets.iter().enumerate() {
        if Some(t) == ignore_index {
            continue;
        }
        if t >= cols {
            return Err(Error::invalid_argument(
                op,
                format!("row {i}: target {t} is out of range for {cols} classes"),
            ));
        }
        count += 1;
    }
    if count == 0 {
        return Err(Error::invalid_argument(
            op,
            "every target is the ignore index: the mean is undefined",
        ));
    }
    Ok(count)
}

/// The mean over the `count` rows not ignored of `w_i loss_i`, `loss_i = m_i + ln s_i - x_i[t_i]`
/// (the log-sum-exp minus the target's logit), from each row's `(m, s, x[t])`, summed in f64
/// in row order (`w_i = 1` without `weights`). `Err` naming the first row whose loss is not
/// finite (a NaN, a +inf or an all -inf row).
fn mean_loss<T: Element>(
    op: &'static str,
    stats: impl Iterator<Item = (T, T, T)>,
    targets: &[usize],
    weights: Option<&[T]>,
    ignore_index: Option<usize>,
    count: usize,
) -> Result<Tensor<T>> {
    let mut total = 0.0f64;
    for (i, (m, s, xt)) in stats.enumerate() {
        if Some(targets[i]) == ignore_index {
            continue;
        }
        let loss = m + s.ln() - xt;
        if !loss.is_finite() {
            return Err(Error::non_finite(
                op,
                format!("the loss of row {i} (a NaN or infinite logit in this row)"),
                loss.to_f64(),
            ));
        }
        total += weights.map_or(1.0, |w| w[i].to_f64()) * loss.to_f64();
    }
    Ok(Tensor::scalar(T::from_f64(total / count as f64)))
}

impl<'t, T: Element> Var<'t, T> {
    /// Mean cross-entropy of the logits (`self`, viewed as `rows x classes`) against one
    /// target class per row; rows whose target equals `ignore_index` are skipped and not
    /// counted (PyTorch's `F.cross_entropy(..., ignore_index=..)`, reduction `mean`).
    ///
    /// `Err` if `targets.len()` is not the number of rows, a target is out of range, every
    /// row is ignored, or a row's loss is not finite (a NaN logit, or an infinite one).
    ///
    /// ```
    /// # use gumbel_autograd::{Tape, tensor::Tensor};
    /// let tape = Tape::<f64>::new();
    /// // two classes with equal logits: loss ln 2 for either target
    /// let x = tape.leaf(Tensor::new([2, 2], vec![0.0, 0.0, 5.0, 5.0]).unwrap());
    /// let l = x.cross_entropy(&[1, 0], None).unwrap();
    /// assert!((l.item().unwrap() - 2f64.ln()).abs() < 1e-12);
    /// ```
    pub fn cross_entropy(
        &self,
        targets: &[usize],
        ignore_index: Option<usize>,
    ) -> Result<Var<'t, T>> {
        const OP: &str = "cross_entropy";
        let x = self.value()?;
        let (rows, cols) = (x.rows(), x.cols());
        if x.rank() == 0 || targets.len() != rows {
            return Err(Error::invalid_argument(
                OP,
                format!(
                    "logits {:?} have {rows} rows but {} targets were given",
                    x.shape(),
                    targets.len()
                ),
            ));
        }
        let count = count_targets(OP, cols, targets, ignore_index)?;
        let xs = x.as_slice();
        let ignored = |i: usize| Some(targets[i]) == ignore_index;
        // With a gradient to record, the forward pass stores exp(x - max) per row (the
        // backward turns it into the gradient in place, without a second pass of exp);
        // otherwise it only sums them. Rows: (max, sum of exp).
        let record = self.requires_grad() && self.tape().is_grad_enabled();
        let n = x.numel();
        let mut p: Vec<T> = Vec::with_capacity(if record { n } else { 0 });
        let stats: Vec<(T, T)> = if record {
            // Written row by row without zero-filling first (a 25 MB memset per step for the
            // GAN's logits): every row initialises all of its elements.
            let rows_out =
                parallel::map_rows_mut(&mut p.spare_capacity_mut()[..n], cols, |i, pr| {
                    let row = &xs[i * cols..(i + 1) * cols];
                    if ignored(i) {
                        pr.iter_mut().for_each(|o| {
                            o.write(T::ZERO);
                        });
                        return (T::ZERO, T::ONE);
                    }
                    let m = kernel::simd::max(row);
                    (m, kernel::simd::exp_sum_into_uninit(row, m, pr))
                });
            // SAFETY: `map_rows_mut` called the closure once for every `cols`-long row of the
            // first `n = rows * cols` spare elements, and each call wrote every element of its
            // row (`exp_sum_into_uninit` writes all of `pr`; ignored rows are zero-filled).
            // With `cols == 0` there are no elements (`n == 0`).
            unsafe { p.set_len(n) };
            rows_out
        } else {
            parallel::map_rows(rows, cols, |i| {
                let row = &xs[i * cols..(i + 1) * cols];
                if ignored(i) {
                    return (T::ZERO, T::ONE);
                }
                let m = kernel::simd::max(row);
                (m, kernel::simd::exp_sum(row, m))
            })
        };
        let p = if record {
            Tensor::new(x.shape(), p)?
        } else {
            Tensor::zeros([0])
        };
        let row_stats = stats.iter().enumerate().map(|(i, &(m, s))| {
            (
                m,
                s,
                if ignored(i) {
                    T::ZERO
                } else {
                    xs[i * cols + targets[i]]
                },
            )
        });
        let out = mean_loss(OP, row_stats, targets, None, ignore_index, count)?;
        let targets = targets.to_vec();
        let inv_n = T::ONE / T::from_usize(count);
        let ix = self.id();
        self.push(OP, out, &[*self], move |_, dy, g| {
            let scale = dy.item()? * inv_n;
            let mut dx = p; // exp(x - m) per row, zero on ignored rows
            parallel::for_each_row_mut(dx.as_mut_slice(), cols, |i, d| {
                if Some(targets[i]) != ignore_index {
                    let factor = scale / stats[i].1;
                    kernel::softmax_minus_onehot_in_place(d, factor, targets[i], scale);
                }
            });
            g.add(ix, dx)
        })
    }

    /// `self.linear(w, bias)?.cross_entropy(targets, ignore_index)` as one node: the mean
    /// cross-entropy of the logits `z = x W^T + bias` (`self = x: [N, H]`, `w: [V, H]` in
    /// PyTorch's `nn.Linear` layout, `bias: [V]`) against one target class per row, with
    /// the same value and gradients:
    ///
    /// ```text
    /// dz = (softmax(z) - onehot(t)) / N'      (N' rows not ignored; 0 on ignored rows)
    /// dx = dz W,    dW = dz^T x,    dbias = column sums of dz
    /// ```
    ///
    /// What fusing saves on the MLE step's `[1280, 5000]` logits: the exponentials
    /// `exp(z - max)` overwrite the logits in place (one `[N, V]` buffer instead of two: no
    /// fresh 25.6 MB to write), and the backward pass turns them into `dz` and adds up its
    /// columns in the same pass (the bias gradient needs no pass of its own). The column
    /// sums add the rows of each block of [`ROW_BLOCK`] rows in order, then the blocks in
    /// order: the same bits for any thread count. Against the composed ops the loss, `dx` and
    /// `dW` are bitwise equal and the bias gradient differs by rounding when `N > ROW_BLOCK`
    /// (tested).
    ///
    /// `Err` as [`Var::cross_entropy`], or if `x` and `w` are not 2-D with the same number of
    /// columns, or `bias` is not `[V]`.
    pub fn linear_cross_entropy(
        &self,
        w: &Var<'t, T>,
        bias: Option<&Var<'t, T>>,
        targets: &[usize],
        ignore_index: Option<usize>,
    ) -> Result<Var<'t, T>> {
        self.linear_cross_entropy_weighted(
            "linear_cross_entropy",
            w,
            bias,
            targets,
            None,
            ignore_index,
        )
    }

    /// [`Var::linear_cross_entropy`] with a constant weight per row: over the `N'` rows not
    /// ignored,
    ///
    /// ```text
    /// L  = (1/N') sum_i w_i (lse(z_i) - z_i[t_i])
    /// dz = w_i (softmax(z_i) - onehot(t_i)) / N'
    /// ```
    ///
    /// (no gradient to the weights). With `w_i` a reward this is REINFORCE's surrogate loss
    /// `-(1/N') sum_i r_i ln p(t_i)`, whose gradient is the policy gradient estimate; with
    /// every `w_i = 1` it is the cross-entropy, bit for bit.
    ///
    /// `Err` as [`Var::linear_cross_entropy`], or if `weights` does not have one entry per row
    /// or a weight is not finite.
    pub fn linear_weighted_cross_entropy(
        &self,
        w: &Var<'t, T>,
        bias: Option<&Var<'t, T>>,
        targets: &[usize],
        weights: &[T],
        ignore_index: Option<usize>,
    ) -> Result<Var<'t, T>> {
        const OP: &str = "linear_weighted_cross_entropy";
        if weights.len() != targets.len() {
            return Err(Error::invalid_argument(
                OP,
                format!("{} targets but {} weights", targets.len(), weights.len()),
            ));
        }
        if let Some(i) = weights.iter().position(|w| !w.is_finite()) {
            return Err(Error::non_finite(
                OP,
                format!("the weight of row {i}"),
                weights[i].to_f64(),
            ));
        }
        self.linear_cross_entropy_weighted(OP, w, bias, targets, Some(weights), ignore_index)
    }

    /// The fused node of [`Var::linear_cross_entropy`] (`weights: None`) and
    /// [`Var::linear_weighted_cross_entropy`].
    fn linear_cross_entropy_weighted(
        &self,
        op: &'static str,
        w: &Var<'t, T>,
        bias: Option<&Var<'t, T>>,
        targets: &[usize],
        weights: Option<&[T]>,
        ignore_index: Option<usize>,
    ) -> Result<Var<'t, T>> {
        let (xv, wv) = (self.value()?, w.value()?);
        let (rows, vocab) = match (xv.shape(), wv.shape()) {
            (&[r, h], &[v, hw]) if h == hw => (r, v),
            (xs, ws) => return Err(Error::shape_mismatch(op, xs, ws)),
        };
        let bv = bias.map(|b| b.value()).transpose()?;
        if let Some(b) = &bv
            && b.shape() != [vocab]
        {
            return Err(Error::shape_mismatch(op, b.shape(), &[vocab]));
        }
        if targets.len() != rows {
            return Err(Error::invalid_argument(
                op,
                format!("{rows} rows of x but {} targets", targets.len()),
            ));
        }
        let count = count_targets(op, vocab, targets, ignore_index)?;
        let ignored = |i: usize| Some(targets[i]) == ignore_index;
        // z = x W^T + bias, then row by row exp(z - max) in place, keeping z[target].
        let mut z = match &bv {
            Some(b) => plus_product(b, true, (&xv, false), (&wv, true))?,
            None => k::matmul(&xv, false, &wv, true)?,
        };
        let stats: Vec<(T, T, T)> = parallel::map_rows_mut(z.as_mut_slice(), vocab, |i, row| {
            if ignored(i) {
                row.fill(T::ZERO);
                return (T::ZERO, T::ONE, T::ZERO);
            }
            let m = kernel::simd::max(row);
            let zt = row[targets[i]];
            (m, kernel::simd::exp_sum_in_place(row, m), zt)
        });
        let out = mean_loss(
            op,
            stats.iter().copied(),
            targets,
            weights,
            ignore_index,
            count,
        )?;
        let targets = targets.to_vec();
        let weights = weights.map(<[T]>::to_vec);
        let inv_n = T::ONE / T::from_usize(count);
        let (ix, iw, ib) = (self.id(), w.id(), bias.map(|b| b.id()));
        let mut inputs = vec![*self, *w];
        inputs.extend(bias.copied());
        self.push(op, out, &inputs, move |_, dy, g| {
            let scale = dy.item()? * inv_n;
            let with_bias = ib.is_some_and(|ib| g.wants(ib));
            let mut dz = z; // exp(z - m) per row, zero on ignored rows
            // One pass: each block of rows becomes dz and, for the bias, its column sums.
            let block = |b: usize, d: &mut [T]| -> Vec<T> {
                let mut sums = vec![T::ZERO; if with_bias { vocab } else { 0 }];
                for (r, row) in d.chunks_exact_mut(vocab).enumerate() {
                    let i = b * ROW_BLOCK + r;
                    if Some(targets[i]) != ignore_index {
                        let scale = weights.as_ref().map_or(scale, |w| scale * w[i]);
                        let factor = scale / stats[i].1;
                        kernel::softmax_minus_onehot_in_place(row, factor, targets[i], scale);
                    }
                    if with_bias {
                        sums.iter_mut().zip(row.iter()).for_each(|(s, &v)| *s += v);
                    }
                }
                sums
            };
            let d = dz.as_mut_slice();
            let blocks: Vec<Vec<T>> = if d.len() < parallel::PAR_MIN_ELEMS {
                d.chunks_mut(ROW_BLOCK * vocab)
                    .enumerate()
                    .map(|(b, c)| block(b, c))
                    .collect()
            } else {
                d.par_chunks_mut(ROW_BLOCK * vocab)
                    .enumerate()
                    .map(|(b, c)| block(b, c))
                    .collect()
            };
            matmul_backward(g, &dz, (ix, &xv, false), (iw, &wv, true))?;
            if let (Some(ib), true) = (ib, with_bias) {
                let mut db = vec![T::ZERO; vocab];
                for sums in &blocks {
                    db.iter_mut().zip(sums).for_each(|(s, &v)| *s += v);
                }
                g.add(ib, Tensor::new([vocab], db)?)?;
            }
            Ok(())
        })
    }

    /// Mean binary cross-entropy between `sigmoid(self)` and `targets` (same shape), from
    /// logits (PyTorch's `F.binary_cross_entropy_with_logits`, reduction `mean`).
    ///
    /// Derivative: `dx = (sigmoid(x) - y) / n`, `dy = -x / n`.
    pub fn bce_with_logits(&self, targets: &Var<'t, T>) -> Result<Var<'t, T>> {
        const OP: &str = "bce_with_logits";
        let (x, y) = (self.value()?, targets.value()?);
        x.expect_same_shape(OP, &y)?;
        if x.numel() == 0 {
            return Err(Error::invalid_shape(
                OP,
                x.shape(),
                "the mean of no elements is undefined",
            ));
        }
        let total: f64 = x
            .as_slice()
            .iter()
            .zip(y.as_slice())
            .map(|(&a, &b)| kernel::bce_with_logits(a, b).to_f64())
            .sum();
        if total.is_nan() {
            return Err(Error::non_finite(
                OP,
                "the loss (a NaN logit or target)",
                total,
            ));
        }
        let n = x.numel();
        let out = Tensor::scalar(T::from_f64(total / n as f64));
        let (ix, iy) = (self.id(), targets.id());
        let inv_n = T::ONE / T::from_usize(n);
        self.push(OP, out, &[*self, *targets], move |_, dl, g| {
            let s = dl.item()? * inv_n;
            let (xs, ys) = (x.as_slice(), y.as_slice());
            if g.wants(iy) {
                let d = xs.iter().map(|&a| -a * s).collect();
                g.add(iy, Tensor::new(x.shape(), d)?)?;
            }
            if g.wants(ix) {
                let d = xs
                    .iter()
                    .zip(ys)
                    .map(|(&a, &b)| (kernel::sigmoid(a) - b) * s)
                    .collect();
                g.add(ix, Tensor::new(x.shape(), d)?)?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::Tape;
    use crate::ops::testutil::{TestRng, check, rand_in};
    use approx::{abs_diff_eq, assert_abs_diff_eq};
    use gumbel_tensor::Tensor;

    /// Targets in `0..classes`, with every `ignore_every`-th row set to the ignore index 0.
    fn targets(rows: usize, classes: usize, seed: u64, ignore_every: usize) -> Vec<usize> {
        let mut r = TestRng::new(seed);
        (0..rows)
            .map(|i| {
                if i % ignore_every == 1 {
                    0
                } else {
                    1 + (r.next_u64() % (classes as u64 - 1)) as usize
                }
            })
            .collect()
    }

    #[test]
    fn linear_cross_entropy_gradcheck() {
        let (rows, h, v) = (5, 3, 7);
        let t = targets(rows, v, 63, 3);
        let (x, w, b) = (
            rand_in(&[rows, h], 64, -2.0, 2.0),
            rand_in(&[v, h], 65, -2.0, 2.0),
            rand_in(&[v], 66, -1.0, 1.0),
        );
        check(
            |_, p| p[0].linear_cross_entropy(&p[1], Some(&p[2]), &t, Some(0)),
            &[x.clone(), w.clone(), b],
        );
        check(
            |_, p| p[0].linear_cross_entropy(&p[1], None, &t, None),
            &[x, w],
        );
    }

    #[test]
    fn linear_weighted_cross_entropy_gradcheck() {
        let (rows, h, v) = (6, 3, 5);
        let t = targets(rows, v, 71, 4);
        // rewards of both signs, a zero one, and one on an ignored row (row 1: no effect)
        let weights = [0.7, 3.0, -1.2, 0.0, 2.5, 0.3];
        let (x, w, b) = (
            rand_in(&[rows, h], 72, -2.0, 2.0),
            rand_in(&[v, h], 73, -2.0, 2.0),
            rand_in(&[v], 74, -1.0, 1.0),
        );
        check(
            |_, p| p[0].linear_weighted_cross_entropy(&p[1], Some(&p[2]), &t, &weights, Some(0)),
            &[x, w, b],
        );
    }

    /// The weighted loss against its definition composed from other ops, one row at a time:
    /// `(1/N') sum_i w_i CE(z_i, t_i)`, in value and in the gradients of `x` and `W`; and
    /// unit weights give the unweighted node bit for bit.
    #[test]
    fn linear_weighted_cross_entropy_is_the_weighted_mean_of_row_losses() {
        let (rows, h, v) = (7, 4, 9);
        let t = targets(rows, v, 75, 3);
        let weights: Vec<f64> = (0..rows).map(|i| 0.25 * i as f64 - 0.5).collect();
        let (x, w) = (
            rand_in(&[rows, h], 76, -2.0, 2.0),
            rand_in(&[v, h], 77, -2.0, 2.0),
        );
        let run = |fused: bool| {
            let tape = Tape::<f64>::new();
            let (xv, wv) = (tape.leaf(x.clone()), tape.leaf(w.clone()));
            let l = if fused {
                xv.linear_weighted_cross_entropy(&wv, None, &t, &weights, Some(0))
                    .unwrap()
            } else {
                let kept = t.iter().filter(|&&k| k != 0).count() as f64;
                let z = xv.linear(&wv, None).unwrap();
                let mut total: Option<crate::Var<'_, f64>> = None;
                for i in (0..rows).filter(|&i| t[i] != 0) {
                    let zi = z.slice(0, i, i + 1).unwrap();
                    let li = zi.cross_entropy(&t[i..i + 1], None).unwrap();
                    let li = li.scale(weights[i] / kept).unwrap();
                    total = Some(match total {
                        Some(s) => s.add(&li).unwrap(),
                        None => li,
                    });
                }
                total.unwrap()
            };
            let loss = l.item().unwrap();
            let g = tape.backward(l).unwrap();
            let grad = |v| g.get(v).unwrap().as_slice().to_vec();
            (loss, grad(xv), grad(wv))
        };
        let (fused, composed) = (run(true), run(false));
        approx::assert_relative_eq!(fused.0, composed.0, max_relative = 1e-12);
        for (a, b) in fused
            .1
            .iter()
            .chain(&fused.2)
            .zip(composed.1.iter().chain(&composed.2))
        {
            approx::assert_relative_eq!(*a, *b, max_relative = 1e-10, epsilon = 1e-14);
        }
        // unit weights: the cross-entropy node itself
        let tape = Tape::<f64>::new();
        let (xv, wv) = (tape.leaf(x.clone()), tape.leaf(w.clone()));
        let ones = vec![1.0; rows];
        let a = xv
            .linear_weighted_cross_entropy(&wv, None, &t, &ones, Some(0))
            .unwrap();
        let b = xv.linear_cross_entropy(&wv, None, &t, Some(0)).unwrap();
        assert_eq!(a.item().unwrap().to_bits(), b.item().unwrap().to_bits());
        // errors: the count of weights, a NaN weight
        let msg = xv
            .linear_weighted_cross_entropy(&wv, None, &t, &ones[1..], Some(0))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("7 targets but 6 weights"), "{msg}");
        let mut nan = ones.clone();
        nan[3] = f64::NAN;
        let msg = xv
            .linear_weighted_cross_entropy(&wv, None, &t, &nan, Some(0))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("weight of row 3"), "{msg}");
    }

    /// The fused op and the composed `linear` + `cross_entropy`: value and gradients, f32,
    /// on `rows` rows (more than one block of the bias gradient's column sums when
    /// `rows > ROW_BLOCK`). Returns (loss, dx, dW, db) of each.
    fn fused_and_composed(rows: usize, h: usize, v: usize) -> [[Vec<f32>; 4]; 2] {
        let t = targets(rows, v, 67, 5);
        let data = |shape: &[usize], seed| rand_in(shape, seed, -2.0, 2.0).cast::<f32>();
        let (x, w, b) = (data(&[rows, h], 68), data(&[v, h], 69), data(&[v], 70));
        [true, false].map(|fused| {
            let tape = Tape::<f32>::new();
            let (xv, wv, bv) = (
                tape.leaf(x.clone()),
                tape.leaf(w.clone()),
                tape.leaf(b.clone()),
            );
            let l = if fused {
                xv.linear_cross_entropy(&wv, Some(&bv), &t, Some(0))
            } else {
                xv.linear(&wv, Some(&bv))
                    .and_then(|z| z.cross_entropy(&t, Some(0)))
            }
            .unwrap();
            let loss = l.item().unwrap();
            let g = tape.backward(l).unwrap();
            let grad = |v| g.get(v).unwrap().as_slice().to_vec();
            [vec![loss], grad(xv), grad(wv), grad(bv)]
        })
    }

    #[test]
    fn linear_cross_entropy_equals_the_composed_ops() {
        let bits = |v: &Vec<f32>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        // One block of rows: every result bitwise equal, the bias gradient included (its
        // rows are added in the same order as sum_rows adds them).
        let [f, c] = fused_and_composed(super::ROW_BLOCK, 8, 300);
        for k in 0..4 {
            assert_eq!(bits(&f[k]), bits(&c[k]), "result {k}");
        }
        // Several blocks (the logits' shape takes the bias-in-product path): the loss, dx and
        // dW bitwise; the bias gradient within the summation bound (rows - 1) u sum |dz|,
        // with |dz| <= 1 / N' per entry: (rows - 1) u rows / N' <= rows u (N' >= rows / 2).
        let [f, c] = fused_and_composed(300, 16, 500);
        for k in 0..3 {
            assert_eq!(bits(&f[k]), bits(&c[k]), "result {k}");
        }
        let tol = 2.0 * 300.0 * f32::EPSILON;
        for (a, b) in f[3].iter().zip(&c[3]) {
            assert!(abs_diff_eq!(a, b, epsilon = tol), "{a} vs {b}");
        }
    }

    #[test]
    fn linear_cross_entropy_same_bits_for_1_2_7_threads_and_errors() {
        let run = |threads| {
            gumbel_tensor::parallel::with_threads(threads, || fused_and_composed(300, 16, 500))
                .unwrap()
        };
        let one = run(1);
        for threads in [2, 7] {
            assert!(run(threads) == one, "{threads} threads");
        }
        let tape = Tape::<f32>::new();
        let x = tape.leaf(Tensor::zeros([2, 3]));
        let w = tape.leaf(Tensor::zeros([4, 2]));
        let msg = x
            .linear_cross_entropy(&w, None, &[0, 1], None)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("[2, 3]") && msg.contains("[4, 2]"), "{msg}");
        let w = tape.leaf(Tensor::zeros([4, 3]));
        let b = tape.leaf(Tensor::zeros([3]));
        let msg = x
            .linear_cross_entropy(&w, Some(&b), &[0, 1], None)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("[3]") && msg.contains("[4]"), "{msg}");
        let msg = x
            .linear_cross_entropy(&w, None, &[0, 4], None)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("row 1: target 4"), "{msg}");
    }

    #[test]
    fn cross_entropy_gradcheck_with_ignore_index() {
        let (rows, classes) = (6, 5);
        let x = rand_in(&[rows, classes], 61, -3.0, 3.0);
        let mut r = TestRng::new(62);
        let mut targets: Vec<usize> = (0..rows)
            .map(|_| (r.next_u64() % classes as u64) as usize)
            .collect();
        check(
            |_, v| v[0].cross_entropy(&targets, None),
            std::slice::from_ref(&x),
        );
        // pad index 0 on two rows: those rows get zero gradient and are not counted
        targets[1] = 0;
        targets[4] = 0;
        check(
            |_, v| v[0].cross_entropy(&targets, Some(0))?.scale(3.0),
            std::slice::from_ref(&x),
        );
        let tape = Tape::new();
        let xv = tape.leaf(x);
        let l = xv.cross_entropy(&targets, Some(0)).unwrap();
        let g = tape.backward(l).unwrap();
        let g = g.get(xv).unwrap();
        assert!(g.row(1).iter().chain(g.row(4)).all(|&v| v == 0.0));
    }

    #[test]
    fn cross_entropy_matches_log_softmax_composition() {
        // mean_i -log_softmax(x)_i[t_i], composed from other ops, in value and gradient: on
        // a small shape, and on one large enough for the row-parallel (uninitialised
        // buffer) path, with ignored rows, on 1, 2 and 7 threads
        for (rows, cols) in [(4, 7), (64, 1000)] {
            let x = rand_in(&[rows, cols], 63, -2.0, 2.0);
            let targets: Vec<usize> = (0..rows).map(|i| (i * 37 + 3) % cols).collect();
            let pad = if rows > 4 { Some(targets[5]) } else { None };
            let count = targets.iter().filter(|&&t| Some(t) != pad).count() as f64;
            let onehot = Tensor::from_fn([rows, cols], |k| {
                let t = targets[k / cols];
                if t == k % cols && Some(t) != pad {
                    -1.0 / count
                } else {
                    0.0
                }
            });
            let fused = || {
                let tape = Tape::new();
                let v = tape.leaf(x.clone());
                let l = v.cross_entropy(&targets, pad).unwrap();
                let val = l.item().unwrap();
                (val, tape.backward(l).unwrap().get(v).unwrap().clone())
            };
            let tape = Tape::new();
            let v = tape.leaf(x.clone());
            let w = tape.constant(onehot);
            let l = v.log_softmax().unwrap().mul(&w).unwrap().sum().unwrap();
            let (b, gb) = (
                l.item().unwrap(),
                tape.backward(l).unwrap().get(v).unwrap().clone(),
            );
            for threads in [1, 2, 7] {
                let (a, ga) = gumbel_tensor::parallel::with_threads(threads, fused).unwrap();
                // same math, different summation order and exp polynomials: a few ulp of
                // values of order 1 (the loss sums up to 64 terms of ~7)
                assert!(abs_diff_eq!(a, b, epsilon = 1e-13), "{a} vs {b}");
                assert!(ga.max_abs_diff(&gb) < 1e-15, "{threads} threads");
            }
        }
    }

    #[test]
    fn cross_entropy_without_a_gradient_gives_the_same_loss() {
        // the no-grad path sums exp without storing it, in the same order: same bits
        let x = rand_in(&[3, 37], 66, -4.0, 4.0);
        let tape = Tape::new();
        let a = tape
            .leaf(x.clone())
            .cross_entropy(&[0, 36, 5], None)
            .unwrap();
        let b = tape.constant(x).cross_entropy(&[0, 36, 5], None).unwrap();
        assert!(a.requires_grad() && !b.requires_grad());
        assert_eq!(a.item().unwrap().to_bits(), b.item().unwrap().to_bits());
    }

    #[test]
    fn cross_entropy_errors() {
        let tape = Tape::<f32>::new();
        let x = tape.leaf(Tensor::zeros([2, 3]));
        assert!(
            x.cross_entropy(&[0], None)
                .unwrap_err()
                .to_string()
                .contains("2 rows")
        );
        assert!(
            x.cross_entropy(&[0, 3], None)
                .unwrap_err()
                .to_string()
                .contains("row 1: target 3")
        );
        assert!(
            x.cross_entropy(&[2, 2], Some(2))
                .unwrap_err()
                .to_string()
                .contains("ignore")
        );
        let nan = tape.leaf(Tensor::new([1, 2], vec![f32::NAN, 0.0]).unwrap());
        assert!(
            nan.cross_entropy(&[1], None)
                .unwrap_err()
                .to_string()
                .contains("row 0")
        );
        // a NaN or +inf away from the target column is caught too (the exp polynomial
        // maps NaN to 0, so the row max checks for NaN), with and without a gradient
        for bad in [f32::NAN, f32::INFINITY] {
            let row: Vec<f32> = (0..40)
                .map(|j| if j == 37 { bad } else { j as f32 * 0.1 })
                .collect();
            let t = Tensor::new([1, 40], row).unwrap();
            for x in [tape.leaf(t.clone()), tape.constant(t)] {
                assert!(
                    x.cross_entropy(&[0], None)
                        .unwrap_err()
                        .to_string()
                        .contains("row 0")
                );
            }
        }
    }

    #[test]
    fn bce_with_logits_gradcheck_including_targets() {
        let x = rand_in(&[5, 1], 64, -4.0, 4.0);
        let y = rand_in(&[5, 1], 65, 0.0, 1.0);
        check(|_, v| v[0].bce_with_logits(&v[1]), &[x, y]);
    }

    #[test]
    fn bce_with_logits_by_hand() {
        // x = 0 -> ln 2 for any target; x = 2, y = 1 -> ln(1 + e^-2)
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::new([2], vec![0.0, 2.0]).unwrap());
        let y = tape.constant(Tensor::new([2], vec![0.3, 1.0]).unwrap());
        let l = x.bce_with_logits(&y).unwrap();
        let want = (2f64.ln() + (1.0 + (-2f64).exp()).ln()) / 2.0;
        assert_abs_diff_eq!(l.item().unwrap(), want, epsilon = 1e-15);
        let bad = tape.constant(Tensor::zeros([3]));
        assert!(
            x.bce_with_logits(&bad)
                .unwrap_err()
                .to_string()
                .contains("[3]")
        );
    }
}
