//! Embeddings: [`embedding`] (lookup of rows by token index), [`embedding_columns`] (the
//! same lookup in a table stored `[D, V]`, the weight of a bias-free `Linear(V, D)` such as
//! RelGAN's discriminator embedding: `one_hot(t) W^T` without the product) and
//! [`soft_embedding`] (a distribution over the vocabulary times the table: the expected
//! embedding, which is what a Gumbel-Softmax sample feeds back into the generator and into
//! the discriminator).
//!
//! Derivatives, for a table `E: [V, D]`:
//!
//! ```text
//! lookup:  y_i = E[t_i]         =>  dE[v] = sum over {i : t_i = v} of dy_i   (scatter-add)
//! soft:    y = P E  (P: [n, V]) =>  dP = dy E^T,  dE = P^T dy                 (matmul)
//! ```
//! With one-hot rows of `P` the two agree (tested below).

pub mod kernel;

use gumbel_tensor::{Element, Error, Result, Tensor, parallel};

use crate::tape::Var;

/// Rows of `weight: [num, dim]` at `indices`: a `[indices.len(), dim]` value (PyTorch's
/// `F.embedding(indices, weight)` for a flat index list).
///
/// `Err` if `weight` is not 2-D or an index is `>= num` (naming its position).
///
/// Derivative: `dweight[v] += dy[i]` for every `i` with `indices[i] == v`.
pub fn embedding<'t, T: Element>(weight: &Var<'t, T>, indices: &[usize]) -> Result<Var<'t, T>> {
    const OP: &str = "embedding";
    let w = weight.value()?;
    let [num, dim] = *w.shape() else {
        return Err(Error::invalid_shape(
            OP,
            w.shape(),
            "the table must be 2-D [num, dim]",
        ));
    };
    if let Some((i, &t)) = indices.iter().enumerate().find(|&(_, &t)| t >= num) {
        return Err(Error::invalid_argument(
            OP,
            format!("index {t} at position {i} is out of range for a table of {num} rows"),
        ));
    }
    let mut out = Tensor::zeros([indices.len(), dim]);
    if dim == 0 {
        // nothing to copy (and no zero-width rows to hand to the kernels)
        return weight.push(OP, out, &[*weight], |_, _, _| Ok(()));
    }
    kernel::gather_rows(w.as_slice(), dim, indices, out.as_mut_slice());
    let (iw, idx) = (weight.id(), indices.to_vec());
    weight.push(OP, out, &[*weight], move |_, dy, g| {
        if let Some(dw) = g.slot(iw) {
            kernel::scatter_add_rows(dy.as_slice(), dim, &idx, dw.as_mut_slice());
        }
        Ok(())
    })
}

/// Columns of `weight: [dim, num]` at `indices`, one row each: a `[indices.len(), dim]`
/// value, `y_i = W[:, t_i]` (`one_hot(indices) W^T`, the lookup a bias-free
/// `Linear(num, dim)` makes of one-hot rows).
///
/// `Err` if `weight` is not 2-D or an index is `>= num` (naming its position).
///
/// Derivative: `dweight[:, v] += dy[i]` for every `i` with `indices[i] == v`; each row of
/// `dweight` is one task, summing its indices in order (the same bits for any thread count).
pub fn embedding_columns<'t, T: Element>(
    weight: &Var<'t, T>,
    indices: &[usize],
) -> Result<Var<'t, T>> {
    const OP: &str = "embedding_columns";
    let w = weight.value()?;
    let [dim, num] = *w.shape() else {
        return Err(Error::invalid_shape(
            OP,
            w.shape(),
            "the table must be 2-D [dim, num]",
        ));
    };
    if let Some((i, &t)) = indices.iter().enumerate().find(|&(_, &t)| t >= num) {
        return Err(Error::invalid_argument(
            OP,
            format!("index {t} at position {i} is out of range for a table of {num} columns"),
        ));
    }
    let mut out = Tensor::zeros([indices.len(), dim]);
    kernel::gather_columns(w.as_slice(), num, indices, out.as_mut_slice());
    let (iw, idx) = (weight.id(), indices.to_vec());
    weight.push(OP, out, &[*weight], move |_, dy, g| {
        if let Some(dw) = g.slot(iw) {
            let dys = dy.as_slice();
            // a row of `num` entries receives `indices.len()` additions
            let work = 1 + idx.len() / num.max(1);
            parallel::for_each_chunk_mut(dw.as_mut_slice(), num.max(1), work, |start, row| {
                kernel::scatter_add_columns_row(dys, dim, start / num.max(1), &idx, row);
            });
        }
        Ok(())
    })
}

