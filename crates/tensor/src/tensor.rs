//! [`Tensor<T>`]: a contiguous, row-major, owned n-dimensional array.
//!
//! There are no strides, views or broadcasting rules hidden in the type: a tensor is a
//! shape and a `Vec<T>` of `shape.iter().product()` elements, the last dimension varying
//! fastest. Kernels see a tensor as `rows x cols` where `cols` is the last dimension (the
//! class dimension of logits) and `rows` is the product of the others; that is the unit of
//! parallel work.

use std::fmt;

use crate::element::Element;
use crate::error::{Error, Result};

/// A contiguous row-major array of `f32` or `f64`.
///
/// ```
/// use gumbel_tensor::Tensor;
/// let t = Tensor::new([2, 3], vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
/// assert_eq!(t.shape(), &[2, 3]);
/// assert_eq!((t.rows(), t.cols()), (2, 3));
/// assert_eq!(t.row(1), &[4.0, 5.0, 6.0]);
/// assert_eq!(t.at(&[1, 2]), Some(6.0));
/// ```
#[derive(Clone, PartialEq)]
pub struct Tensor<T> {
    shape: Vec<usize>,
    data: Vec<T>,
}

impl<T: Element> Tensor<T> {
    /// A tensor from its shape and row-major data. `Err` if `data.len()` is not the
    /// product of the dimensions.
    pub fn new(shape: impl Into<Vec<usize>>, data: Vec<T>) -> Result<Self> {
        let shape = shape.into();
        let numel = checked_numel(&shape)?;
        if numel != data.len() {
            return Err(Error::invalid_shape(
                "Tensor::new",
                &shape,
                format!("holds {numel} elements but {} were given", data.len()),
            ));
        }
        Ok(Tensor { shape, data })
    }

    /// A tensor filled with `value`.
    pub fn full(shape: impl Into<Vec<usize>>, value: T) -> Self {
        let shape = shape.into();
        let numel = checked_numel(&shape).expect("Tensor::full: shape overflows usize");
        Tensor {
            shape,
            data: vec![value; numel],
        }
    }

    /// A tensor of zeros.
    pub fn zeros(shape: impl Into<Vec<usize>>) -> Self {
        Self::full(shape, T::ZERO)
    }

    /// A tensor of ones.
    pub fn ones(shape: impl Into<Vec<usize>>) -> Self {
        Self::full(shape, T::ONE)
    }

    /// A zero tensor with the shape of `other`.
    pub fn zeros_like(other: &Tensor<T>) -> Self {
        Self::zeros(other.shape.clone())
    }

    /// A tensor whose element at flat (row-major) index `i` is `f(i)`.
    pub fn from_fn(shape: impl Into<Vec<usize>>, f: impl FnMut(usize) -> T) -> Self {
        let shape = shape.into();
        let numel = checked_numel(&shape).expect("Tensor::from_fn: shape overflows usize");
        Tensor {
            shape,
            data: (0..numel).map(f).collect(),
        }
    }

    /// A rank-0 tensor holding one value.
    pub fn scalar(value: T) -> Self {
        Tensor {
            shape: vec![],
            data: vec![value],
        }
    }

    /// The single value of a tensor with exactly one element (any rank).
    pub fn item(&self) -> Result<T> {
        if self.data.len() == 1 {
            Ok(self.data[0])
        } else {
            Err(Error::invalid_shape(
                "Tensor::item",
                &self.shape,
                "item() needs exactly one element",
            ))
        }
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of dimensions (0 for a scalar).
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The last dimension (1 for a scalar): the length of one row.
    pub fn cols(&self) -> usize {
        self.shape.last().copied().unwrap_or(1)
    }

    /// The product of all dimensions but the last: the number of rows.
    pub fn rows(&self) -> usize {
        match self.shape.split_last() {
            Some((_, lead)) => lead.iter().product(),
            None => 1,
        }
    }

    /// Row `i` of the `rows x cols` view. Panics if `i >= rows()`.
    pub fn row(&self, i: usize) -> &[T] {
        let c = self.cols();
        &self.data[i * c..(i + 1) * c]
    }

    /// Mutable row `i` of the `rows x cols` view. Panics if `i >= rows()`.
    pub fn row_mut(&mut self, i: usize) -> &mut [T] {
        let c = self.cols();
        &mut self.data[i * c..(i + 1) * c]
    }

    /// The element at a multi-index, or `None` if the index has the wrong rank or is out
    /// of bounds.
    pub fn at(&self, index: &[usize]) -> Option<T> {
        if index.len() != self.shape.len() {
            return None;
        }
        let mut flat = 0;
        for (&i, &d) in index.iter().zip(&self.shape) {
            if i >= d {
                return None;
            }
            flat = flat * d + i;
        }
        Some(self.data[flat])
    }

    /// The elements in row-major order.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    /// The elements in row-major order, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data
    }

