//! Gumbel-Rao: the straight-through Gumbel-Softmax backward Rao-Blackwellised over the
//! noise (Paulus, Maddison and Krause, ICLR 2021), with its conditional ("top-down")
//! Gumbel sampler (Maddison, Tarlow and Minka, A* sampling, NeurIPS 2014):
//! [`gumbel_rao_backward`], [`conditional_gumbel_noise`] and their references ([`scalar`]).
//!
//! ## The estimator
//! The forward value is the hard sample `D = one_hot(d)`, `d = argmax(l + g)`. The
//! straight-through backward is `J^T dy` at `y = softmax(c (l + g))`, `c = 1/tau` (or
//! `beta`). Gumbel-Rao replaces it by its conditional expectation given `d`, estimated with
//! `K` noise vectors `g_k` drawn from the law of `g` given `argmax(l + g) = d`:
//!
//! ```text
//! dl = (1/K) sum_k J_k^T dy,    J_k^T v = c y_k (v - <y_k, v>),    y_k = softmax(c (l + g_k))
//! ```
//!
//! Same mean as straight-through, variance `Var(E[ST | d]) + E[Var(ST | d)] / K`, never
//! larger (docs/math.md, section 6). For `K = 1` it has exactly straight-through's law. The
//! gradient is not taken through `g_k` (nor is it in straight-through); this matches the
//! third-party PyTorch implementation github.com/nshepperd/gumbel-rao-pytorch, whose notes
//! discuss why.
//!
//! ## The conditional sampler (docs/math.md, section 6)
//! With `E_i = -ln u_i` (Exponential(1)), `E_top` another one, `Z = sum_j e^{l_j}`:
//!
//! ```text
//! M          = lse(l) - ln E_top             the maximum of l + g: Gumbel(lse(l)), independent of d
//! l_i + g_i  = l_i - ln(E_i + e^{l_i - M})   i != d: Gumbel(l_i) truncated below M
//! g_d        = M - l_d
//! ```
//!
//! ## Shared work and the per-draw pass
//! Per row, once: the row check, the row max `m0`, `w_i = e^{l_i - m0}` (stored in a
//! scratch row) and `Z' = sum_i w_i`. Then `e^{l_i - M} = w_i E_top / Z'`, so a draw needs
//! no `exp` of the logits. Writing `r = Z' / E_top` (one scalar per draw), the kernel uses
//! the shifted logits `z_i = l_i + g_i - M` directly:
//!
//! ```text
//! z_i = (l_i - m0) - ln(E_i r + w_i)   (i != d),     z_d = 0
//! ```
//!
//! (`l_i - M = (l_i - m0) - ln r`, and `ln(E_i + w_i / r) + ln r = ln(E_i r + w_i)`.) The
//! maximum of `z` is known, `z_d = 0`, so the softmax needs no max pass and
//! `S = sum_i e^{c z_i} >= 1` (a `z_i` that rounding leaves above 0 is clamped to 0). Per
//! element and draw: two `ln` and one `exp`, as in the fused forward. Masked classes
//! (`l_i = -inf`, `w_i = 0`) give `z_i = -inf` and `e^{c z_i} = 0` exactly. The argument
//! `E_i r + w_i` is a positive normal number (`E_i >= 2^-24` in `f32`, `2^-53` in `f64`, and
//! `r >= 1 / E_top >= 1/37`), as the `ln` polynomial needs.
//!
//! At `c = 1` (`tau = 1` or `beta = 1`) a draw is an exponential race:
//! `e^{z_i} = e^{l_i - m0} / (E_i r + w_i) = w_i / (E_i r + w_i)`, one `ln` (for `E_i`) and
//! one division per element and draw instead of two `ln` and an `exp` (`e_d = 1` as
//! before; masked classes `0 / (E_i r) = 0`). The same numbers in exact arithmetic, other
//! rounding: the `c = 1` results are not bitwise those of the general formula (tests check
//! both against the references within their budgets).
//!
//! Each draw makes two passes over the row (in L1/L2 with the scratch):
//!
//! ```text
//! pass 1   e_i = exp(c z_i) -> scratch,  S = sum e_i,  T = sum e_i dy_i      (noise in registers)
//! pass 2   dl_i (+)= (c / (K S)) e_i (dy_i - T / S)                          (first draw writes)
//! ```
//!
//! and pass 2 of draw `k` runs in the same sweep as pass 1 of draw `k + 1` (reading `e_i`
//! before overwriting it), so a row takes `K + 1` sweeps, each reading `l - m0` (stored once
//! per row, so that no draw subtracts `m0` again), `w`, `dy`, `e` and `dl` once. `dl` is written once and updated `K - 1` times; nothing of size
//! `K x classes` exists.
//!
//! ## Noise streams
//! Draw `k` of row `r` is "virtual row" `j = r K + k` of the call: it draws from the stream
//! `(seed, counter, j)` of every Gumbel kernel (docs/kernels.md, "Noise streams"), and is
//! row `j` of [`conditional_gumbel_noise`]'s `[rows K, classes]` output. Its first generator
//! step gives `u_top` (its first uniform; the rest of the step is unused), the following
//! steps the classes' uniforms (class `i` at step `1 + i / LANES`, lane `i % LANES`). So row
//! `j` of `uniform_noise(&[rows K, LANES + classes])` holds `u_top` in column 0 and `u_i` in
//! column `LANES + i` (`LANES` = 16 for `f32`, 8 for `f64`); `u_d` is not used. Taking the
//! top from a step of its own spares each draw a skip through the stream to reach `u_d`.

