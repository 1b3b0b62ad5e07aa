//! TEMPORARY: plain-loop stand-ins for the `gumbel_tensor::ops` kernels still being written
//! on the `tensor-kernels` branch (reductions, softmax, matmul), with the announced
//! signatures, re-exporting the ones that have landed. Deleted when the rest is merged.
#![allow(dead_code)]

pub use gumbel_tensor::ops::{
    add, add_scalar, div, exp, leaky_relu, leaky_relu_backward, ln, mul, neg, relu, relu_backward,
    scale, sigmoid, sigmoid_backward, sub, sum_rows, tanh, tanh_backward,
};

use gumbel_tensor::{Element, Error, Result, Tensor};

pub fn sum_all<T: Element>(a: &Tensor<T>) -> T {
    a.as_slice().iter().copied().sum()
}
pub fn mean_all<T: Element>(a: &Tensor<T>) -> T {
    sum_all(a) / T::from_usize(a.numel())
}
pub fn row_logsumexp<T: Element>(a: &Tensor<T>) -> Tensor<T> {
    let v = a
        .as_slice()
        .chunks(a.cols())
        .map(|r| {
            let m = r.iter().copied().fold(T::NEG_INFINITY, T::max);
            m + r.iter().map(|&x| (x - m).exp()).sum::<T>().ln()
        })
        .collect::<Vec<_>>();
    Tensor::new([a.rows()], v).unwrap()
}
pub fn softmax<T: Element>(a: &Tensor<T>) -> Result<Tensor<T>> {
    let lse = row_logsumexp(a);
    let c = a.cols();
    Ok(Tensor::new(
        a.shape(),
        a.as_slice()
            .iter()
            .enumerate()
            .map(|(i, &x)| (x - lse.as_slice()[i / c]).exp())
            .collect(),
    )
    .unwrap())
}
pub fn log_softmax<T: Element>(a: &Tensor<T>) -> Result<Tensor<T>> {
    let lse = row_logsumexp(a);
    let c = a.cols();
    Ok(Tensor::new(
        a.shape(),
        a.as_slice()
            .iter()
            .enumerate()
            .map(|(i, &x)| x - lse.as_slice()[i / c])
            .collect(),
    )
    .unwrap())
}
pub fn softmax_backward<T: Element>(y: &Tensor<T>, dy: &Tensor<T>) -> Result<Tensor<T>> {
    y.expect_same_shape("softmax_backward", dy)?;
    let c = y.cols();
    let mut out = Vec::with_capacity(y.numel());
    for (yr, dr) in y.as_slice().chunks(c).zip(dy.as_slice().chunks(c)) {
        let s: T = yr.iter().zip(dr).map(|(&a, &b)| a * b).sum();
        out.extend(yr.iter().zip(dr).map(|(&a, &b)| a * (b - s)));
    }
    Ok(Tensor::new(y.shape(), out).unwrap())
}
pub fn log_softmax_backward<T: Element>(lp: &Tensor<T>, dy: &Tensor<T>) -> Result<Tensor<T>> {
    lp.expect_same_shape("log_softmax_backward", dy)?;
    let c = lp.cols();
    let mut out = Vec::with_capacity(lp.numel());
    for (lr, dr) in lp.as_slice().chunks(c).zip(dy.as_slice().chunks(c)) {
        let s: T = dr.iter().copied().sum();
        out.extend(lr.iter().zip(dr).map(|(&l, &d)| d - l.exp() * s));
    }
    Ok(Tensor::new(lp.shape(), out).unwrap())
}
fn dims<T: Element>(op: &'static str, a: &Tensor<T>, ta: bool) -> Result<(usize, usize)> {
    if a.rank() != 2 {
        return Err(Error::invalid_shape(op, a.shape(), "needs rank 2"));
    }
    let (r, c) = (a.shape()[0], a.shape()[1]);
    Ok(if ta { (c, r) } else { (r, c) })
}
pub fn matmul<T: Element>(a: &Tensor<T>, ta: bool, b: &Tensor<T>, tb: bool) -> Result<Tensor<T>> {
    let (m, _) = dims("matmul", a, ta)?;
    let (_, n) = dims("matmul", b, tb)?;
    let mut out = Tensor::zeros([m, n]);
    matmul_acc(&mut out, a, ta, b, tb, T::ONE, T::ZERO)?;
    Ok(out)
}
pub fn matmul_acc<T: Element>(
    out: &mut Tensor<T>,
    a: &Tensor<T>,
    ta: bool,
    b: &Tensor<T>,
    tb: bool,
    alpha: T,
    beta: T,
) -> Result<()> {
    let (m, k) = dims("matmul", a, ta)?;
    let (k2, n) = dims("matmul", b, tb)?;
    if k != k2 {
        return Err(Error::shape_mismatch("matmul", a.shape(), b.shape()));
    }
    if out.shape() != [m, n] {
        return Err(Error::shape_mismatch("matmul_acc", out.shape(), &[m, n]));
    }
    let (ac, bc) = (a.shape()[1], b.shape()[1]);
    let (av, bv) = (a.as_slice(), b.as_slice());
    let o = out.as_mut_slice();
    for i in 0..m {
        for j in 0..n {
            let mut s = T::ZERO;
            for p in 0..k {
                let x = if ta { av[p * ac + i] } else { av[i * ac + p] };
                let y = if tb { bv[j * bc + p] } else { bv[p * bc + j] };
                s += x * y;
            }
            o[i * n + j] = if beta == T::ZERO {
                alpha * s
            } else {
                beta * o[i * n + j] + alpha * s
            };
        }
    }
    Ok(())
}
