//! The oracle LSTM's forward pass over a block of sequences ([`Oracle::run_block`]) and
//! its element kernels: gate nonlinearities in place, `y += a x`, and the log-sum-exp that
//! scoring uses. See the parent module for the math.

use gumbel_tensor::ops::matmul::{self, Dims};
use gumbel_tensor::ops::reduce;
use gumbel_tensor::{Element, SimdFloat};

use super::{BLOCK_ROWS, Oracle, START_TOKEN};
use crate::data::Token;

impl<T: Element> Oracle<T> {
    /// Runs the LSTM for `len` steps over the `ws.live` sequences of a block. At step `t`
    /// (0-based), after computing row `r`'s logits, calls `next(t, r, logits_row)`, which
    /// returns that row's token `y_t` (given when scoring, drawn when sampling); `emb[y_t]`
    /// is the next input. The logits row may be overwritten by `next` (the sampler stores
    /// exponentials in it).
    ///
    /// Every block has [`BLOCK_ROWS`] rows: rows past `ws.live` are dummies fed the start
    /// token, and `next` is not called for them. gemm's rounding can depend on the number of
    /// rows of a product (its edge tiles take other paths), so fixed-size blocks make a
    /// sequence's numbers depend only on its tokens and its index modulo [`BLOCK_ROWS`]: the
    /// first `k` sequences of a draw of `n` are the draw of `k`, and scoring a prefix of a set
    /// gives the same per-sequence values.
    pub(super) fn run_block(
        &self,
        ws: &mut Workspace<T>,
        len: usize,
        mut next: impl FnMut(usize, usize, &mut [T]) -> Token,
    ) {
        let (e, h, v, h4, rows) = (
            self.emb,
            self.hidden,
            self.vocab,
            4 * self.hidden,
            BLOCK_ROWS,
        );
        ws.h.fill(T::ZERO);
        ws.c.fill(T::ZERO);
        ws.prev.fill(START_TOKEN);
        for t in 0..len {
            // gates = b + x W_x + h W_h, all four gates at once ([rows, 4h]).
            for r in 0..rows {
                let x = &self.embedding[ws.prev[r] as usize * e..][..e];
                let g = &mut ws.gates[r * h4..][..h4];
                g.copy_from_slice(&self.b);
                for (k, &xk) in x.iter().enumerate() {
                    axpy(xk, &self.w_x[k * h4..][..h4], g);
                }
                for (k, &hk) in ws.h[r * h..][..h].iter().enumerate() {
                    axpy(hk, &self.w_h[k * h4..][..h4], g);
                }
                // i, f, o = sigma(.), g = tanh(.), in place; then c and h.
                sigmoid_in_place(&mut g[..3 * h]);
                tanh_in_place(&mut g[3 * h..]);
                let (c, hr) = (&mut ws.c[r * h..][..h], &mut ws.h[r * h..][..h]);
                for j in 0..h {
                    c[j] = g[h + j] * c[j] + g[j] * g[3 * h + j];
                    hr[j] = c[j];
                }
                tanh_in_place(hr);
                for j in 0..h {
                    hr[j] *= g[2 * h + j];
                }
            }
            // z = h W_out + b_out ([rows, vocab]): the bias rows, then gemm adds the product
            // (out = 1 * h @ W_out + 1 * out), i.e. (sum_k h_k W_kj) + b_j as TF computes it.
            for z in ws.logits.chunks_exact_mut(v) {
                z.copy_from_slice(&self.out_b);
            }
            let d = Dims {
                m: rows,
                k: h,
                n: v,
                trans_a: false,
                trans_b: false,
            };
            matmul::simd::matmul(d, &ws.h, &self.out_w, T::ONE, T::ONE, &mut ws.logits);
            for r in 0..ws.live {
                ws.prev[r] = next(t, r, &mut ws.logits[r * v..][..v]);
            }
        }
    }
}

/// Scratch buffers of one block of [`BLOCK_ROWS`] rows, of which the first `live` hold
/// sequences.
pub(super) struct Workspace<T> {
    pub(super) live: usize,
    pub(super) h: Vec<T>,
    pub(super) c: Vec<T>,
    gates: Vec<T>,
    logits: Vec<T>,
    prev: Vec<Token>,
}

impl<T: Element> Workspace<T> {
    pub(super) fn new(o: &Oracle<T>, live: usize) -> Self {
        debug_assert!(live <= BLOCK_ROWS);
        let rows = BLOCK_ROWS;
        Workspace {
            live,
            h: vec![T::ZERO; rows * o.hidden],
            c: vec![T::ZERO; rows * o.hidden],
            gates: vec![T::ZERO; rows * 4 * o.hidden],
            logits: vec![T::ZERO; rows * o.vocab],
            prev: vec![START_TOKEN; rows],
        }
    }
}

