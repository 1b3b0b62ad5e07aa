//! Tape ops the GAN models need beyond the autograd crate's generic ones, each with its
//! forward and backward side by side.
//!
//! | op | forward | backward |
//! |---|---|---|
//! | [`mask_rows`] | rows with `keep[r] = false` become the one-hot of `token` | `dx[r] = keep[r] ? dy[r] : 0` |
//! | [`max_over_time`] | `y[b, f] = max_p x[p*B + b, f]` | `dy` routed to the argmax row |
//! | [`softplus_mean`] | `mean_i ln(1 + e^{x_i})` | `dx_i = sigmoid(x_i) / n` |
//!
//! Rows are time-major throughout the models (`row = t * batch + b`), so that the rows of
//! one time step, and the window of a convolution, are contiguous slices.

use gumbel_autograd::Var;
use gumbel_tensor::{Element, Error, Result, Tensor};

/// Replaces the rows `r` with `keep[r] == false` by the one-hot of `token`; gradients of
/// those rows are zero (they no longer depend on `x`):
///
/// ```text
/// y[r] = keep[r] ? x[r] : e_token        dx[r] = keep[r] ? dy[r] : 0
/// ```
///
/// The generator uses it to pad a generated sequence after its end token, as real
/// sequences are padded.
pub fn mask_rows<'t, T: Element>(
    x: &Var<'t, T>,
    keep: &[bool],
    token: usize,
) -> Result<Var<'t, T>> {
    const OP: &str = "mask_rows";
    let xv = x.value()?;
    let (rows, cols) = (xv.rows(), xv.cols());
    if keep.len() != rows || token >= cols {
        return Err(Error::invalid_argument(
            OP,
            format!(
                "{} keep flags and token {token} for a [{rows}, {cols}] input",
                keep.len()
            ),
        ));
    }
    if keep.iter().all(|&k| k) {
        return Ok(*x);
    }
    let mut y = (*xv).clone();
    for (r, &k) in keep.iter().enumerate() {
        if !k {
            let row = y.row_mut(r);
            row.iter_mut().for_each(|v| *v = T::ZERO);
            row[token] = T::ONE;
        }
    }
    let keep = keep.to_vec();
    let xid = x.id();
    x.tape().op(OP, y, &[*x], move |_y, mut dy, g| {
        for (r, &k) in keep.iter().enumerate() {
            if !k {
                dy.row_mut(r).iter_mut().for_each(|v| *v = T::ZERO);
            }
        }
        g.add(xid, dy)
    })
}

/// Max over time of a time-major `[positions * batch, features]` matrix:
///
/// ```text
/// y[b, f] = max_p x[p * batch + b, f]        dx[p* batch + b, f] = dy[b, f] if p = argmax else 0
/// ```
///
/// Ties go to the first position (as `torch.max`).
pub fn max_over_time<'t, T: Element>(x: &Var<'t, T>, batch: usize) -> Result<Var<'t, T>> {
    const OP: &str = "max_over_time";
    let xv = x.value()?;
    let (rows, f) = (xv.rows(), xv.cols());
    if xv.rank() != 2 || batch == 0 || rows % batch != 0 || rows == 0 {
        return Err(Error::invalid_shape(
            OP,
            xv.shape(),
            format!("expected [positions * {batch}, features]"),
        ));
    }
    let positions = rows / batch;
    let xs = xv.as_slice();
    let mut y = xs[..batch * f].to_vec();
    let mut arg = vec![0u32; batch * f];
    for p in 1..positions {
        let src = &xs[p * batch * f..(p + 1) * batch * f];
        for ((yv, a), &v) in y.iter_mut().zip(arg.iter_mut()).zip(src) {
            if v > *yv {
                *yv = v;
                *a = p as u32;
            }
        }
    }
    let xid = x.id();
    x.tape()
        .op(OP, Tensor::new([batch, f], y)?, &[*x], move |_y, dy, g| {
            if let Some(dx) = g.slot(xid) {
                let dx = dx.as_mut_slice();
                for (i, (&a, &d)) in arg.iter().zip(dy.as_slice()).enumerate() {
                    dx[a as usize * batch * f + i] += d;
                }
            }
            Ok(())
        })
}

