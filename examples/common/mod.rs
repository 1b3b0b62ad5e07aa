//! Plumbing shared by the study examples (`temperature_sweep`, `gumbel_max`, `estimators`)
//! and their tests: where the output goes and CSV files ([`out`]), statistics and the
//! chi-square p-value ([`stats`]), and SVG plots ([`plot`]).
//!
//! Each example includes this folder with `#[path = "common/mod.rs"] pub mod common;`,
//! and each test includes an example (and with it this folder) with
//! `#[path = "../examples/NAME.rs"] mod NAME;`. Nothing here is a public API of the
//! workspace: it is the examples' scaffolding, kept out of their files so that those read
//! as the study they perform.

// Each example and test crate compiles this module and uses a different subset of it.
#![allow(dead_code)]

pub mod out;
pub mod plot;
pub mod stats;
