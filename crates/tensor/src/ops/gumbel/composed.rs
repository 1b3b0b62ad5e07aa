//! The composed (unfused) twin of the fused kernels: noise, add, scale and softmax as
//! separate passes, each reading and writing a whole tensor, the way a framework built
//! from generic ops computes `softmax((l + gumbel()) / tau)`. Tests check that it agrees
//! with the fused kernels in value and gradient; the benchmarks run it as "unfused".
//!
//! Every pass is row-parallel and uses the same SIMD `exp` as the fused kernel, so the
//! benchmark difference measures fusion (memory passes, allocations), not a slower `exp`.
//! Its backward uses the textbook `dtau = -sum_i dl_i z_i` with the stored `z`, an
//! independent check of the fused kernel's `ln y` rewrite.

use super::Temperature;
use super::lanes::Lanes;
use super::noise::gumbel_noise;
use super::rng::GumbelRng;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::parallel;
use crate::tensor::Tensor;

/// Everything the composed forward materialises.
#[derive(Debug, Clone)]
pub struct Composed<T: Element> {
    /// The Gumbel noise `g` (pass 1).
    pub g: Tensor<T>,
    /// `p = l + g` (pass 2).
    pub p: Tensor<T>,
    /// `z = c p` (pass 3), kept for the backward's `dtau = -sum dl z`.
    pub z: Tensor<T>,
    /// `y = softmax(z)` (passes 4-6: max, exp and sum, divide).
    pub y: Tensor<T>,
    /// `argmax p` of each row (pass 7).
    pub index: Vec<usize>,
}

/// Elementwise `out = f(a, b)` over whole tensors, row-parallel (a separate pass).
fn zip_map<T: Element>(
    a: &Tensor<T>,
    b: &Tensor<T>,
    f: impl Fn(T, T) -> T + Sync + Send,
) -> Tensor<T> {
    let mut out = Tensor::zeros(a.shape().to_vec());
    let cols = a.cols();
    parallel::for_each_row_mut(out.as_mut_slice(), cols, |r, o| {
        for ((oi, &x), &y) in o.iter_mut().zip(a.row(r)).zip(b.row(r)) {
            *oi = f(x, y);
        }
    });
    out
}

/// Elementwise `out = f(a)`, row-parallel (a separate pass).
fn map<T: Element>(a: &Tensor<T>, f: impl Fn(T) -> T + Sync + Send) -> Tensor<T> {
    let mut out = Tensor::zeros(a.shape().to_vec());
    let cols = a.cols();
    parallel::for_each_row_mut(out.as_mut_slice(), cols, |r, o| {
        for (oi, &x) in o.iter_mut().zip(a.row(r)) {
            *oi = f(x);
        }
    });
    out
}

/// Row-wise softmax in three passes per row (max; exp and sum; divide), with the same
/// SIMD `exp` as the fused kernel. Rows whose max is `-inf` are left 0 (callers reject them).
fn softmax<T: Element>(z: &Tensor<T>) -> Tensor<T> {
    let mut y = Tensor::zeros(z.shape().to_vec());
    let cols = z.cols();
    let n = <T::Lanes as Lanes>::N;
    parallel::for_each_row_mut(y.as_mut_slice(), cols, |r, o| {
        let zr = z.row(r);
        let m = zr
            .iter()
            .fold(T::NEG_INFINITY, |a, &b| if b > a { b } else { a });
        if m == T::NEG_INFINITY {
            return;
        }
        let mv = T::Lanes::splat(m);
        let mut acc = T::Lanes::splat(T::ZERO);
        for (oc, zc) in o.chunks_mut(n).zip(zr.chunks(n)) {
            let e = T::exp_lanes(T::Lanes::load_or(zc, T::NEG_INFINITY) - mv);
            e.store_part(oc);
            acc = acc + e;
        }
        let inv = T::ONE / acc.reduce_add();
        o.iter_mut().for_each(|x| *x *= inv);
    });
    y
}

