//! The fused Gumbel-Softmax kernels: forward ([`gumbel_softmax`],
//! [`gumbel_softmax_with_noise`]) and backward ([`gumbel_softmax_backward`]) side by side,
//! the Gumbel-max sampler ([`gumbel_max`]), and their scalar references ([`scalar`]).
//!
//! ## Forward: one read of the logits, one write of `y` (docs/kernels.md, "Fused forward")
//! A row is processed in chunks of [`CHUNK`] elements, small enough that a chunk of `y`
//! and of the logits stay in L1 between the first two passes:
//!
//! ```text
//! for each chunk k:
//!   pass 1  p = l + g            noise drawn in registers, p stored into y, chunk max m_k
//!   pass 2  y = exp(c (p - m_k))  in place while the chunk is in L1, chunk sum s_k
//! after the row:
//!   M = max_k m_k,  S = sum_k s_k exp(c (m_k - M))
//!   pass 3  y *= exp(c (m_k - M)) / S     per chunk (the row is in L2)
//! ```
//!
//! This is the online softmax (Milakov and Gimelshein, 2018) at chunk granularity:
//! `exp(c (p_i - m_k)) exp(c (m_k - M)) = exp(c (p_i - M))`, so the result is the
//! softmax of `c (l + g)`. The scale `c` multiplies *after* the max is subtracted:
//! `c (p - m)` is `<= 0`, never overflows, and keeps the relative accuracy of the
//! difference; scaling first (`z = c p`) would round `z` at `|c p|` (for `|l| = 1e4` and
//! `tau = 1e-3`, `z ~ 1e7`, whose f32 ulp is 1: an error of e^0.5 in `y`).
//!
//! The Gumbel-max index is the first maximum of `p`: a chunk whose max beats the best so
//! far is scanned for the first position holding it (rare after the first chunks).
//! Errors are detected for free: every `p` is added into a *sentinel* vector, which stays
//! finite or `-inf` unless some `p` is NaN or `+inf`; only then is the row rescanned to
//! name the column.
//!
//! ## Backward: two passes over a row in L2 (docs/math.md, "The fused backward")
//! With `a = y * (dy - <dy, y>)`:
//! `dl = c a`, and `dtau = -(1/tau) sum_i a_i ln y_i`, `dbeta = (1/beta) sum_i a_i ln y_i`.
//! Pass 1 computes `<dy, y>`, pass 2 writes `dl` and (if asked) accumulates `a ln y`.
//! Terms with `y_i = 0` or subnormal `y_i` contribute exactly 0 (masked classes).

use std::mem::MaybeUninit;

use super::noise::{
    GivenGumbel, GivenUniform, NoiseSource, RowStream, UniformSource, exponential_lanes,
};
use super::rng::GumbelRng;
use super::uninit::{assume_init_mut, write_rows};
use super::{GumbelSoftmax, Noise, Output, TempGrad, Temperature};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::ops::softmax::RowFault;
use crate::parallel;
use crate::poly::fast_max;
use crate::simd::SimdFloat;
use crate::tensor::Tensor;

/// Elements per chunk of the forward pass: 8 KiB of `y` in `f32` (16 KiB in `f64`), so
/// that a chunk of `y` plus its logits fit the 32 KiB L1 data cache between pass 1 and
/// pass 2. A multiple of every lane count.
pub(crate) const CHUNK: usize = 2048;

/// Chunks whose `(max, sum)` fit on the stack; longer rows (over 131072 classes) use the
/// heap.
const STACK_CHUNKS: usize = 64;

/// The first NaN or `+inf` logit of a row, if any (the cold path after the sentinel fires).
#[cold]
fn find_non_finite<T: Element>(l: &[T]) -> Option<RowFault> {
    l.iter()
        .position(|x| x.is_nan() || *x == T::INFINITY)
        .map(|col| RowFault::NonFinite {
            col,
            value: l[col].to_f64(),
        })
}

/// The fault of a row whose sentinel (the lane sums of everything a pass added) is NaN or
/// `+inf`: some value was NaN or `+inf`, named by a rescan of the logits `l` -- or (a false
/// alarm) finite values overflowed the sum, which the rescan clears (`None`).
#[inline]
fn sentinel_fault<T: Element>(sentinel: T::Lanes, l: &[T]) -> Option<RowFault> {
    let sent = sentinel.reduce_add();
    if sent.is_nan() || sent == T::INFINITY {
        find_non_finite(l)
    } else {
        None
    }
}

/// Position of the first element equal to `v` (which must occur in `xs`).
#[inline]
fn first_index_of<T: Element>(xs: &[T], v: T) -> usize {
    let n = T::Lanes::LANES;
    let vv = T::Lanes::splat(v);
    let mut chunks = xs.chunks_exact(n);
    for (k, c) in chunks.by_ref().enumerate() {
        let bits = T::Lanes::load(c).eq_bits(vv);
        if bits != 0 {
            return k * n + bits.trailing_zeros() as usize;
        }
    }
    let done = xs.len() - chunks.remainder().len();
    done + chunks
        .remainder()
        .iter()
        .position(|&x| x == v)
        .expect("value occurs in the slice")
}

/// Pass 1 on one chunk: `out = l + g` with noise for columns `base ..`, returning the
/// chunk's max and adding every `p` into `sentinel`. Initialises every element of `out`.
#[inline(always)]
fn noisy_chunk<T: Element, S: NoiseSource<T>>(
    l: &[T],
    noise: &mut S,
    base: usize,
    out: &mut [MaybeUninit<T>],
    sentinel: &mut T::Lanes,
) -> T {
    let n = T::Lanes::LANES;
    let mut mx = T::Lanes::splat(T::NEG_INFINITY);
    let mut sent = *sentinel;
    let mut ls = l.chunks_exact(n);
    let mut os = out.chunks_exact_mut(n);
    let mut col = base;
    for (a, o) in ls.by_ref().zip(os.by_ref()) {
        let p = T::Lanes::load(a) + noise.gumbel(col, n);
        p.store_uninit(o);
        mx = mx.fast_max(p);
        sent += p;
        col += n;
    }
    // tail: padded with -inf logits, which leave max and sentinel alone
    let (lt, ot) = (ls.remainder(), os.into_remainder());
    if !lt.is_empty() {
        let p = T::Lanes::load_or(lt, T::NEG_INFINITY) + noise.gumbel(col, lt.len());
        p.store_part_uninit(ot);
        mx = mx.fast_max(p);
        sent += p;
    }
    *sentinel = sent;
    mx.reduce_fast_max()
}

