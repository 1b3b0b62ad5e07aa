//! Kernels of `highway_combine` on matching pieces of the flat inputs. The gate's sigmoid is
//! the tensor crate's SIMD `sigmoid` slice kernel (the one [`Var::sigmoid`](crate::Var::sigmoid)
//! runs); the rest is plain loops the compiler vectorizes, written in the operation order of
//! the unfused chain `x + sigmoid(a) * (relu(b) - x)` so that both give the same bits.

use gumbel_tensor::Element;
use gumbel_tensor::ops::elementwise::simd;

/// `relu` as [`gumbel_tensor::ops::relu`] computes it: `0` where `b < 0`, `b` elsewhere (a
/// NaN passes through).
fn relu<T: Element>(b: T) -> T {
    if T::ZERO > b { T::ZERO } else { b }
}

/// `y = x + t (relu(b) - x)` with `t = sigmoid(a)`; all slices of one length.
pub fn forward<T: Element>(x: &[T], a: &[T], b: &[T], y: &mut [T]) {
    debug_assert!(x.len() == y.len() && a.len() == y.len() && b.len() == y.len());
    simd::sigmoid(a, y); // t, overwritten in place below
    for ((y, &x), &b) in y.iter_mut().zip(x).zip(b) {
        *y = x + *y * (relu(b) - x);
    }
}

/// The three input gradients from `dy`, with `t = sigmoid(a)`, `h = relu(b)`:
///
/// ```text
/// dx = dy - dy t
/// da = (dy (h - x)) (t (1 - t))
/// db = dy t  where b > 0, else 0
/// ```
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Element>(
    x: &[T],
    a: &[T],
    b: &[T],
    dy: &[T],
    dx: &mut [T],
    da: &mut [T],
    db: &mut [T],
) {
    let n = dy.len();
    debug_assert!([x.len(), a.len(), b.len(), dx.len(), da.len(), db.len()] == [n; 6]);
    simd::sigmoid(a, da); // t, overwritten in place below
    for i in 0..n {
        let (t, dy, x, b) = (da[i], dy[i], x[i], b[i]);
        let dyt = dy * t;
        dx[i] = dy - dyt;
        da[i] = (dy * (relu(b) - x)) * (t * (T::ONE - t));
        db[i] = if b > T::ZERO { dyt } else { T::ZERO };
    }
}
