//! Tests of the study programs (`examples/*.rs`) run small, one test binary: each module
//! includes its example's source (`#[path]`) and checks the numbers the study reports
//! against exact values, the properties it claims, thread-count independence and the files
//! it writes. (One binary, not one per study: the library code the studies share is
//! compiled once.)
//!
//! | module | study |
//! |---|---|
//! | `gumbel_max` | `examples/gumbel_max.rs`, and the statistics behind it (`examples/common/stats.rs`) |
//! | `temperature_sweep` | `examples/temperature_sweep.rs` |
//! | `estimators` | `examples/estimators.rs` |
//!
//! `cargo test --release --test studies -- estimators::` runs one module.

// Each example is a crate of its own and declares `examples/common/` itself (`mod common`);
// here the three are modules of one binary, so that folder is loaded three times, as it was
// when each study had its own test binary.
#![allow(clippy::duplicate_mod)]

mod estimator_benchmarks;
mod estimators;
mod gumbel_max;
#[path = "../support/mod.rs"]
mod support;
mod temperature_sweep;
