//! Tensor operations, one module per op family.
//!
//! Each module holds, side by side: the public function on [`Tensor`](crate::Tensor)s
//! (shape and value checks, row-parallel dispatch), the SIMD kernel on slices (`simd`),
//! the scalar reference with the same slice signature (`scalar`), the backward next to the
//! forward, and tests comparing the two kernels.
//!
//! - [`elementwise`]: `+ - * /` with row and scalar broadcasting, `exp`, `ln`, `tanh`,
//!   `sigmoid`, `relu`, `leaky_relu` with their backward twins, in-place accumulation, and
//!   `sum_rows` (the gradient of a broadcast bias).
//! - [`reduce`]: per-row `sum`, `max`, `argmax`, `logsumexp`, and whole-tensor sum/mean.
//! - [`softmax`](mod@softmax): softmax and log-softmax over the last dimension, forward and backward.
//! - [`matmul`](mod@matmul): 2-D matrix products with optional transposes, through the `gemm` crate.
//! - [`gumbel`]: Gumbel noise streams, the fused Gumbel-Softmax forward and backward,
//!   Gumbel-max sampling, the ExpConcrete density, the Gumbel-Rao backward with its
//!   conditional sampler, and the binary Concrete (a folder: the op has its own kernels).

#[cfg(test)]
#[macro_use]
mod testing;

pub mod categorical;
pub mod elementwise;
pub mod gumbel;
pub mod matmul;
pub mod reduce;
pub mod softmax;

pub use elementwise::{
    add, add_assign, add_scalar, axpy, div, exp, leaky_relu, leaky_relu_backward, ln, mul, neg,
    relu, relu_backward, scale, sigmoid, sigmoid_backward, sub, sum_rows, tanh, tanh_backward,
};
pub use gumbel::{
    GumbelRng, GumbelSoftmax, Noise, Temperature, binary_concrete, binary_concrete_backward,
    conditional_gumbel_noise, exp_concrete_log_density, gumbel_max, gumbel_noise,
    gumbel_rao_backward, gumbel_softmax, gumbel_softmax_backward, gumbel_softmax_with_noise,
    uniform_noise,
};
pub use matmul::{matmul, matmul_acc};
pub use reduce::{mean_all, row_argmax, row_logsumexp, row_max, row_sum, sum_all};
pub use softmax::{log_softmax, log_softmax_backward, softmax, softmax_backward};
