//! Row kernels of the fused LSTM cell (gate order i, f, g, o, as in `nn.LSTM`). Each
//! function handles one batch row; `h` is the hidden size, a row of gates has `4h` entries.
//! The activations use the tensor crate's SIMD `sigmoid`/`tanh` slice kernels; the rest is
//! plain loops the compiler vectorizes.

use gumbel_tensor::Element;
use gumbel_tensor::ops::elementwise::simd;

/// Forward of one row:
/// `act = [sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)]`, `c = f*c_prev + i*g`,
/// `tc = tanh(c)`, `h = o*tc`.
pub fn cell_forward<T: Element>(
    gates: &[T],
    c_prev: &[T],
    act: &mut [T],
    c: &mut [T],
    tc: &mut [T],
    h: &mut [T],
) {
    let n = c_prev.len();
    debug_assert_eq!(gates.len(), 4 * n);
    simd::sigmoid(&gates[..2 * n], &mut act[..2 * n]);
    simd::tanh(&gates[2 * n..3 * n], &mut act[2 * n..3 * n]);
    simd::sigmoid(&gates[3 * n..], &mut act[3 * n..]);
    let (i, rest) = act.split_at(n);
    let (f, rest) = rest.split_at(n);
    let (g, o) = rest.split_at(n);
    for j in 0..n {
        c[j] = f[j] * c_prev[j] + i[j] * g[j];
    }
    simd::tanh(c, tc);
    for j in 0..n {
        h[j] = o[j] * tc[j];
    }
}

/// Backward of `h = o * tanh(c)` for one row, the part that reaches the gates:
/// `dgates_o += dh * tc * o (1 - o)` (the pre-activation of `o`; `sigmoid' = s (1 - s)`).
pub fn h_backward_gates<T: Element>(act: &[T], tc: &[T], dh: &[T], dgates: &mut [T]) {
    let n = tc.len();
    let o = &act[3 * n..];
    for j in 0..n {
        dgates[3 * n + j] += dh[j] * tc[j] * o[j] * (T::ONE - o[j]);
    }
}

/// Backward of `h = o * tanh(c)` for one row, the part that reaches `c`:
/// `dc += dh * o * (1 - tc^2)`.
pub fn h_backward_c<T: Element>(act: &[T], tc: &[T], dh: &[T], dc: &mut [T]) {
    let n = tc.len();
    let o = &act[3 * n..];
    for j in 0..n {
        dc[j] += dh[j] * o[j] * (T::ONE - tc[j] * tc[j]);
    }
}

/// Backward of `c = f * c_prev + i * g` for one row, into the gates' pre-activations:
/// `di = dc g i(1-i)`, `df = dc c_prev f(1-f)`, `dg = dc i (1-g^2)` (`tanh' = 1 - t^2`).
pub fn c_backward_gates<T: Element>(act: &[T], c_prev: &[T], dc: &[T], dgates: &mut [T]) {
    let n = c_prev.len();
    let (i, f, g) = (&act[..n], &act[n..2 * n], &act[2 * n..3 * n]);
    for j in 0..n {
        let d = dc[j];
        dgates[j] += d * g[j] * i[j] * (T::ONE - i[j]);
        dgates[n + j] += d * c_prev[j] * f[j] * (T::ONE - f[j]);
        dgates[2 * n + j] += d * i[j] * (T::ONE - g[j] * g[j]);
    }
}

/// Backward of `c = f * c_prev + i * g` for one row, into `c_prev`: `dc_prev += dc * f`.
pub fn c_backward_prev<T: Element>(act: &[T], dc: &[T], dc_prev: &mut [T]) {
    let n = dc.len();
    let f = &act[n..2 * n];
    for j in 0..n {
        dc_prev[j] += dc[j] * f[j];
    }
}
