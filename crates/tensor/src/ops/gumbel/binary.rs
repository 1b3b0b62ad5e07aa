//! The binary Concrete (RelaxedBernoulli) relaxation (Maddison, Mnih and Teh, 2017, section
//! 3.3; Jang, Gu and Poole, 2017): forward ([`binary_concrete`],
//! [`binary_concrete_with_noise`]) and backward ([`binary_concrete_backward`]) side by side,
//! the log-density ([`binary_concrete_log_density`]) with its gradients
//! ([`binary_concrete_log_density_backward`]), and the scalar references ([`scalar`]).
//!
//! Every element of the logits is its own Bernoulli variable `B ~ Bernoulli(sigmoid(l))`.
//! With logistic noise `L = ln(u / (1 - u))`, `u ~ U(0, 1)`, and a temperature `tau`
//! (`c = 1/tau`, or `c = beta` in the inverse-temperature form):
//!
//! ```text
//! hard = [l + L > 0]                  a sample of Bernoulli(sigmoid(l))  (P(L > -l) = sigmoid(l))
//! y    = sigmoid(c (l + L))           its relaxation, in [0, 1]
//! dl   = c dy y (1 - y)               the backward, from y alone
//! dtau = -(1/tau) sum dy y (1 - y) z,   z = c (l + L) = ln y - ln(1 - y)
//! ```
//!
//! docs/math.md ("The binary Concrete") derives all of it.
//!
//! ## Noise
//! `u` comes from the same per-row streams as the Gumbel noise (`rng.rs`; docs/kernels.md,
//! "Noise streams"): element `j` of row `r` (rows over the last dimension) uses exactly
//! the uniform that [`uniform_noise`](super::uniform_noise) puts there for the same seed and
//! counter, so results are bitwise the same for any number of threads. The grid
//! `u = (k + 1/2) 2^-b` is symmetric about 1/2 and `1 - u` is exact on it; the quotient
//! `u / (1 - u)` is a normal number, the domain of the `ln` polynomial, and its rounding
//! moves `L` by at most the unit roundoff, so `L(1 - u) = -L(u)` up to that. The grid
//! truncates the logistic tails at `|L| <= 16.6` (`f32`) / `36.7` (`f64`); the mass beyond
//! is `6e-8` / `1e-16`.
//!
//! ## Forward: one read of the logits, one write of `y` (and of `hard`)
//! Per vector: `p = l + L`, `z = c p`, `e = exp(-|z|)` (the `exp` polynomial on its domain
//! `(-inf, 0]`), `y = 1 / (1 + e)` for `z >= 0` and `e / (1 + e)` for `z < 0`: one
//! division, nothing overflows, and a small `y` keeps its relative precision (`1 - sigmoid(-z)`
//! would cancel). No row-wide reduction, so no second pass. NaN logits are caught by a
//! lane flag (`select_nan`) and only then is the row rescanned for the column to name.
//!
//! ## Infinite logits
//! `l = +inf` is a certain 1 (`sigmoid(+inf) = 1`): `y = 1` and `hard = 1` exactly, and the
//! gradient is exactly 0 (`y (1 - y) = 0`). `l = -inf` is a certain 0: `y = 0`, `hard = 0`,
//! gradient 0. (`z = +-inf` gives `e = exp(-inf) = 0`, so the formulas above produce these
//! values without a special case.) Both are accepted, unlike the `+inf` of a categorical
//! row; only NaN is an error. The log-density has no value there (the law is a point mass)
//! and rejects them.
//!
//! ## Backward: one pass, memory bound
//! `dl = c (dy (y (1 - y)))`, and with [`TempGrad::Compute`] `t = sum dy y (1 - y) z` with
//! `z = ln y - ln(1 - y)`, the logit of `y`: no stored noise. `ln` of `max(y, MIN_POSITIVE)`
//! and of `max(1 - y, MIN_POSITIVE)` keeps the polynomial on its domain; where `y = 0` or
//! `y = 1` the factor `y (1 - y)` is exactly 0, so the term is exactly 0 (never `0 * inf`).
//!
//! ## Accuracy near y = 1
//! The backward sees only `y`, and `1 - y` is known to an absolute `u/2` (`y`'s rounding):
//! relative accuracy of the gradient falls as `y -> 1` (`u / (2 (1 - y))`), and for
//! `z > 16.6` (`f32`) `y` rounds to 1 and the gradient is 0. The side `y -> 0` keeps full
//! relative precision. PyTorch's `RelaxedBernoulli` (sigmoid backward from its output) has
//! the same property.

use std::mem::MaybeUninit;

use super::fused::dtemp_from_rows;
use super::rng::{CallKey, GumbelRng, LaneRng};
use super::uninit::write_rows;
use super::{Output, TempGrad, Temperature};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::ops::softmax::RowFault;
use crate::parallel;
use crate::simd::SimdFloat;
use crate::tensor::Tensor;

/// Caller-given noise for [`binary_concrete_with_noise`], with the shape of the logits.
#[derive(Debug, Clone, Copy)]
pub enum BinaryNoise<'a, T: Element> {
    /// Logistic noise `L`, used as is. Must be finite.
    Logistic(&'a Tensor<T>),
    /// Uniforms `u` in `[MIN_POSITIVE, 1)`, turned into `L = ln(u / (1 - u))` exactly as
    /// the generator's uniforms are (so `BinaryNoise::Uniform(&uniform_noise(..))`
    /// reproduces [`binary_concrete`] bit for bit). Anything else is an error.
    Uniform(&'a Tensor<T>),
}

/// The result of a binary Concrete forward pass.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryConcrete<T: Element> {
    /// The relaxed sample `sigmoid(c (l + L))`, shape of the logits.
    pub y: Tensor<T>,
    /// With [`Output::Hard`]: the Bernoulli sample `[l + L > 0]` (0 or 1) with the same
    /// noise, for the straight-through estimator: forward `hard`, take the gradient through
    /// `y` (pass `dy` for `hard` to [`binary_concrete_backward`] unchanged). `hard = 1`
    /// implies `y >= 1/2`, `hard = 0` implies `y <= 1/2`.
    pub hard: Option<Tensor<T>>,
}

