//! The one tape op the GAN models need beyond the autograd crate's generic ones: padding a
//! generated sequence after its end token.
//!
//! | op | forward | backward |
//! |---|---|---|
//! | [`mask_rows`] | rows with `keep[r] = false` become the one-hot of `token` | `dx[r] = keep[r] ? dy[r] : 0` |

use gumbel_autograd::Var;
use gumbel_tensor::{Element, Error, Result};
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

#[cfg(test)]
mod tests {
    use super::*;
    use gumbel_autograd::{Tape, gradcheck};
    use gumbel_tensor::Tensor;

    fn rand(shape: &[usize], seed: u64) -> Tensor<f64> {
        let mut s = seed;
        Tensor::from_fn(shape.to_vec(), |_| {
            s = gumbel_tensor::random::splitmix64(s);
            gumbel_tensor::random::unit_f64(s) * 2.0 - 1.0
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
}
