//! `highway_combine`: the pointwise part of a highway layer (Srivastava et al. 2015) as one
//! node, from the gate's and the transform's pre-activations (the two products that make
//! them stay separate `linear` ops):
//!
//! ```text
//! t = sigmoid(a)    h = relu(b)    y = x + t (h - x)      (= t h + (1 - t) x)
//! ```
//!
//! Derivatives (elementwise; `sigmoid' = t (1 - t)`, `relu' = [b > 0]`):
//!
//! ```text
//! dx = dy (1 - t)          computed as dy - dy t
//! da = dy (h - x) t (1 - t)
//! db = dy t [b > 0]
//! ```
//!
//! ## Why one node
//! Written with `sigmoid`, `relu`, `sub`, `mul` and `add`, the combination makes five
//! full-size tensors in the forward and about as many in the backward, each one pass over
//! memory: RelGAN's discriminator runs it on `B x 64 = 4096` rows of 1200 features, 20 MB a
//! tensor, where those passes cost a tenth of a training round. The fused forward reads
//! `x, a, b` and writes `y`; the backward recomputes `t` and `h` from `a` and `b` (kept by
//! reference, no copy) and writes the three gradients in one pass. Both make the unfused
//! chain's operations in its order, so the values and gradients are the same bits (tested).

pub mod kernel;

use gumbel_tensor::{Element, Error, Result, Tensor, parallel};
use rayon::prelude::*;

use crate::tape::Var;

/// Elements per parallel piece (whole cache lines, and enough work per task).
const PIECE: usize = 1 << 14;

impl<'t, T: Element> Var<'t, T> {
    /// `x + sigmoid(a) * (relu(b) - x)` elementwise with `x = self`, all three of one shape
    /// (`Err` naming both shapes otherwise): a highway layer's output from its gate `a` and
    /// transform `b` pre-activations. Derivatives in the module docs.
    ///
    /// ```
    /// # use gumbel_autograd::{Tape, tensor::Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.constant(Tensor::new([3], vec![1.0, 1.0, 1.0]).unwrap());
    /// let a = tape.constant(Tensor::new([3], vec![0.0, 0.0, 0.0]).unwrap()); // t = 1/2
    /// let b = tape.constant(Tensor::new([3], vec![3.0, -3.0, 1.0]).unwrap());
    /// let y = x.highway_combine(&a, &b).unwrap().value().unwrap();
    /// assert_eq!(y.as_slice(), &[2.0, 0.5, 1.0]); // the mean of relu(b) and x
    /// ```
    pub fn highway_combine(&self, a: &Var<'t, T>, b: &Var<'t, T>) -> Result<Var<'t, T>> {
        const OP: &str = "highway_combine";
        let (x, av, bv) = (self.value()?, a.value()?, b.value()?);
        for other in [&av, &bv] {
            if other.shape() != x.shape() {
                return Err(Error::shape_mismatch(OP, x.shape(), other.shape()));
            }
        }
        let mut y = Tensor::zeros(x.shape());
        let (xs, as_, bs) = (x.as_slice(), av.as_slice(), bv.as_slice());
        parallel::for_each_chunk_mut(y.as_mut_slice(), PIECE, 4, |start, piece| {
            let r = start..start + piece.len();
            kernel::forward(&xs[r.clone()], &as_[r.clone()], &bs[r], piece);
        });
        let (ix, ia, ib) = (self.id(), a.id(), b.id());
        self.push(OP, y, &[*self, *a, *b], move |_, dy, g| {
            if !(g.wants(ix) || g.wants(ia) || g.wants(ib)) {
                return Ok(());
            }
            let shape = dy.shape().to_vec();
            let (mut dx, mut da, mut db) = (
                Tensor::zeros(shape.clone()),
                Tensor::zeros(shape.clone()),
                Tensor::zeros(shape),
            );
            let (xs, as_, bs, dys) = (x.as_slice(), av.as_slice(), bv.as_slice(), dy.as_slice());
            let backward = |start: usize, dx: &mut [T], da: &mut [T], db: &mut [T]| {
                let r = start..start + dx.len();
                kernel::backward(
                    &xs[r.clone()],
                    &as_[r.clone()],
                    &bs[r.clone()],
                    &dys[r],
                    dx,
                    da,
                    db,
                );
            };
            let (dxs, das, dbs) = (dx.as_mut_slice(), da.as_mut_slice(), db.as_mut_slice());
            if dxs.len().saturating_mul(7) < parallel::PAR_MIN_ELEMS {
                backward(0, dxs, das, dbs);
            } else {
                // the same pieces as the forward's, whatever the thread count
                dxs.par_chunks_mut(PIECE)
                    .zip(das.par_chunks_mut(PIECE))
                    .zip(dbs.par_chunks_mut(PIECE))
                    .enumerate()
                    .for_each(|(i, ((dx, da), db))| backward(i * PIECE, dx, da, db));
            }
            // x's gradient first: the order in which the unfused chain's `add` and `sub`
            // reached it, before the products that read x add theirs
            g.add(ix, dx)?;
            g.add(ia, da)?;
            g.add(ib, db)
        })?
        .with_var_backward(|_, dy, g| {
            // the same formulas on Vars, so that they can be differentiated again
            let (x, a, b) = (g.input(0)?, g.input(1)?, g.input(2)?);
            let t = a.sigmoid()?;
            let dyt = dy.mul(&t)?;
            g.add(0, dy.sub(&dyt)?)?;
            let slope = t.sub(&t.mul(&t)?)?;
            g.add(1, dy.mul(&b.relu()?.sub(&x)?)?.mul(&slope)?)?;
            let bv = b.value()?;
            let mask = gumbel_tensor::ops::relu_backward(&bv, &Tensor::ones(bv.shape()))?;
            g.add(2, dyt.mul(&dy.tape().constant(mask))?)
        })
    }
}

