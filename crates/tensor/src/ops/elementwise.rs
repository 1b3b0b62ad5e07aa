//! Elementwise ops: `+ - * /` with row and scalar broadcasting, scalar maps (`scale`,
//! `add_scalar`, `neg`), the activations `exp`, `ln`, `tanh`, `sigmoid`, `relu`,
//! `leaky_relu` each with its backward twin beside it, in-place accumulation (`add_assign`,
//! `axpy`), and `sum_rows`, the column sums that are the gradient of a broadcast bias.
//!
//! ## Kernels
//! [`simd`] and [`scalar`] hold the slice kernels, with the same names and signatures. Maps
//! have no reduction, so one vector per step is enough: the out-of-order core overlaps the
//! independent iterations by itself. The last `len % LANES` elements (the `// tail`) are
//! copied into one padded vector and go through exactly the same vector code as the body, so
//! an element's result never depends on its position (with a scalar tail, `exp(x)` at column
//! 1023 would take std's `exp` while column 0 takes wide's polynomial). For `+ - * /` the
//! twins are bitwise identical; for `exp`, `ln`, `tanh`, `sigmoid` they differ by the few
//! ulps between wide's polynomials and std (tests state the bounds).
//!
//! ## Parallelism and determinism
//! Same-shape and scalar-broadcast ops cut the flat buffer into [`CHUNK`]-element pieces
//! ([`parallel::for_each_chunk_mut`]); row-broadcast ops go row by row
//! ([`parallel::for_each_row_mut`]); [`sum_rows`] gives each task a block of columns and
//! sums every column over the rows in row order. No element's result depends on the cuts,
//! so every op here returns the same bits for any number of threads.

use crate::{Element, Error, Result, SimdFloat, Tensor, parallel};

/// Elements per piece when a flat buffer is cut for parallel work (a multiple of every
/// vector width, so only the last piece of a buffer has a tail).
pub const CHUNK: usize = 1 << 13;

/// Columns per task in [`sum_rows`]: 256 accumulators of `f64` fill 2 KiB of L1.
pub const COL_BLOCK: usize = 256;

// ---------------------------------------------------------------------------------------
// Binary ops with broadcasting

/// How the right operand of a binary op lines up with the left one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Broadcast {
    /// Same shape: element `i` with element `i`.
    Same,
    /// `b` has shape `[a.cols()]`: every row of `a` with `b`.
    Row,
    /// `b` has one element: every element of `a` with it.
    Scalar,
}

/// Decides how `b` broadcasts against `a`, or names both shapes in an
/// [`Error::ShapeMismatch`]. A one-element `b` is a scalar even when it is also a row
/// vector (then `a.cols()` is 1 and both readings agree; the scalar path avoids one kernel
/// call per one-element row).
fn broadcast<T: Element>(op: &'static str, a: &Tensor<T>, b: &Tensor<T>) -> Result<Broadcast> {
    if a.shape() == b.shape() {
        Ok(Broadcast::Same)
    } else if b.numel() == 1 {
        Ok(Broadcast::Scalar)
    } else if b.rank() == 1 && b.shape()[0] == a.cols() {
        Ok(Broadcast::Row)
    } else {
        Err(Error::shape_mismatch(op, a.shape(), b.shape()))
    }
}

/// Slice kernel of a binary op: `out[i] = x[i] op y[i]`.
type VecVec<T> = fn(&[T], &[T], &mut [T]);
/// Slice kernel of a binary op with a scalar right operand: `out[i] = x[i] op s`.
type VecScalar<T> = fn(&[T], T, &mut [T]);

/// Runs a binary op with broadcasting: `vv` for same shapes and row broadcasts, `vs` for a
/// one-element `b`.
fn binary<T: Element>(
    op: &'static str,
    a: &Tensor<T>,
    b: &Tensor<T>,
    vv: VecVec<T>,
    vs: VecScalar<T>,
) -> Result<Tensor<T>> {
    let mode = broadcast(op, a, b)?;
    let mut out = Tensor::zeros_like(a);
    let (x, y) = (a.as_slice(), b.as_slice());
    match mode {
        Broadcast::Same => parallel::for_each_chunk_mut(out.as_mut_slice(), CHUNK, 2, |s, o| {
            vv(&x[s..s + o.len()], &y[s..s + o.len()], o)
        }),
        Broadcast::Row => {
            parallel::for_each_row_mut(out.as_mut_slice(), a.cols(), |i, o| vv(a.row(i), y, o))
        }
        Broadcast::Scalar => {
            let s = y[0];
            parallel::for_each_chunk_mut(out.as_mut_slice(), CHUNK, 1, |st, o| {
                vs(&x[st..st + o.len()], s, o)
            })
        }
    }
    Ok(out)
}

/// `a + b` elementwise, where `b` has the shape of `a`, or shape `[a.cols()]` (added to
/// every row of `a`), or exactly one element (added to every element). The result has the
/// shape of `a`; any other `b` is an [`Error::ShapeMismatch`].
///
/// ```
/// use gumbel_tensor::{Tensor, ops};
/// let a = Tensor::new([2, 3], vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
/// let bias = Tensor::new([3], vec![10.0f32, 20.0, 30.0]).unwrap();
/// assert_eq!(ops::add(&a, &bias).unwrap().as_slice(), &[11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
/// let plus_one = ops::add(&a, &Tensor::scalar(1.0)).unwrap();
/// assert_eq!(plus_one.as_slice(), &[2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
/// assert!(ops::add(&a, &Tensor::zeros([2])).is_err());
/// ```
pub fn add<T: Element>(a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
    binary("add", a, b, simd::add, simd::add_scalar)
}

/// `a - b` elementwise, broadcasting `b` as in [`add`].
pub fn sub<T: Element>(a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
    binary("sub", a, b, simd::sub, simd::sub_scalar)
}

/// `a * b` elementwise (Hadamard product), broadcasting `b` as in [`add`].
pub fn mul<T: Element>(a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
    binary("mul", a, b, simd::mul, simd::scale)
}

/// `a / b` elementwise (IEEE division: `x / 0` is `+-inf`, `0 / 0` is NaN), broadcasting
/// `b` as in [`add`].
pub fn div<T: Element>(a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
    binary("div", a, b, simd::div, simd::div_scalar)
}

