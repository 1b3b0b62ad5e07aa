//! # gumbel-tensor
//!
//! Tensor storage and the numerical kernels of gumbel-lab: elementwise maps, row
//! reductions, softmax, matrix multiply, Gumbel noise, and the fused Gumbel-Softmax
//! forward and backward kernels that the autograd engine and the text GAN stand on.
//!
//! ## Map
//! - [`Tensor`] (`tensor.rs`): a contiguous row-major array, seen by kernels as
//!   `rows x cols` with `cols` the last dimension.
//! - [`Element`] (`element.rs`): `f32` and `f64`; every kernel exists for both. Each names
//!   its SIMD vectors and the per-type pieces of the vector kernels (`ln`/`exp`
//!   polynomials, Gumbel uniforms).
//! - [`simd`]: [`SimdFloat`], the one set of vector operations the kernels use, for the
//!   256-bit `f32x8`/`f64x4` ([`Element::Simd`]) and the 512-bit `f32x16`/`f64x8`
//!   ([`Element::Lanes`]).
//! - `poly.rs`: the `ln`/`exp` polynomials of the Gumbel and softmax kernels, each with a
//!   bitwise scalar twin.
//! - `parallel.rs`: row-parallel execution with rayon, deterministic for any thread count.
//! - [`random`]: SplitMix64, the 53-bit `u64 -> f64` uniform (shared by every crate) and
//!   the uniform grid of the Gumbel noise.
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
pub(crate) mod poly;
pub mod random;
pub mod simd;
pub mod tensor;

pub use element::Element;
pub use error::{Error, Result};
pub use simd::SimdFloat;
pub use tensor::Tensor;