use std::mem::MaybeUninit;

use super::Temperature;
use super::rng::{CallKey, GumbelRng, LaneRng};
use super::uninit::{assume_init_mut, write_rows_init};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::ops::softmax::RowFault;
use crate::parallel;
use crate::simd::SimdFloat;
use crate::tensor::Tensor;

/// Why a row was rejected: its logits, or its index.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    Logits(RowFault),
    IndexOutOfRange { index: usize, classes: usize },
    IndexMasked { index: usize },
}

impl Fault {
    fn into_error(self, op: &'static str, row: usize) -> Error {
        match self {
            Fault::Logits(f) => f.into_error(op, row),
            Fault::IndexOutOfRange { index, classes } => Error::invalid_argument(
                op,
                format!("row {row}: index {index} is out of range for {classes} classes"),
            ),
            Fault::IndexMasked { index } => Error::invalid_argument(
                op,
                format!(
                    "row {row}, column {index}: the index points at a masked class (logit -inf), \
                     which has probability 0"
                ),
            ),
        }
    }
}

/// The first NaN or `+inf` logit of a row, if any.
#[cold]
fn find_non_finite<T: Element>(l: &[T]) -> Option<Fault> {
    l.iter()
        .position(|x| x.is_nan() || *x == T::INFINITY)
        .map(|col| {
            Fault::Logits(RowFault::NonFinite {
                col,
                value: l[col].to_f64(),
            })
        })
}

/// The index checks of a row whose logits passed theirs.
fn check_index<T: Element>(l: &[T], d: usize) -> std::result::Result<(), Fault> {
    if d >= l.len() {
        return Err(Fault::IndexOutOfRange {
            index: d,
            classes: l.len(),
        });
    }
    if l[d] == T::NEG_INFINITY {
        return Err(Fault::IndexMasked { index: d });
    }
    Ok(())
}

/// The checks every entry point makes before touching a row: `k >= 1`, a class dimension,
/// one index per row, `rows * k * classes` representable, and (if given) `dy` of the logits' shape.
fn check_args<T: Element>(
    op: &'static str,
    logits: &Tensor<T>,
    index: &[usize],
    dy: Option<&Tensor<T>>,
    k: usize,
) -> Result<()> {
    if k == 0 {
        return Err(Error::invalid_argument(
            op,
            "k, the number of conditional draws per row, must be at least 1, got 0",
        ));
    }
    if logits.rank() == 0 {
        return Err(Error::invalid_shape(
            op,
            logits.shape(),
            "logits need a class dimension",
        ));
    }
    if logits.cols() == 0 && logits.rows() > 0 {
        return Err(Error::invalid_shape(
            op,
            logits.shape(),
            "a row needs at least one class",
        ));
    }
    if let Some(dy) = dy {
        logits.expect_same_shape(op, dy)?;
    }
    if index.len() != logits.rows() {
        return Err(Error::invalid_argument(
            op,
            format!(
                "index holds {} entries but the logits {:?} have {} rows",
                index.len(),
                logits.shape(),
                logits.rows()
            ),
        ));
    }
    if logits
        .rows()
        .checked_mul(k)
        .and_then(|x| x.checked_mul(logits.cols().max(1)))
        .is_none()
    {
        return Err(Error::invalid_argument(
            op,
            format!(
                "rows x k x classes overflows: {} x {k} x {}",
                logits.rows(),
                logits.cols()
            ),
        ));
    }
    Ok(())
}

