//! Benchmark groups, one file per kernel family.

pub mod gumbel;