/// Pass 2 on one chunk: `y = exp(c (y - m))` in place; returns the chunk's sum.
#[inline(always)]
fn exp_chunk<T: Element>(y: &mut [T], m: T, c: T) -> T {
    let n = T::Lanes::LANES;
    let (mv, cv) = (T::Lanes::splat(m), T::Lanes::splat(c));
    let mut acc = T::Lanes::splat(T::ZERO);
    let mut ys = y.chunks_exact_mut(n);
    for o in ys.by_ref() {
        let e = T::exp_lanes((T::Lanes::load(o) - mv) * cv);
        e.store(o);
        acc += e;
    }
    // tail: padded with -inf, whose exp is exactly 0
    let t = ys.into_remainder();
    if !t.is_empty() {
        let e = T::exp_lanes((T::Lanes::load_or(t, T::NEG_INFINITY) - mv) * cv);
        e.store_part(t);
        acc += e;
    }
    acc.reduce_add()
}

/// Pass 3 on one chunk: `y *= f`.
#[inline(always)]
fn scale_chunk<T: Element>(y: &mut [T], f: T) {
    let n = T::Lanes::LANES;
    let fv = T::Lanes::splat(f);
    let mut ys = y.chunks_exact_mut(n);
    for o in ys.by_ref() {
        (T::Lanes::load(o) * fv).store(o);
    }
    // tail
    for x in ys.into_remainder() {
        *x *= f;
    }
}

/// The fused forward on one row: `y = softmax(c (l + g))`, returning the first argmax of
/// `l + g`. See the module docs for the three passes. On `Ok`, every element of `y` is
/// initialised (pass 1 writes each chunk in full before anything reads it).
#[inline(always)]
pub(crate) fn forward_row<T: Element, S: NoiseSource<T>>(
    l: &[T],
    noise: &mut S,
    c: T,
    y: &mut [MaybeUninit<T>],
) -> std::result::Result<usize, RowFault> {
    debug_assert_eq!(l.len(), y.len());
    let n_chunks = l.len().div_ceil(CHUNK);
    let mut stack = [(T::ZERO, T::ZERO); STACK_CHUNKS];
    let mut heap = Vec::new();
    let stats: &mut [(T, T)] = if n_chunks <= STACK_CHUNKS {
        &mut stack[..n_chunks]
    } else {
        heap.resize(n_chunks, (T::ZERO, T::ZERO));
        &mut heap
    };
    let mut sentinel = T::Lanes::splat(T::ZERO);
    let (mut best, mut best_col) = (T::NEG_INFINITY, 0);

    // LOOP 1: chunks of the row; pass 1 then pass 2 while the chunk is in L1.
    for (k, ((lc, yc), st)) in l
        .chunks(CHUNK)
        .zip(y.chunks_mut(CHUNK))
        .zip(stats.iter_mut())
        .enumerate()
    {
        let base = k * CHUNK;
        let m = noisy_chunk(lc, noise, base, yc, &mut sentinel);
        // SAFETY: noisy_chunk initialised every element of the chunk.
        let yc = unsafe { assume_init_mut(yc) };
        if m == T::INFINITY {
            // +inf logit, or (caller-given noise) l + g overflowed
            let col = base + first_index_of(yc, m);
            return Err(find_non_finite(l).unwrap_or(RowFault::Overflow { col }));
        }
        if m > best {
            best = m;
            best_col = base + first_index_of(yc, m);
        }
        // A chunk of only -inf (masked) logits: y = 0, s = 0 (exp would see -inf - -inf).
        let s = if m == T::NEG_INFINITY {
            yc.fill(T::ZERO);
            T::ZERO
        } else {
            exp_chunk(yc, m, c)
        };
        *st = (m, s);
    }

    // Row-end checks: the sentinel is NaN or +inf iff some p was NaN or +inf -- or (a
    // false alarm) finite p's overflowed its sum, which the rescan then clears.
    if let Some(fault) = sentinel_fault(sentinel, l) {
        return Err(fault);
    }
    let big_m = stats
        .iter()
        .fold(T::NEG_INFINITY, |a, &(m, _)| fast_max(a, m));
    if big_m == T::NEG_INFINITY {
        return Err(RowFault::AllMasked);
    }

    // S = sum_k s_k exp(c (m_k - M)); the chunk holding M contributes s_k >= 1, so S >= 1.
    let mut total = T::ZERO;
    for &(m, s) in stats.iter() {
        if m != T::NEG_INFINITY {
            total += s * T::exp_scalar((m - big_m) * c);
        }
    }
    let inv = T::ONE / total;
    // SAFETY: loop 1 ran pass 1 over every chunk of the row.
    let y = unsafe { assume_init_mut(y) };

    // LOOP 2: pass 3, normalise each chunk by exp(c (m_k - M)) / S.
    for (yc, &(m, _)) in y.chunks_mut(CHUNK).zip(stats.iter()) {
        if m != T::NEG_INFINITY {
            scale_chunk(yc, T::exp_scalar((m - big_m) * c) * inv);
        }
    }
    Ok(best_col)
}