/// The per-row work shared by all draws: checks the row and its index, writes
/// `w_i = e^{l_i - m0}` into `w` and returns `(m0, Z' = sum_i w_i)`. `Z' >= 1` (the max's
/// own term is 1).
#[inline(always)]
fn prepare_row<T: Element>(
    l: &[T],
    d: usize,
    shifted: &mut [T],
    w: &mut [T],
) -> std::result::Result<(T, T), Fault> {
    let n = T::Lanes::LANES;
    // LOOP 1: the max, and a sentinel sum that is NaN or +inf iff some logit is (or, a false
    // alarm the rescan clears, finite logits overflow it).
    let mut mx = T::Lanes::splat(T::NEG_INFINITY);
    let mut sent = T::Lanes::splat(T::ZERO);
    let mut ls = l.chunks_exact(n);
    for a in ls.by_ref() {
        let v = T::Lanes::load(a);
        mx = mx.fast_max(v);
        sent += v;
    }
    // tail: -inf leaves both alone
    if !ls.remainder().is_empty() {
        let v = T::Lanes::load_or(ls.remainder(), T::NEG_INFINITY);
        mx = mx.fast_max(v);
        sent += v;
    }
    let s = sent.reduce_add();
    if (s.is_nan() || s == T::INFINITY)
        && let Some(f) = find_non_finite(l)
    {
        return Err(f);
    }
    let m0 = mx.reduce_fast_max();
    if m0 == T::NEG_INFINITY {
        return Err(Fault::Logits(RowFault::AllMasked));
    }
    check_index(l, d)?;

    // LOOP 2: shifted = l - m0 (what every draw's z starts from), w = exp(l - m0) (<= 1;
    // masked classes 0), Z' = sum w.
    let mv = T::Lanes::splat(m0);
    let mut acc = T::Lanes::splat(T::ZERO);
    let mut ls = l.chunks_exact(n);
    let mut ss = shifted.chunks_exact_mut(n);
    let mut ws = w.chunks_exact_mut(n);
    for ((a, h), o) in ls.by_ref().zip(ss.by_ref()).zip(ws.by_ref()) {
        let x = T::Lanes::load(a) - mv;
        x.store(h);
        let e = T::exp_lanes(x);
        e.store(o);
        acc += e;
    }
    let o = ws.into_remainder();
    if !o.is_empty() {
        // tail: -inf gives exp = 0
        let x = T::Lanes::load_or(ls.remainder(), T::NEG_INFINITY) - mv;
        x.store_part(ss.into_remainder());
        let e = T::exp_lanes(x);
        e.store_part(o);
        acc += e;
    }
    Ok((m0, acc.reduce_add()))
}

/// `E_top = -ln u_top` of a draw: the first uniform of the stream's first step.
#[inline(always)]
fn draw_top<T: Element>(rng: &mut LaneRng) -> T {
    let u = T::uniforms(rng.next());
    -T::ln_scalar(u.as_slice()[0])
}

/// A vector with 1 in every lane but lane `lane`, which holds 0.
#[inline(always)]
fn zero_at_lane<T: Element>(lane: usize) -> T::Lanes {
    let mut b = [T::ONE; 16];
    b[lane] = T::ZERO;
    T::Lanes::load(&b[..T::Lanes::LANES])
}

/// Where a sweep puts the previous draw's pass-2 terms: nowhere (the first sweep), written
/// into the uninitialised output (the second), or added to it (the later ones).
trait Sink<T: Element> {
    /// Puts `term` at elements `at .. at + LANES`.
    fn put(&mut self, at: usize, term: T::Lanes);
    /// Puts the first `len` lanes of `term` at elements `at .. at + len` (the tail).
    fn put_part(&mut self, at: usize, len: usize, term: T::Lanes);
}

/// No previous draw.
struct Skip;
/// The first draw's terms: written.
struct Write<'a, T>(&'a mut [MaybeUninit<T>]);
/// The later draws' terms: added.
struct Add<'a, T>(&'a mut [T]);

impl<T: Element> Sink<T> for Skip {
    #[inline(always)]
    fn put(&mut self, _: usize, _: T::Lanes) {}
    #[inline(always)]
    fn put_part(&mut self, _: usize, _: usize, _: T::Lanes) {}
}

impl<T: Element> Sink<T> for Write<'_, T> {
    #[inline(always)]
    fn put(&mut self, at: usize, term: T::Lanes) {
        term.store_uninit(&mut self.0[at..]);
    }
    #[inline(always)]
    fn put_part(&mut self, at: usize, len: usize, term: T::Lanes) {
        term.store_part_uninit(&mut self.0[at..at + len]);
    }
}

impl<T: Element> Sink<T> for Add<'_, T> {
    #[inline(always)]
    fn put(&mut self, at: usize, term: T::Lanes) {
        let o = &mut self.0[at..];
        (T::Lanes::load(o) + term).store(o);
    }
    #[inline(always)]
    fn put_part(&mut self, at: usize, len: usize, term: T::Lanes) {
        let o = &mut self.0[at..at + len];
        (T::Lanes::load_or(o, T::ZERO) + term).store_part(o);
    }
}

