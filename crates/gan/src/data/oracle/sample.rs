//! Sampling sequences from the oracle at temperature 1: the training data of the oracle
//! benchmark.

use gumbel_tensor::Element;
use gumbel_tensor::ops::categorical::sample_inverse_cdf;
use rayon::prelude::*;

use super::lstm::Workspace;
use super::{BLOCK_ROWS, Oracle, SAMPLE_DOMAIN};
use crate::data::Token;
use crate::random::{self, uniform_f64};

impl<T: Element> Oracle<T> {
    /// `n` sequences of `len` tokens sampled from the oracle at temperature 1 (multinomial
    /// draws from `softmax(z_t)`, fed back as the next input).
    ///
    /// Each draw is an inverse-CDF lookup: with `e_j = exp(z_j - max z)` and `S = sum e_j`,
    /// a uniform `u` in `[0, 1)` from the sequence's own stream selects the first `k` with
    /// `e_0 + ... + e_k > u S`. Partial sums over chunks of [`CDF_CHUNK`](gumbel_tensor::ops::categorical::CDF_CHUNK) classes (SIMD)
    /// locate the chunk, a scalar walk inside it the class, both accumulated in f64. If
    /// rounding leaves `u S` beyond the walked total (probability ~1e-7 in f32), the last class
    /// with `e_j > 0` is taken.
    ///
    /// Same `seed` => the same sequences for any thread count.
    pub fn sample(&self, n: usize, len: usize, seed: u64) -> Vec<Vec<Token>> {
        let starts: Vec<usize> = (0..n).step_by(BLOCK_ROWS).collect();
        let blocks: Vec<Vec<Vec<Token>>> = starts
            .par_iter()
            .map(|&start| {
                let rows = BLOCK_ROWS.min(n - start);
                let mut rngs: Vec<_> = (start..start + rows)
                    .map(|i| random::stream(seed, SAMPLE_DOMAIN, i as u64))
                    .collect();
                let mut out = vec![Vec::with_capacity(len); rows];
                let mut ws = Workspace::new(self, rows);
                let mut chunk_sums = Vec::new();
                self.run_block(&mut ws, len, |_, r, logits| {
                    let u = uniform_f64(&mut rngs[r]);
                    let y = sample_inverse_cdf(logits, u, &mut chunk_sums).expect(
                        "a loaded oracle's weights keep its logits finite (checked on load)",
                    ) as Token;
                    out[r].push(y);
                    y
                });
                out
            })
            .collect();
        blocks.concat()
    }
}