/// The forward on one row at `c = 1` as an exponential race: with `E_i = -ln u_i`, the
/// Gumbel noise is `g_i = -ln E_i`, so `e^{l_i + g_i} = e^{l_i} / E_i` and
///
/// ```text
/// pass 0  M = max l                      (one read of the row; the sentinel as above)
/// pass 1  e_i = exp(l_i - M) / E_i  -> y  per chunk: chunk sum, chunk max, first argmax
/// pass 2  y *= 1 / S,  S = sum_k s_k
/// ```
///
/// One `ln` and one division per element where [`forward_row`] spends two `ln` (for
/// `g`); the same uniforms, so the same sample up to rounding (docs/kernels.md, "The
/// exponential race"). The index is the first maximum of `e`, which is
/// `argmax (l_i + g_i)` except where two classes tie to within rounding. The row's max
/// of `l` (not of `l + g`) is subtracted: `e_i <= 1 / E_i` and the drawn class has
/// `e >= 1 / E_max > 0`, so `S` neither overflows nor vanishes.
#[inline(always)]
pub(crate) fn race_row<T: Element, S: UniformSource<T>>(
    l: &[T],
    noise: &mut S,
    y: &mut [MaybeUninit<T>],
) -> std::result::Result<usize, RowFault> {
    debug_assert_eq!(l.len(), y.len());
    let n = T::Lanes::LANES;

    // PASS 0: M = max l, and the sentinel (NaN or +inf iff some l is, or a false alarm).
    let (mut mx, mut sentinel) = (T::Lanes::splat(T::NEG_INFINITY), T::Lanes::splat(T::ZERO));
    let mut ls = l.chunks_exact(n);
    for a in ls.by_ref() {
        let v = T::Lanes::load(a);
        mx = mx.fast_max(v);
        sentinel += v;
    }
    if !ls.remainder().is_empty() {
        let v = T::Lanes::load_or(ls.remainder(), T::NEG_INFINITY);
        mx = mx.fast_max(v);
        sentinel += v;
    }
    if let Some(fault) = sentinel_fault(sentinel, l) {
        return Err(fault);
    }
    let big_m = mx.reduce_fast_max();
    if big_m == T::NEG_INFINITY {
        return Err(RowFault::AllMasked);
    }

    // PASS 1: e = exp(l - M) / E per chunk (in L1 for the argmax scan), chunk sums.
    let mv = T::Lanes::splat(big_m);
    let race = |lv: T::Lanes, u: T::Lanes| T::exp_lanes(lv - mv) / exponential_lanes::<T>(u);
    let (mut best, mut best_col) = (T::ZERO, 0);
    let mut total = T::ZERO;
    for (k, (lc, yc)) in l.chunks(CHUNK).zip(y.chunks_mut(CHUNK)).enumerate() {
        let base = k * CHUNK;
        let (mut acc, mut cmax) = (T::Lanes::splat(T::ZERO), T::Lanes::splat(T::ZERO));
        let (mut ls, mut os) = (lc.chunks_exact(n), yc.chunks_exact_mut(n));
        let mut col = base;
        for (a, o) in ls.by_ref().zip(os.by_ref()) {
            let e = race(T::Lanes::load(a), noise.uniform(col, n));
            e.store_uninit(o);
            acc += e;
            cmax = cmax.fast_max(e);
            col += n;
        }
        // tail: padded with -inf logits, whose e is exactly 0
        let (lt, ot) = (ls.remainder(), os.into_remainder());
        if !lt.is_empty() {
            let e = race(
                T::Lanes::load_or(lt, T::NEG_INFINITY),
                noise.uniform(col, lt.len()),
            );
            e.store_part_uninit(ot);
            acc += e;
            cmax = cmax.fast_max(e);
        }
        // SAFETY: the two loops above wrote every element of the chunk.
        let yc = unsafe { assume_init_mut(yc) };
        let m = cmax.reduce_fast_max();
        if m > best {
            best = m;
            best_col = base + first_index_of(yc, m);
        }
        total += acc.reduce_add();
    }

    // PASS 2: normalise.
    // SAFETY: pass 1 wrote every chunk of the row.
    scale_chunk(unsafe { assume_init_mut(y) }, T::ONE / total);
    Ok(best_col)
}

/// The forward on one row from uniforms: the exponential race at `c = 1`, the general
/// three passes otherwise.
#[inline(always)]
fn forward_row_from_uniforms<T: Element, S: UniformSource<T> + NoiseSource<T>>(
    l: &[T],
    noise: &mut S,
    c: T,
    y: &mut [MaybeUninit<T>],
) -> std::result::Result<usize, RowFault> {
    if c == T::ONE {
        race_row(l, noise, y)
    } else {
        forward_row(l, noise, c, y)
    }
}

/// Gumbel-max on one row: the first argmax of `l + g`, without the softmax. Tracks, per
/// lane, the best `p` and the vector step where it occurred (strict `>`: the first
/// occurrence within a lane), then picks the best lane, ties to the lowest column.
#[inline(always)]
pub(crate) fn max_row<T: Element, S: NoiseSource<T>>(
    l: &[T],
    noise: &mut S,
) -> std::result::Result<usize, RowFault> {
    let n = T::Lanes::LANES;
    debug_assert!(l.len() / n < max_steps::<T>(), "checked by gumbel_max");
    let mut best = T::Lanes::splat(T::NEG_INFINITY);
    let mut best_step = T::Lanes::splat(T::ZERO);
    let mut step = T::Lanes::splat(T::ZERO);
    let one = T::Lanes::splat(T::ONE);
    let mut sentinel = T::Lanes::splat(T::ZERO);
    let mut ls = l.chunks_exact(n);
    let mut col = 0;
    for a in ls.by_ref() {
        let p = T::Lanes::load(a) + noise.gumbel(col, n);
        best_step = p.select_gt(best, step, best_step);
        best = best.fast_max(p);
        sentinel += p;
        step += one;
        col += n;
    }
    // tail
    let lt = ls.remainder();
    if !lt.is_empty() {
        let p = T::Lanes::load_or(lt, T::NEG_INFINITY) + noise.gumbel(col, lt.len());
        best_step = p.select_gt(best, step, best_step);
        best = best.fast_max(p);
        sentinel += p;
    }
    if let Some(fault) = sentinel_fault(sentinel, l) {
        return Err(fault);
    }
    let (bv, bs) = (best.as_slice(), best_step.as_slice());
    let mut pick: Option<(T, usize)> = None;
    for lane in 0..n {
        let c = bs[lane].to_f64() as usize * n + lane;
        pick = match pick {
            Some((v, i)) if v > bv[lane] || (v == bv[lane] && i < c) => Some((v, i)),
            _ => Some((bv[lane], c)),
        };
    }
    let (v, i) = pick.expect("at least one lane");
    if v == T::INFINITY {
        return Err(RowFault::Overflow { col: i });
    }
    if v == T::NEG_INFINITY {
        return Err(RowFault::AllMasked);
    }
    Ok(i)
}

/// Step numbers in [`max_row`] are kept as floats, exact below `2^24` (`f32`) / `2^53`
/// (`f64`): rows of up to `2^28` classes in `f32`.
fn max_steps<T: Element>() -> usize {
    (2.0 / T::EPSILON.to_f64()) as usize
}