/// One sweep over the row: pass 2 of the previous draw into `sink` (`dot`, `f` its
/// scalars; nothing for [`Skip`]) and pass 1 of this draw: `e_i = exp(c z_i)` into `e`
/// (after reading the previous draw's `e_i` there), returning `(S, T)`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn sweep<T: Element, K: Sink<T>, const UNIT: bool>(
    shifted: &[T],
    w: &[T],
    dy: &[T],
    r: T,
    c: T,
    d: usize,
    rng: &mut LaneRng,
    e: &mut [T],
    (dot, f): (T, T),
    sink: &mut K,
) -> (T, T) {
    let n = T::Lanes::LANES;
    let (rv, cv) = (T::Lanes::splat(r), T::Lanes::splat(c));
    let (dotv, fv) = (T::Lanes::splat(dot), T::Lanes::splat(f));
    let dcol = d - d % n;
    let dmask = zero_at_lane::<T>(d % n);
    let mut s_acc = T::Lanes::splat(T::ZERO);
    let mut t_acc = T::Lanes::splat(T::ZERO);
    let zero = T::Lanes::splat(T::ZERO);
    let one = T::Lanes::splat(T::ONE);
    // e = exp(c z), z = (l - m0) - ln(E r + w) (and z_d = 0 for the sample).
    let mut e_of = |lv: T::Lanes, wv: T::Lanes, col: usize| -> T::Lanes {
        let big_e = -T::ln_lanes(T::uniforms(rng.next()));
        let denom = big_e.mul_add(rv, wv);
        if UNIT {
            // c = 1: exp(z) = e^{l - m0} / (E r + w) = w / (E r + w), at most 1: the draw's
            // exponential race, one ln (for E) and a division instead of two ln and an exp
            let ev = wv / denom;
            if col == dcol {
                ev * dmask + (one - dmask)
            } else {
                ev
            }
        } else {
            let z = lv - T::ln_lanes(denom);
            let z = z.select_gt(zero, zero, z);
            T::exp_lanes(if col == dcol { z * dmask } else { z } * cv)
        }
    };
    let (mut ls, mut ws, mut ds) = (
        shifted.chunks_exact(n),
        w.chunks_exact(n),
        dy.chunks_exact(n),
    );
    let mut es = e.chunks_exact_mut(n);
    let mut col = 0;
    for (((a, b), g), o) in ls
        .by_ref()
        .zip(ws.by_ref())
        .zip(ds.by_ref())
        .zip(es.by_ref())
    {
        let gv = T::Lanes::load(g);
        sink.put(col, (gv - dotv) * T::Lanes::load(o) * fv);
        let ev = e_of(T::Lanes::load(a), T::Lanes::load(b), col);
        ev.store(o);
        s_acc += ev;
        t_acc = ev.mul_add(gv, t_acc);
        col += n;
    }
    let o = es.into_remainder();
    if !o.is_empty() {
        // tail: padded with masked classes (l = -inf, w = 0, dy = 0), whose e is 0
        let gv = T::Lanes::load_or(ds.remainder(), T::ZERO);
        sink.put_part(
            col,
            o.len(),
            (gv - dotv) * T::Lanes::load_or(o, T::ZERO) * fv,
        );
        let lv = T::Lanes::load_or(ls.remainder(), T::NEG_INFINITY);
        let wv = T::Lanes::load_or(ws.remainder(), T::ZERO);
        let ev = e_of(lv, wv, col);
        ev.store_part(o);
        s_acc += ev;
        t_acc = ev.mul_add(gv, t_acc);
    }
    (s_acc.reduce_add(), t_acc.reduce_add())
}

/// Pass 2 of the last draw when it is the first (K = 1): `out_i = f e_i (dy_i - dot)`.
/// Initialises every element.
#[inline(always)]
fn write_term<T: Element>(e: &[T], dy: &[T], dot: T, f: T, out: &mut [MaybeUninit<T>]) {
    let n = T::Lanes::LANES;
    let (dv, fv) = (T::Lanes::splat(dot), T::Lanes::splat(f));
    let (mut es, mut ds, mut os) = (
        e.chunks_exact(n),
        dy.chunks_exact(n),
        out.chunks_exact_mut(n),
    );
    for ((a, b), o) in es.by_ref().zip(ds.by_ref()).zip(os.by_ref()) {
        ((T::Lanes::load(b) - dv) * T::Lanes::load(a) * fv).store_uninit(o);
    }
    // tail
    for ((&ei, &di), o) in es
        .remainder()
        .iter()
        .zip(ds.remainder())
        .zip(os.into_remainder())
    {
        o.write((di - dot) * ei * f);
    }
}

/// Pass 2 of the last draw (K > 1): `acc_i += f e_i (dy_i - dot)`.
#[inline(always)]
fn add_term<T: Element>(e: &[T], dy: &[T], dot: T, f: T, acc: &mut [T]) {
    let n = T::Lanes::LANES;
    let (dv, fv) = (T::Lanes::splat(dot), T::Lanes::splat(f));
    let (mut es, mut ds, mut os) = (
        e.chunks_exact(n),
        dy.chunks_exact(n),
        acc.chunks_exact_mut(n),
    );
    for ((a, b), o) in es.by_ref().zip(ds.by_ref()).zip(os.by_ref()) {
        (T::Lanes::load(o) + (T::Lanes::load(b) - dv) * T::Lanes::load(a) * fv).store(o);
    }
    // tail
    for ((&ei, &di), o) in es
        .remainder()
        .iter()
        .zip(ds.remainder())
        .zip(os.into_remainder())
    {
        *o += (di - dot) * ei * f;
    }
}

