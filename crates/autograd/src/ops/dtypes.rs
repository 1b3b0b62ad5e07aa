//! Every op in both element types: one graph that uses them all, run in `f32` and `f64`
//! (instantiated by a macro), must agree within `f32` precision in value and gradient.

use gumbel_tensor::ops::gumbel::{GumbelRng, Output, Temperature};
use gumbel_tensor::{Element, Result, Tensor};

use crate::ops::conv1d::conv1d;
use crate::ops::embedding::{embedding, soft_embedding};
use crate::ops::gumbel::gumbel_softmax;
use crate::ops::lstm::lstm_cell;
use crate::ops::testutil::rand;
use crate::{Tape, Var};

/// A loss through every op family; returns the loss and the gradients of the two inputs.
fn graph<T: Element>() -> Result<(f64, Vec<f64>, Vec<f64>)> {
    let tape = Tape::<T>::new();
    let x = tape.leaf(rand(&[4, 6], 151).cast());
    let w = tape.leaf(rand(&[6, 6], 152).cast());
    let h = x
        .matmul(&w)?
        .tanh()?
        .add(&x.sigmoid()?.scale(T::from_f64(0.5))?)?;
    let h = h
        .mul(&x.exp()?.add_scalar(T::ONE)?.ln()?)?
        .div(&x.relu()?.add_scalar(T::ONE)?)?;
    let h = h.sub(&x.leaky_relu(T::from_f64(0.1))?.neg()?)?;
    let p = h.softmax()?;
    let e = soft_embedding(&p, &w)?.add(&embedding(&w, &[1, 3, 5, 0])?)?;
    let (hh, c) = lstm_cell(
        &Var::concat(&[e, e.slice(1, 0, 2)?.scale(T::from_f64(-1.0))?, e], 1)?.slice(1, 0, 12)?,
        &e.slice(1, 0, 3)?,
    )?;
    let seq = Var::stack(&[hh, c], 1)?.reshape([4, 2, 3])?;
    let conv = conv1d(&seq, &w.slice(0, 0, 2)?.reshape([4, 3, 1])?, None)?.max_axis(1)?;
    let mut rng = GumbelRng::new(3);
    let y = gumbel_softmax(
        &conv,
        Temperature::Tau(T::from_f64(0.8)).into(),
        &mut rng,
        Output::Soft,
    )?
    .y;
    let l1 = h.log_softmax()?.cross_entropy(&[0, 5, 2, 2], Some(5))?;
    let l2 = y.sum_axis(1)?.mean_axis(0)?.add(&conv.mean()?)?;
    let l3 = conv.bce_with_logits(&tape.constant(Tensor::full([4, 4], T::from_f64(0.3))))?;
    let loss = l1
        .add(&l2)?
        .add(&l3)?
        .add(&x.dropout(0.3, 7)?.sum()?.scale(T::from_f64(0.01))?)?;
    let value = loss.item()?.to_f64();
    let g = tape.backward(loss)?;
    let f = |v: Var<'_, T>| {
        g.get(v)
            .unwrap()
            .as_slice()
            .iter()
            .map(|a| a.to_f64())
            .collect()
    };
    Ok((value, f(x), f(w)))
}

macro_rules! both_types_agree {
    ($name:ident, $t:ty) => {
        #[test]
        fn $name() {
            let (v, gx, gw) = graph::<$t>().unwrap();
            let (v64, gx64, gw64) = graph::<f64>().unwrap();
            // f32 rounds each op at 6e-8 relative; through ~40 ops on O(1) values the
            // accumulated error stays below ~1e-5, so 2e-4 absolute can only fail on a
            // real difference between the two instantiations.
            assert!((v - v64).abs() < 2e-4, "{v} vs {v64}");
            for (a, b) in gx.iter().chain(&gw).zip(gx64.iter().chain(&gw64)) {
                assert!((a - b).abs() < 2e-4, "{a} vs {b}");
            }
            assert!(
                gx.iter().chain(&gw).any(|&g| g.abs() > 1e-3),
                "the gradients are not trivial"
            );
        }
    };
}
both_types_agree!(every_op_in_f32_agrees_with_f64, f32);
// f64 against itself: two runs of the same graph agree (reproducibility)
both_types_agree!(every_op_in_f64_reproduces_itself, f64);