/// The backward on one row: writes `dx = c a` with `a = y (dy - <dy, y>)` and returns
/// `sum_i a_i ln y_i` if `WANT_DTEMP` (else 0).
///
/// Derivation (docs/math.md): with `z = c (l + g)` and `y = softmax(z)`,
/// `dL/dz_i = y_i (dy_i - <dy, y>) = a_i`, `dL/dl_i = c a_i`, and
/// `dL/dc = sum_i a_i (l_i + g_i) = (1/c) sum_i a_i z_i`. Since `sum_i a_i = 0`, `z` may
/// be shifted by its log-sum-exp: `z_i - lse(z) = ln y_i`, so
/// `sum_i a_i z_i = sum_i a_i ln y_i` and no noise needs storing. `ln y` is also the
/// better-conditioned choice: it is bounded where `y` is normal, while `z` can be `1e7`.
/// Initialises every element of `dx`.
#[inline(always)]
fn backward_row<T: Element, const WANT_DTEMP: bool>(
    y: &[T],
    dy: &[T],
    c: T,
    dx: &mut [MaybeUninit<T>],
) -> T {
    let n = T::Lanes::LANES;
    // LOOP 1: <dy, y> (tail padded with zeros, which add nothing)
    let mut acc = T::Lanes::splat(T::ZERO);
    let (mut ys, mut ds) = (y.chunks_exact(n), dy.chunks_exact(n));
    for (a, b) in ys.by_ref().zip(ds.by_ref()) {
        acc = T::Lanes::load(b).mul_add(T::Lanes::load(a), acc);
    }
    if !ys.remainder().is_empty() {
        let (a, b) = (
            T::Lanes::load_or(ys.remainder(), T::ZERO),
            T::Lanes::load_or(ds.remainder(), T::ZERO),
        );
        acc = b.mul_add(a, acc);
    }
    let dot = T::Lanes::splat(acc.reduce_add());

    // LOOP 2: dx = c y (dy - dot), and sum a ln y over the normal y (masked classes have
    // y = 0: their term is 0, not 0 * -inf; a subnormal y_i adds |a_i ln y_i| < 1e-35).
    let cv = T::Lanes::splat(c);
    let tiny = T::Lanes::splat(T::MIN_POSITIVE);
    let zero = T::Lanes::splat(T::ZERO);
    let mut t = zero;
    let (mut ys, mut ds, mut xs) = (
        y.chunks_exact(n),
        dy.chunks_exact(n),
        dx.chunks_exact_mut(n),
    );
    let mut step = |yv: T::Lanes, dv: T::Lanes| -> T::Lanes {
        let a = yv * (dv - dot);
        if WANT_DTEMP {
            let lny = T::ln_lanes(yv.fast_max(tiny));
            t = yv.select_ge(tiny, a * lny, zero) + t;
        }
        a * cv
    };
    for ((a, b), o) in ys.by_ref().zip(ds.by_ref()).zip(xs.by_ref()) {
        step(T::Lanes::load(a), T::Lanes::load(b)).store_uninit(o);
    }
    let xt = xs.into_remainder();
    if !xt.is_empty() {
        let yv = T::Lanes::load_or(ys.remainder(), T::ZERO);
        let dv = T::Lanes::load_or(ds.remainder(), T::ZERO);
        step(yv, dv).store_part_uninit(xt);
    }
    if WANT_DTEMP { t.reduce_add() } else { T::ZERO }
}

/// Checks that `logits` has a class dimension with at least one class (unless it is
/// empty altogether).
fn check_logits<T: Element>(op: &'static str, logits: &Tensor<T>) -> Result<()> {
    if logits.rank() == 0 {
        return Err(Error::invalid_shape(
            op,
            logits.shape(),
            "logits need a class dimension",
        ));
    }
    if logits.cols() == 0 && logits.numel() == 0 && logits.rows() > 0 {
        return Err(Error::invalid_shape(
            op,
            logits.shape(),
            "a row needs at least one class",
        ));
    }
    Ok(())
}

/// Runs `row_fn` on every row of a new `y` in parallel; returns `y` with the per-row
/// indices, or the error of the first failing row (the same row for any thread count).
///
/// # Safety
/// `row_fn` must initialise every element of its `y` row whenever it returns `Ok`.
unsafe fn run_forward<T: Element>(
    op: &'static str,
    logits: &Tensor<T>,
    output: Output,
    row_fn: impl Fn(usize, &[T], &mut [MaybeUninit<T>]) -> std::result::Result<usize, RowFault>
    + Sync
    + Send,
) -> Result<GumbelSoftmax<T>> {
    // SAFETY: passed on from the caller.
    let written = unsafe { write_rows(logits.shape(), |r, yr| row_fn(r, logits.row(r), yr)) };
    let (y, index) = written.map_err(|(r, f)| f.into_error(op, r))?;
    let hard = match output {
        Output::Soft => None,
        Output::Hard => Some(one_hot(logits.shape(), &index)),
    };
    Ok(GumbelSoftmax { y, index, hard })
}

/// The one-hot tensor with a 1 at `index[r]` in row `r`.
fn one_hot<T: Element>(shape: &[usize], index: &[usize]) -> Tensor<T> {
    let mut h = Tensor::zeros(shape.to_vec());
    for (r, &i) in index.iter().enumerate() {
        h.row_mut(r)[i] = T::ONE;
    }
    h
}

