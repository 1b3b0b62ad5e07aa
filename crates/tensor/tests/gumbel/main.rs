//! The integration tests of the Gumbel kernels, one test binary: each module is one family
//! of checks, and `common` holds what they share. (One binary instead of one per file: the
//! generic kernels are compiled once for all of them, not once per file, which is most of
//! the tests' build time.)
//!
//! | module | what it checks |
//! |---|---|
//! | `contract` | the numerical contract, one test per line of it |
//! | `grad` | f64 central differences, f32 against the f64 reference |
//! | `stats` | the laws of the noise and of the samples |
//! | `concrete` | the ExpConcrete log-density |
//! | `rao` | Gumbel-Rao and its conditional sampler |
//! | `binary_concrete` | the binary Concrete (RelaxedBernoulli) kernels |
//!
//! `cargo test --release -p gumbel-tensor --test gumbel -- rao::` runs one module.

mod binary_concrete;
mod common;
mod concrete;
mod contract;
mod grad;
mod rao;
mod stats;