    /// The storage, consuming the tensor.
    pub fn into_vec(self) -> Vec<T> {
        self.data
    }

    /// The same data under a new shape with the same number of elements.
    pub fn reshape(self, shape: impl Into<Vec<usize>>) -> Result<Self> {
        let shape = shape.into();
        let numel = checked_numel(&shape)?;
        if numel != self.data.len() {
            return Err(Error::shape_mismatch("reshape", &self.shape, &shape));
        }
        Ok(Tensor {
            shape,
            data: self.data,
        })
    }

    /// Converts every element to another element type (rounding when narrowing).
    pub fn cast<U: Element>(&self) -> Tensor<U> {
        Tensor {
            shape: self.shape.clone(),
            data: self.data.iter().map(|&x| U::from_f64(x.to_f64())).collect(),
        }
    }

    /// `Ok(())` if `self` and `other` have the same shape, else a
    /// [`Error::ShapeMismatch`] naming `op`.
    pub fn expect_same_shape<U: Element>(&self, op: &'static str, other: &Tensor<U>) -> Result<()> {
        if self.shape == other.shape() {
            Ok(())
        } else {
            Err(Error::shape_mismatch(op, &self.shape, other.shape()))
        }
    }

    /// Largest absolute elementwise difference to `other` (`+inf` if shapes differ; NaN
    /// if either holds a NaN). For tests and diagnostics.
    pub fn max_abs_diff(&self, other: &Tensor<T>) -> f64 {
        if self.shape != other.shape {
            return f64::INFINITY;
        }
        self.data
            .iter()
            .zip(&other.data)
            .map(|(a, b)| (a.to_f64() - b.to_f64()).abs())
            .fold(0.0, |m, d| {
                if d.is_nan() || m.is_nan() {
                    f64::NAN
                } else {
                    m.max(d)
                }
            })
    }
}

fn checked_numel(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            Error::invalid_shape("Tensor", shape, "the number of elements overflows usize")
        })
}

impl<T: Element> fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOW: usize = 8;
        write!(f, "Tensor<{}>{:?} [", T::NAME, self.shape)?;
        for (i, x) in self.data.iter().take(SHOW).enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{x}")?;
        }
        if self.data.len() > SHOW {
            write!(f, ", ... ({} more)", self.data.len() - SHOW)?;
        }
        write!(f, "]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_length_and_names_the_shape() {
        let err = Tensor::new([2, 3], vec![0.0f32; 5]).unwrap_err();
        assert!(err.to_string().contains("[2, 3]"), "{err}");
        assert!(err.to_string().contains("5 were given"), "{err}");
    }

    #[test]
    fn rows_and_cols_view() {
        let t = Tensor::<f64>::zeros([2, 3, 4]);
        assert_eq!((t.rows(), t.cols()), (6, 4));
        let s = Tensor::scalar(3.0f32);
        assert_eq!((s.rows(), s.cols(), s.rank()), (1, 1, 0));
        assert_eq!(s.item().unwrap(), 3.0);
        assert!(t.item().is_err());
    }

    #[test]
    fn reshape_keeps_data_and_rejects_wrong_counts() {
        let t = Tensor::from_fn([2, 3], |i| i as f32);
        let r = t.clone().reshape([3, 2]).unwrap();
        assert_eq!(r.as_slice(), t.as_slice());
        assert!(matches!(t.reshape([4]), Err(Error::ShapeMismatch { .. })));
    }

    #[test]
    fn at_rejects_out_of_bounds() {
        let t = Tensor::from_fn([2, 2], |i| i as f64);
        assert_eq!(t.at(&[1, 0]), Some(2.0));
        assert_eq!(t.at(&[2, 0]), None);
        assert_eq!(t.at(&[0]), None);
    }
}
