//! The ops: every differentiable function a model can apply to [`Var`](crate::Var)s.
//!
//! ## The rule
//! **An op with its own kernels is a folder; an op built from other ops (or from the
//! kernels of `gumbel-tensor`) is one file.** A folder holds `mod.rs` (the `Var`-level op:
//! shape checks, forward, the backward closure right beside it, the derivative in its doc
//! comment, and its gradchecks) and `kernel.rs` (the slice loops: plain loops simple enough
//! to be their own scalar reference, or SIMD with a scalar twin beside it). A file holds the
//! same minus the kernels. Either way, forward and backward sit side by side: to check a
//! derivative, read one screen.
//!
//! ## Map
//! | module | ops | kernels |
//! |---|---|---|
//! | [`arith`] | `add sub mul div` (right operand broadcast), `neg scale add_scalar` | tensor |
//! | [`activation`] | `exp ln tanh sigmoid relu leaky_relu` | tensor |
//! | [`matmul`] | `matmul matmul_t t_matmul linear addmm` | tensor (gemm) |
//! | [`attention`] | `multi_head_attention` (scaled dot-product among the slots of each sample, every head, one node) | own |
//! | [`softmax`] | `softmax log_softmax` | tensor |
//! | [`gumbel`] | `gumbel_softmax` (one node on the fused kernels: fixed or learned `tau`/`beta`, straight-through), `straight_through` | tensor (fused) |
//! | [`binary_concrete`] | `binary_concrete` (the RelaxedBernoulli sample, soft or straight-through, fixed or learned `tau`/`beta`), `binary_concrete_log_prob` (its density, in the logit or in `y`) | tensor (fused) |
//! | [`concrete`] | `concrete_log_prob` (the Concrete / ExpConcrete density; logits, sample and a learned `tau`/`beta`) | tensor (density), own backward |
//! | [`reduce`] | `sum mean` (all), `sum_axis mean_axis`, `broadcast_axis` (their adjoint) | own |
//! | [`shape`] | `reshape concat slice stack`, `pad_axis` (the adjoint of `slice`) | own (block copy) |
//! | [`loss`] | `cross_entropy` (ignore index), `linear_cross_entropy` (output layer + cross-entropy as one node), `bce_with_logits` | own (SIMD + scalar twin) |
//! | [`embedding`] | `embedding` (lookup by index), `embedding_columns` (lookup in a `[dim, num]` table), `soft_embedding` (`probs @ table`) | own (gather, scatter-add) |
//! | [`column_conv_max`] | `column_conv_max`: a one-channel convolution over time of every column, relu, max over time (RelGAN's multi-representation discriminator), one node | own (SIMD + scalar twin) |
//! | [`conv1d`] | `conv1d` over time, channels last, PyTorch weight layout | own (im2col, col2im) |
//! | [`max_pool`] | `max_axis` (max over time; gradient to the argmax) | own |
//! | [`dropout`] | `dropout(p, seed)` (identity in eval and no-grad mode) | own (counter-based mask) |
//! | [`lstm`] | `lstm_cell` (fused pointwise LSTM step: gates, c -> h, c) | own |
//! | [`layer_norm`] | `layer_norm(eps)` over the last axis (no affine part) | own |
//! | [`highway`] | `highway_combine` (a highway layer's `x + sigmoid(a) (relu(b) - x)`, one node) | own |
//!
//! Every op returns `Result`: a shape error names the op and both shapes.
//!
//! ## Var-level backwards (higher-order gradients)
//! Beside its Tensor-level closure, an op may attach a differentiable backward written with
//! ops on `Var`s (`.with_var_backward(..)`, right after the closure), which
//! [`Tape::grad`](crate::Tape::grad) calls so that gradients can be differentiated again.
//! The ops that have one are listed in [`VAR_BACKWARD_OPS`]; each has a second-order check
//! (`check2`) beside its gradcheck. docs/autograd.md, "Higher-order gradients", has the
//! design.

/// The ops with a Var-level backward ([`VarBackwardFn`](crate::VarBackwardFn)): the ones a
/// [`Tape::grad`](crate::Tape::grad) walk can cross, so that their gradients can be
/// differentiated again (higher-order gradients). Named as in error messages and
/// [`Var::op_name`](crate::Var::op_name).
pub const VAR_BACKWARD_OPS: &[&str] = &[
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "scale",
    "add_scalar",
    "exp",
    "ln",
    "tanh",
    "sigmoid",
    "relu",
    "leaky_relu",
    "highway_combine",
    "matmul",
    "addmm",
    "linear",
    "softmax",
    "log_softmax",
    "gumbel_softmax (soft output)",
    "straight_through",
    "straight_through (estimators)",
    "reinmax",
    "gapped_straight_through",
    "sum",
    "mean",
    "sum_axis",
    "mean_axis",
    "broadcast_axis",
    "reshape",
    "concat",
    "stack",
    "slice",
    "pad_axis",
];

pub mod activation;
pub mod arith;
pub mod attention;
pub mod binary_concrete;
pub mod column_conv_max;
pub mod concrete;
pub mod conv1d;
pub mod dropout;
pub mod embedding;
pub mod gumbel;
pub mod highway;
pub mod layer_norm;
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