// ---------------------------------------------------------------------------------------
// Maps

/// Applies a slice kernel `out[i] = f(x[i])` to a whole tensor.
fn unary<T: Element>(a: &Tensor<T>, f: impl Fn(&[T], &mut [T]) + Sync + Send) -> Tensor<T> {
    let mut out = Tensor::zeros_like(a);
    let x = a.as_slice();
    parallel::for_each_chunk_mut(out.as_mut_slice(), CHUNK, 1, |s, o| {
        f(&x[s..s + o.len()], o)
    });
    out
}

/// `s * a`, elementwise.
pub fn scale<T: Element>(a: &Tensor<T>, s: T) -> Tensor<T> {
    unary(a, |x, o| simd::scale(x, s, o))
}

/// `a + s`, elementwise.
pub fn add_scalar<T: Element>(a: &Tensor<T>, s: T) -> Tensor<T> {
    unary(a, |x, o| simd::add_scalar(x, s, o))
}

/// `-a`, elementwise (flips the sign bit, so `-(0.0)` is `-0.0`).
pub fn neg<T: Element>(a: &Tensor<T>) -> Tensor<T> {
    unary(a, simd::neg)
}

/// `e^a`, elementwise: `exp(-inf) = 0`, `exp(+inf) = +inf`, and large arguments overflow
/// to `+inf` (above about 88.72 in `f32`, 709.78 in `f64`). Within 1 ulp of the correctly
/// rounded value (wide's polynomial); the derivative is `exp(a)` itself.
///
/// ```
/// use gumbel_tensor::{Tensor, ops};
/// let y = ops::exp(&Tensor::new([3], vec![0.0f64, 1.0, f64::NEG_INFINITY]).unwrap());
/// assert_eq!(y.as_slice()[0], 1.0);
/// assert!((y.as_slice()[1] - std::f64::consts::E).abs() < 1e-15);
/// assert_eq!(y.as_slice()[2], 0.0);
/// ```
pub fn exp<T: Element>(a: &Tensor<T>) -> Tensor<T> {
    unary(a, simd::exp)
}

/// Natural logarithm, elementwise: `ln 0 = -inf`, `ln(+inf) = +inf`, and **the logarithm of
/// a negative number is NaN** (there is no error: a NaN marks exactly the bad elements).
/// Subnormal inputs get their true logarithm (about -87.3 to -103.3 in `f32`). The
/// derivative is `1 / a`.
pub fn ln<T: Element>(a: &Tensor<T>) -> Tensor<T> {
    unary(a, simd::ln)
}

/// Hyperbolic tangent, elementwise. Saturates cleanly: exactly `+-1` for `|a|` beyond
/// about 9 (`f32`) or 19 (`f64`), and for `+-inf`; never NaN for a non-NaN input.
pub fn tanh<T: Element>(a: &Tensor<T>) -> Tensor<T> {
    unary(a, simd::tanh)
}

/// Backward of [`tanh`] from its output: `dx = dy * (1 - y^2)`, since
/// `d tanh(x) / dx = 1 - tanh(x)^2`. `y` and `dy` must have the same shape.
///
/// ```
/// use gumbel_tensor::{Tensor, ops};
/// let y = Tensor::new([2], vec![0.0f32, 0.5]).unwrap();
/// let dy = Tensor::new([2], vec![2.0f32, 2.0]).unwrap();
/// assert_eq!(ops::tanh_backward(&y, &dy).unwrap().as_slice(), &[2.0, 1.5]);
/// ```
pub fn tanh_backward<T: Element>(y: &Tensor<T>, dy: &Tensor<T>) -> Result<Tensor<T>> {
    same_shape_binary("tanh_backward", y, dy, simd::tanh_backward)
}

/// Logistic sigmoid `1 / (1 + e^-a)`, elementwise, computed from `e = exp(-|a|)`, which lies
/// in `(0, 1]` and so never overflows: `1 / (1 + e)` for `a >= 0` and `e / (1 + e)` for
/// `a < 0`. The second form keeps full relative precision for very negative `a`, where
/// the result is tiny (`1 - sigmoid(-a)` would cancel to 0).
///
/// ```
/// use gumbel_tensor::{Tensor, ops};
/// let y = ops::sigmoid(&Tensor::new([3], vec![0.0f32, 1e4, -1e4]).unwrap());
/// assert_eq!(y.as_slice(), &[0.5, 1.0, 0.0]);
/// ```
pub fn sigmoid<T: Element>(a: &Tensor<T>) -> Tensor<T> {
    unary(a, simd::sigmoid)
}

/// Backward of [`sigmoid`] from its output: `dx = dy * y * (1 - y)`, since
/// `d sigma(x) / dx = sigma(x) (1 - sigma(x))`. `y` and `dy` must have the same shape.
pub fn sigmoid_backward<T: Element>(y: &Tensor<T>, dy: &Tensor<T>) -> Result<Tensor<T>> {
    same_shape_binary("sigmoid_backward", y, dy, simd::sigmoid_backward)
}

/// Rectified linear unit `max(a, 0)`, elementwise. A NaN stays NaN (it is not "less than
/// zero"), unlike `f32::max(NaN, 0.0)`, which would hide it.
pub fn relu<T: Element>(a: &Tensor<T>) -> Tensor<T> {
    unary(a, simd::relu)
}

/// Backward of [`relu`] from its input: `dx = dy` where `x > 0`, else `0` (the subgradient
/// at 0 is taken as 0, as in PyTorch). `x` and `dy` must have the same shape.
pub fn relu_backward<T: Element>(x: &Tensor<T>, dy: &Tensor<T>) -> Result<Tensor<T>> {
    same_shape_binary("relu_backward", x, dy, simd::relu_backward)
}

/// Leaky ReLU: `a` where `a >= 0` (and where `a` is NaN), `slope * a` where `a < 0`.
///
/// ```
/// use gumbel_tensor::{Tensor, ops};
/// let y = ops::leaky_relu(&Tensor::new([2], vec![-2.0f32, 3.0]).unwrap(), 0.25);
/// assert_eq!(y.as_slice(), &[-0.5, 3.0]);
/// ```
pub fn leaky_relu<T: Element>(a: &Tensor<T>, slope: T) -> Tensor<T> {
    unary(a, |x, o| simd::leaky_relu(x, slope, o))
}

