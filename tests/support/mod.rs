//! Helpers shared by the integration tests of the root crate (`tests/cli/`, `tests/studies/`).

#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;

pub mod cli;

/// Runs `f` inside a rayon pool of `threads` threads (`gumbel_tensor::parallel::with_threads`,
/// unwrapped for tests).
pub fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    gumbel_tensor::parallel::with_threads(threads, f).unwrap()
}

/// A folder `name` under cargo's scratch directory for integration tests, created.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
