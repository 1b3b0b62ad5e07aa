//! Kernels of `multi_head_attention` for one sample (its `N` slots, every head): plain
//! loops, their own scalar reference. The slot count of a relational memory is tiny (RelGAN:
//! 2), so the `N x N` scores cost nothing next to the `K`- and `V`-long dot products, which
//! the compiler vectorizes.

use gumbel_tensor::Element;

/// The sizes of one attention: `slots` (`N`), `heads` (`H`), `key` (`K`), `value` (`V`). A
/// slot's row of `qkv` holds, per head, `[q (K) | k (K) | v (V)]`; a slot's row of the
/// output holds the heads' `V`-long results one after the other.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub slots: usize,
    pub heads: usize,
    pub key: usize,
    pub value: usize,
}

impl Dims {
    /// Length of one slot's `qkv` row, `H (2K + V)`.
    pub fn qkv_row(&self) -> usize {
        self.heads * self.per_head()
    }
    /// Length of one slot's output row, `H V`.
    pub fn out_row(&self) -> usize {
        self.heads * self.value
    }
    fn per_head(&self) -> usize {
        2 * self.key + self.value
    }
    /// `(q, k, v)` offsets of head `h` of slot `i` in a sample's `qkv`.
    fn qkv_at(&self, i: usize, h: usize) -> (usize, usize, usize) {
        let q = i * self.qkv_row() + h * self.per_head();
        (q, q + self.key, q + 2 * self.key)
    }
}

fn dot<T: Element>(a: &[T], b: &[T]) -> T {
    a.iter().zip(b).fold(T::ZERO, |s, (&x, &y)| s + x * y)
}

/// Forward for one sample: `qkv` is `N` slot rows, `out` is `N` output rows, `probs` is
/// `H x N x N` (the attention weights, kept for the backward). Per head,
/// `P = softmax_row(scale q k^T)`, `out = P v`.
pub fn forward<T: Element>(d: Dims, scale: T, qkv: &[T], probs: &mut [T], out: &mut [T]) {
    let n = d.slots;
    for h in 0..d.heads {
        let p = &mut probs[h * n * n..(h + 1) * n * n];
        for i in 0..n {
            let (qi, _, _) = d.qkv_at(i, h);
            let q = &qkv[qi..qi + d.key];
            let row = &mut p[i * n..(i + 1) * n];
            for (j, s) in row.iter_mut().enumerate() {
                let (_, kj, _) = d.qkv_at(j, h);
                *s = scale * dot(q, &qkv[kj..kj + d.key]);
            }
            let max = row.iter().fold(T::NEG_INFINITY, |m, &s| m.max(s));
            let mut z = T::ZERO;
            for s in row.iter_mut() {
                *s = (*s - max).exp();
                z += *s;
            }
            for s in row.iter_mut() {
                *s /= z;
            }
            let o = &mut out[i * d.out_row() + h * d.value..][..d.value];
            o.fill(T::ZERO);
            for (j, &pij) in row.iter().enumerate() {
                let (_, _, vj) = d.qkv_at(j, h);
                for (oe, &ve) in o.iter_mut().zip(&qkv[vj..vj + d.value]) {
                    *oe += pij * ve;
                }
            }
        }
    }
}

/// Backward for one sample, added into `dqkv`: with `dP = dout v^T`,
/// `dS = P * (dP - sum_row(P * dP))` (softmax's backward),
/// `dq = scale dS k`, `dk = scale dS^T q`, `dv = P^T dout`.
pub fn backward<T: Element>(d: Dims, scale: T, qkv: &[T], probs: &[T], dout: &[T], dqkv: &mut [T]) {
    let n = d.slots;
    let mut dp = vec![T::ZERO; n];
    for h in 0..d.heads {
        let p = &probs[h * n * n..(h + 1) * n * n];
        for i in 0..n {
            let pi = &p[i * n..(i + 1) * n];
            let doi = &dout[i * d.out_row() + h * d.value..][..d.value];
            for (j, dpj) in dp.iter_mut().enumerate() {
                let (_, _, vj) = d.qkv_at(j, h);
                *dpj = dot(doi, &qkv[vj..vj + d.value]);
            }
            let c = dot(pi, &dp);
            let (qi, _, _) = d.qkv_at(i, h);
            for j in 0..n {
                let (_, kj, vj) = d.qkv_at(j, h);
                // dv_j += P_ij dout_i
                for (g, &o) in dqkv[vj..vj + d.value].iter_mut().zip(doi) {
                    *g += pi[j] * o;
                }
                let ds = scale * pi[j] * (dp[j] - c);
                // dq_i += ds k_j, then dk_j += ds q_i
                for e in 0..d.key {
                    let kje = qkv[kj + e];
                    dqkv[qi + e] += ds * kje;
                }
                for e in 0..d.key {
                    let qie = qkv[qi + e];
                    dqkv[kj + e] += ds * qie;
                }
            }
        }
    }
}
