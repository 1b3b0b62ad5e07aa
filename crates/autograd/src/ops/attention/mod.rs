//! `multi_head_attention`: scaled dot-product attention among the slots of each sample, for
//! every head, as one node (the attention of a relational memory core, Santoro et al. 2018,
//! as RelGAN's generator uses it).
//!
//! Input `qkv: [B, N, H (2K + V)]`: for each sample `b`, slot `i` and head `h`, the query
//! `q_i` and key `k_i` (`K` each) and value `v_i` (`V`) side by side, heads one after the
//! other (PyTorch's `qkv.view(B, N, H, 2K + V)` split into `[K, K, V]`). Output
//! `[B, N, H V]`, head `h` of slot `i` at columns `h V .. (h + 1) V`:
//!
//! ```text
//! S_ij = scale q_i . k_j          P = softmax over j of S       out_i = sum_j P_ij v_j
//! ```
//!
//! Derivative, per sample and head (`dout` given):
//!
//! ```text
//! dP_ij = dout_i . v_j
//! dS_ij = P_ij (dP_ij - sum_j' P_ij' dP_ij')        (softmax's backward, row i)
//! dq_i  = scale sum_j dS_ij k_j
//! dk_j  = scale sum_i dS_ij q_i
//! dv_j  = sum_i P_ij dout_i
//! ```
//!
//! The backward keeps the `H N N` attention weights of every sample. Samples are
//! independent: the kernels run one sample per row, in parallel, with the same bits for any
//! thread count.

pub mod kernel;

use gumbel_tensor::{Element, Error, Result, Tensor, parallel};

use crate::tape::Var;
pub use kernel::Dims;

impl<'t, T: Element> Var<'t, T> {
    /// Multi-head scaled dot-product attention among the `N` slots of each sample of
    /// `self = qkv: [B, N, heads (2 key + value)]`; returns `[B, N, heads value]`. See the
    /// module docs for the layout and the derivative. `Err` if `qkv` is not 3-D with that
    /// last axis, a size is zero, or `scale` is not finite.
    pub fn multi_head_attention(
        &self,
        heads: usize,
        key: usize,
        value: usize,
        scale: T,
    ) -> Result<Var<'t, T>> {
        const OP: &str = "multi_head_attention";
        let x = self.value()?;
        let [b, n, row] = *x.shape() else {
            return Err(Error::invalid_shape(
                OP,
                x.shape(),
                "qkv must be 3-D [batch, slots, heads * (2 key + value)]",
            ));
        };
        let d = Dims {
            slots: n,
            heads,
            key,
            value,
        };
        if heads == 0 || key == 0 || value == 0 || n == 0 || row != d.qkv_row() {
            return Err(Error::invalid_shape(
                OP,
                x.shape(),
                format!(
                    "the last axis must be heads {heads} x (2 x key {key} + value {value}) = {} \
                     with every size and the slot count > 0",
                    d.qkv_row()
                ),
            ));
        }
        if !scale.is_finite() {
            return Err(Error::invalid_argument(
                OP,
                format!("scale must be finite, got {}", scale.to_f64()),
            ));
        }
        let mut out = Tensor::zeros([b, n, d.out_row()]);
        let qkv = x.as_slice();
        let (in_cols, out_cols) = (n * row, n * d.out_row());
        // One sample per row; each returns its `H N N` attention weights.
        let probs: Vec<Vec<T>> = parallel::map_rows_mut(out.as_mut_slice(), out_cols, |s, o| {
            let mut p = vec![T::ZERO; heads * n * n];
            kernel::forward(d, scale, &qkv[s * in_cols..(s + 1) * in_cols], &mut p, o);
            p
        });
        let ix = self.id();
        self.push(OP, out, &[*self], move |_, dout, g| {
            if let Some(dx) = g.slot(ix) {
                let dos = dout.as_slice();
                let qkv = x.as_slice();
                parallel::for_each_row_mut(dx.as_mut_slice(), in_cols, |s, dq| {
                    let (qs, os) = (s * in_cols, s * out_cols);
                    let (q, o) = (&qkv[qs..qs + in_cols], &dos[os..os + out_cols]);
                    kernel::backward(d, scale, q, &probs[s], o, dq);
                });
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use approx::assert_relative_eq;
    use gumbel_tensor::Tensor;

    use crate::Tape;
    use crate::ops::testutil::{check, rand_in, weighted_sum};

    #[test]
    fn attention_gradcheck() {
        // 2 samples, 3 slots, 2 heads, key 2, value 3: every index of the layout distinct.
        let x = rand_in(&[2, 3, 2 * (2 * 2 + 3)], 71, -1.5, 1.5);
        check(
            |_, v| weighted_sum(v[0].multi_head_attention(2, 2, 3, 0.7)?, 72),
            std::slice::from_ref(&x),
        );
        // One slot: the weights are 1 and the output is v (q and k get no gradient).
        let x1 = rand_in(&[3, 1, 5], 73, -1.0, 1.0);
        check(
            |_, v| weighted_sum(v[0].multi_head_attention(1, 1, 3, 2.0)?, 74),
            &[x1],
        );
    }

    /// The op against the formula written out for one head of two slots.
    #[test]
    fn attention_by_hand() {
        // slots 0 and 1, key 1, value 2: q = (1, 0), k = (2, -1), v = ((1, 2), (3, 5))
        let tape = Tape::<f64>::new();
        let qkv = vec![1.0, 2.0, 1.0, 2.0, 0.0, -1.0, 3.0, 5.0];
        let x = tape.constant(Tensor::new([1, 2, 4], qkv).unwrap());
        let y = x
            .multi_head_attention(1, 1, 2, 0.5)
            .unwrap()
            .value()
            .unwrap();
        // slot 0: scores 0.5 * 1 * (2, -1) = (1, -0.5); slot 1: q = 0, scores (0, 0)
        let p0 = 1.0 / (1.0 + (-1.5f64).exp());
        let want = [
            p0 * 1.0 + (1.0 - p0) * 3.0,
            p0 * 2.0 + (1.0 - p0) * 5.0,
            2.0,
            3.5,
        ];
        for (g, w) in y.as_slice().iter().zip(want) {
            assert_relative_eq!(*g, w, max_relative = 1e-15);
        }
    }

    #[test]
    fn attention_rejects_bad_shapes() {
        let tape = Tape::<f32>::new();
        let x = tape.leaf(Tensor::zeros([2, 3, 10]));
        let msg = x
            .multi_head_attention(2, 2, 2, 1.0)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("multi_head_attention") && msg.contains("[2, 3, 10]"),
            "{msg}"
        );
        assert!(
            x.multi_head_attention(1, 3, 4, f32::NAN)
                .unwrap_err()
                .to_string()
                .contains("scale")
        );
        let flat = tape.leaf(Tensor::zeros([2, 10]));
        assert!(flat.multi_head_attention(1, 3, 4, 1.0).is_err());
    }
}
