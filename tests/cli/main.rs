//! The `gumbel-lab` binary end to end, one test binary (the tests run the built binary as a
//! user would, `CARGO_BIN_EXE_gumbel-lab`):
//!
//! | module | what it checks |
//! |---|---|
//! | `end_to_end` | bad corpus files name the file, Ctrl-C leaves a checkpoint `--resume` continues, `--resume` refuses flags it would ignore |
//! | `bad_input` | absurd sizes and thread counts, flags that do not apply, FIFOs, SIGTERM: a clear message, never a panic, an abort or a hang |
//! | `crash_resume` | a run killed anywhere and resumed ends byte for byte where an uninterrupted run ends |
//!
//! `cargo test --release --test cli -- crash_resume::` runs one module.

mod bad_input;
mod crash_resume;
mod end_to_end;
#[path = "../support/mod.rs"]
mod support;
