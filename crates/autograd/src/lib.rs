//! # gumbel-autograd
//!
//! A minimal reverse-mode automatic differentiation engine over `gumbel-tensor`: a tape of
//! nodes in creation order (backward is a reverse walk), a parameter store with stable
//! names, one module per op family with forward and backward side by side, a public
//! `gradcheck` by central differences in f64, and the optimizers (SGD, Adam, AdamW).
//!
//! The engine is being built under issue 3; this header marks the crate's place in the
//! workspace: `gumbel-tensor` <- `gumbel-autograd` <- `gumbel-gan`.

pub use gumbel_tensor as tensor;
