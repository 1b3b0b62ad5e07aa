//! The integration tests of `gumbel-autograd`, one test binary (the engine's generic ops
//! are compiled once for all of them); `tests/memory.rs` stays a binary of its own, since it
//! measures its process's peak memory.
//!
//! | module | what it checks |
//! |---|---|
//! | `estimators` | the gradient estimators against enumeration, the authors' code and packages |
//! | `bernoulli` | every estimator on Bernoulli logits: the samples' law, unbiasedness, errors |
//! | `control_variate` | REBAR and RELAX: enumeration, the conditional samples, the variance's gradient, a learned surrogate |
//! | `higher_order` | gradients of gradients: closed forms, a RELAX-shaped objective, errors |
//! | `pytorch_crosscheck` | ops and optimizers against PyTorch float64 |
//!
//! `cargo test --release -p gumbel-autograd --test autograd -- estimators::` runs one module.

mod bernoulli;
mod control_variate;
mod estimators;
mod higher_order;
mod pytorch_crosscheck;
