//! # gumbel-tensor
//!
//! Tensor storage and the numerical kernels of gumbel-lab: elementwise maps, row
//! reductions, softmax, matrix multiply, Gumbel noise, and the fused Gumbel-Softmax
//! forward and backward kernels that the autograd engine and the text GAN stand on.
//!
//! ## Map
//! - [`Tensor`] (`tensor.rs`): a contiguous row-major array, seen by kernels as
//!   `rows x cols` with `cols` the last dimension.
//! - [`Element`] / [`SimdFloat`] (`element.rs`): `f32` and `f64` with their wide SIMD
//!   vectors; every kernel exists for both.
//! - `parallel.rs`: row-parallel execution with rayon, deterministic for any thread count.
//! - `random.rs`: SplitMix64 and the 53-bit `u64 -> f64` uniform, shared by every crate.
//! - `ops/`: one file (or folder) per op family, each holding the public tensor-level
//!   function, its SIMD kernel, the scalar reference twin beside it, the backward beside the
//!   forward, and their tests.
//!
//! ## Errors
//! Everything a caller can get wrong (shapes, temperatures, NaN logits) returns
//! [`Error`]; panics are reserved for broken internal invariants.

pub mod element;
pub mod error;
pub mod ops;
pub mod parallel;
pub mod random;
pub mod tensor;

pub use element::{Element, SimdFloat};
pub use error::{Error, Result};
pub use tensor::Tensor;