/// `x = 1 / (1 + exp(-x))` elementwise: SIMD `exp` over whole vectors, std `exp` on the
/// tail. (A position always takes the same path, so results do not depend on batching.)
fn sigmoid_in_place<T: Element>(x: &mut [T]) {
    let l = T::LANES;
    let body = x.len() / l * l;
    let one = T::Simd::splat(T::ONE);
    for c in x[..body].chunks_exact_mut(l) {
        let v = T::Simd::load(c);
        (one / (one + (-v).exp())).store(c);
    }
    // tail
    for v in &mut x[body..] {
        *v = T::ONE / (T::ONE + (-*v).exp());
    }
}

/// `x = tanh(x)` elementwise: SIMD `tanh` over whole vectors, std `tanh` on the tail.
fn tanh_in_place<T: Element>(x: &mut [T]) {
    let l = T::LANES;
    let body = x.len() / l * l;
    for c in x[..body].chunks_exact_mut(l) {
        T::Simd::load(c).tanh().store(c);
    }
    // tail
    for v in &mut x[body..] {
        *v = v.tanh();
    }
}

/// `y += a * x` (plain loop; the compiler vectorises it).
#[inline]
fn axpy<T: Element>(a: T, x: &[T], y: &mut [T]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// `ln sum_j exp(x_j)`, computed as `m + ln sum_j exp(x_j - m)` with `m = max x`
/// (so no exponential overflows and the largest term is 1). SIMD `exp` with 4 independent
/// accumulators, a fixed-order reduction, then the scalar tail.
///
/// Not `gumbel_tensor::ops::reduce::simd::logsumexp`: that kernel sums whole vectors left
/// over after the blocks of four into one accumulator and pads the tail with `-inf`, this
/// one adds the tail in scalar arithmetic; both are exact to a few ulps, but NLL_oracle
/// values published from this code (docs/results.md) fix this order's bits.
pub fn log_sum_exp<T: Element>(x: &[T]) -> T {
    let m = reduce::simd::max(x);
    let l = T::LANES;
    let mv = T::Simd::splat(m);
    let zero = T::Simd::splat(T::ZERO);
    let mut acc = [zero; 4];
    let body = x.len() / (4 * l) * (4 * l);
    for c in x[..body].chunks_exact(4 * l) {
        for v in 0..4 {
            acc[v] += (T::Simd::load(&c[v * l..]) - mv).exp();
        }
    }
    let mut s = ((acc[0] + acc[1]) + (acc[2] + acc[3])).reduce_add();
    // tail
    for &v in &x[body..] {
        s += (v - m).exp();
    }
    m + s.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg_fill(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                gumbel_tensor::random::unit_f64(s) * 4.0 - 2.0
            })
            .collect()
    }

    #[test]
    fn simd_gate_nonlinearities_match_std() {
        // wide's exp/tanh are polynomial approximations, accurate to a few ulps of values
        // that lie in (0, 1) / (-1, 1) here; the bounds are 8 ulps of 1 (8 * 1.2e-7 for f32,
        // 8 * 2.2e-16 for f64). Lengths cover the SIMD body and the scalar tail.
        for len in [0usize, 1, 3, 4, 7, 8, 9, 33, 128] {
            let x = lcg_fill(len, 7 + len as u64)
                .iter()
                .map(|v| v * 5.0)
                .collect::<Vec<f64>>();
            let (mut s64, mut t64) = (x.clone(), x.clone());
            sigmoid_in_place(&mut s64);
            tanh_in_place(&mut t64);
            let mut s32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let mut t32 = s32.clone();
            sigmoid_in_place(&mut s32);
            tanh_in_place(&mut t32);
            for i in 0..len {
                let (sig, th) = (1.0 / (1.0 + (-x[i]).exp()), x[i].tanh());
                assert!(
                    (s64[i] - sig).abs() < 8.0 * f64::EPSILON,
                    "sigmoid f64 {}",
                    x[i]
                );
                assert!(
                    (t64[i] - th).abs() < 8.0 * f64::EPSILON,
                    "tanh f64 {}",
                    x[i]
                );
                // f32: the input itself is rounded (relative 6e-8, times |d/dx| <= 1).
                assert!(
                    (s32[i] as f64 - sig).abs() < 8.0 * f32::EPSILON as f64 + 1.0e-6,
                    "sigmoid f32 {}",
                    x[i]
                );
                assert!(
                    (t32[i] as f64 - th).abs() < 8.0 * f32::EPSILON as f64 + 1.0e-6,
                    "tanh f32 {}",
                    x[i]
                );
            }
        }
    }

    #[test]
    fn log_sum_exp_matches_direct_formula() {
        for len in [1usize, 7, 8, 31, 32, 33, 5000] {
            let x = lcg_fill(len, len as u64);
            let direct = x.iter().map(|v| v.exp()).sum::<f64>().ln();
            assert!((log_sum_exp(&x) - direct).abs() < 1e-12, "len {len}");
        }
        // Huge logits do not overflow.
        assert!((log_sum_exp(&[1000.0f32, 1000.0]) - (1000.0 + 2f32.ln())).abs() < 1e-3);
    }
}