/// One row of the Gumbel-Rao backward: `K + 1` sweeps over the row, sweep `j` holding pass 2
/// of draw `j - 1` and pass 1 of draw `j` (module docs).
/// Initialises every element of `out` when it returns `Ok`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rao_row<T: Element, const UNIT: bool>(
    key: CallKey,
    r: usize,
    k: usize,
    l: &[T],
    d: usize,
    dy: &[T],
    c: T,
    scratch: &mut Vec<T>,
    out: &mut [MaybeUninit<T>],
) -> std::result::Result<(), Fault> {
    let n = l.len();
    if scratch.len() < 3 * n {
        scratch.resize(3 * n, T::ZERO);
    }
    let (shifted, rest) = scratch[..3 * n].split_at_mut(n);
    let (w, e) = rest.split_at_mut(n);
    let (_, zsum) = prepare_row(l, d, shifted, w)?;
    let shifted: &[T] = shifted;
    let c_over_k = c / T::from_usize(k);
    // The draw's stream and r = Z' / E_top (the stream is then past the top's step).
    let start = |j: usize| {
        let mut rng = LaneRng::new(key.row_key(r * k + j));
        let r_j = zsum / draw_top::<T>(&mut rng);
        (rng, r_j)
    };
    // (dot, f) of a draw from its (S, T).
    let scalars = |(s, t): (T, T)| {
        let inv = T::ONE / s;
        (t * inv, c_over_k * inv)
    };
    // LOOP 1: sweep j = pass 2 of draw j - 1 and pass 1 of draw j, in draw order (the sum
    // over draws is sequential: deterministic). Sweep 0 has no previous draw, sweep 1
    // writes `out`, the later ones add to it.
    let (mut rng, r0) = start(0);
    let mut prev = scalars(sweep::<T, _, UNIT>(
        shifted,
        w,
        dy,
        r0,
        c,
        d,
        &mut rng,
        e,
        (T::ZERO, T::ZERO),
        &mut Skip,
    ));
    for j in 1..k {
        let (mut rng, r_j) = start(j);
        let st = if j == 1 {
            sweep::<T, _, UNIT>(
                shifted,
                w,
                dy,
                r_j,
                c,
                d,
                &mut rng,
                e,
                prev,
                &mut Write(&mut *out),
            )
        } else {
            // SAFETY: sweep 1 initialised every element of `out`.
            let acc = unsafe { assume_init_mut(&mut *out) };
            sweep::<T, _, UNIT>(shifted, w, dy, r_j, c, d, &mut rng, e, prev, &mut Add(acc))
        };
        prev = scalars(st);
    }
    // Pass 2 of the last draw.
    let (dot, f) = prev;
    if k == 1 {
        write_term(e, dy, dot, f, out);
    } else {
        // SAFETY: sweep 1 initialised every element of `out`.
        add_term(e, dy, dot, f, unsafe { assume_init_mut(out) });
    }
    Ok(())
}

/// Makes each `l_i + g_i` (`i != d`) strictly smaller than `l_d + g_d` in `T`, lowering `g_i`
/// by an ulp at a time where rounding made it tie or pass (mathematically `l_i + g_i < M`
/// always; in `f32` the gap `ln(1 + E_i / e^{l_i - M})` can be below an ulp of `M`). Rare:
/// about `2^-23` per element near the top in `f32`.
fn enforce_argmax<T: Element>(l: &[T], g: &mut [T], d: usize) {
    let top = l[d] + g[d];
    for (i, (&li, gi)) in l.iter().zip(g.iter_mut()).enumerate() {
        if i == d {
            continue;
        }
        while li + *gi >= top {
            let step = (li + *gi).abs().max(gi.abs()) * T::EPSILON + T::MIN_POSITIVE;
            *gi -= step;
        }
    }
}

/// One row of [`conditional_gumbel_noise`]: `K` draws into consecutive `n`-long pieces of
/// `out`. Initialises every element of `out` when it returns `Ok`.
#[inline(always)]
fn noise_row<T: Element>(
    key: CallKey,
    r: usize,
    k: usize,
    l: &[T],
    d: usize,
    scratch: &mut Vec<T>,
    out: &mut [MaybeUninit<T>],
) -> std::result::Result<(), Fault> {
    let n = l.len();
    if scratch.len() < 2 * n {
        scratch.resize(2 * n, T::ZERO);
    }
    let (shifted, w) = scratch[..2 * n].split_at_mut(n);
    let (m0, zsum) = prepare_row(l, d, shifted, w)?;
    let nl = T::Lanes::LANES;
    for (j, g) in out.chunks_mut(n).enumerate() {
        let mut rng = LaneRng::new(key.row_key(r * k + j));
        let e_top = draw_top::<T>(&mut rng);
        // g_i = -ln(E_i + w_i s), s = E_top / Z' = e^{m0 - M}
        let sv = T::Lanes::splat(e_top / zsum);
        let mut gs = g.chunks_exact_mut(nl);
        let mut ws = w.chunks_exact(nl);
        for (o, b) in gs.by_ref().zip(ws.by_ref()) {
            let big_e = -T::ln_lanes(T::uniforms(rng.next()));
            (-T::ln_lanes(T::Lanes::load(b).mul_add(sv, big_e))).store_uninit(o);
        }
        let o = gs.into_remainder();
        if !o.is_empty() {
            // tail
            let big_e = -T::ln_lanes(T::uniforms(rng.next()));
            let wv = T::Lanes::load_or(ws.remainder(), T::ZERO);
            (-T::ln_lanes(wv.mul_add(sv, big_e))).store_part_uninit(o);
        }
        // SAFETY: the loop and the tail wrote every element of `g`.
        let g = unsafe { assume_init_mut(g) };
        // g_d = M - l_d, M = m0 + ln r
        g[d] = (m0 - l[d]) + T::ln_scalar(zsum / e_top);
        enforce_argmax(l, g, d);
    }
    Ok(())
}