/// Which variable a binary Concrete density is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// The logit `x = logit(y) = c (l + L)`, any finite real: the stable form.
    Logit,
    /// The relaxed sample `y = sigmoid(x)`, strictly inside `(0, 1)`:
    /// `ln p(y) = ln p(x) - ln y - ln(1 - y)` (the Jacobian `dx/dy = 1 / (y (1 - y))`).
    Unit,
}

// ---------------------------------------------------------------------------------------
// Noise
// ---------------------------------------------------------------------------------------

/// `L = ln(u / (1 - u))` lane-wise, for `u` on the uniform grid (or anywhere in
/// `[MIN_POSITIVE, 1)`: `1 - u >= EPSILON / 2` is exact there, and the quotient lies in
/// `[MIN_POSITIVE, 2 / EPSILON]`, normal, the `ln` polynomial's domain). One `ln` and a
/// division instead of `ln u - ln(1 - u)`: cheaper (the `ln` is the larger cost), and more
/// accurate near `u = 1/2` (the quotient's rounding is an absolute `u_T` in `L`, against
/// `2^-23 (|ln u| + |ln(1 - u)|)` for the difference).
#[inline(always)]
pub(crate) fn logistic_lanes<T: Element>(u: T::Lanes) -> T::Lanes {
    T::ln_lanes(u / (T::Lanes::splat(T::ONE) - u))
}

/// Scalar twin of [`logistic_lanes`] (bitwise identical).
#[inline(always)]
pub(crate) fn logistic_scalar<T: Element>(u: T) -> T {
    T::ln_scalar(u / (T::ONE - u))
}

/// Where a row kernel gets its logistic noise: the row's generator or a caller's tensor.
trait LogisticSource<T: Element> {
    /// Noise for elements `start .. start + len` of the row (`len <= LANES`) in the first
    /// `len` lanes, finite filler in the others. Calls come in order of `start`.
    fn logistic(&mut self, start: usize, len: usize) -> T::Lanes;
}

/// The row's own stream: one generator step per vector (the Gumbel kernels' layout).
struct RowStream(LaneRng);

impl RowStream {
    #[inline]
    fn new(key: CallKey, row: usize) -> Self {
        RowStream(LaneRng::new(key.row_key(row)))
    }
}

impl<T: Element> LogisticSource<T> for RowStream {
    #[inline(always)]
    fn logistic(&mut self, _start: usize, _len: usize) -> T::Lanes {
        logistic_lanes::<T>(T::uniforms(self.0.next()))
    }
}

/// Caller-given logistic noise (one row of it).
struct GivenLogistic<'a, T>(&'a [T]);

impl<T: Element> LogisticSource<T> for GivenLogistic<'_, T> {
    #[inline(always)]
    fn logistic(&mut self, start: usize, len: usize) -> T::Lanes {
        if len == T::Lanes::LANES {
            T::Lanes::load(&self.0[start..])
        } else {
            T::Lanes::load_or(&self.0[start..start + len], T::ZERO)
        }
    }
}

/// Caller-given uniforms (one row of them), turned into logistic noise as the generator's.
struct GivenUniform<'a, T>(&'a [T]);

impl<T: Element> LogisticSource<T> for GivenUniform<'_, T> {
    #[inline(always)]
    fn logistic(&mut self, start: usize, len: usize) -> T::Lanes {
        let u = if len == T::Lanes::LANES {
            T::Lanes::load(&self.0[start..])
        } else {
            T::Lanes::load_or(&self.0[start..start + len], T::from_f64(0.5))
        };
        logistic_lanes::<T>(u)
    }
}

// ---------------------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------------------

/// `(y, hard)` of one vector: `p = l + L`, `z = c p`, `e = exp(-|z|)`,
/// `y = (z >= 0 ? 1 : e) / (1 + e)`, `hard = [p > 0]`.
///
/// `-|z| <= 0` is the `exp` polynomial's domain; `z = +-inf` (infinite logits, or an
/// overflowing `c p`) gives `e = 0` and `y = 1` or `0` exactly. The polynomial keeps
/// `e <= 1` for arguments `<= 0`, so `y >= 1/2` when `z >= 0` (the rounded quotient
/// `1 / (1 + e)` with `1 + e <= 2`) and `y <= 1/2` when `z < 0` (`e / (1 + e)`), and `z`
/// has the sign of `p` (or is a zero): `y` and `hard` never disagree about the side of 1/2.
#[inline(always)]
fn sigmoid_lanes<T: Element>(lv: T::Lanes, g: T::Lanes, c: T::Lanes) -> (T::Lanes, T::Lanes) {
    let (zero, one) = (T::Lanes::splat(T::ZERO), T::Lanes::splat(T::ONE));
    let p = lv + g;
    let z = p * c;
    let e = T::exp_lanes(-z.abs());
    let y = z.select_ge(zero, one, e) / (one + e);
    (y, p.select_gt(zero, one, zero))
}

/// The first NaN logit of a row (the cold path after the NaN flag fires).
#[cold]
fn find_nan<T: Element>(l: &[T]) -> RowFault {
    let col = l
        .iter()
        .position(|x| x.is_nan())
        .expect("the flag fires only on a NaN logit");
    RowFault::NonFinite {
        col,
        value: l[col].to_f64(),
    }
}

