//! Tensor operations, one module per op family.
//!
//! Each module holds, side by side: the public function on [`Tensor`](crate::Tensor)s
//! (shape and value checks, row-parallel dispatch), the SIMD kernel on slices (`simd`),
//! the scalar reference with the same slice signature (`scalar`), the backward next to the
//! forward, and tests comparing the two kernels.