/// Gumbel-Rao backward, fused: the gradient of the logits for the hard sample
/// `D = one_hot(index)` with the Rao-Blackwellised straight-through estimator,
///
/// ```text
/// dl = (1/K) sum_k c y_k (dy - <y_k, dy>),   y_k = softmax(c (l + g_k)),   c = 1/tau or beta,
/// ```
///
/// with `K = k` noise vectors `g_k` drawn, per row, from the law of Gumbel noise given
/// `argmax(l + g) = index[row]` (the module docs give the sampler and the kernel). `index`
/// must be the sample the forward returned (from `gumbel_max` or `gumbel_softmax`'s
/// `index`, or any `Categorical(softmax(l))` draw); `dy` is the upstream gradient of the
/// one-hot, shape of the logits. Rows run in parallel; the `K` draws of a row and the sum over
/// them run in one pass structure over the row, with a scratch of two rows per thread.
/// Consumes one counter value of `rng` on success; row `r`'s draw `k` uses the stream
/// `(seed, counter, r K + k)`, so the result is bitwise the same for any number of threads
/// and [`conditional_gumbel_noise`] with the same seed and counter returns the noise used.
///
/// Masked classes (`-inf` logits) get exactly 0 (for finite `dy`). Each row of `dl` sums to
/// 0 up to rounding (every `J_k^T v` does).
///
/// Errors: `k == 0`; an invalid temperature; logits without a class dimension; `dy` of
/// another shape; `index.len() != rows`; `rows * k * classes` overflowing; and per row (the lowest
/// bad row is reported, then its first fault in this order): a NaN or `+inf` logit
/// (naming the column), a row of only `-inf`, an index out of range or pointing at a
/// masked class.
///
/// ```
/// use gumbel_tensor::Tensor;
/// use gumbel_tensor::ops::gumbel::{
///     conditional_gumbel_noise, gumbel_rao_backward, gumbel_softmax_backward,
///     gumbel_softmax_with_noise, GumbelRng, Noise, Output, TempGrad, Temperature,
/// };
/// let l = Tensor::new([1, 3], vec![0.5f64, -1.0, 2.0]).unwrap();
/// let dy = Tensor::new([1, 3], vec![1.0, -2.0, 0.5]).unwrap();
/// let tau = Temperature::Tau(0.5);
/// let dl = gumbel_rao_backward(&l, &[0], &dy, tau, 1, &mut GumbelRng::new(3)).unwrap();
/// // K = 1 is straight-through at the conditional noise: the same numbers, composed.
/// let g = conditional_gumbel_noise(&l, &[0], 1, &mut GumbelRng::new(3)).unwrap();
/// let y = gumbel_softmax_with_noise(&l, Noise::Gumbel(&g), tau, Output::Soft).unwrap();
/// assert_eq!(y.index, vec![0]);
/// let (st, _) = gumbel_softmax_backward(&y.y, &dy, tau, TempGrad::Skip).unwrap();
/// for (a, b) in dl.as_slice().iter().zip(st.as_slice()) {
///     assert!((a - b).abs() < 1e-12);
/// }
/// assert!(dl.as_slice().iter().sum::<f64>().abs() < 1e-12);
/// ```
pub fn gumbel_rao_backward<T: Element>(
    logits: &Tensor<T>,
    index: &[usize],
    dy: &Tensor<T>,
    temp: Temperature<T>,
    k: usize,
    rng: &mut GumbelRng,
) -> Result<Tensor<T>> {
    const OP: &str = "gumbel_rao_backward";
    let c = temp.scale(OP)?;
    check_args(OP, logits, index, Some(dy), k)?;
    let key = rng.call_key();
    let cols = logits.cols();
    // SAFETY: rao_row initialises its row whenever it returns Ok.
    let written = unsafe {
        write_rows_init(
            logits.shape(),
            k.saturating_mul(cols),
            Vec::new,
            |scratch, r, out| {
                let (l, d, g) = (logits.row(r), index[r], dy.row(r));
                if c == T::ONE {
                    rao_row::<T, true>(key, r, k, l, d, g, c, scratch, out)
                } else {
                    rao_row::<T, false>(key, r, k, l, d, g, c, scratch, out)
                }
            },
        )
    };
    let (dl, _) = written.map_err(|(r, f)| f.into_error(OP, r))?;
    rng.advance();
    Ok(dl)
}

