//! The fused LSTM cell: from the gate pre-activations and the previous cell state to the
//! new hidden and cell states, in one pass (`nn.LSTM`'s pointwise part; the matmuls that
//! produce the gates stay separate `linear`/`addmm` ops).
//!
//! With gates `z = [z_i, z_f, z_g, z_o]` (each `[B, H]`, PyTorch's order):
//!
//! ```text
//! i = sigmoid(z_i)   f = sigmoid(z_f)   g = tanh(z_g)   o = sigmoid(z_o)
//! c' = f * c + i * g
//! h' = o * tanh(c')
//! ```
//!
//! Derivatives (elementwise; `sigmoid' = s (1 - s)`, `tanh' = 1 - t^2`):
//!
//! ```text
//! from h':  dz_o = dh' tanh(c') o (1 - o)        dc' += dh' o (1 - tanh(c')^2)
//! from c':  dz_i = dc' g i (1 - i)   dz_f = dc' c f (1 - f)   dz_g = dc' i (1 - g^2)
//!           dc   = dc' f
//! ```
//!
//! ## One pass, two nodes
//! A tape node has one output, and the next step needs both `h'` and `c'`, so the cell
//! records **two nodes from one forward pass**: `c'` (inputs `z`, `c`) and then `h'`
//! (inputs `z`, `c'`). They share the activated gates and `tanh(c')`, computed once. The
//! reverse walk meets `h'` first, which adds its part of `dc'` into the `c'` node's slot,
//! exactly the fan-out rule: `dc'` is the sum of what arrives from `h'` and from the next
//! step's cell.

pub mod kernel;

use std::sync::Arc;

use gumbel_tensor::{Element, Error, Result, Tensor};

use crate::tape::Var;