#[cfg(test)]
mod tests {
    use gumbel_tensor::Tensor;

    use crate::Tape;
    use crate::ops::testutil::{
        check, check2, rand_away_from_zero, rand_in, weighted_square_sum, weighted_sum,
    };

    #[test]
    fn highway_combine_gradcheck() {
        // b away from relu's kink; shapes below and above the parallel threshold
        for (shape, seed) in [(vec![3, 7], 1), (vec![2, 5, 1000], 2)] {
            let x = rand_in(&shape, 10 + seed, -2.0, 2.0);
            let a = rand_in(&shape, 20 + seed, -3.0, 3.0);
            let b = rand_away_from_zero(&shape, 30 + seed);
            check(
                |_, v| weighted_sum(v[0].highway_combine(&v[1], &v[2])?, seed),
                &[x, a, b],
            );
        }
    }

    #[test]
    fn highway_combine_second_order_gradcheck() {
        let x = rand_in(&[4, 6], 41, -2.0, 2.0);
        let a = rand_in(&[4, 6], 42, -3.0, 3.0);
        let b = rand_away_from_zero(&[4, 6], 43);
        check2(
            |_, v| weighted_square_sum(v[0].highway_combine(&v[1], &v[2])?, 44),
            &[x, a, b],
        );
    }

    /// The fused node and the chain it replaces make the same roundings: equal bits in f32,
    /// values and all three gradients, on a size that runs in parallel pieces.
    #[test]
    fn highway_combine_equals_the_unfused_chain_bitwise() {
        let shape = [64, 1201];
        let inputs = [
            rand_in(&shape, 51, -2.0, 2.0).cast::<f32>(),
            rand_in(&shape, 52, -20.0, 20.0).cast::<f32>(),
            rand_in(&shape, 53, -2.0, 2.0).cast::<f32>(),
        ];
        let w = rand_in(&shape, 54, -1.0, 1.0).cast::<f32>();
        let run = |fused: bool| {
            let tape = Tape::<f32>::new();
            let [x, a, b] = inputs.clone().map(|t| tape.leaf(t));
            let y = if fused {
                x.highway_combine(&a, &b).unwrap()
            } else {
                let t = a.sigmoid().unwrap();
                let h = b.relu().unwrap();
                x.add(&t.mul(&h.sub(&x).unwrap()).unwrap()).unwrap()
            };
            let mut out: Vec<Tensor<f32>> = vec![(*y.value().unwrap()).clone()];
            let loss = y.mul(&tape.constant(w.clone())).unwrap().sum().unwrap();
            let grads = tape.backward(loss).unwrap();
            out.extend([x, a, b].map(|v| grads.get(v).unwrap().clone()));
            out
        };
        let (fused, chain) = (run(true), run(false));
        for (name, (f, c)) in ["y", "dx", "da", "db"].iter().zip(fused.iter().zip(&chain)) {
            let same = f
                .as_slice()
                .iter()
                .zip(c.as_slice())
                .all(|(p, q)| p.to_bits() == q.to_bits());
            assert!(same, "{name}: fused and unfused differ");
        }
    }

    #[test]
    fn highway_combine_rejects_mismatched_shapes() {
        let tape = Tape::<f32>::new();
        let x = tape.leaf(Tensor::zeros([2, 3]));
        let ok = tape.leaf(Tensor::zeros([2, 3]));
        let bad = tape.leaf(Tensor::zeros([3, 2]));
        let msg = x.highway_combine(&ok, &bad).unwrap_err().to_string();
        assert!(
            msg.contains("highway_combine") && msg.contains("[2, 3]") && msg.contains("[3, 2]"),
            "{msg}"
        );
        assert!(x.highway_combine(&bad, &ok).is_err());
    }
}