/// The composed forward: `g = gumbel_noise(..)`, `p = l + g`, `index = argmax p`,
/// `z = c p`, `y = softmax(z)`, each a separate pass. Uses the same noise as the fused
/// kernel for the same seed and counter, and the same error contract (checked on `p`'s
/// argmax pass). Consumes one counter value on success.
pub fn forward<T: Element>(
    logits: &Tensor<T>,
    temp: Temperature<T>,
    rng: &mut GumbelRng,
) -> Result<Composed<T>> {
    const OP: &str = "composed::forward";
    let c = temp.scale(OP)?;
    if logits.rank() == 0 {
        return Err(Error::invalid_shape(
            OP,
            logits.shape(),
            "logits need a class dimension",
        ));
    }
    let counter = rng.counter();
    let g = gumbel_noise(logits.shape(), rng);
    let p = zip_map(logits, &g, |a, b| a + b);
    let index = match argmax_rows(OP, logits, &p) {
        Ok(i) => i,
        Err(e) => {
            rng.set_counter(counter);
            return Err(e);
        }
    };
    let z = map(&p, |x| x * c);
    let y = softmax(&z);
    Ok(Composed { g, p, z, y, index })
}

/// The composed Gumbel-max: `g = gumbel_noise(..)`, `p = l + g`, `argmax p`, three
/// passes. Same noise, same indices and errors as [`gumbel_max`](super::gumbel_max).
pub fn gumbel_max<T: Element>(logits: &Tensor<T>, rng: &mut GumbelRng) -> Result<Vec<usize>> {
    const OP: &str = "composed::gumbel_max";
    if logits.rank() == 0 {
        return Err(Error::invalid_shape(
            OP,
            logits.shape(),
            "logits need a class dimension",
        ));
    }
    let counter = rng.counter();
    let g = gumbel_noise(logits.shape(), rng);
    let p = zip_map(logits, &g, |a, b| a + b);
    argmax_rows(OP, logits, &p).inspect_err(|_| rng.set_counter(counter))
}

/// First argmax of each row of `p`, with the contract's errors (from the logits).
fn argmax_rows<T: Element>(
    op: &'static str,
    logits: &Tensor<T>,
    p: &Tensor<T>,
) -> Result<Vec<usize>> {
    let rows: Vec<Result<usize>> = parallel::map_rows(p.rows(), p.cols(), |r| {
        let (lr, pr) = (logits.row(r), p.row(r));
        if let Some(col) = lr.iter().position(|x| x.is_nan() || *x == T::INFINITY) {
            return Err(Error::NonFiniteLogit {
                op,
                row: r,
                col,
                value: lr[col].to_f64(),
            });
        }
        let mut best = 0;
        for (i, &x) in pr.iter().enumerate() {
            if x > pr[best] {
                best = i;
            }
        }
        if pr.is_empty() || pr[best] == T::NEG_INFINITY {
            return Err(Error::AllMasked { op, row: r });
        }
        Ok(best)
    });
    rows.into_iter().collect()
}

/// The composed backward: `dz = y (dy - <dy, y>)` (softmax backward, one pass for the
/// dots and one for `dz`), `dl = c dz` (a scale pass), and the temperature gradient from
/// the stored `z`: `dtau = -(1/tau) sum dz_i z_i`, `dbeta = (1/beta) sum dz_i z_i`, masked
/// classes (`z_i = -inf`) skipped.
pub fn backward<T: Element>(
    fwd: &Composed<T>,
    dy: &Tensor<T>,
    temp: Temperature<T>,
    want_dtemp: bool,
) -> Result<(Tensor<T>, Option<T>)> {
    const OP: &str = "composed::backward";
    let c = temp.scale(OP)?;
    fwd.y.expect_same_shape(OP, dy)?;
    let dots: Vec<T> = parallel::map_rows(fwd.y.rows(), fwd.y.cols(), |r| {
        fwd.y
            .row(r)
            .iter()
            .zip(dy.row(r))
            .fold(T::ZERO, |s, (&a, &b)| b.mul_add(a, s))
    });
    let mut dz = Tensor::zeros(dy.shape().to_vec());
    let cols = dy.cols();
    parallel::for_each_row_mut(dz.as_mut_slice(), cols, |r, o| {
        for ((oi, &yi), &di) in o.iter_mut().zip(fwd.y.row(r)).zip(dy.row(r)) {
            *oi = yi * (di - dots[r]);
        }
    });
    let dl = map(&dz, |x| x * c);
    let dtemp = want_dtemp.then(|| {
        let s: f64 = (0..dz.rows())
            .map(|r| {
                dz.row(r)
                    .iter()
                    .zip(fwd.z.row(r))
                    .filter(|(_, z)| **z != T::NEG_INFINITY)
                    .map(|(a, z)| a.to_f64() * z.to_f64())
                    .sum::<f64>()
            })
            .sum();
        T::from_f64(match temp {
            Temperature::Tau(tau) => -s / tau.to_f64(),
            Temperature::Beta(beta) => s / beta.to_f64(),
        })
    });
    Ok((dl, dtemp))
}