/// Backward of [`leaky_relu`] from its input: `dx = dy` where `x > 0`, else `slope * dy`.
/// `x` and `dy` must have the same shape.
pub fn leaky_relu_backward<T: Element>(
    x: &Tensor<T>,
    dy: &Tensor<T>,
    slope: T,
) -> Result<Tensor<T>> {
    x.expect_same_shape("leaky_relu_backward", dy)?;
    let mut out = Tensor::zeros_like(x);
    let (xs, dys) = (x.as_slice(), dy.as_slice());
    parallel::for_each_chunk_mut(out.as_mut_slice(), CHUNK, 2, |s, o| {
        simd::leaky_relu_backward(&xs[s..s + o.len()], &dys[s..s + o.len()], slope, o)
    });
    Ok(out)
}

/// Runs a same-shape binary slice kernel (the backward twins) after checking the shapes.
fn same_shape_binary<T: Element>(
    op: &'static str,
    a: &Tensor<T>,
    b: &Tensor<T>,
    vv: VecVec<T>,
) -> Result<Tensor<T>> {
    a.expect_same_shape(op, b)?;
    let mut out = Tensor::zeros_like(a);
    let (x, y) = (a.as_slice(), b.as_slice());
    parallel::for_each_chunk_mut(out.as_mut_slice(), CHUNK, 2, |s, o| {
        vv(&x[s..s + o.len()], &y[s..s + o.len()], o)
    });
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// In-place accumulation

/// `acc += x`, elementwise; the shapes must be equal. This is how gradients accumulate
/// when a tensor feeds several ops.
pub fn add_assign<T: Element>(acc: &mut Tensor<T>, x: &Tensor<T>) -> Result<()> {
    acc.expect_same_shape("add_assign", x)?;
    let xs = x.as_slice();
    parallel::for_each_chunk_mut(acc.as_mut_slice(), CHUNK, 2, |s, o| {
        simd::add_assign(o, &xs[s..s + o.len()])
    });
    Ok(())
}

/// `acc += alpha * x`, elementwise (BLAS `axpy`), computed as `acc + (alpha * x)` with two
/// roundings; the shapes must be equal.
///
/// ```
/// use gumbel_tensor::{Tensor, ops};
/// let mut acc = Tensor::new([2], vec![1.0f64, 1.0]).unwrap();
/// ops::axpy(&mut acc, 0.5, &Tensor::new([2], vec![2.0, 4.0]).unwrap()).unwrap();
/// assert_eq!(acc.as_slice(), &[2.0, 3.0]);
/// ```
pub fn axpy<T: Element>(acc: &mut Tensor<T>, alpha: T, x: &Tensor<T>) -> Result<()> {
    acc.expect_same_shape("axpy", x)?;
    let xs = x.as_slice();
    parallel::for_each_chunk_mut(acc.as_mut_slice(), CHUNK, 2, |s, o| {
        simd::axpy(o, alpha, &xs[s..s + o.len()])
    });
    Ok(())
}

/// Column sums over all rows: `out[j] = sum_i a[i, j]`, shape `[a.cols()]`. This is the
/// gradient of a bias broadcast over rows (`add(x, bias)` with `bias` of shape `[cols]`).
///
/// Bitwise deterministic for any number of threads: tasks own blocks of [`COL_BLOCK`]
/// columns, and each column is summed over the rows in row order; a row sum is never
/// split between tasks.
///
/// ```
/// use gumbel_tensor::{Tensor, ops};
/// let a = Tensor::new([2, 3], vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
/// assert_eq!(ops::sum_rows(&a).as_slice(), &[5.0, 7.0, 9.0]);
/// ```
pub fn sum_rows<T: Element>(a: &Tensor<T>) -> Tensor<T> {
    let (rows, cols) = (a.rows(), a.cols());
    let mut out = Tensor::zeros([cols]);
    let x = a.as_slice();
    parallel::for_each_chunk_mut(out.as_mut_slice(), COL_BLOCK, rows, |first_col, o| {
        simd::sum_rows(x, cols, first_col, o)
    });
    out
}

// ---------------------------------------------------------------------------------------
// Slice kernels

/// SIMD slice kernels (wide vectors through [`SimdFloat`]). Every kernel takes slices of
/// equal length (checked in debug builds) and writes `out` (or updates `acc`) in place.
pub mod simd {
    use super::{Element, SimdFloat};

    /// Lanes of the widest vector among the element types (`f32x8`), the size of the
    /// padded tail buffers.
    const MAX_LANES: usize = 8;

    /// `out[i] = f(x[i])`, one vector per step, then the tail padded to one vector.
    #[inline(always)]
    fn map<T: Element>(x: &[T], out: &mut [T], f: impl Fn(T::Simd) -> T::Simd) {
        debug_assert_eq!(x.len(), out.len());
        debug_assert!(T::LANES <= MAX_LANES);
        let l = T::LANES;
        let body = x.len() - x.len() % l;
        for (xv, ov) in x[..body]
            .chunks_exact(l)
            .zip(out[..body].chunks_exact_mut(l))
        {
            f(T::Simd::load(xv)).store(ov);
        }
        // tail: padded with zeros to one vector, so it takes the same instructions as the body
        let n = x.len() - body;
        if n > 0 {
            let mut buf = [T::ZERO; MAX_LANES];
            buf[..n].copy_from_slice(&x[body..]);
            f(T::Simd::load(&buf)).store(&mut buf);
            out[body..].copy_from_slice(&buf[..n]);
        }
    }

    /// `out[i] = f(x[i], y[i])`, one vector per step, then the tail padded to one vector.
    #[inline(always)]
    fn zip_map<T: Element>(
        x: &[T],
        y: &[T],
        out: &mut [T],
        f: impl Fn(T::Simd, T::Simd) -> T::Simd,
    ) {
        debug_assert!(x.len() == out.len() && y.len() == out.len());
        let l = T::LANES;
        let body = x.len() - x.len() % l;
        for ((xv, yv), ov) in x[..body]
            .chunks_exact(l)
            .zip(y[..body].chunks_exact(l))
            .zip(out[..body].chunks_exact_mut(l))
        {
            f(T::Simd::load(xv), T::Simd::load(yv)).store(ov);
        }
        // tail: padded with zeros to one vector (a 0/0 in a padding lane is never read)
        let n = x.len() - body;
        if n > 0 {
            let (mut bx, mut by) = ([T::ZERO; MAX_LANES], [T::ZERO; MAX_LANES]);
            bx[..n].copy_from_slice(&x[body..]);
            by[..n].copy_from_slice(&y[body..]);
            f(T::Simd::load(&bx), T::Simd::load(&by)).store(&mut bx);
            out[body..].copy_from_slice(&bx[..n]);
        }
    }

    /// `acc[i] = f(acc[i], x[i])` in place.
    #[inline(always)]
    fn update<T: Element>(acc: &mut [T], x: &[T], f: impl Fn(T::Simd, T::Simd) -> T::Simd) {
        debug_assert_eq!(acc.len(), x.len());
        let l = T::LANES;
        let body = x.len() - x.len() % l;
        for (av, xv) in acc[..body]
            .chunks_exact_mut(l)
            .zip(x[..body].chunks_exact(l))
        {
            f(T::Simd::load(av), T::Simd::load(xv)).store(av);
        }
        // tail: padded with zeros to one vector
        let n = x.len() - body;
        if n > 0 {
            let (mut ba, mut bx) = ([T::ZERO; MAX_LANES], [T::ZERO; MAX_LANES]);
            ba[..n].copy_from_slice(&acc[body..]);
            bx[..n].copy_from_slice(&x[body..]);
            f(T::Simd::load(&ba), T::Simd::load(&bx)).store(&mut ba);
            acc[body..].copy_from_slice(&ba[..n]);
        }
    }

    /// `out = a + b`.
    pub fn add<T: Element>(a: &[T], b: &[T], out: &mut [T]) {
        zip_map(a, b, out, |x, y| x + y)
    }
    /// `out = a - b`.
    pub fn sub<T: Element>(a: &[T], b: &[T], out: &mut [T]) {
        zip_map(a, b, out, |x, y| x - y)
    }
    /// `out = a * b`.
    pub fn mul<T: Element>(a: &[T], b: &[T], out: &mut [T]) {
        zip_map(a, b, out, |x, y| x * y)
    }
    /// `out = a / b`.
    pub fn div<T: Element>(a: &[T], b: &[T], out: &mut [T]) {
        zip_map(a, b, out, |x, y| x / y)
    }
    /// `out = a + s`.
    pub fn add_scalar<T: Element>(a: &[T], s: T, out: &mut [T]) {
        let s = T::Simd::splat(s);
        map(a, out, |x| x + s)
    }
    /// `out = a - s`.
    pub fn sub_scalar<T: Element>(a: &[T], s: T, out: &mut [T]) {
        let s = T::Simd::splat(s);
        map(a, out, |x| x - s)
    }
    /// `out = a * s`.
    pub fn scale<T: Element>(a: &[T], s: T, out: &mut [T]) {
        let s = T::Simd::splat(s);
        map(a, out, |x| x * s)
    }
    /// `out = a / s` (a true division, not a multiplication by `1/s`, which would round
    /// twice).
    pub fn div_scalar<T: Element>(a: &[T], s: T, out: &mut [T]) {
        let s = T::Simd::splat(s);
        map(a, out, |x| x / s)
    }
    /// `out = -a`.
    pub fn neg<T: Element>(a: &[T], out: &mut [T]) {
        map(a, out, |x| -x)
    }

    /// `out = exp(a)` (wide's polynomial).
    pub fn exp<T: Element>(a: &[T], out: &mut [T]) {
        map(a, out, |x| x.exp())
    }

    /// `out = ln(a)`, with subnormal inputs rescaled first.
    pub fn ln<T: Element>(a: &[T], out: &mut [T]) {
        // wide's ln returns -inf for subnormal inputs (it lumps them with zero). Lift them
        // into the normal range first: ln x = ln(x 2^p) - p ln 2 with 2^p = 2 / EPSILON
        // (2^24 for f32, 2^53 for f64), which takes the smallest subnormal (2^-149,
        // 2^-1074) above MIN_POSITIVE (2^-126, 2^-1022). Zero stays zero (ln = -inf) and a
        // negative stays negative (ln = NaN).
        let tiny = T::Simd::splat(T::MIN_POSITIVE);
        let up = T::Simd::splat(T::from_f64(2.0) / T::EPSILON);
        let shift = T::Simd::splat(T::from_f64((2.0 / T::EPSILON.to_f64()).ln()));
        map(a, out, |x| {
            let y = tiny.select_gt(x, x * up, x).ln();
            tiny.select_gt(x, y - shift, y)
        })
    }

    /// `out = tanh(a)` (wide's, which saturates to exactly +-1).
    pub fn tanh<T: Element>(a: &[T], out: &mut [T]) {
        map(a, out, |x| x.tanh())
    }
    /// `dx = dy * (1 - y^2)`.
    pub fn tanh_backward<T: Element>(y: &[T], dy: &[T], dx: &mut [T]) {
        let one = T::Simd::splat(T::ONE);
        zip_map(y, dy, dx, |y, dy| dy * (one - y * y))
    }

    /// `out = sigmoid(a)`, from `e = exp(-|a|)` (see [`super::sigmoid`]).
    pub fn sigmoid<T: Element>(a: &[T], out: &mut [T]) {
        let (zero, one) = (T::Simd::splat(T::ZERO), T::Simd::splat(T::ONE));
        map(a, out, |x| {
            let e = (-x.abs()).exp();
            let s = one / (one + e);
            x.select_ge(zero, s, e * s)
        })
    }
    /// `dx = dy * (y * (1 - y))`.
    pub fn sigmoid_backward<T: Element>(y: &[T], dy: &[T], dx: &mut [T]) {
        let one = T::Simd::splat(T::ONE);
        zip_map(y, dy, dx, |y, dy| dy * (y * (one - y)))
    }

    /// `out = a < 0 ? 0 : a` (a NaN passes through).
    pub fn relu<T: Element>(a: &[T], out: &mut [T]) {
        let zero = T::Simd::splat(T::ZERO);
        map(a, out, |x| zero.select_gt(x, zero, x))
    }
    /// `dx = x > 0 ? dy : 0`.
    pub fn relu_backward<T: Element>(x: &[T], dy: &[T], dx: &mut [T]) {
        let zero = T::Simd::splat(T::ZERO);
        zip_map(x, dy, dx, |x, dy| x.select_gt(zero, dy, zero))
    }

    /// `out = a < 0 ? slope * a : a` (a NaN passes through).
    pub fn leaky_relu<T: Element>(a: &[T], slope: T, out: &mut [T]) {
        let (zero, slope) = (T::Simd::splat(T::ZERO), T::Simd::splat(slope));
        map(a, out, |x| zero.select_gt(x, slope * x, x))
    }
    /// `dx = x > 0 ? dy : slope * dy`.
    pub fn leaky_relu_backward<T: Element>(x: &[T], dy: &[T], slope: T, dx: &mut [T]) {
        let (zero, slope) = (T::Simd::splat(T::ZERO), T::Simd::splat(slope));
        zip_map(x, dy, dx, |x, dy| x.select_gt(zero, dy, slope * dy))
    }

    /// `acc += x`.
    pub fn add_assign<T: Element>(acc: &mut [T], x: &[T]) {
        update(acc, x, |a, x| a + x)
    }
    /// `acc += alpha * x` (two roundings, no fused multiply-add, like the scalar twin).
    pub fn axpy<T: Element>(acc: &mut [T], alpha: T, x: &[T]) {
        let alpha = T::Simd::splat(alpha);
        update(acc, x, |a, x| a + alpha * x)
    }

    /// Column sums of a block of columns: `out[j] = sum_r a[r * cols + first_col + j]`,
    /// rows added in order (`((a_0j + a_1j) + a_2j) + ...`), so the result is bitwise the
    /// scalar twin's. `a.len()` must be a multiple of `cols`, and the block must fit.
    pub fn sum_rows<T: Element>(a: &[T], cols: usize, first_col: usize, out: &mut [T]) {
        debug_assert!(first_col + out.len() <= cols);
        out.fill(T::ZERO);
        if cols == 0 {
            return;
        }
        debug_assert_eq!(a.len() % cols, 0);
        // LOOP 1: rows in order; LOOP 2 (inside add_assign): the block's columns, by vector.
        for row in a.chunks_exact(cols) {
            add_assign(out, &row[first_col..first_col + out.len()]);
        }
    }
}

/// Scalar reference kernels: one element at a time with std's functions, the same names
/// and signatures as [`simd`]. Tests compare the two; benchmarks show the gain.
pub mod scalar {
    use super::Element;

    fn map<T: Element>(x: &[T], out: &mut [T], f: impl Fn(T) -> T) {
        debug_assert_eq!(x.len(), out.len());
        for (o, &v) in out.iter_mut().zip(x) {
            *o = f(v);
        }
    }

    fn zip_map<T: Element>(x: &[T], y: &[T], out: &mut [T], f: impl Fn(T, T) -> T) {
        debug_assert!(x.len() == out.len() && y.len() == out.len());
        for ((o, &u), &v) in out.iter_mut().zip(x).zip(y) {
            *o = f(u, v);
        }
    }

    /// `out = a + b`.
    pub fn add<T: Element>(a: &[T], b: &[T], out: &mut [T]) {
        zip_map(a, b, out, |x, y| x + y)
    }
    /// `out = a - b`.
    pub fn sub<T: Element>(a: &[T], b: &[T], out: &mut [T]) {
        zip_map(a, b, out, |x, y| x - y)
    }
    /// `out = a * b`.
    pub fn mul<T: Element>(a: &[T], b: &[T], out: &mut [T]) {
        zip_map(a, b, out, |x, y| x * y)
    }
    /// `out = a / b`.
    pub fn div<T: Element>(a: &[T], b: &[T], out: &mut [T]) {
        zip_map(a, b, out, |x, y| x / y)
    }
    /// `out = a + s`.
    pub fn add_scalar<T: Element>(a: &[T], s: T, out: &mut [T]) {
        map(a, out, |x| x + s)
    }
    /// `out = a - s`.
    pub fn sub_scalar<T: Element>(a: &[T], s: T, out: &mut [T]) {
        map(a, out, |x| x - s)
    }
    /// `out = a * s`.
    pub fn scale<T: Element>(a: &[T], s: T, out: &mut [T]) {
        map(a, out, |x| x * s)
    }
    /// `out = a / s`.
    pub fn div_scalar<T: Element>(a: &[T], s: T, out: &mut [T]) {
        map(a, out, |x| x / s)
    }
    /// `out = -a`.
    pub fn neg<T: Element>(a: &[T], out: &mut [T]) {
        map(a, out, |x| -x)
    }
    /// `out = exp(a)` (std).
    pub fn exp<T: Element>(a: &[T], out: &mut [T]) {
        map(a, out, T::exp)
    }
    /// `out = ln(a)` (std, exact for subnormals).
    pub fn ln<T: Element>(a: &[T], out: &mut [T]) {
        map(a, out, T::ln)
    }
    /// `out = tanh(a)` (std).
    pub fn tanh<T: Element>(a: &[T], out: &mut [T]) {
        map(a, out, T::tanh)
    }
    /// `dx = dy * (1 - y^2)`.
    pub fn tanh_backward<T: Element>(y: &[T], dy: &[T], dx: &mut [T]) {
        zip_map(y, dy, dx, |y, dy| dy * (T::ONE - y * y))
    }
    /// `out = sigmoid(a)`, from `e = exp(-|a|)`.
    pub fn sigmoid<T: Element>(a: &[T], out: &mut [T]) {
        map(a, out, |x| {
            let e = (-x.abs()).exp();
            let s = T::ONE / (T::ONE + e);
            if x >= T::ZERO { s } else { e * s }
        })
    }
    /// `dx = dy * (y * (1 - y))`.
    pub fn sigmoid_backward<T: Element>(y: &[T], dy: &[T], dx: &mut [T]) {
        zip_map(y, dy, dx, |y, dy| dy * (y * (T::ONE - y)))
    }
    /// `out = a < 0 ? 0 : a`.
    pub fn relu<T: Element>(a: &[T], out: &mut [T]) {
        map(a, out, |x| if x < T::ZERO { T::ZERO } else { x })
    }
    /// `dx = x > 0 ? dy : 0`.
    pub fn relu_backward<T: Element>(x: &[T], dy: &[T], dx: &mut [T]) {
        zip_map(x, dy, dx, |x, dy| if x > T::ZERO { dy } else { T::ZERO })
    }
    /// `out = a < 0 ? slope * a : a`.
    pub fn leaky_relu<T: Element>(a: &[T], slope: T, out: &mut [T]) {
        map(a, out, |x| if x < T::ZERO { slope * x } else { x })
    }
    /// `dx = x > 0 ? dy : slope * dy`.
    pub fn leaky_relu_backward<T: Element>(x: &[T], dy: &[T], slope: T, dx: &mut [T]) {
        zip_map(x, dy, dx, |x, dy| if x > T::ZERO { dy } else { slope * dy })
    }
    /// `acc += x`.
    pub fn add_assign<T: Element>(acc: &mut [T], x: &[T]) {
        for (a, &v) in acc.iter_mut().zip(x) {
            *a += v;
        }
    }
    /// `acc += alpha * x`.
    pub fn axpy<T: Element>(acc: &mut [T], alpha: T, x: &[T]) {
        for (a, &v) in acc.iter_mut().zip(x) {
            *a += alpha * v;
        }
    }
    /// Column sums of a block of columns, rows in order (see [`super::simd::sum_rows`]).
    pub fn sum_rows<T: Element>(a: &[T], cols: usize, first_col: usize, out: &mut [T]) {
        out.fill(T::ZERO);
        if cols == 0 {
            return;
        }
        for row in a.chunks_exact(cols) {
            for (o, &v) in out.iter_mut().zip(&row[first_col..]) {
                *o += v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{
        LENGTHS, assert_bitwise, assert_close, assert_same, put, uniform, with_threads,
    };

    /// Special values planted in test inputs: zeros of both signs, infinities, NaN, the
    /// extremes of the range, a subnormal, and values that overflow `exp`.
    fn specials<T: Element>() -> Vec<T> {
        vec![
            T::ZERO,
            -T::ZERO,
            T::INFINITY,
            T::NEG_INFINITY,
            T::NAN,
            T::MAX,
            -T::MAX,
            T::MIN_POSITIVE * T::EPSILON,
            T::from_f64(1e30),
            T::from_f64(-1e30),
            T::ONE,
            -T::ONE,
        ]
    }

    /// Inputs of every test length: uniform in `[lo, hi)`, and the same with the special
    /// values planted at the front, the end of the first vector, and the very end.
    fn inputs<T: Element>(seed: u64, lo: f64, hi: f64) -> Vec<Vec<T>> {
        let mut all = Vec::new();
        for &n in &LENGTHS {
            let x = uniform::<T>(n, seed + n as u64, lo, hi);
            all.push(x.clone());
            let mut y = x;
            for (k, &s) in specials::<T>().iter().enumerate() {
                put(
                    &mut y,
                    &[(k, s), (T::LANES + k, s), (n.wrapping_sub(1 + k), s)],
                );
            }
            all.push(y);
        }
        all
    }

    type Unary<T> = fn(&[T], &mut [T]);
    type Binary<T> = fn(&[T], &[T], &mut [T]);

    /// Runs both twins of a unary kernel on every input and compares them.
    fn compare_unary<T: Element>(
        name: &str,
        simd: Unary<T>,
        scalar: Unary<T>,
        lo: f64,
        hi: f64,
        ulps: f64,
        abs: f64,
    ) {
        for x in inputs::<T>(11, lo, hi) {
            let (mut a, mut b) = (vec![T::ZERO; x.len()], vec![T::ZERO; x.len()]);
            simd(&x, &mut a);
            scalar(&x, &mut b);
            let what = format!("{name} (n = {})", x.len());
            if ulps == 0.0 && abs == 0.0 {
                assert_same(&what, &a, &b);
            } else {
                assert_close(&what, &a, &b, ulps, abs);
            }
        }
    }

    /// Runs both twins of a binary kernel on every pair of inputs of the same length.
    fn compare_binary<T: Element>(name: &str, simd: Binary<T>, scalar: Binary<T>) {
        let xs = inputs::<T>(21, -3.0, 3.0);
        let ys = inputs::<T>(31, -3.0, 3.0);
        for x in &xs {
            for y in ys.iter().filter(|y| y.len() == x.len()) {
                let (mut a, mut b) = (vec![T::ZERO; x.len()], vec![T::ZERO; x.len()]);
                simd(x, y, &mut a);
                scalar(x, y, &mut b);
                // + - * / are correctly rounded IEEE operations in both twins: no tolerance.
                assert_same(&format!("{name} (n = {})", x.len()), &a, &b);
            }
        }
    }

    fn arithmetic_twins_agree_exactly<T: Element>() {
        compare_binary::<T>("add", simd::add, scalar::add);
        compare_binary::<T>("sub", simd::sub, scalar::sub);
        compare_binary::<T>("mul", simd::mul, scalar::mul);
        compare_binary::<T>("div", simd::div, scalar::div);
        compare_binary::<T>("tanh_backward", simd::tanh_backward, scalar::tanh_backward);
        compare_binary::<T>(
            "sigmoid_backward",
            simd::sigmoid_backward,
            scalar::sigmoid_backward,
        );
        compare_binary::<T>("relu_backward", simd::relu_backward, scalar::relu_backward);
        let s = T::from_f64(-0.37);
        let exact = |name, f: Unary<T>, g: Unary<T>| compare_unary(name, f, g, -3.0, 3.0, 0.0, 0.0);
        exact("neg", simd::neg, scalar::neg);
        exact("relu", simd::relu, scalar::relu);
        for x in inputs::<T>(41, -3.0, 3.0) {
            let n = x.len();
            let y = uniform::<T>(n, 43, -3.0, 3.0);
            let (mut a, mut b) = (vec![T::ZERO; n], vec![T::ZERO; n]);
            type WithScalar<T> = fn(&[T], T, &mut [T]);
            let pairs: [(&str, WithScalar<T>, WithScalar<T>); 5] = [
                ("add_scalar", simd::add_scalar, scalar::add_scalar),
                ("sub_scalar", simd::sub_scalar, scalar::sub_scalar),
                ("scale", simd::scale, scalar::scale),
                ("div_scalar", simd::div_scalar, scalar::div_scalar),
                ("leaky_relu", simd::leaky_relu, scalar::leaky_relu),
            ];
            for (name, f, g) in pairs {
                f(&x, s, &mut a);
                g(&x, s, &mut b);
                assert_same(name, &a, &b);
            }
            simd::leaky_relu_backward(&x, &y, s, &mut a);
            scalar::leaky_relu_backward(&x, &y, s, &mut b);
            assert_same("leaky_relu_backward", &a, &b);
            let (mut a, mut b) = (y.clone(), y.clone());
            simd::add_assign(&mut a, &x);
            scalar::add_assign(&mut b, &x);
            assert_same("add_assign", &a, &b);
            let (mut a, mut b) = (y.clone(), y.clone());
            simd::axpy(&mut a, s, &x);
            scalar::axpy(&mut b, s, &x);
            assert_same("axpy", &a, &b);
        }
    }

    fn exp_twins_agree<T: Element>() {
        // wide's exp is within 1 ulp of the correctly rounded result in f32 and of std's in
        // f64 (measured over [-103, 88.7] / [-745, 709.7] in steps of about 1e-3), and std's
        // f32 exp within 1 ulp of the correctly rounded one: at most 2 ulp apart; results
        // in the subnormal range keep only absolute precision: 1 unit of the smallest
        // subnormal each, so 2 units apart. Inputs span underflow (below -ln MAX) to near
        // overflow; the specials add +-inf, NaN, +-MAX and +-1e30.
        let lmax = T::MAX.to_f64().ln();
        let tiny = T::MIN_POSITIVE.to_f64() * T::EPSILON.to_f64();
        compare_unary::<T>(
            "exp",
            simd::exp,
            scalar::exp,
            -1.15 * lmax,
            0.99 * lmax,
            2.0,
            2.0 * tiny,
        );
    }

    fn ln_twins_agree<T: Element>() {
        // wide's ln is within 1 ulp of the correctly rounded log in f32 and of std's in f64
        // (measured over the whole normal range), std's within 1 => 2 ulp apart. For
        // subnormal inputs our rescaling adds the rounding of p ln 2 (half an ulp of ~17,
        // ~36 in f64) and of the subtraction: under 1 ulp of the result (~ -90 / -730)
        // each. Hence 3 ulp. Inputs are |x| (uniform in
        // [0, 1e3)), then tiny ones, then negatives (NaN).
        compare_unary::<T>("ln", simd::ln, scalar::ln, 0.0, 1e3, 3.0, 0.0);
        let sub = T::MIN_POSITIVE.to_f64();
        compare_unary::<T>(
            "ln (tiny)",
            simd::ln,
            scalar::ln,
            sub * T::EPSILON.to_f64(),
            4.0 * sub,
            3.0,
            0.0,
        );
        compare_unary::<T>("ln (negative)", simd::ln, scalar::ln, -5.0, -1e-3, 3.0, 0.0);
    }

    fn tanh_and_sigmoid_twins_agree<T: Element>() {
        // tanh: wide within 1.6 ulp of the correctly rounded value in f32 (std: 1.4) and
        // within 2.7 ulp of std in f64 (sweeps of [-12, 12] / [-25, 25] in steps of 7e-4),
        // so 3 + 2 = 5 ulp covers both with a margin for points between the sweep's.
        compare_unary::<T>("tanh", simd::tanh, scalar::tanh, -12.0, 12.0, 5.0, 0.0);
        compare_unary::<T>(
            "tanh (small)",
            simd::tanh,
            scalar::tanh,
            -1e-3,
            1e-3,
            5.0,
            0.0,
        );
        // sigmoid = 1/(1+e) or e/(1+e) with e = exp(-|x|): the twins' e differ by <= 2 ulp,
        // which moves 1/(1+e) by <= 2 * e/(1+e) <= 1 ulp and e/(1+e) by <= 2 + 1 ulp; the
        // remaining operations (one add, one divide, one multiply) round each twin by at
        // most 1.5 ulp, so 3 + 2 * 1.5 = 6 ulp apart. Results below MIN_POSITIVE are
        // subnormal: 2 units of the smallest subnormal absolute, as for exp.
        let tiny = T::MIN_POSITIVE.to_f64() * T::EPSILON.to_f64();
        compare_unary::<T>(
            "sigmoid",
            simd::sigmoid,
            scalar::sigmoid,
            -110.0,
            40.0,
            6.0,
            2.0 * tiny,
        );
    }

    fn sum_rows_twins_agree_exactly_and_match_a_loop<T: Element>() {
        for &(rows, cols) in &[
            (0, 5),
            (3, 0),
            (1, 1),
            (5, 7),
            (13, 17),
            (33, 300),
            (7, 1023),
        ] {
            let a = uniform::<T>(rows * cols, 5, -2.0, 2.0);
            for first in [0, cols / 3] {
                let len = (cols - first).min(COL_BLOCK);
                let (mut s, mut r) = (vec![T::NAN; len], vec![T::NAN; len]);
                simd::sum_rows(&a, cols, first, &mut s);
                scalar::sum_rows(&a, cols, first, &mut r);
                assert_same("sum_rows", &s, &r);
                for (j, &v) in s.iter().enumerate() {
                    let mut want = T::ZERO;
                    for i in 0..rows {
                        want += a[i * cols + first + j];
                    }
                    assert!(
                        v.to_bits() == want.to_bits(),
                        "sum_rows column {j}: {v} vs {want}"
                    );
                }
            }
        }
    }

    fn edge_values_follow_the_documented_contract<T: Element>() {
        let t = |v: Vec<T>| Tensor::new([v.len()], v).unwrap();
        let inf = T::INFINITY;
        // sigmoid never overflows into NaN and saturates exactly.
        let s = sigmoid(&t(vec![
            T::from_f64(1e4),
            T::from_f64(-1e4),
            inf,
            -inf,
            T::ZERO,
        ]));
        assert_eq!(
            s.as_slice(),
            &[T::ONE, T::ZERO, T::ONE, T::ZERO, T::from_f64(0.5)]
        );
        // tanh saturates to exactly +-1.
        let th = tanh(&t(vec![T::from_f64(50.0), T::from_f64(-50.0), inf, -inf]));
        assert_eq!(th.as_slice(), &[T::ONE, -T::ONE, T::ONE, -T::ONE]);
        // ln: negatives are NaN, 0 is -inf, subnormals are finite.
        let l = ln(&t(vec![
            -T::ONE,
            T::ZERO,
            T::MIN_POSITIVE * T::EPSILON,
            inf,
        ]));
        assert!(l.as_slice()[0].is_nan());
        assert_eq!(l.as_slice()[1], -inf);
        let want = (T::MIN_POSITIVE * T::EPSILON).to_f64().ln();
        assert!(
            (l.as_slice()[2].to_f64() - want).abs() < 1e-4 * want.abs(),
            "{}",
            l.as_slice()[2]
        );
        assert_eq!(l.as_slice()[3], inf);
        // exp: 0 and inf at the ends, NaN stays NaN.
        let e = exp(&t(vec![-inf, inf, T::NAN, T::from_f64(-1e4)]));
        assert_eq!(&e.as_slice()[..2], &[T::ZERO, inf]);
        assert!(e.as_slice()[2].is_nan());
        assert_eq!(e.as_slice()[3], T::ZERO);
        // relu and leaky_relu let NaN through; relu_backward gives 0 at 0.
        let r = relu(&t(vec![T::NAN, -T::ONE, T::ONE]));
        assert!(r.as_slice()[0].is_nan());
        assert_eq!(&r.as_slice()[1..], &[T::ZERO, T::ONE]);
        let g = relu_backward(&t(vec![T::ZERO, T::ONE]), &t(vec![T::ONE, T::ONE])).unwrap();
        assert_eq!(g.as_slice(), &[T::ZERO, T::ONE]);
    }

    fn broadcasting_rules<T: Element>() {
        let a = Tensor::from_fn([3, 4], |i| T::from_usize(i));
        let row = Tensor::from_fn([4], |j| T::from_usize(100 * (j + 1)));
        let s = Tensor::new([1, 1], vec![T::from_f64(2.0)]).unwrap();
        let y = sub(&a, &row).unwrap();
        for i in 0..3 {
            for j in 0..4 {
                let want = T::from_usize(4 * i + j) - T::from_usize(100 * (j + 1));
                assert_eq!(y.at(&[i, j]), Some(want));
            }
        }
        let y = div(&a, &s).unwrap();
        assert_eq!(y.shape(), &[3, 4]);
        assert_eq!(y.at(&[2, 3]), Some(T::from_f64(5.5)));
        // A one-element b that is also a row vector of a one-column a: both readings agree.
        let col = Tensor::from_fn([3, 1], |i| T::from_usize(i));
        let one = Tensor::new([1], vec![T::from_f64(10.0)]).unwrap();
        let y = add(&col, &one).unwrap();
        assert_eq!(y.shape(), &[3, 1]);
        assert_eq!(y.as_slice(), &[10.0, 11.0, 12.0].map(T::from_f64));
        let same = mul(&a, &a).unwrap();
        assert_eq!(same.at(&[1, 1]), Some(T::from_usize(25)));
        // A column vector, a row of the wrong length and a 2-D "row" are all rejected.
        for bad in [vec![3], vec![5], vec![1, 4], vec![4, 3]] {
            let b = Tensor::<T>::zeros(bad.clone());
            match add(&a, &b) {
                Err(Error::ShapeMismatch { op, lhs, rhs }) => {
                    assert_eq!((op, lhs, rhs), ("add", vec![3, 4], bad));
                }
                other => panic!("add with {bad:?}: {other:?}"),
            }
        }
        let mut acc = Tensor::<T>::zeros([3, 4]);
        assert!(add_assign(&mut acc, &row).is_err());
        assert!(axpy(&mut acc, T::ONE, &row).is_err());
        assert!(tanh_backward(&a, &row).is_err());
        assert!(leaky_relu_backward(&a, &row, T::ONE).is_err());
    }

    fn results_do_not_depend_on_the_thread_count<T: Element>() {
        // Large enough to cross PAR_MIN_ELEMS and cut into many pieces, with a ragged end.
        let (rows, cols) = (97, 1201);
        let a = Tensor::new([rows, cols], uniform::<T>(rows * cols, 7, -5.0, 5.0)).unwrap();
        let b = Tensor::new([rows, cols], uniform::<T>(rows * cols, 8, -5.0, 5.0)).unwrap();
        let bias = Tensor::new([cols], uniform::<T>(cols, 9, -1.0, 1.0)).unwrap();
        let run = || {
            let mut acc = mul(&a, &b).unwrap();
            axpy(&mut acc, T::from_f64(0.3), &sigmoid(&a)).unwrap();
            add_assign(&mut acc, &add(&a, &bias).unwrap()).unwrap();
            add_assign(&mut acc, &exp(&b)).unwrap();
            add_assign(&mut acc, &ln(&tanh(&a))).unwrap();
            (acc, sum_rows(&a))
        };
        let (one, sums) = with_threads(1, run);
        for threads in [2, 7] {
            let (other, other_sums) = with_threads(threads, run);
            assert_bitwise(
                &format!("{threads} threads"),
                other.as_slice(),
                one.as_slice(),
            );
            assert_bitwise("sum_rows", other_sums.as_slice(), sums.as_slice());
        }
        // And the parallel sum_rows is the sequential loop, bit for bit.
        let mut want = vec![T::ZERO; cols];
        scalar::sum_rows(a.as_slice(), cols, 0, &mut want);
        assert_bitwise("sum_rows vs scalar", sums.as_slice(), &want);
    }

    float_tests!(
        arithmetic_twins_agree_exactly,
        exp_twins_agree,
        ln_twins_agree,
        tanh_and_sigmoid_twins_agree,
        sum_rows_twins_agree_exactly_and_match_a_loop,
        edge_values_follow_the_documented_contract,
        broadcasting_rules,
        results_do_not_depend_on_the_thread_count,
    );
}