/// `probs @ weight`: the expected embedding under each row's distribution over the
/// vocabulary (`probs: [n, V]`, `weight: [V, D]`). A matmul; see the module docs.
pub fn soft_embedding<'t, T: Element>(
    probs: &Var<'t, T>,
    weight: &Var<'t, T>,
) -> Result<Var<'t, T>> {
    probs.matmul(weight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tape;
    use crate::ops::testutil::{check, rand, weighted_sum};

    #[test]
    fn embedding_gradcheck_with_repeated_indices() {
        let w = rand(&[5, 3], 71);
        let idx = [4usize, 0, 4, 2, 4];
        check(
            |_, v| weighted_sum(embedding(&v[0], &idx)?.tanh()?, 2),
            &[w],
        );
    }

    #[test]
    fn soft_embedding_gradcheck_on_a_distribution() {
        let logits = rand(&[3, 5], 72);
        let w = rand(&[5, 4], 73);
        check(
            |_, v| weighted_sum(soft_embedding(&v[0].softmax()?, &v[1])?, 3),
            &[logits, w],
        );
    }

    #[test]
    fn one_hot_soft_embedding_equals_lookup_in_value_and_table_gradient() {
        let w = rand(&[6, 3], 74);
        let idx = [1usize, 5, 1];
        let onehot = Tensor::from_fn([3, 6], |k| if idx[k / 6] == k % 6 { 1.0 } else { 0.0 });
        let run = |soft: bool| {
            let tape = Tape::new();
            let wv = tape.leaf(w.clone());
            let y = if soft {
                soft_embedding(&tape.constant(onehot.clone()), &wv).unwrap()
            } else {
                embedding(&wv, &idx).unwrap()
            };
            let val = y.value().unwrap();
            let l = weighted_sum(y, 5).unwrap();
            (
                (*val).clone(),
                tape.backward(l).unwrap().get(wv).unwrap().clone(),
            )
        };
        let ((a, ga), (b, gb)) = (run(false), run(true));
        // a one-hot product adds exact zeros: bitwise equal
        assert_eq!(a, b);
        assert_eq!(ga, gb);
    }

    /// The column lookup against the product it replaces, `one_hot(idx) W^T` (`linear`
    /// without a bias), in value and table gradient (bitwise: a one-hot product adds exact
    /// zeros), with a repeated index; and its gradcheck.
    #[test]
    fn embedding_columns_equals_the_one_hot_product() {
        let w = rand(&[3, 6], 75);
        let idx = [1usize, 5, 1, 0];
        let onehot = Tensor::from_fn([4, 6], |k| if idx[k / 6] == k % 6 { 1.0 } else { 0.0 });
        let run = |lookup: bool| {
            let tape = Tape::new();
            let wv = tape.leaf(w.clone());
            let y = if lookup {
                embedding_columns(&wv, &idx).unwrap()
            } else {
                tape.constant(onehot.clone()).linear(&wv, None).unwrap()
            };
            let val = y.value().unwrap();
            let l = weighted_sum(y, 6).unwrap();
            (
                (*val).clone(),
                tape.backward(l).unwrap().get(wv).unwrap().clone(),
            )
        };
        let ((a, ga), (b, gb)) = (run(true), run(false));
        assert_eq!(a, b);
        assert_eq!(ga, gb);
        check(
            |_, v| weighted_sum(embedding_columns(&v[0], &idx)?.tanh()?, 7),
            &[w],
        );
        let tape = Tape::<f32>::new();
        let w = tape.leaf(Tensor::zeros([2, 4]));
        let msg = embedding_columns(&w, &[0, 4]).unwrap_err().to_string();
        assert!(
            msg.contains("index 4 at position 1") && msg.contains("4 columns"),
            "{msg}"
        );
    }

    #[test]
    fn out_of_range_index_is_named() {
        let tape = Tape::<f32>::new();
        let w = tape.leaf(Tensor::zeros([4, 2]));
        let msg = embedding(&w, &[0, 4]).unwrap_err().to_string();
        assert!(
            msg.contains("index 4 at position 1") && msg.contains("4 rows"),
            "{msg}"
        );
        let v = tape.leaf(Tensor::zeros([4]));
        assert!(embedding(&v, &[0]).unwrap_err().to_string().contains("2-D"));
        // zero-width embeddings are empty, not a panic
        let w0 = tape.leaf(Tensor::zeros([4, 0]));
        assert_eq!(
            embedding(&w0, &[1, 2]).unwrap().shape().unwrap(),
            vec![2, 0]
        );
    }
}
