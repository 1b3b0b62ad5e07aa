//! Benchmark groups, one file per family (registered in `benches/main.rs`).

pub mod data;
pub mod gan;
