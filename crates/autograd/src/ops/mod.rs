//! The ops: every differentiable function a model can apply to [`Var`](crate::Var)s.
//!
//! ## The rule
//! **An op with its own kernels is a folder; an op built from other ops (or from the
//! kernels of `gumbel-tensor`) is one file.** A folder holds `mod.rs` (the `Var`-level op:
//! shape checks, forward, the backward closure right beside it, the derivative in its doc
//! comment, and its gradchecks) and `kernel.rs` (the slice loops the op needs that are not
//! generic tensor math, each simple enough to be its own scalar reference). A file holds the
//! same minus the kernels. Either way, forward and backward sit side by side: to check a
//! derivative, read one screen.
//!
//! ## Map
//! | module | ops | kernels |
//! |---|---|---|
//! | [`arith`] | `add sub mul div` (right operand broadcast), `neg scale add_scalar` | tensor |
//! | [`activation`] | `exp ln tanh sigmoid relu leaky_relu` | tensor |
//! | [`matmul`] | `matmul matmul_t t_matmul linear addmm` | tensor (gemm) |
//! | [`softmax`] | `softmax log_softmax` | tensor |
//! | [`reduce`] | `sum mean` (all or along an axis) | own |
//! | [`shape`] | `reshape concat slice stack` | own |
//!
//! Every op returns `Result`: a shape error names the op and both shapes.

pub mod activation;
pub mod arith;
pub mod conv1d;
pub mod dropout;
pub mod embedding;
pub mod gumbel;
pub mod loss;
pub mod lstm;
pub mod matmul;
pub mod max_pool;
pub mod reduce;
pub mod shape;
pub mod softmax;

#[cfg(test)]
mod dtypes;
#[cfg(test)]
pub(crate) mod testutil;