/// Gumbel noise conditioned on its argmax, materialised for tests and studies: `k` draws
/// per row of the logits, row `r k + j` of the `[rows k, classes]` result holding draw `j`
/// for row `r`, distributed as standard Gumbel noise `g` given
/// `argmax_i (l_i + g_i) = index[r]` (module docs). Exactly the noise
/// [`gumbel_rao_backward`] uses for the same seed and counter (up to rounding: the kernel
/// never forms `g`, it works with `l + g - max(l + g)`). Consumes one counter value on
/// success.
///
/// In `T`, `l_i + g_i < l_d + g_d` holds strictly for every `i != d` (ties broken by
/// lowering `g_i` an ulp), so any argmax returns `d`. Masked classes (`-inf` logits) cannot
/// win, so the condition says nothing about them: their `g_i` is standard Gumbel.
/// Mixing over `index ~ Categorical(softmax(l))` gives back unconditional Gumbel noise.
///
/// Errors as [`gumbel_rao_backward`] (without the temperature and `dy`).
///
/// ```
/// use gumbel_tensor::Tensor;
/// use gumbel_tensor::ops::gumbel::{conditional_gumbel_noise, GumbelRng};
/// let l = Tensor::new([1, 4], vec![3.0f32, 0.0, -1.0, f32::NEG_INFINITY]).unwrap();
/// // Class 2 (probability 0.016) drawn, 5 noise vectors consistent with it:
/// let g = conditional_gumbel_noise(&l, &[2], 5, &mut GumbelRng::new(1)).unwrap();
/// assert_eq!(g.shape(), &[5, 4]);
/// for r in 0..5 {
///     let x: Vec<f32> = l.row(0).iter().zip(g.row(r)).map(|(a, b)| a + b).collect();
///     assert!(x[2] > x[0] && x[2] > x[1] && x[2] > x[3]);
/// }
/// ```
pub fn conditional_gumbel_noise<T: Element>(
    logits: &Tensor<T>,
    index: &[usize],
    k: usize,
    rng: &mut GumbelRng,
) -> Result<Tensor<T>> {
    const OP: &str = "conditional_gumbel_noise";
    check_args(OP, logits, index, None, k)?;
    let key = rng.call_key();
    let (rows, cols) = (logits.rows(), logits.cols());
    // SAFETY: noise_row initialises its k rows whenever it returns Ok.
    let written = unsafe {
        write_rows_init(&[rows, k * cols], k * cols, Vec::new, |scratch, r, out| {
            noise_row(key, r, k, logits.row(r), index[r], scratch, out)
        })
    };
    let (g, _) = written.map_err(|(r, f)| f.into_error(OP, r))?;
    rng.advance();
    g.reshape([rows * k, cols])
}

/// Scalar references: the same uniforms (rand_xoshiro lanes, scalar uniform mapping), then
/// plain loops in `f64` with `std`'s `ln`/`exp`, rounded to `T` at the end. The tests'
/// reference for the SIMD kernels; `bench`'s "scalar".
pub mod scalar {
    use super::*;
    use crate::ops::gumbel::rng::scalar::LaneRng as ScalarLanes;

    /// `(m0, w, Z')` of a row in `f64`, with the same checks as the kernel.
    fn prepare_row_ref<T: Element>(
        l: &[T],
        d: usize,
    ) -> std::result::Result<(f64, Vec<f64>, f64), Fault> {
        if let Some(f) = find_non_finite(l) {
            return Err(f);
        }
        let m0 = l.iter().fold(f64::NEG_INFINITY, |a, x| a.max(x.to_f64()));
        if m0 == f64::NEG_INFINITY {
            return Err(Fault::Logits(RowFault::AllMasked));
        }
        check_index(l, d)?;
        let w: Vec<f64> = l.iter().map(|x| (x.to_f64() - m0).exp()).collect();
        let zsum = w.iter().sum();
        Ok((m0, w, zsum))
    }

    /// The uniforms of the draw whose stream has key `row_key`: `u_top` and the classes'
    /// `u_0 .. u_{n-1}`, as `f64`.
    pub(crate) fn draw_uniforms<T: Element>(row_key: u64, n: usize) -> (f64, Vec<f64>) {
        let mut lanes = ScalarLanes::new(row_key);
        let nl = T::Lanes::LANES;
        let mut buf = vec![T::ZERO; nl];
        T::uniforms_scalar(lanes.next(), &mut buf);
        let top = buf[0].to_f64();
        let mut u = Vec::with_capacity(n + nl);
        while u.len() < n {
            T::uniforms_scalar(lanes.next(), &mut buf);
            u.extend(buf.iter().map(|x| x.to_f64()));
        }
        u.truncate(n);
        (top, u)
    }