/// One LSTM step's pointwise part: `(h', c')` from `gates: [B, 4H]` (pre-activations in
/// the order i, f, g, o) and `c_prev: [B, H]`. See the module docs for the math.
///
/// ```
/// # use gumbel_autograd::{Tape, ops::lstm::lstm_cell, tensor::Tensor};
/// let tape = Tape::<f64>::new();
/// // H = 1, z = [0, 0, 0, 0]: i = f = o = 1/2, g = 0, so c' = c/2 and h' = tanh(c/2)/2
/// let z = tape.constant(Tensor::zeros([1, 4]));
/// let c = tape.constant(Tensor::new([1, 1], vec![2.0]).unwrap());
/// let (h, c2) = lstm_cell(&z, &c).unwrap();
/// assert_eq!(c2.item().unwrap(), 1.0);
/// assert!((h.item().unwrap() - 0.5 * 1f64.tanh()).abs() < 1e-15);
/// ```
pub fn lstm_cell<'t, T: Element>(
    gates: &Var<'t, T>,
    c_prev: &Var<'t, T>,
) -> Result<(Var<'t, T>, Var<'t, T>)> {
    const OP: &str = "lstm_cell";
    let (z, cp) = (gates.value()?, c_prev.value()?);
    let [b, h4] = *z.shape() else {
        return Err(Error::invalid_shape(
            OP,
            z.shape(),
            "gates must be 2-D [batch, 4 * hidden]",
        ));
    };
    if h4 % 4 != 0 || cp.shape() != [b, h4 / 4] {
        return Err(Error::shape_mismatch(OP, z.shape(), cp.shape()));
    }
    let n = h4 / 4;
    let mut act = Tensor::zeros([b, h4]);
    let mut c = Tensor::zeros([b, n]);
    let mut tc = Tensor::zeros([b, n]);
    let mut h = Tensor::zeros([b, n]);
    for r in 0..b {
        kernel::cell_forward(
            z.row(r),
            cp.row(r),
            act.row_mut(r),
            c.row_mut(r),
            tc.row_mut(r),
            h.row_mut(r),
        );
    }
    let (act, tc) = (Arc::new(act), Arc::new(tc));
    let (iz, icp) = (gates.id(), c_prev.id());

    // Node 1: c' = f * c + i * g.
    let act1 = Arc::clone(&act);
    let c_node = gates.push("lstm_cell.c", c, &[*gates, *c_prev], move |_, dc, g| {
        if let Some(dz) = g.slot(iz) {
            for r in 0..b {
                kernel::c_backward_gates(act1.row(r), cp.row(r), dc.row(r), dz.row_mut(r));
            }
        }
        if let Some(dcp) = g.slot(icp) {
            for r in 0..b {
                kernel::c_backward_prev(act1.row(r), dc.row(r), dcp.row_mut(r));
            }
        }
        Ok(())
    })?;

    // Node 2: h' = o * tanh(c').
    let ic = c_node.id();
    let h_node = gates.push("lstm_cell.h", h, &[*gates, c_node], move |_, dh, g| {
        if let Some(dz) = g.slot(iz) {
            for r in 0..b {
                kernel::h_backward_gates(act.row(r), tc.row(r), dh.row(r), dz.row_mut(r));
            }
        }
        if let Some(dc) = g.slot(ic) {
            for r in 0..b {
                kernel::h_backward_c(act.row(r), tc.row(r), dh.row(r), dc.row_mut(r));
            }
        }
        Ok(())
    })?;
    Ok((h_node, c_node))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tape;
    use crate::ops::testutil::{check, rand, rand_in, weighted_sum};

    #[test]
    fn fused_cell_gradcheck_through_h_and_c() {
        let z = rand_in(&[3, 8], 81, -2.0, 2.0); // B = 3, H = 2
        let c = rand(&[3, 2], 82);
        check(
            |_, v| {
                let (h, c2) = lstm_cell(&v[0], &v[1])?;
                weighted_sum(h, 1)?.add(&weighted_sum(c2, 2)?)
            },
            &[z, c],
        );
    }

    /// The composed twin: the same cell from slices, sigmoid, tanh, mul, add.
    fn composed<'t>(
        z: &Var<'t, f64>,
        c: &Var<'t, f64>,
        n: usize,
    ) -> Result<(Var<'t, f64>, Var<'t, f64>)> {
        let i = z.slice(1, 0, n)?.sigmoid()?;
        let f = z.slice(1, n, 2 * n)?.sigmoid()?;
        let g = z.slice(1, 2 * n, 3 * n)?.tanh()?;
        let o = z.slice(1, 3 * n, 4 * n)?.sigmoid()?;
        let c2 = f.mul(c)?.add(&i.mul(&g)?)?;
        Ok((o.mul(&c2.tanh()?)?, c2))
    }

    #[test]
    fn fused_cell_matches_composed_ops_in_value_and_gradient() {
        let (zt, ct) = (rand_in(&[4, 12], 83, -3.0, 3.0), rand(&[4, 3], 84));
        let run = |fused: bool| {
            let tape = Tape::new();
            let (z, c) = (tape.leaf(zt.clone()), tape.leaf(ct.clone()));
            let (h, c2) = if fused {
                lstm_cell(&z, &c).unwrap()
            } else {
                composed(&z, &c, 3).unwrap()
            };
            let vals = (
                (*h.value().unwrap()).clone(),
                (*c2.value().unwrap()).clone(),
            );
            let l = weighted_sum(h, 5)
                .unwrap()
                .add(&weighted_sum(c2, 6).unwrap())
                .unwrap();
            let g = tape.backward(l).unwrap();
            (vals, g.get(z).unwrap().clone(), g.get(c).unwrap().clone())
        };
        let ((h1, c1), dz1, dc1) = run(true);
        let ((h2, c2), dz2, dc2) = run(false);
        // both use the same SIMD sigmoid/tanh; they differ only in the rounding of the
        // products and sums, a few ulp of O(1) values
        for (a, b) in [(&h1, &h2), (&c1, &c2), (&dz1, &dz2), (&dc1, &dc2)] {
            assert!(a.max_abs_diff(b) < 1e-14, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn lstm_cell_shape_errors() {
        let tape = Tape::<f32>::new();
        let z = tape.leaf(Tensor::zeros([2, 8]));
        let c = tape.leaf(Tensor::zeros([2, 3]));
        let msg = lstm_cell(&z, &c).unwrap_err().to_string();
        assert!(msg.contains("[2, 8]") && msg.contains("[2, 3]"), "{msg}");
    }
}
