//! TEMPORARY: plain-loop stand-ins for the `gumbel_tensor::ops` kernels that are being
//! written on the `tensor-kernels` branch, with the announced signatures, so that the ops
//! can be written and gradchecked now. Deleted when that branch is merged.
#![allow(dead_code)]

use gumbel_tensor::{Element, Error, Result, Tensor};

fn bc<T: Element>(
    op: &'static str,
    a: &Tensor<T>,
    b: &Tensor<T>,
    f: impl Fn(T, T) -> T,
) -> Result<Tensor<T>> {
    let c = a.cols();
    let bs = b.as_slice();
    let get: Box<dyn Fn(usize) -> T> = if a.shape() == b.shape() {
        Box::new(|i| bs[i])
    } else if b.rank() == 1 && b.shape()[0] == c {
        Box::new(move |i| bs[i % c])
    } else if b.numel() == 1 {
        Box::new(|_| bs[0])
    } else {
        return Err(Error::shape_mismatch(op, a.shape(), b.shape()));
    };
    Ok(Tensor::new(
        a.shape(),
        a.as_slice()
            .iter()
            .enumerate()
            .map(|(i, &x)| f(x, get(i)))
            .collect(),
    )
    .unwrap())
}
pub fn add<T: Element>(a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
    bc("add", a, b, |x, y| x + y)
}
pub fn sub<T: Element>(a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
    bc("sub", a, b, |x, y| x - y)
}
pub fn mul<T: Element>(a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
    bc("mul", a, b, |x, y| x * y)
}
pub fn div<T: Element>(a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
    bc("div", a, b, |x, y| x / y)
}
fn map<T: Element>(a: &Tensor<T>, f: impl Fn(T) -> T) -> Tensor<T> {
    Tensor::new(a.shape(), a.as_slice().iter().map(|&x| f(x)).collect()).unwrap()
}
fn zip<T: Element>(
    op: &'static str,
    a: &Tensor<T>,
    b: &Tensor<T>,
    f: impl Fn(T, T) -> T,
) -> Result<Tensor<T>> {
    a.expect_same_shape(op, b)?;
    Ok(Tensor::new(
        a.shape(),
        a.as_slice()
            .iter()
            .zip(b.as_slice())
            .map(|(&x, &y)| f(x, y))
            .collect(),
    )
    .unwrap())
}
pub fn scale<T: Element>(a: &Tensor<T>, s: T) -> Tensor<T> {
    map(a, |x| x * s)
}
pub fn add_scalar<T: Element>(a: &Tensor<T>, s: T) -> Tensor<T> {
    map(a, |x| x + s)
}
pub fn neg<T: Element>(a: &Tensor<T>) -> Tensor<T> {
    map(a, |x| -x)
}
pub fn exp<T: Element>(a: &Tensor<T>) -> Tensor<T> {
    map(a, |x| x.exp())
}
pub fn ln<T: Element>(a: &Tensor<T>) -> Tensor<T> {
    map(a, |x| x.ln())
}
pub fn tanh<T: Element>(a: &Tensor<T>) -> Tensor<T> {
    map(a, |x| x.tanh())
}
pub fn sigmoid<T: Element>(a: &Tensor<T>) -> Tensor<T> {
    map(a, |x| T::ONE / (T::ONE + (-x).exp()))
}
pub fn relu<T: Element>(a: &Tensor<T>) -> Tensor<T> {
    map(a, |x| if x > T::ZERO { x } else { T::ZERO })
}
pub fn leaky_relu<T: Element>(a: &Tensor<T>, s: T) -> Tensor<T> {
    map(a, |x| if x >= T::ZERO { x } else { s * x })
}
pub fn tanh_backward<T: Element>(y: &Tensor<T>, dy: &Tensor<T>) -> Result<Tensor<T>> {
    zip("tanh_backward", y, dy, |y, d| d * (T::ONE - y * y))
}
pub fn sigmoid_backward<T: Element>(y: &Tensor<T>, dy: &Tensor<T>) -> Result<Tensor<T>> {
    zip("sigmoid_backward", y, dy, |y, d| d * y * (T::ONE - y))
}
pub fn relu_backward<T: Element>(x: &Tensor<T>, dy: &Tensor<T>) -> Result<Tensor<T>> {
    zip("relu_backward", x, dy, |x, d| {
        if x > T::ZERO { d } else { T::ZERO }
    })
}
pub fn leaky_relu_backward<T: Element>(x: &Tensor<T>, dy: &Tensor<T>, s: T) -> Result<Tensor<T>> {
    zip("leaky_relu_backward", x, dy, |x, d| {
        if x > T::ZERO { d } else { s * d }
    })
}
pub fn add_assign<T: Element>(acc: &mut Tensor<T>, x: &Tensor<T>) -> Result<()> {
    acc.expect_same_shape("add_assign", x)?;
    acc.as_mut_slice()
        .iter_mut()
        .zip(x.as_slice())
        .for_each(|(a, &b)| *a += b);
    Ok(())
}
pub fn axpy<T: Element>(acc: &mut Tensor<T>, alpha: T, x: &Tensor<T>) -> Result<()> {
    acc.expect_same_shape("axpy", x)?;
    acc.as_mut_slice()
        .iter_mut()
        .zip(x.as_slice())
        .for_each(|(a, &b)| *a += alpha * b);
    Ok(())
}
pub fn sum_rows<T: Element>(a: &Tensor<T>) -> Tensor<T> {
    let c = a.cols();
    let mut out = vec![T::ZERO; c];
    for r in a.as_slice().chunks(c) {
        for (o, &x) in out.iter_mut().zip(r) {
            *o += x;
        }
    }
    Tensor::new([c], out).unwrap()
}
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