/// The forward on one row: writes `y` (and `hard` if `HARD`; `h` is ignored otherwise).
/// Initialises every element of `y` (and of `h` if `HARD`) whether or not it returns `Ok`.
#[inline(always)]
fn forward_row_impl<T: Element, S: LogisticSource<T>, const HARD: bool>(
    l: &[T],
    noise: &mut S,
    c: T,
    y: &mut [MaybeUninit<T>],
    h: &mut [MaybeUninit<T>],
) -> std::result::Result<(), RowFault> {
    debug_assert_eq!(l.len(), y.len());
    debug_assert!(!HARD || h.len() == y.len());
    let n = T::Lanes::LANES;
    let cv = T::Lanes::splat(c);
    let one = T::Lanes::splat(T::ONE);
    // one lane turns 1 (and stays 1) where a logit is NaN
    let mut nan = T::Lanes::splat(T::ZERO);
    let mut ls = l.chunks_exact(n);
    let mut ys = y.chunks_exact_mut(n);
    let mut col = 0;
    // LOOP 1: whole vectors of the row
    for (a, o) in ls.by_ref().zip(ys.by_ref()) {
        let lv = T::Lanes::load(a);
        nan = lv.select_nan(one, nan);
        let (yv, hv) = sigmoid_lanes::<T>(lv, noise.logistic(col, n), cv);
        yv.store_uninit(o);
        if HARD {
            hv.store_uninit(&mut h[col..col + n]);
        }
        col += n;
    }
    // tail: padded with zero logits (finite, never NaN)
    let (lt, yt) = (ls.remainder(), ys.into_remainder());
    if !lt.is_empty() {
        let lv = T::Lanes::load_or(lt, T::ZERO);
        nan = lv.select_nan(one, nan);
        let (yv, hv) = sigmoid_lanes::<T>(lv, noise.logistic(col, lt.len()), cv);
        yv.store_part_uninit(yt);
        if HARD {
            hv.store_part_uninit(&mut h[col..]);
        }
    }
    if nan.reduce_add() != T::ZERO {
        return Err(find_nan(l));
    }
    Ok(())
}

/// [`forward_row_impl`] with or without the hard output.
#[inline(always)]
fn forward_row<T: Element, S: LogisticSource<T>>(
    l: &[T],
    noise: &mut S,
    c: T,
    y: &mut [MaybeUninit<T>],
    h: Option<&mut [MaybeUninit<T>]>,
) -> std::result::Result<(), RowFault> {
    match h {
        Some(h) => forward_row_impl::<T, S, true>(l, noise, c, y, h),
        None => forward_row_impl::<T, S, false>(l, noise, c, y, &mut []),
    }
}

/// Rows of a buffer that several threads write, each its own rows.
struct RowsPtr<T> {
    ptr: *mut MaybeUninit<T>,
    cols: usize,
}

// SAFETY: a RowsPtr only hands out row `r` to the call that processes row `r`
// (`parallel::map_rows_mut` gives each row index to exactly one call), so no two threads
// touch the same element.
unsafe impl<T: Send> Sync for RowsPtr<T> {}
unsafe impl<T: Send> Send for RowsPtr<T> {}

impl<T> RowsPtr<T> {
    /// Row `r`.
    ///
    /// # Safety
    /// Row `r` must lie inside the buffer, and no other live reference may cover it.
    #[allow(clippy::mut_from_ref)]
    unsafe fn row(&self, r: usize) -> &mut [MaybeUninit<T>] {
        // SAFETY: passed on from the caller.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(r * self.cols), self.cols) }
    }
}

/// A row kernel of the forward: `(row, logits row, y row, hard row) -> Ok or the fault`.
type RowFn<'a, T> = dyn Fn(
        usize,
        &[T],
        &mut [MaybeUninit<T>],
        Option<&mut [MaybeUninit<T>]>,
    ) -> std::result::Result<(), RowFault>
    + Sync
    + Send
    + 'a;

/// Runs `row_fn` on every row of a new `y` (and a new `hard` with [`Output::Hard`]) in
/// parallel; the error of the first failing row (the same row for any thread count).
///
/// # Safety
/// `row_fn` must initialise every element of its `y` row, and of its `hard` row when it
/// gets one, whenever it returns `Ok`.
unsafe fn run_forward<T: Element>(
    op: &'static str,
    logits: &Tensor<T>,
    output: Output,
    row_fn: &RowFn<'_, T>,
) -> Result<BinaryConcrete<T>> {
    let shape = logits.shape();
    match output {
        Output::Soft => {
            // SAFETY: passed on from the caller.
            let written = unsafe { write_rows(shape, |r, yr| row_fn(r, logits.row(r), yr, None)) };
            let (y, _) = written.map_err(|(r, f)| f.into_error(op, r))?;
            Ok(BinaryConcrete { y, hard: None })
        }
        Output::Hard => {
            let numel = logits.numel();
            let mut hard: Vec<T> = Vec::with_capacity(numel);
            let rows = RowsPtr {
                ptr: hard.spare_capacity_mut().as_mut_ptr(),
                cols: logits.cols(),
            };
            // SAFETY: write_rows calls the closure once per row index r < rows, each row of
            // `hard` lies inside its `numel` elements of capacity, and the row is handed to
            // that call only.
            let written = unsafe {
                write_rows(shape, |r, yr| {
                    row_fn(r, logits.row(r), yr, Some(rows.row(r)))
                })
            };
            let (y, _) = written.map_err(|(r, f)| f.into_error(op, r))?;
            // SAFETY: every row returned Ok, so (by the caller's contract) every row of
            // `hard`, hence all `numel` elements, is initialised.
            unsafe { hard.set_len(numel) };
            let hard =
                Tensor::new(shape.to_vec(), hard).expect("numel is the product of the shape");
            Ok(BinaryConcrete {
                y,
                hard: Some(hard),
            })
        }
    }
}

