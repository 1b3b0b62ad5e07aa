//! `conv1d`: a 1-D convolution over time ("valid" padding, stride 1), channels last,
//! computed as im2col + one matmul.
//!
//! Shapes: input `x: [B, L, C]`, weight `W: [F, C, w]` (PyTorch's `nn.Conv1d` layout),
//! bias `[F]`, output `y: [B, L - w + 1, F]`:
//!
//! ```text
//! y[b, t, f] = bias[f] + sum_{k < w, c < C} W[f, c, k] x[b, t + k, c]
//! ```
//! (PyTorch's `conv1d(x.transpose(1, 2), W, bias).transpose(1, 2)`.)
//!
//! As matrices: `P = im2col(x): [B*T, w*C]`, `W' = W permuted to [F, w*C]`, and
//! `Y = P W'^T + bias`. Derivatives:
//!
//! ```text
//! dW' = dY^T P      -> permuted back to [F, C, w]
//! dP  = dY W'       -> dx = col2im(dP)   (overlapping windows add up)
//! dbias = column sums of dY
//! ```

pub mod kernel;

use gumbel_tensor::{Element, Error, Result, Tensor};

use crate::tape::Var;
use gumbel_tensor::ops as k;

/// 1-D convolution over time; see the module docs. `Err` if `x` is not `[B, L, C]`, `W` not
/// `[F, C, w]` with the same `C`, `L < w`, or the bias is not `[F]`.
pub fn conv1d<'t, T: Element>(
    x: &Var<'t, T>,
    weight: &Var<'t, T>,
    bias: Option<&Var<'t, T>>,
) -> Result<Var<'t, T>> {
    const OP: &str = "conv1d";
    let (xv, wv) = (x.value()?, weight.value()?);
    let [b, len, ch] = *xv.shape() else {
        return Err(Error::invalid_shape(
            OP,
            xv.shape(),
            "input must be 3-D [batch, time, channels]",
        ));
    };
    let [f, wch, w] = *wv.shape() else {
        return Err(Error::invalid_shape(
            OP,
            wv.shape(),
            "weight must be 3-D [filters, channels, width]",
        ));
    };
    if wch != ch || w == 0 {
        return Err(Error::shape_mismatch(OP, xv.shape(), wv.shape()));
    }
    if len < w {
        return Err(Error::invalid_shape(
            OP,
            xv.shape(),
            format!("the sequence is shorter than the filter width {w}"),
        ));
    }
    if let Some(bv) = bias {
        let bs = bv.shape()?;
        if bs != [f] {
            return Err(Error::shape_mismatch("conv1d (bias vs filters)", &bs, &[f]));
        }
    }
    let t_out = len + 1 - w;
    // Every patch element is written by im2col: no zero-fill first.
    let np = b * t_out * w * ch;
    let mut patches = Vec::with_capacity(np);
    kernel::im2col(
        xv.as_slice(),
        b,
        len,
        ch,
        w,
        &mut patches.spare_capacity_mut()[..np],
    );
    // SAFETY: im2col wrote all `np` elements.
    unsafe { patches.set_len(np) };
    let patches = Tensor::new([b * t_out, w * ch], patches)?;
    let mut wm = Tensor::zeros([f, w * ch]);
    kernel::weight_to_matrix(wv.as_slice(), f, ch, w, wm.as_mut_slice());
    let mut y = match bias {
        Some(bv) => {
            let bv = bv.value()?;
            let mut y = Vec::with_capacity(b * t_out * f);
            for _ in 0..b * t_out {
                y.extend_from_slice(bv.as_slice());
            }
            Tensor::new([b * t_out, f], y)?
        }
        None => Tensor::zeros([b * t_out, f]),
    };
    k::matmul_acc(&mut y, &patches, false, &wm, true, T::ONE, T::ONE)?;
    let y = y.reshape([b, t_out, f])?;

    let (ix, iw, ib) = (x.id(), weight.id(), bias.map(|v| v.id()));
    let mut inputs = vec![*x, *weight];
    inputs.extend(bias.copied());
    x.push(OP, y, &inputs, move |_, dy, g| {
        let dy = dy.reshape([b * t_out, f])?;
        if g.wants(iw) {
            let dwm = k::matmul(&dy, true, &patches, false)?;
            let mut dw = Tensor::zeros([f, ch, w]);
            kernel::matrix_to_weight(dwm.as_slice(), f, ch, w, dw.as_mut_slice());
            g.add(iw, dw)?;
        }
        if let Some(ib) = ib.filter(|&ib| g.wants(ib)) {
            g.add(ib, k::sum_rows(&dy))?;
        }
        if let Some(dx) = g.slot(ix) {
            let dp = k::matmul(&dy, false, &wm, false)?;
            kernel::col2im_add(dp.as_slice(), b, len, ch, w, dx.as_mut_slice());
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tape;
    use crate::ops::testutil::{check, rand, weighted_sum};

    #[test]
    fn conv1d_gradcheck_several_widths() {
        for w in 1..=4 {
            let x = rand(&[2, 5, 3], 91);
            let wt = rand(&[4, 3, w], 92 + w as u64);
            let bias = rand(&[4], 97);
            check(
                |_, v| weighted_sum(conv1d(&v[0], &v[1], Some(&v[2]))?, 3),
                &[x.clone(), wt.clone(), bias],
            );
            check(
                |_, v| weighted_sum(conv1d(&v[0], &v[1], None)?, 4),
                &[x, wt],
            );
        }
    }

    #[test]
    fn conv1d_by_hand() {
        // B = 1, L = 3, C = 1, one filter [1, -1] (w = 2) + bias 0.5: y_t = x_t - x_{t+1} + 0.5
        let tape = Tape::<f64>::new();
        let x = tape.constant(Tensor::new([1, 3, 1], vec![1.0, 4.0, 9.0]).unwrap());
        let w = tape.constant(Tensor::new([1, 1, 2], vec![1.0, -1.0]).unwrap());
        let b = tape.constant(Tensor::new([1], vec![0.5]).unwrap());
        let y = conv1d(&x, &w, Some(&b)).unwrap();
        assert_eq!(y.shape().unwrap(), vec![1, 2, 1]);
        assert_eq!(y.value().unwrap().as_slice(), &[-2.5, -4.5]);
    }

    #[test]
    fn conv1d_shape_errors() {
        let tape = Tape::<f32>::new();
        let x = tape.leaf(Tensor::zeros([2, 3, 4]));
        let w = tape.leaf(Tensor::zeros([5, 3, 2]));
        let msg = conv1d(&x, &w, None).unwrap_err().to_string();
        assert!(
            msg.contains("[2, 3, 4]") && msg.contains("[5, 3, 2]"),
            "{msg}"
        );
        let w = tape.leaf(Tensor::zeros([5, 4, 4]));
        assert!(
            conv1d(&x, &w, None)
                .unwrap_err()
                .to_string()
                .contains("shorter")
        );
        let w = tape.leaf(Tensor::zeros([5, 4, 2]));
        let b = tape.leaf(Tensor::zeros([4]));
        assert!(
            conv1d(&x, &w, Some(&b))
                .unwrap_err()
                .to_string()
                .contains("bias")
        );
    }
}