/// Gumbel-Softmax forward, fused: for each row (the last dimension holds the classes),
///
/// ```text
/// y     = softmax(c (l + g)),   c = 1/tau or beta,   g = -ln(-ln u) from `rng`
/// index = argmax_i (l_i + g_i)  (the first maximum)
/// hard  = one_hot(index)        (with `Output::Hard`, for straight-through)
/// ```
///
/// in one read of the logits and one write of `y`. Consumes one counter value of `rng`
/// on success; row `r` uses the stream of `(seed, counter, r)`, so the result is bitwise
/// the same for any number of threads, and [`gumbel_max`] with the same seed and counter
/// returns the same `index`.
///
/// At `c = 1` (`tau = 1` or `beta = 1`) the kernel runs the *exponential race*:
/// `e^{l_i + g_i} = e^{l_i} / E_i` with `E_i = -ln u_i`, one `ln` per element instead of
/// two (about 1.3x faster; docs/kernels.md, "The exponential race"). It uses the same
/// uniforms, so it draws the same sample up to rounding, but not the same bits as the
/// general formula: `y` differs in the last few bits from what a temperature a hair away
/// from 1, or [`gumbel_softmax_with_noise`] given the Gumbel noise, gives; and `index`
/// (the first maximum of `e^{l_i - M} / E_i`) can differ from [`gumbel_max`]'s where the
/// two best classes' `l + g` tie to within rounding (about one row in 10^6 in `f32`).
/// Given the uniforms ([`Noise::Uniform`]) the race is reproduced bit for bit.
///
/// Errors: an invalid temperature, a NaN or `+inf` logit (naming row and column), a row
/// of only `-inf` logits. `-inf` logits are masked classes (`y = 0`, never the index).
///
/// ```
/// use gumbel_tensor::Tensor;
/// use gumbel_tensor::ops::gumbel::{gumbel_softmax, GumbelRng, Output, Temperature};
/// // Class 1 is masked; with a tiny temperature the sample is (nearly) one-hot.
/// let logits = Tensor::new([1, 3], vec![0.0f64, f64::NEG_INFINITY, 0.0]).unwrap();
/// let mut rng = GumbelRng::new(42);
/// let s = gumbel_softmax(&logits, Temperature::Tau(0.01), &mut rng, Output::Hard).unwrap();
/// assert_eq!(s.y.row(0)[1], 0.0);
/// assert!((s.y.row(0).iter().sum::<f64>() - 1.0).abs() < 1e-12);
/// assert_ne!(s.index[0], 1);
/// assert_eq!(s.hard.unwrap().row(0)[s.index[0]], 1.0);
/// ```
pub fn gumbel_softmax<T: Element>(
    logits: &Tensor<T>,
    temp: Temperature<T>,
    rng: &mut GumbelRng,
    output: Output,
) -> Result<GumbelSoftmax<T>> {
    const OP: &str = "gumbel_softmax";
    let c = temp.scale(OP)?;
    check_logits(OP, logits)?;
    let key = rng.call_key();
    // SAFETY: forward_row initialises its row whenever it returns Ok.
    let out = unsafe {
        run_forward(OP, logits, output, |r, l, y| {
            forward_row_from_uniforms(l, &mut RowStream::new(key, r), c, y)
        })
    }?;
    rng.advance();
    Ok(out)
}

/// [`gumbel_softmax`] with caller-given noise: [`Noise::Gumbel`]`(g)` is added as is,
/// [`Noise::Uniform`]`(u)` becomes `g = -ln(-ln u)` exactly as the generator's uniforms do
/// (so `Noise::Uniform(&uniform_noise(..))` reproduces `gumbel_softmax` bit for bit).
/// For tests and studies that need fixed noise, e.g. gradient checks.
///
/// Errors as [`gumbel_softmax`], plus: noise of another shape, non-finite `g`, `u` outside
/// `(0, 1)` or subnormal (naming row and column), `l + g` overflowing to `+inf`.
pub fn gumbel_softmax_with_noise<T: Element>(
    logits: &Tensor<T>,
    noise: Noise<'_, T>,
    temp: Temperature<T>,
    output: Output,
) -> Result<GumbelSoftmax<T>> {
    const OP: &str = "gumbel_softmax_with_noise";
    let c = temp.scale(OP)?;
    check_logits(OP, logits)?;
    check_noise(OP, logits, noise)?;
    // SAFETY: forward_row initialises its row whenever it returns Ok.
    unsafe {
        match noise {
            Noise::Gumbel(g) => run_forward(OP, logits, output, |r, l, y| {
                forward_row(l, &mut GivenGumbel(g.row(r)), c, y)
            }),
            Noise::Uniform(u) => run_forward(OP, logits, output, |r, l, y| {
                forward_row_from_uniforms(l, &mut GivenUniform(u.row(r)), c, y)
            }),
        }
    }
}