/// Binary Concrete (RelaxedBernoulli) forward, fused: for every element,
///
/// ```text
/// y    = sigmoid(c (l + L)),   c = 1/tau or beta,   L = ln(u / (1 - u)) from `rng`
/// hard = [l + L > 0]           (with `Output::Hard`: a sample of Bernoulli(sigmoid(l)))
/// ```
///
/// in one read of the logits and one write of `y`. Any shape (a scalar too); the noise
/// streams run along the last dimension: element `j` of row `r` uses the stream of
/// `(seed, counter, r)`, so the result is bitwise the same for any number of threads.
/// Consumes one counter value of `rng` on success.
///
/// `l = +inf` gives `y = hard = 1`, `l = -inf` gives `y = hard = 0` (certain outcomes;
/// their gradient is exactly 0). Errors: an invalid temperature, a NaN logit (naming the
/// first bad row and its column).
///
/// ```
/// use gumbel_tensor::Tensor;
/// use gumbel_tensor::ops::gumbel::{binary_concrete, GumbelRng, Output, Temperature};
/// let l = Tensor::new([1, 3], vec![f64::NEG_INFINITY, 0.0, f64::INFINITY]).unwrap();
/// let mut rng = GumbelRng::new(42);
/// let s = binary_concrete(&l, Temperature::Tau(0.5), &mut rng, Output::Hard).unwrap();
/// assert_eq!((s.y.row(0)[0], s.y.row(0)[2]), (0.0, 1.0));
/// let hard = s.hard.unwrap();
/// assert_eq!((hard.row(0)[0], hard.row(0)[2]), (0.0, 1.0));
/// // the middle element: hard is 1 exactly when y >= 1/2
/// assert_eq!(hard.row(0)[1] == 1.0, s.y.row(0)[1] >= 0.5);
/// assert_eq!(rng.counter(), 1);
/// ```
pub fn binary_concrete<T: Element>(
    logits: &Tensor<T>,
    temp: Temperature<T>,
    rng: &mut GumbelRng,
    output: Output,
) -> Result<BinaryConcrete<T>> {
    const OP: &str = "binary_concrete";
    let c = temp.scale(OP)?;
    let key = rng.call_key();
    // SAFETY: forward_row initialises its rows (whether or not it returns Ok).
    let out = unsafe {
        run_forward(OP, logits, output, &|r, l, y, h| {
            forward_row(l, &mut RowStream::new(key, r), c, y, h)
        })
    }?;
    rng.advance();
    Ok(out)
}

/// [`binary_concrete`] with caller-given noise: [`BinaryNoise::Logistic`]`(L)` is added as
/// is, [`BinaryNoise::Uniform`]`(u)` becomes `L = ln(u / (1 - u))` exactly as the
/// generator's uniforms do (so `BinaryNoise::Uniform(&uniform_noise(..))` reproduces
/// [`binary_concrete`] bit for bit). For tests and studies that need fixed noise.
///
/// Errors as [`binary_concrete`], plus: noise of another shape, non-finite `L`, `u` outside
/// `[MIN_POSITIVE, 1)` (naming row and column). `l + L` may overflow to `+-inf`: that is
/// `y = 1` or `0`, as for an infinite logit.
///
/// ```
/// use gumbel_tensor::Tensor;
/// use gumbel_tensor::ops::gumbel::{binary_concrete_with_noise, BinaryNoise, Output, Temperature};
/// // l = ln 3, L = 0, tau = 1: y = sigmoid(ln 3) = 3/4.
/// let l = Tensor::new([1, 1], vec![3f64.ln()]).unwrap();
/// let noise = Tensor::zeros([1, 1]);
/// let s = binary_concrete_with_noise(&l, BinaryNoise::Logistic(&noise), Temperature::Tau(1.0),
///     Output::Soft).unwrap();
/// assert!((s.y.as_slice()[0] - 0.75).abs() < 1e-15);
/// ```
pub fn binary_concrete_with_noise<T: Element>(
    logits: &Tensor<T>,
    noise: BinaryNoise<'_, T>,
    temp: Temperature<T>,
    output: Output,
) -> Result<BinaryConcrete<T>> {
    const OP: &str = "binary_concrete_with_noise";
    let c = temp.scale(OP)?;
    check_noise(OP, logits, noise)?;
    // SAFETY: forward_row initialises its rows (whether or not it returns Ok).
    unsafe {
        match noise {
            BinaryNoise::Logistic(g) => run_forward(OP, logits, output, &|r, l, y, h| {
                forward_row(l, &mut GivenLogistic(g.row(r)), c, y, h)
            }),
            BinaryNoise::Uniform(u) => run_forward(OP, logits, output, &|r, l, y, h| {
                forward_row(l, &mut GivenUniform(u.row(r)), c, y, h)
            }),
        }
    }
}

