//! The error type of every fallible tensor operation.
//!
//! Variants carry the name of the op and the offending shapes or values, so that a
//! message such as `softmax: shape mismatch: lhs [64, 5000] vs rhs [64, 4999]` points at
//! the call that went wrong without a debugger.

use thiserror::Error;

/// Result alias used throughout the tensor crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a caller of the tensor crate can get wrong.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum Error {
    /// Two operands whose shapes must agree do not.
    #[error("{op}: shape mismatch: lhs {lhs:?} vs rhs {rhs:?}")]
    ShapeMismatch {
        op: &'static str,
        lhs: Vec<usize>,
        rhs: Vec<usize>,
    },

    /// A shape that is not valid for the op (wrong rank, empty last dimension, data length
    /// that does not match the product of the dimensions, ...).
    #[error("{op}: invalid shape {shape:?}: {reason}")]
    InvalidShape {
        op: &'static str,
        shape: Vec<usize>,
        reason: String,
    },

    /// A temperature (`tau`) or inverse temperature (`beta`) that is not a finite
    /// positive number, or whose reciprocal overflows.
    #[error("{op}: {name} must be finite and > 0 (and so must 1/{name}), got {value}")]
    InvalidTemperature {
        op: &'static str,
        name: &'static str,
        value: f64,
    },

    /// A row of logits holds a NaN or +inf (column given), or its scaled values overflow.
    #[error("{op}: row {row}, column {col}: logit is {value}; logits must be finite or -inf")]
    NonFiniteLogit {
        op: &'static str,
        row: usize,
        col: usize,
        value: f64,
    },

    /// A row in which every class is masked (all logits are -inf): there is nothing to sample.
    #[error("{op}: row {row}: every logit is -inf, so no class can be sampled")]
    AllMasked { op: &'static str, row: usize },

    /// A computed value (a loss, a gradient norm, an updated parameter) that came out NaN
    /// or infinite: `what` names it. Training loops treat this as a numerical fault of the
    /// model (a learning rate too large, parameters that overflowed), not as a usage error.
    #[error("{op}: {what} is {value}")]
    NonFinite {
        op: &'static str,
        what: String,
        value: f64,
    },

    /// A value outside the range the op accepts (an index >= its bound, a probability
    /// outside [0, 1], a negative count, ...).
    #[error("{op}: {what}")]
    InvalidArgument { op: &'static str, what: String },
}

impl Error {
    /// Shorthand for [`Error::ShapeMismatch`].
    pub fn shape_mismatch(op: &'static str, lhs: &[usize], rhs: &[usize]) -> Self {
        Error::ShapeMismatch {
            op,
            lhs: lhs.to_vec(),
            rhs: rhs.to_vec(),
        }
    }

    /// Shorthand for [`Error::InvalidShape`].
    pub fn invalid_shape(op: &'static str, shape: &[usize], reason: impl Into<String>) -> Self {
        Error::InvalidShape {
            op,
            shape: shape.to_vec(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::NonFinite`].
    pub fn non_finite(op: &'static str, what: impl Into<String>, value: f64) -> Self {
        Error::NonFinite {
            op,
            what: what.into(),
            value,
        }
    }

    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid_argument(op: &'static str, what: impl Into<String>) -> Self {
        Error::InvalidArgument {
            op,
            what: what.into(),
        }
    }
}