    /// Reference [`gumbel_rao_backward`](super::gumbel_rao_backward): per draw, `z`, `y_k`,
    /// `<y_k, dy>` and the term in `f64`; the mean over draws rounded to `T`.
    pub fn gumbel_rao_backward<T: Element>(
        logits: &Tensor<T>,
        index: &[usize],
        dy: &Tensor<T>,
        temp: Temperature<T>,
        k: usize,
        rng: &mut GumbelRng,
    ) -> Result<Tensor<T>> {
        const OP: &str = "scalar::gumbel_rao_backward";
        let c = temp.scale(OP)?.to_f64();
        check_args(OP, logits, index, Some(dy), k)?;
        let key = rng.call_key();
        let mut dl = Tensor::zeros(logits.shape().to_vec());
        let results = parallel::map_rows_mut(
            dl.as_mut_slice(),
            logits.cols(),
            |r, out| -> std::result::Result<(), Fault> {
                let (l, d, dyr) = (logits.row(r), index[r], dy.row(r));
                let (m0, w, zsum) = prepare_row_ref(l, d)?;
                let n = l.len();
                let mut acc = vec![0.0f64; n];
                for j in 0..k {
                    let (ut, u) = draw_uniforms::<T>(key.row_key(r * k + j), n);
                    let rr = zsum / -ut.ln();
                    let e: Vec<f64> = (0..n)
                        .map(|i| {
                            if i == d {
                                return 1.0;
                            }
                            let z = (l[i].to_f64() - m0) - (-u[i].ln() * rr + w[i]).ln();
                            (c * z.min(0.0)).exp()
                        })
                        .collect();
                    let s: f64 = e.iter().sum();
                    let dot = e.iter().zip(dyr).map(|(a, b)| a * b.to_f64()).sum::<f64>() / s;
                    for ((a, &ei), &di) in acc.iter_mut().zip(&e).zip(dyr) {
                        *a += ei / s * (di.to_f64() - dot);
                    }
                }
                for (o, a) in out.iter_mut().zip(acc) {
                    *o = T::from_f64(a * c / k as f64);
                }
                Ok(())
            },
        );
        first_fault(OP, results)?;
        rng.advance();
        Ok(dl)
    }

    /// Reference [`conditional_gumbel_noise`](super::conditional_gumbel_noise): `g` in
    /// `f64`, rounded to `T`, then the same tie rule.
    pub fn conditional_gumbel_noise<T: Element>(
        logits: &Tensor<T>,
        index: &[usize],
        k: usize,
        rng: &mut GumbelRng,
    ) -> Result<Tensor<T>> {
        const OP: &str = "scalar::conditional_gumbel_noise";
        check_args(OP, logits, index, None, k)?;
        let key = rng.call_key();
        let (rows, n) = (logits.rows(), logits.cols());
        let mut g = Tensor::zeros([rows * k, n]);
        let results = parallel::map_rows_mut(
            g.as_mut_slice(),
            k * n,
            |r, out| -> std::result::Result<(), Fault> {
                let (l, d) = (logits.row(r), index[r]);
                let (m0, w, zsum) = prepare_row_ref(l, d)?;
                for (j, gr) in out.chunks_mut(n).enumerate() {
                    let (ut, u) = draw_uniforms::<T>(key.row_key(r * k + j), n);
                    let et = -ut.ln();
                    for (i, gi) in gr.iter_mut().enumerate() {
                        *gi = T::from_f64(-(-u[i].ln() + w[i] * et / zsum).ln());
                    }
                    gr[d] = T::from_f64((m0 - l[d].to_f64()) + (zsum / et).ln());
                    enforce_argmax(l, gr, d);
                }
                Ok(())
            },
        );
        first_fault(OP, results)?;
        rng.advance();
        Ok(g)
    }

    fn first_fault(op: &'static str, results: Vec<std::result::Result<(), Fault>>) -> Result<()> {
        for (r, res) in results.into_iter().enumerate() {
            res.map_err(|f| f.into_error(op, r))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enforce_argmax_breaks_ties_and_passes_below_the_top() {
        let l = [1.0f32, 2.0, f32::NEG_INFINITY, 0.5, 1e6];
        // x = l + g: 3.0 (d = 0), then a tie, a masked class, one just above, one far above
        let mut g = [2.0f32, 1.0, 0.3, 2.5000002, -999_997.0];
        enforce_argmax(&l, &mut g, 0);
        let top = l[0] + g[0];
        for i in 1..5 {
            assert!(l[i] + g[i] < top, "class {i}: {} vs {top}", l[i] + g[i]);
        }
        assert_eq!(g[2], 0.3, "masked classes are left alone");
        // the tie moved by about an ulp only
        assert!((g[1] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn the_stream_layout_is_uniform_noise_with_the_top_in_front() {
        // Row j of uniform_noise(&[rows k, LANES + n]) holds u_top in column 0 and u_i in
        // column LANES + i: the documented layout.
        use crate::ops::gumbel::uniform_noise;
        let (rows, k, n) = (3usize, 2usize, 37usize);
        let key = GumbelRng::new(4).call_key();
        for (nl, is_f32) in [(16usize, true), (8, false)] {
            for j in 0..rows * k {
                let (top, u) = if is_f32 {
                    scalar::draw_uniforms::<f32>(key.row_key(j), n)
                } else {
                    scalar::draw_uniforms::<f64>(key.row_key(j), n)
                };
                let want: Vec<f64> = if is_f32 {
                    uniform_noise::<f32>(&[rows * k, nl + n], &mut GumbelRng::new(4))
                        .row(j)
                        .iter()
                        .map(|x| *x as f64)
                        .collect()
                } else {
                    uniform_noise::<f64>(&[rows * k, nl + n], &mut GumbelRng::new(4))
                        .row(j)
                        .to_vec()
                };
                assert_eq!(top, want[0]);
                assert_eq!(u, &want[nl..]);
            }
        }
    }
}