/// Checks caller-given noise: shape, finiteness of `L`, `u` in `[MIN_POSITIVE, 1)`.
fn check_noise<T: Element>(
    op: &'static str,
    logits: &Tensor<T>,
    noise: BinaryNoise<'_, T>,
) -> Result<()> {
    let (t, ok, what): (&Tensor<T>, fn(T) -> bool, &str) = match noise {
        BinaryNoise::Logistic(g) => (g, |x: T| x.is_finite(), "logistic noise must be finite"),
        BinaryNoise::Uniform(u) => (
            u,
            |x: T| x >= T::MIN_POSITIVE && x < T::ONE,
            "uniform noise must lie in (0, 1) and be a normal number",
        ),
    };
    logits.expect_same_shape(op, t)?;
    if let Some(i) = t.as_slice().iter().position(|&x| !ok(x)) {
        let cols = t.cols();
        return Err(Error::invalid_argument(
            op,
            format!(
                "{what}: row {}, column {} holds {}",
                i / cols,
                i % cols,
                t.as_slice()[i]
            ),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Backward
// ---------------------------------------------------------------------------------------

/// The backward on one row: writes `dx = c (dy (y (1 - y)))` and returns
/// `sum_i dy_i y_i (1 - y_i) z_i`, `z_i = ln y_i - ln(1 - y_i)`, if `WANT_DTEMP` (else 0).
///
/// Derivation (docs/math.md): `y = sigmoid(z)`, `z = c (l + L)`, `dy/dz = y (1 - y)`, so
/// `dL/dz = dy y (1 - y) =: a`, `dL/dl = c a` and `dL/dc = sum a (l + L) = (1/c) sum a z`;
/// `z = logit(y) = ln y - ln(1 - y)` needs no stored noise. `y = 0` or `y = 1` (infinite
/// or saturated logits) make `a` exactly 0, and the clamped logarithms keep `z` finite, so
/// those terms are exactly 0; a subnormal `y` uses `ln(MIN_POSITIVE)` for `ln y`, a term
/// below `|a| 88 < 1e-36` (`f32`). Initialises every element of `dx`.
#[inline(always)]
fn backward_row<T: Element, const WANT_DTEMP: bool>(
    y: &[T],
    dy: &[T],
    c: T,
    dx: &mut [MaybeUninit<T>],
) -> T {
    let n = T::Lanes::LANES;
    let cv = T::Lanes::splat(c);
    let one = T::Lanes::splat(T::ONE);
    let tiny = T::Lanes::splat(T::MIN_POSITIVE);
    let mut t = T::Lanes::splat(T::ZERO);
    let mut step = |yv: T::Lanes, dv: T::Lanes| -> T::Lanes {
        let q = one - yv;
        let a = dv * (yv * q);
        if WANT_DTEMP {
            let z = T::ln_lanes(yv.fast_max(tiny)) - T::ln_lanes(q.fast_max(tiny));
            t += a * z;
        }
        a * cv
    };
    let (mut ys, mut ds, mut xs) = (
        y.chunks_exact(n),
        dy.chunks_exact(n),
        dx.chunks_exact_mut(n),
    );
    // LOOP 1: whole vectors
    for ((a, b), o) in ys.by_ref().zip(ds.by_ref()).zip(xs.by_ref()) {
        step(T::Lanes::load(a), T::Lanes::load(b)).store_uninit(o);
    }
    // tail: padded with y = 0, dy = 0, whose term is exactly 0
    let xt = xs.into_remainder();
    if !xt.is_empty() {
        let yv = T::Lanes::load_or(ys.remainder(), T::ZERO);
        let dv = T::Lanes::load_or(ds.remainder(), T::ZERO);
        step(yv, dv).store_part_uninit(xt);
    }
    if WANT_DTEMP { t.reduce_add() } else { T::ZERO }
}

/// Binary Concrete backward, fused: given the forward's `y` and the upstream gradient `dy`,
///
/// ```text
/// a     = dy * y * (1 - y)                                   elementwise
/// dl    = a / tau         (Tau)    or  beta * a               (Beta)
/// dtau  = -(1/tau) sum a z,    z = ln y - ln(1 - y)           (Tau,  with TempGrad::Compute)
/// dbeta =  (1/beta) sum a z                                   (Beta, with TempGrad::Compute)
/// ```
///
/// (`dtau = -sum a (l + L) / tau^2` with `z = (l + L)/tau` recovered from `y`: no stored
/// noise; docs/math.md.) The temperature gradient sums rows in row order (bitwise the
/// same for any thread count). `y = 0` or `1` (infinite or saturated logits) give `dl = 0`
/// and add nothing. For the straight-through estimator pass the gradient of `hard` as `dy`.
///
/// ```
/// use gumbel_tensor::Tensor;
/// use gumbel_tensor::ops::gumbel::{binary_concrete_backward, TempGrad, Temperature};
/// // y = 3/4, dy = 1, tau = 1/2: a = 3/16, dl = 3/8, z = ln 3, dtau = -2 (3/16) ln 3.
/// let y = Tensor::new([1, 2], vec![0.75f64, 1.0]).unwrap();
/// let dy = Tensor::new([1, 2], vec![1.0, 5.0]).unwrap();
/// let (dl, dtau) = binary_concrete_backward(&y, &dy, Temperature::Tau(0.5), TempGrad::Compute)
///     .unwrap();
/// assert_eq!(dl.as_slice(), &[0.375, 0.0]);
/// assert!((dtau.unwrap() + 0.375 * 3f64.ln()).abs() < 1e-15);
/// ```
pub fn binary_concrete_backward<T: Element>(
    y: &Tensor<T>,
    dy: &Tensor<T>,
    temp: Temperature<T>,
    temp_grad: TempGrad,
) -> Result<(Tensor<T>, Option<T>)> {
    const OP: &str = "binary_concrete_backward";
    let c = temp.scale(OP)?;
    y.expect_same_shape(OP, dy)?;
    // SAFETY: backward_row initialises every element of its dx row.
    let written = unsafe {
        write_rows(y.shape(), |r, o| {
            Ok::<T, ()>(match temp_grad {
                TempGrad::Compute => backward_row::<T, true>(y.row(r), dy.row(r), c, o),
                TempGrad::Skip => backward_row::<T, false>(y.row(r), dy.row(r), c, o),
            })
        })
    };
    let (dx, parts) = written.expect("backward rows cannot fail");
    Ok((dx, temp_grad.then(|| dtemp_from_rows(temp, &parts))))
}

// ---------------------------------------------------------------------------------------
// Log-density
// ---------------------------------------------------------------------------------------

/// `tau` of a temperature (`1/beta` for the Beta form), in `f64`, after validating it.
fn tau_f64<T: Element>(op: &'static str, temp: Temperature<T>) -> Result<f64> {
    let c = temp.scale(op)?;
    Ok(match temp {
        Temperature::Tau(tau) => tau.to_f64(),
        Temperature::Beta(_) => 1.0 / c.to_f64(),
    })
}

/// Checks one `(logit, sample)` pair of the density and returns `(l, x)` in `f64`, with
/// `x` the logit of the sample.
fn density_inputs<T: Element>(
    op: &'static str,
    row: usize,
    col: usize,
    l: T,
    v: T,
    space: Space,
) -> Result<(f64, f64)> {
    if l.is_nan() {
        return Err(Error::NonFiniteLogit {
            op,
            row,
            col,
            value: l.to_f64(),
        });
    }
    if !l.is_finite() {
        return Err(Error::invalid_argument(
            op,
            format!(
                "row {row}, column {col}: logit is {l}: the binary Concrete is then a point \
                 mass at y = {} and has no density",
                if l > T::ZERO { 1 } else { 0 }
            ),
        ));
    }
    let x = match space {
        Space::Logit => {
            if !v.is_finite() {
                return Err(Error::invalid_argument(
                    op,
                    format!("row {row}, column {col}: x is {v}; the logit x must be finite"),
                ));
            }
            v.to_f64()
        }
        Space::Unit => {
            if !(v > T::ZERO && v < T::ONE) {
                return Err(Error::invalid_argument(
                    op,
                    format!("row {row}, column {col}: y is {v}; y must lie strictly inside (0, 1)"),
                ));
            }
            let y = v.to_f64();
            y.ln() - (-y).ln_1p()
        }
    };
    Ok((l.to_f64(), x))
}

/// `ln(1 + e^-|s|)`-based log-density of the logit `x` at `s = l - tau x`:
/// `ln tau - |s| - 2 ln(1 + e^-|s|)`.
#[inline]
fn log_density_logit(tau: f64, s: f64) -> f64 {
    tau.ln() - s.abs() - 2.0 * (-s.abs()).exp().ln_1p()
}

/// The Jacobian term of [`Space::Unit`]: `-ln y - ln(1 - y) = |x| + 2 ln(1 + e^-|x|)` for
/// `x = logit y` (both equal `softplus(x) + softplus(-x)`).
#[inline]
fn log_jacobian(x: f64) -> f64 {
    x.abs() + 2.0 * (-x.abs()).exp().ln_1p()
}

/// Binary Concrete log-density, elementwise (output: the shape of `logits`): for the
/// relaxed sample `y = sigmoid(x)` with `x = (l + L)/tau` (`x = beta (l + L)`),
///
/// ```text
/// Space::Logit:  ln p(x) = ln tau + l - tau x - 2 softplus(l - tau x)
///                        = ln tau - |s| - 2 ln(1 + e^-|s|),        s = l - tau x
/// Space::Unit:   ln p(y) = ln p(x) - ln y - ln(1 - y),             x = logit(y)
/// ```
///
/// (Maddison, Mnih and Teh's `BinConcrete(alpha = e^l, lambda = tau)`; docs/math.md
/// derives it from the logistic density.) Computed in `f64` and rounded to `T`. The logit
/// form is the stable one: it never forms `y` near 1, where `f32` has no resolution; in
/// the unit form `x` is recovered as `ln y - ln_1p(-y)`.
///
/// Errors: an invalid temperature, shape mismatch, a NaN logit ([`Error::NonFiniteLogit`]),
/// an infinite logit (a point mass: no density), a non-finite `x` or a `y` outside the open
/// interval `(0, 1)` (naming row and column).
///
/// ```
/// use gumbel_tensor::Tensor;
/// use gumbel_tensor::ops::gumbel::{binary_concrete_log_density, Space, Temperature};
/// // l = 0, tau = 1, x = 0: the logistic density at 0 is 1/4.
/// let l = Tensor::new([1], vec![0.0f64]).unwrap();
/// let x = Tensor::new([1], vec![0.0f64]).unwrap();
/// let lp = binary_concrete_log_density(&l, &x, Temperature::Tau(1.0), Space::Logit).unwrap();
/// assert!((lp.as_slice()[0] - 0.25f64.ln()).abs() < 1e-15);
/// // y = sigmoid(0) = 1/2: ln p(y) = ln p(x) - 2 ln(1/2) = 0 (the uniform density).
/// let y = Tensor::new([1], vec![0.5f64]).unwrap();
/// let lp = binary_concrete_log_density(&l, &y, Temperature::Tau(1.0), Space::Unit).unwrap();
/// assert!(lp.as_slice()[0].abs() < 1e-15);
/// ```
pub fn binary_concrete_log_density<T: Element>(
    logits: &Tensor<T>,
    sample: &Tensor<T>,
    temp: Temperature<T>,
    space: Space,
) -> Result<Tensor<T>> {
    const OP: &str = "binary_concrete_log_density";
    let tau = tau_f64(OP, temp)?;
    logits.expect_same_shape(OP, sample)?;
    // SAFETY: the row closure writes every element of its row before returning Ok.
    let written = unsafe {
        write_rows(logits.shape(), |r, out| {
            for (j, ((o, &l), &v)) in out
                .iter_mut()
                .zip(logits.row(r))
                .zip(sample.row(r))
                .enumerate()
            {
                let (l, x) = density_inputs(OP, r, j, l, v, space)?;
                let mut lp = log_density_logit(tau, l - tau * x);
                if space == Space::Unit {
                    lp += log_jacobian(x);
                }
                o.write(T::from_f64(lp));
            }
            Ok(())
        })
    };
    Ok(written.map_err(|(_, e)| e)?.0)
}

/// Gradients of [`binary_concrete_log_density`], as a backward: given the upstream
/// gradient `dlogp` (shape of the logits) of `ln p`,
///
/// ```text
/// d ln p / dl    = 1 - 2 sigmoid(s) = -tanh(s/2),               s = l - tau x
/// d ln p / dtau  = 1/tau - x (1 - 2 sigmoid(s)) = 1/tau + x tanh(s/2)
/// d ln p / dbeta = -tau^2 d ln p / dtau                         (beta = 1/tau)
/// dl    = dlogp * d ln p / dl                                   elementwise
/// dtemp = sum dlogp * d ln p / dtau   (or / dbeta)              summed in row order
/// ```
///
/// at fixed `x` (or `y`: the Jacobian term does not depend on `l` or `tau`, so both spaces
/// have the same gradients). Computed in `f64`, rounded to `T`. Errors as the density's,
/// plus a `dlogp` of another shape.
///
/// ```
/// use gumbel_tensor::Tensor;
/// use gumbel_tensor::ops::gumbel::{binary_concrete_log_density_backward, Space, Temperature};
/// // l = 0, x = 0, tau = 2: s = 0, d/dl = 0, d/dtau = 1/2.
/// let z = Tensor::new([1], vec![0.0f64]).unwrap();
/// let one = Tensor::new([1], vec![1.0f64]).unwrap();
/// let (dl, dtau) =
///     binary_concrete_log_density_backward(&z, &z, Temperature::Tau(2.0), Space::Logit, &one)
///         .unwrap();
/// assert_eq!((dl.as_slice()[0], dtau), (0.0, 0.5));
/// ```
pub fn binary_concrete_log_density_backward<T: Element>(
    logits: &Tensor<T>,
    sample: &Tensor<T>,
    temp: Temperature<T>,
    space: Space,
    dlogp: &Tensor<T>,
) -> Result<(Tensor<T>, T)> {
    const OP: &str = "binary_concrete_log_density_backward";
    let tau = tau_f64(OP, temp)?;
    logits.expect_same_shape(OP, sample)?;
    logits.expect_same_shape(OP, dlogp)?;
    // SAFETY: the row closure writes every element of its row before returning Ok.
    let written = unsafe {
        write_rows(logits.shape(), |r, out| {
            let mut t = 0.0f64;
            for (j, (o, (&l, (&v, &g)))) in out
                .iter_mut()
                .zip(
                    logits
                        .row(r)
                        .iter()
                        .zip(sample.row(r).iter().zip(dlogp.row(r))),
                )
                .enumerate()
            {
                let (l, x) = density_inputs(OP, r, j, l, v, space)?;
                let th = (0.5 * (l - tau * x)).tanh();
                let g = g.to_f64();
                o.write(T::from_f64(-g * th));
                t += g * (1.0 / tau + x * th);
            }
            Ok(t)
        })
    };
    let (dl, parts) = written.map_err(|(_, e)| e)?;
    let dtau: f64 = parts.iter().sum();
    let dtemp = match temp {
        Temperature::Tau(_) => dtau,
        Temperature::Beta(_) => -tau * tau * dtau,
    };
    Ok((dl, T::from_f64(dtemp)))
}

// ---------------------------------------------------------------------------------------
// Scalar references
// ---------------------------------------------------------------------------------------

/// Scalar references: the same noise (rand_xoshiro lanes, scalar uniform mapping, the
/// scalar `ln` twin, so `L` is bitwise the SIMD kernel's), then plain loops with `std`'s
/// `exp` and `ln` in `T`. Used by the tests as the reference and by the benchmarks as
/// "scalar".
pub mod scalar {
    use super::*;
    use crate::ops::gumbel::noise::scalar::uniform_row;

    /// One element of the reference forward: `(y, hard)` from `p = l + L` (rounded to `T`),
    /// `z = c p`, `e = exp(-|z|)` (std), `y = (z >= 0 ? 1 : e) / (1 + e)`.
    #[inline]
    pub(crate) fn sigmoid_ref<T: Element>(l: T, g: T, c: T) -> (T, T) {
        let p = l + g;
        let z = p * c;
        let e = (-z.abs()).exp();
        let num = if z >= T::ZERO { T::ONE } else { e };
        (
            num / (T::ONE + e),
            if p > T::ZERO { T::ONE } else { T::ZERO },
        )
    }

    /// One row of the reference forward with the noise `L` given.
    fn forward_row_ref<T: Element>(
        l: &[T],
        g: &[T],
        c: T,
        y: &mut [MaybeUninit<T>],
        h: Option<&mut [MaybeUninit<T>]>,
    ) -> std::result::Result<(), RowFault> {
        if let Some(col) = l.iter().position(|x| x.is_nan()) {
            return Err(RowFault::NonFinite {
                col,
                value: l[col].to_f64(),
            });
        }
        let mut h = h;
        for (j, ((yi, &li), &gi)) in y.iter_mut().zip(l).zip(g).enumerate() {
            let (yv, hv) = sigmoid_ref(li, gi, c);
            yi.write(yv);
            if let Some(h) = h.as_deref_mut() {
                h[j].write(hv);
            }
        }
        Ok(())
    }

    /// Reference [`binary_concrete`](super::binary_concrete): same noise, same contract.
    pub fn binary_concrete<T: Element>(
        logits: &Tensor<T>,
        temp: Temperature<T>,
        rng: &mut GumbelRng,
        output: Output,
    ) -> Result<BinaryConcrete<T>> {
        const OP: &str = "scalar::binary_concrete";
        let c = temp.scale(OP)?;
        let key = rng.call_key();
        // SAFETY: forward_row_ref initialises its rows whenever it returns Ok.
        let out = unsafe {
            run_forward(OP, logits, output, &|r, l, y, h| {
                let mut g = vec![T::ZERO; l.len()];
                uniform_row(key, r, &mut g);
                g.iter_mut().for_each(|x| *x = logistic_scalar(*x));
                forward_row_ref(l, &g, c, y, h)
            })
        }?;
        rng.advance();
        Ok(out)
    }

    /// Reference [`binary_concrete_with_noise`](super::binary_concrete_with_noise).
    pub fn binary_concrete_with_noise<T: Element>(
        logits: &Tensor<T>,
        noise: BinaryNoise<'_, T>,
        temp: Temperature<T>,
        output: Output,
    ) -> Result<BinaryConcrete<T>> {
        const OP: &str = "scalar::binary_concrete_with_noise";
        let c = temp.scale(OP)?;
        check_noise(OP, logits, noise)?;
        // SAFETY: forward_row_ref initialises its rows whenever it returns Ok.
        unsafe {
            run_forward(OP, logits, output, &|r, l, y, h| {
                let g: Vec<T> = match noise {
                    BinaryNoise::Logistic(g) => g.row(r).to_vec(),
                    BinaryNoise::Uniform(u) => {
                        u.row(r).iter().map(|&x| logistic_scalar(x)).collect()
                    }
                };
                forward_row_ref(l, &g, c, y, h)
            })
        }
    }

    /// Reference [`binary_concrete_backward`](super::binary_concrete_backward): plain
    /// loops, `std`'s `ln`; terms with `y` subnormal, 0 or 1 skipped. `dl` is computed with
    /// the same operations in the same order as the SIMD kernel (bitwise equal).
    pub fn binary_concrete_backward<T: Element>(
        y: &Tensor<T>,
        dy: &Tensor<T>,
        temp: Temperature<T>,
        temp_grad: TempGrad,
    ) -> Result<(Tensor<T>, Option<T>)> {
        const OP: &str = "scalar::binary_concrete_backward";
        let c = temp.scale(OP)?;
        y.expect_same_shape(OP, dy)?;
        let mut dx = Tensor::zeros(y.shape().to_vec());
        let parts = parallel::map_rows_mut(dx.as_mut_slice(), y.cols(), |r, o| {
            let mut t = T::ZERO;
            for ((oi, &yi), &di) in o.iter_mut().zip(y.row(r)).zip(dy.row(r)) {
                let q = T::ONE - yi;
                let a = di * (yi * q);
                *oi = a * c;
                if yi >= T::MIN_POSITIVE && yi < T::ONE {
                    t += a * (yi.ln() - q.ln());
                }
            }
            t
        });
        Ok((dx, temp_grad.then(|| dtemp_from_rows(temp, &parts))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::gumbel::noise::scalar::uniform_row;
    use crate::random::{uniform_f32, uniform_f64};

    /// The logistic noise is antisymmetric on the grid up to rounding: `1 - u` is exact, the
    /// quotients `q` and `1/q` are each rounded once (an absolute `2^-24` in `L` each), and
    /// each `ln` is within 1 ulp (`2^-23 |L|`): `|L(u) + L(1 - u)| <= 2^-23 (1 + 2 |L|)`.
    /// The SIMD kernel and its scalar twin agree bit for bit; `|L| <= 16.7` (`f32`) /
    /// `36.8` (`f64`) on the whole grid.
    #[test]
    fn logistic_noise_is_antisymmetric_up_to_rounding_and_twins_agree() {
        for k in (0u32..1 << 23).step_by(997).chain([0, (1 << 23) - 1]) {
            let (u, v) = (uniform_f32(k), uniform_f32((1 << 23) - 1 - k));
            assert_eq!(1.0 - u, v);
            let (a, b) = (logistic_scalar(u), logistic_scalar(v));
            let bound = 2f64.powi(-23) * (1.0 + 2.0 * (a as f64).abs());
            assert!(((a + b) as f64).abs() <= bound, "k {k}: {a} {b}");
            let lanes = logistic_lanes::<f32>(<f32 as Element>::Lanes::splat(u));
            assert_eq!(lanes.as_slice()[3].to_bits(), a.to_bits());
            assert!(a.is_finite() && a.abs() <= 16.7);
        }
        for k in [0u64, 1, 12345, (1 << 51) + 7, (1 << 52) - 1] {
            let (u, v) = (uniform_f64(k), uniform_f64((1 << 52) - 1 - k));
            assert_eq!(1.0 - u, v);
            let (a, b) = (logistic_scalar(u), logistic_scalar(v));
            assert!((a + b).abs() <= 4.0 * 2f64.powi(-52) * (1.0 + 2.0 * a.abs()));
            let lanes = logistic_lanes::<f64>(<f64 as Element>::Lanes::splat(u));
            assert_eq!(lanes.as_slice()[5].to_bits(), a.to_bits());
            assert!(a.abs() <= 36.8);
        }
    }

    /// The logistic noise against `ln u - ln(1 - u)` in f64 over the f32 grid: the quotient
    /// is rounded once (relative 2^-24, an absolute 2^-24 in `L`) and the `ln` is within
    /// 1 ulp (`2^-23 |L|`).
    #[test]
    fn logistic_noise_is_accurate_over_the_f32_grid() {
        for k in (0u32..1 << 23).step_by(61) {
            let u = uniform_f32(k);
            let want = (u as f64).ln() - (1.0 - u as f64).ln();
            let got = logistic_scalar(u) as f64;
            let bound = 2f64.powi(-24) + 2f64.powi(-23) * want.abs();
            assert!(
                (got - want).abs() <= bound * (1.0 + 1e-6),
                "u {u}: {got} vs {want}"
            );
        }
    }

    /// The row stream is the uniforms of `uniform_noise`, mapped by `logistic_scalar`.
    #[test]
    fn the_row_stream_draws_the_gumbel_kernels_uniforms() {
        let key = GumbelRng::new(4).call_key();
        for len in [1usize, 15, 16, 17, 100] {
            let mut u = vec![0.0f32; len];
            uniform_row(key, 2, &mut u);
            let mut s = RowStream::new(key, 2);
            for (i, chunk) in u.chunks(16).enumerate() {
                let v = LogisticSource::<f32>::logistic(&mut s, i * 16, chunk.len());
                for (j, &uj) in chunk.iter().enumerate() {
                    assert_eq!(v.as_slice()[j].to_bits(), logistic_scalar(uj).to_bits());
                }
            }
        }
    }
}