/// `mean_i softplus(x_i)` with `softplus(x) = ln(1 + e^x) = max(x, 0) + ln(1 + e^{-|x|})`
/// (the stable form), and `d/dx softplus(x) = sigmoid(x)`:
///
/// ```text
/// L = (1/n) sum_i softplus(x_i)        dL/dx_i = sigmoid(x_i) / n
/// ```
///
/// Binary cross-entropy with logits is a softplus: `-ln sigmoid(z) = softplus(-z)` and
/// `-ln(1 - sigmoid(z)) = softplus(z)`, so every GAN loss here is one call.
pub fn softplus_mean<'t, T: Element>(x: &Var<'t, T>) -> Result<Var<'t, T>> {
    const OP: &str = "softplus_mean";
    let xv = x.value()?;
    let n = xv.numel();
    if n == 0 {
        return Err(Error::invalid_shape(
            OP,
            xv.shape(),
            "the mean of no elements",
        ));
    }
    let mut s = 0.0f64;
    for &v in xv.as_slice() {
        let v = v.to_f64();
        s += v.max(0.0) + (-v.abs()).exp().ln_1p();
    }
    let value = Tensor::scalar(T::from_f64(s / n as f64));
    let xid = x.id();
    x.tape().op(OP, value, &[*x], move |_y, dy, g| {
        let d = dy.as_slice()[0].to_f64() / n as f64;
        let xv = g.value(xid).clone();
        let dx: Vec<T> = xv
            .as_slice()
            .iter()
            .map(|&v| {
                let v = v.to_f64();
                // sigmoid(v), stable for either sign.
                let s = if v >= 0.0 {
                    1.0 / (1.0 + (-v).exp())
                } else {
                    let e = v.exp();
                    e / (1.0 + e)
                };
                T::from_f64(d * s)
            })
            .collect();
        g.add(xid, Tensor::new(xv.shape(), dx)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gumbel_autograd::{Tape, gradcheck};

    fn rand(shape: &[usize], seed: u64) -> Tensor<f64> {
        let mut s = seed;
        Tensor::from_fn(shape.to_vec(), |_| {
            s = crate::train::rng::splitmix64(s);
            (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
    }

    #[test]
    fn mask_rows_replaces_rows_and_blocks_their_gradient() {
        let keep = [true, false, true, false];
        gradcheck(
            |_t, v| mask_rows(&v[0], &keep, 2)?.mul(&v[1])?.sum(),
            &[rand(&[4, 3], 1), rand(&[4, 3], 2)],
        )
        .unwrap();
        let tape = Tape::<f64>::new();
        let x = tape.leaf(rand(&[4, 3], 3));
        let y = mask_rows(&x, &keep, 2).unwrap().value().unwrap();
        assert_eq!(y.row(1), &[0.0, 0.0, 1.0]);
        assert_eq!(y.row(2), x.value().unwrap().row(2));
    }

    #[test]
    fn max_over_time_routes_to_the_argmax() {
        // 3 positions x batch 2, 4 features; random values have no ties.
        gradcheck(
            |_t, v| max_over_time(&v[0], 2)?.mul(&v[1])?.sum(),
            &[rand(&[6, 4], 4), rand(&[2, 4], 5)],
        )
        .unwrap();
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::new([4, 1], vec![1.0, 5.0, 3.0, 2.0]).unwrap());
        // batch 2: b0 sees rows 0, 2 -> 3; b1 sees rows 1, 3 -> 5.
        let y = max_over_time(&x, 2).unwrap().value().unwrap();
        assert_eq!(y.as_slice(), &[3.0, 5.0]);
        assert!(max_over_time(&x, 3).is_err());
    }

    #[test]
    fn softplus_mean_matches_the_formula_and_its_gradient() {
        gradcheck(|_t, v| softplus_mean(&v[0]), &[rand(&[5, 3], 6)]).unwrap();
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::new([3], vec![0.0, 800.0, -800.0]).unwrap());
        let v = softplus_mean(&x).unwrap().item().unwrap();
        // (ln 2 + 800 + 0) / 3, finite for huge |x|.
        assert!((v - (2f64.ln() + 800.0) / 3.0).abs() < 1e-12, "{v}");
    }
}