/// Checks caller-given noise: shape, finiteness of `g`, `u` in `[MIN_POSITIVE, 1)`.
fn check_noise<T: Element>(
    op: &'static str,
    logits: &Tensor<T>,
    noise: Noise<'_, T>,
) -> Result<()> {
    let (t, ok, what): (&Tensor<T>, fn(T) -> bool, &str) = match noise {
        Noise::Gumbel(g) => (g, |x: T| x.is_finite(), "Gumbel noise must be finite"),
        Noise::Uniform(u) => (
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

/// Gumbel-max sampling: the index `argmax_i (l_i + g_i)` of each row (the first maximum),
/// a sample of `Categorical(softmax(l))`, without computing any softmax. Uses exactly the
/// noise of [`gumbel_softmax`] for the same seed and counter, so both return the same
/// indices (at `tau = 1` up to rounding near-ties: see [`gumbel_softmax`]). Consumes one
/// counter value on success.
///
/// Errors: a NaN or `+inf` logit, a row of only `-inf` logits (masked classes are never
/// picked).
///
/// ```
/// use gumbel_tensor::Tensor;
/// use gumbel_tensor::ops::gumbel::{gumbel_max, GumbelRng};
/// // One class is certain: logits 0 vs -inf.
/// let logits = Tensor::new([2, 2], vec![f32::NEG_INFINITY, 0.0, 0.0, f32::NEG_INFINITY]).unwrap();
/// assert_eq!(gumbel_max(&logits, &mut GumbelRng::new(1)).unwrap(), vec![1, 0]);
/// ```
pub fn gumbel_max<T: Element>(logits: &Tensor<T>, rng: &mut GumbelRng) -> Result<Vec<usize>> {
    const OP: &str = "gumbel_max";
    check_logits(OP, logits)?;
    if logits.cols() / T::Lanes::LANES >= max_steps::<T>() {
        return Err(Error::invalid_shape(
            OP,
            logits.shape(),
            "rows longer than 2^28 classes (f32) are not supported",
        ));
    }
    let key = rng.call_key();
    let results = parallel::map_rows(logits.rows(), logits.cols(), |r| {
        max_row(logits.row(r), &mut RowStream::new(key, r))
    });
    let index = collect_rows(OP, results)?;
    rng.advance();
    Ok(index)
}

fn collect_rows(
    op: &'static str,
    results: Vec<std::result::Result<usize, RowFault>>,
) -> Result<Vec<usize>> {
    results
        .into_iter()
        .enumerate()
        .map(|(r, x)| x.map_err(|f| f.into_error(op, r)))
        .collect()
}

/// Gumbel-Softmax backward, fused: given the forward's `y` and the upstream gradient `dy`,
///
/// ```text
/// a     = y * (dy - <dy, y>)                          per row
/// dl    = a / tau          (Tau)   or  beta * a        (Beta)
/// dtau  = -(1/tau) sum_rows sum_i a_i ln y_i           (Tau,  with TempGrad::Compute)
/// dbeta =  (1/beta) sum_rows sum_i a_i ln y_i          (Beta, with TempGrad::Compute)
/// ```
///
/// (`dtau = -sum_i dl_i z_i` with `z = (l + g)/tau`, rewritten with `ln y`: no stored
/// noise; docs/math.md.) The temperature gradient sums rows in row order (bitwise the
/// same for any thread count). Masked classes (`y_i = 0`) get `dl_i = 0` and add nothing.
/// With the straight-through estimator pass the gradient of `hard` as `dy`.
///
/// ```
/// use gumbel_tensor::Tensor;
/// use gumbel_tensor::ops::gumbel::{gumbel_softmax_backward, TempGrad, Temperature};
/// // y = (0.25, 0.75), dy = (1, 0): <dy, y> = 0.25, a = (0.25 * 0.75, -0.75 * 0.25).
/// let y = Tensor::new([1, 2], vec![0.25f64, 0.75]).unwrap();
/// let dy = Tensor::new([1, 2], vec![1.0, 0.0]).unwrap();
/// let (dl, dtau) = gumbel_softmax_backward(&y, &dy, Temperature::Tau(0.5), TempGrad::Compute)
///     .unwrap();
/// assert_eq!(dl.as_slice(), &[0.375, -0.375]);
/// // dtau = -(1/0.5) * 0.1875 * (ln 0.25 - ln 0.75) = 0.375 ln 3
/// assert!((dtau.unwrap() - 0.375 * 3f64.ln()).abs() < 1e-15);
/// ```
pub fn gumbel_softmax_backward<T: Element>(
    y: &Tensor<T>,
    dy: &Tensor<T>,
    temp: Temperature<T>,
    temp_grad: TempGrad,
) -> Result<(Tensor<T>, Option<T>)> {
    const OP: &str = "gumbel_softmax_backward";
    let c = temp.scale(OP)?;
    y.expect_same_shape(OP, dy)?;
    // SAFETY: backward_row initialises every element of its dx row.
    let written = unsafe {
        let row = backward_rows(y, dy, c, temp_grad);
        write_rows(y.shape(), |r, o| Ok::<T, ()>(row(r, o)))
    };
    let (dx, parts) = written.expect("backward rows cannot fail");
    Ok((dx, temp_grad.then(|| dtemp_from_rows(temp, &parts))))
}

/// [`gumbel_softmax_backward`] into a caller's buffer: writes `dl` into `dx` (same shape as
/// `y` and `dy`) and returns the temperature gradient if asked. Bitwise the same `dl` and
/// `dtau` as the allocating version, for any thread count.
///
/// For loops that call the backward on large tensors: a fresh output of 1024 x 32000 `f32`
/// (131 MB) is page-faulted and zeroed by the kernel on every call, a large part of the
/// allocating version's time there (docs/performance.md); a reused `dx` does not.
///
/// ```
/// use gumbel_tensor::Tensor;
/// use gumbel_tensor::ops::gumbel::{gumbel_softmax_backward_into, TempGrad, Temperature};
/// let y = Tensor::new([1, 2], vec![0.25f64, 0.75]).unwrap();
/// let dy = Tensor::new([1, 2], vec![1.0, 0.0]).unwrap();
/// let mut dx = Tensor::zeros([1, 2]);
/// let tau = Temperature::Tau(0.5);
/// let dtau = gumbel_softmax_backward_into(&y, &dy, tau, TempGrad::Skip, &mut dx).unwrap();
/// assert_eq!((dx.as_slice(), dtau), (&[0.375, -0.375][..], None));
/// ```
pub fn gumbel_softmax_backward_into<T: Element>(
    y: &Tensor<T>,
    dy: &Tensor<T>,
    temp: Temperature<T>,
    temp_grad: TempGrad,
    dx: &mut Tensor<T>,
) -> Result<Option<T>> {
    const OP: &str = "gumbel_softmax_backward_into";
    let c = temp.scale(OP)?;
    y.expect_same_shape(OP, dy)?;
    y.expect_same_shape(OP, dx)?;
    let cols = y.shape().last().copied().unwrap_or(1);
    let out = dx.as_mut_slice();
    // SAFETY: `MaybeUninit<T>` has the layout of `T`, and `backward_row` only ever writes
    // initialised values into its row, so `dx` stays initialised.
    let out = unsafe { &mut *(out as *mut [T] as *mut [MaybeUninit<T>]) };
    let parts = parallel::map_rows_mut(out, cols, backward_rows(y, dy, c, temp_grad));
    Ok(temp_grad.then(|| dtemp_from_rows(temp, &parts)))
}

/// Row `r` of the backward of both entry points: [`backward_row`] with the temperature
/// term chosen once.
fn backward_rows<'a, T: Element>(
    y: &'a Tensor<T>,
    dy: &'a Tensor<T>,
    c: T,
    temp_grad: TempGrad,
) -> impl Fn(usize, &mut [MaybeUninit<T>]) -> T + Sync + Send + 'a {
    move |r, o| match temp_grad {
        TempGrad::Compute => backward_row::<T, true>(y.row(r), dy.row(r), c, o),
        TempGrad::Skip => backward_row::<T, false>(y.row(r), dy.row(r), c, o),
    }
}

/// `dtau = -(1/tau) sum_r t_r` or `dbeta = (1/beta) sum_r t_r`, summed in row order in f64.
pub(super) fn dtemp_from_rows<T: Element>(temp: Temperature<T>, parts: &[T]) -> T {
    let s: f64 = parts.iter().map(|t| t.to_f64()).sum();
    T::from_f64(match temp {
        Temperature::Tau(tau) => -s / tau.to_f64(),
        Temperature::Beta(beta) => s / beta.to_f64(),
    })
}

/// Scalar references: the same noise (rand_xoshiro lanes, scalar uniform mapping, scalar
/// `ln` twin), then the textbook loops with `std`'s `exp`/`ln`: `p = l + g`, max, exp,
/// sum, divide. Used by the tests as the reference and by the benchmarks as "scalar".
pub mod scalar {
    use super::*;
    use crate::ops::gumbel::noise::scalar::{gumbel_row, uniform_row};

    /// One row of the reference forward with the noise `g` given: returns the first
    /// argmax of `p = l + g` (rounded to `T`, as the kernels do) and writes
    /// `softmax(c (p - max p))` to `y`, computed in `f64` from there on.
    pub(crate) fn forward_row_ref<T: Element>(
        l: &[T],
        g: &[T],
        c: T,
        y: &mut [MaybeUninit<T>],
    ) -> std::result::Result<usize, RowFault> {
        if let Some(f) = find_non_finite(l) {
            return Err(f);
        }
        let p: Vec<T> = l.iter().zip(g).map(|(&li, &gi)| li + gi).collect();
        let mut best = 0;
        for (i, &pi) in p.iter().enumerate() {
            if pi > p[best] {
                best = i;
            }
        }
        let m = p[best];
        if m == T::NEG_INFINITY {
            return Err(RowFault::AllMasked);
        }
        if m == T::INFINITY {
            return Err(RowFault::Overflow { col: best });
        }
        let (m, c) = (m.to_f64(), c.to_f64());
        let e: Vec<f64> = p.iter().map(|pi| ((pi.to_f64() - m) * c).exp()).collect();
        let s: f64 = e.iter().sum();
        for (yi, ei) in y.iter_mut().zip(e) {
            yi.write(T::from_f64(ei / s));
        }
        Ok(best)
    }

    /// One row of the reference exponential race (`c = 1`) with the uniforms `u` given:
    /// `e_i = exp(l_i - M) / (-ln u_i)` in `T` with the scalar twins of the kernel's `exp`
    /// and `ln` (so `e` and the index, its first maximum, are bitwise the kernel's), then
    /// `y = e / sum e` in `f64`.
    pub(crate) fn race_row_ref<T: Element>(
        l: &[T],
        u: &[T],
        y: &mut [MaybeUninit<T>],
    ) -> std::result::Result<usize, RowFault> {
        if let Some(f) = find_non_finite(l) {
            return Err(f);
        }
        let big_m = l.iter().fold(T::NEG_INFINITY, |a, &b| fast_max(a, b));
        if big_m == T::NEG_INFINITY {
            return Err(RowFault::AllMasked);
        }
        let e: Vec<T> = l
            .iter()
            .zip(u)
            .map(|(&li, &ui)| T::exp_scalar(li - big_m) / -T::ln_scalar(ui))
            .collect();
        let mut best = 0;
        for (i, &ei) in e.iter().enumerate() {
            if ei > e[best] {
                best = i;
            }
        }
        let s: f64 = e.iter().map(|x| x.to_f64()).sum();
        for (yi, ei) in y.iter_mut().zip(e) {
            yi.write(T::from_f64(ei.to_f64() / s));
        }
        Ok(best)
    }

    /// Reference [`gumbel_softmax`](super::gumbel_softmax): same noise, same contract, and
    /// the same choice of arithmetic (the exponential race at `c = 1`).
    pub fn gumbel_softmax<T: Element>(
        logits: &Tensor<T>,
        temp: Temperature<T>,
        rng: &mut GumbelRng,
        output: Output,
    ) -> Result<GumbelSoftmax<T>> {
        const OP: &str = "scalar::gumbel_softmax";
        let c = temp.scale(OP)?;
        general_or_race(OP, logits, c, rng, output)
    }

    /// The reference forward with `c` given; `c == 1` runs the race.
    fn general_or_race<T: Element>(
        op: &'static str,
        logits: &Tensor<T>,
        c: T,
        rng: &mut GumbelRng,
        output: Output,
    ) -> Result<GumbelSoftmax<T>> {
        check_logits(op, logits)?;
        let key = rng.call_key();
        // SAFETY: both reference rows initialise their row whenever they return Ok.
        let out = unsafe {
            run_forward(op, logits, output, |r, l, y| {
                let mut noise = vec![T::ZERO; l.len()];
                if c == T::ONE {
                    uniform_row(key, r, &mut noise);
                    race_row_ref(l, &noise, y)
                } else {
                    gumbel_row(key, r, &mut noise);
                    forward_row_ref(l, &noise, c, y)
                }
            })
        }?;
        rng.advance();
        Ok(out)
    }

    /// Reference [`gumbel_softmax_with_noise`](super::gumbel_softmax_with_noise) for
    /// Gumbel noise `g`.
    pub fn gumbel_softmax_with_gumbel<T: Element>(
        logits: &Tensor<T>,
        g: &Tensor<T>,
        temp: Temperature<T>,
    ) -> Result<GumbelSoftmax<T>> {
        const OP: &str = "scalar::gumbel_softmax_with_gumbel";
        let c = temp.scale(OP)?;
        check_logits(OP, logits)?;
        check_noise(OP, logits, Noise::Gumbel(g))?;
        // SAFETY: forward_row_ref initialises its row whenever it returns Ok.
        unsafe {
            run_forward(OP, logits, Output::Soft, |r, l, y| {
                forward_row_ref(l, g.row(r), c, y)
            })
        }
    }

    /// Reference [`gumbel_max`](super::gumbel_max): the general forward's index (the first
    /// argmax of `l + g`; any `c != 1` runs the general path, and the index does not
    /// depend on `c`).
    pub fn gumbel_max<T: Element>(logits: &Tensor<T>, rng: &mut GumbelRng) -> Result<Vec<usize>> {
        let two = T::ONE + T::ONE;
        let mut out = general_or_race("scalar::gumbel_max", logits, two, rng, Output::Soft)?;
        Ok(std::mem::take(&mut out.index))
    }

    /// Reference [`gumbel_softmax_backward`](super::gumbel_softmax_backward): plain loops,
    /// `std`'s `ln`, masked (`y_i = 0`) and subnormal terms skipped.
    pub fn gumbel_softmax_backward<T: Element>(
        y: &Tensor<T>,
        dy: &Tensor<T>,
        temp: Temperature<T>,
        temp_grad: TempGrad,
    ) -> Result<(Tensor<T>, Option<T>)> {
        const OP: &str = "scalar::gumbel_softmax_backward";
        let c = temp.scale(OP)?;
        y.expect_same_shape(OP, dy)?;
        let mut dx = Tensor::zeros(y.shape().to_vec());
        let parts = parallel::map_rows_mut(dx.as_mut_slice(), y.cols(), |r, o| {
            let (yr, dr) = (y.row(r), dy.row(r));
            let dot = yr.iter().zip(dr).fold(T::ZERO, |s, (&a, &b)| s + a * b);
            let mut t = T::ZERO;
            for ((oi, &yi), &di) in o.iter_mut().zip(yr).zip(dr) {
                let a = yi * (di - dot);
                *oi = a * c;
                if yi >= T::MIN_POSITIVE {
                    t += a * yi.ln();
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
    use crate::ops::gumbel::noise::scalar::{gumbel_row, uniform_row};

    #[test]
    fn first_index_of_finds_the_first_occurrence() {
        let mut xs = vec![0.0f32; 40];
        xs[33] = 5.0;
        xs[37] = 5.0;
        assert_eq!(first_index_of(&xs, 5.0), 33);
        xs[3] = 5.0;
        assert_eq!(first_index_of(&xs, 5.0), 3);
        let ys = [1.0f64, 2.0, 2.0];
        assert_eq!(first_index_of(&ys, 2.0), 1);
    }

    /// The SIMD row kernels against the scalar reference on the awkward lengths, with the
    /// same noise: indices equal, y within a few ulp of the reference.
    #[test]
    fn forward_simd_matches_scalar_on_awkward_lengths() {
        let key = GumbelRng::new(3).call_key();
        for len in [1usize, 7, 8, 9, 15, 16, 17, 1023, 2047, 2048, 2049, 5000] {
            for (c, scale) in [(1.0f32, 1.0f32), (2.0, 10.0), (0.1, 3.0)] {
                let l: Vec<f32> = (0..len)
                    .map(|i| ((i * 7919 % 101) as f32 - 50.0) * scale / 50.0)
                    .collect();
                let mut y = vec![MaybeUninit::<f32>::uninit(); len];
                let i = forward_row(&l, &mut RowStream::new(key, 0), c, &mut y).unwrap();
                // SAFETY: forward_row returned Ok, so it initialised every element.
                let y = unsafe { assume_init_mut(&mut y) };
                let mut g = vec![0.0f32; len];
                gumbel_row(key, 0, &mut g);
                let mut yr = vec![MaybeUninit::<f32>::uninit(); len];
                let ir = scalar::forward_row_ref(&l, &g, c, &mut yr).unwrap();
                // SAFETY: as above.
                let yr = unsafe { assume_init_mut(&mut yr) };
                assert_eq!(i, ir, "len {len}");
                let m = max_row(&l, &mut RowStream::new(key, 0)).unwrap();
                assert_eq!(m, ir, "gumbel-max len {len}");
                // Bound (docs/kernels.md, "Accuracy"): relative 2^-24 (180 + 2 c |p - M|):
                // 2 exp's of 2 ulp, 4 roundings, the lane sums of <= 128 terms, their
                // 4-level fold and the chunk combination, and the roundings of p - m_k,
                // m_k - M and their products with c; plus the flush below 2^-126.
                let big_m = l
                    .iter()
                    .zip(&g)
                    .map(|(a, b)| a + b)
                    .fold(f32::NEG_INFINITY, f32::max);
                for ((a, b), (li, gi)) in y.iter().zip(yr.iter()).zip(l.iter().zip(&g)) {
                    let p = li + gi;
                    let tol = *b as f64 * 2f64.powi(-24) * (180.0 + 2.0 * (c * (big_m - p)) as f64)
                        + 2f64.powi(-126);
                    assert!(((a - b) as f64).abs() <= tol, "len {len}: {a} vs {b}");
                }
            }
        }
    }

    /// The race row against its scalar reference with the same uniforms, f32 and f64, on
    /// awkward lengths (several chunks, masked classes, a masked chunk): the same index
    /// (the `e_i` are bitwise equal, so this is exact), `y` within the normalisation's
    /// rounding: relative `u (2048 / lanes + 52)` (the chunk's lane sums of `2048 / lanes`
    /// terms, their fold, the chunk combination, `1 / S` and the product; the general
    /// budget of docs/kernels.md with no `|p - M|` term, since `e` is exact here).
    fn race_matches_scalar<T: Element>() {
        let key = GumbelRng::new(8).call_key();
        let lanes = T::Lanes::LANES as f64;
        let unit = T::EPSILON.to_f64() / 2.0;
        for len in [
            1usize, 7, 8, 9, 15, 16, 17, 1023, 2047, 2048, 2049, 5000, 9000,
        ] {
            let l: Vec<T> = (0..len)
                .map(|i| match i {
                    // a masked class, and (for len 9000) a fully masked chunk
                    _ if i % 11 == 3 || (2048..4096).contains(&i) => T::NEG_INFINITY,
                    _ => T::from_f64(((i * 7919 % 101) as f64 - 50.0) / 5.0),
                })
                .collect();
            let mut y = vec![MaybeUninit::<T>::uninit(); len];
            let i = race_row(&l, &mut RowStream::new(key, 2), &mut y);
            let mut u = vec![T::ZERO; len];
            uniform_row(key, 2, &mut u);
            let mut yr = vec![MaybeUninit::<T>::uninit(); len];
            let ir = scalar::race_row_ref(&l, &u, &mut yr);
            assert_eq!(i.unwrap(), ir.unwrap(), "{} len {len}", T::NAME);
            // SAFETY: both returned Ok, so both initialised every element.
            let (y, yr) = unsafe { (assume_init_mut(&mut y), assume_init_mut(&mut yr)) };
            for (j, (a, b)) in y.iter().zip(yr.iter()).enumerate() {
                let (a, b) = (a.to_f64(), b.to_f64());
                if l[j] == T::NEG_INFINITY {
                    assert_eq!((a, b), (0.0, 0.0), "masked class {j}");
                }
                let tol = b * unit * (2048.0 / lanes + 52.0) + T::MIN_POSITIVE.to_f64();
                assert!((a - b).abs() <= tol, "{} len {len}: {a} vs {b}", T::NAME);
            }
        }
    }

    #[test]
    fn race_simd_matches_scalar_on_awkward_lengths() {
        race_matches_scalar::<f32>();
        race_matches_scalar::<f64>();
    }
}
