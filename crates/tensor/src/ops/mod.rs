//! Tensor operations, one module per op family.
//!
//! Each module holds, side by side: the public function on [`Tensor`](crate::Tensor)s
//! (shape and value checks, row-parallel dispatch), the SIMD kernel on slices (`simd`),
//! the scalar reference with the same slice signature (`scalar`), the backward next to the
//! forward, and tests comparing the two kernels.

pub mod gumbel;

pub use gumbel::{
    GumbelRng, GumbelSoftmax, Noise, Temperature, exp_concrete_log_density, gumbel_max,
    gumbel_noise, gumbel_softmax, gumbel_softmax_backward, gumbel_softmax_with_noise,
    uniform_noise,
};
