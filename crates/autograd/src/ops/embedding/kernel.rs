//! Row gather and scatter-add: the kernels of an embedding lookup and its gradient.

use gumbel_tensor::Element;

/// `out[i, :] = table[idx[i], :]` for a `[_, dim]` table. Indices are checked by the caller.
pub fn gather_rows<T: Element>(table: &[T], dim: usize, idx: &[usize], out: &mut [T]) {
    debug_assert_eq!(out.len(), idx.len() * dim);
    for (o, &r) in out.chunks_exact_mut(dim).zip(idx) {
        o.copy_from_slice(&table[r * dim..(r + 1) * dim]);
    }
}

/// `table[idx[i], :] += src[i, :]`, in index order (so repeated indices sum in a fixed
/// order, whatever the thread count).
pub fn scatter_add_rows<T: Element>(src: &[T], dim: usize, idx: &[usize], table: &mut [T]) {
    debug_assert_eq!(src.len(), idx.len() * dim);
    for (s, &r) in src.chunks_exact(dim).zip(idx) {
        for (t, &v) in table[r * dim..(r + 1) * dim].iter_mut().zip(s) {
            *t += v;
        }
    }
}

/// `out[i, d] = table[d, idx[i]]` for a `[dim, num]` table (the columns at the indices,
/// one output row each). Indices are checked by the caller.
pub fn gather_columns<T: Element>(table: &[T], num: usize, idx: &[usize], out: &mut [T]) {
    let dim = table.len() / num.max(1);
    debug_assert_eq!(out.len(), idx.len() * dim);
    for (o, &c) in out.chunks_exact_mut(dim).zip(idx) {
        for (d, x) in o.iter_mut().enumerate() {
            *x = table[d * num + c];
        }
    }
}

/// `row[idx[i]] += src[i, d]` for one row `d` of a `[dim, num]` table, in index order (so
/// repeated indices sum in a fixed order, whatever the thread count: rows are independent).
pub fn scatter_add_columns_row<T: Element>(
    src: &[T],
    dim: usize,
    d: usize,
    idx: &[usize],
    row: &mut [T],
) {
    for (i, &c) in idx.iter().enumerate() {
        row[c] += src[i * dim + d];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_then_scatter_by_hand() {
        let table = [0.0f64, 1.0, 10.0, 11.0, 20.0, 21.0]; // 3 rows of dim 2
        let mut out = [0.0; 6];
        gather_rows(&table, 2, &[2, 0, 2], &mut out);
        assert_eq!(out, [20.0, 21.0, 0.0, 1.0, 20.0, 21.0]);
        let mut grad = [0.0; 6];
        scatter_add_rows(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, &[2, 0, 2], &mut grad);
        assert_eq!(grad, [3.0, 4.0, 0.0, 0.0, 6.0, 8.0]);
    }
}
