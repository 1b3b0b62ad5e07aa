//! Shared helpers of the integration tests: where the benchmark data lives, and scratch files.

#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::path::PathBuf;

/// The benchmark data directory, `shared/data` beside the repository: `../shared/data` from
/// the workspace root, i.e. `CARGO_MANIFEST_DIR/../../../shared/data` for a checkout at
/// `/work/main`. A git worktree one level deeper (`/work/wt/<branch>`) finds it one more
/// `..` up. `GUMBEL_LAB_DATA` overrides both. `None` (and a message on stderr) if absent:
/// tests then skip their data-dependent assertions.
pub fn data_dir(test: &str) -> Option<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = match std::env::var_os("GUMBEL_LAB_DATA") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => vec![
            manifest.join("../../../shared/data"),
            manifest.join("../../../../shared/data"),
        ],
    };
    let found = candidates.iter().find(|p| p.is_dir()).cloned();
    if found.is_none() {
        eprintln!(
            "SKIPPED {test}: benchmark data directory not found (looked in {candidates:?}); \
             set GUMBEL_LAB_DATA to shared/data to run it"
        );
    }
    found
}

/// A fresh path in the system temp directory for a scratch file (never in the repository).
pub fn scratch_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gumbel-gan-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs `f` inside a rayon pool of `threads` threads (`gumbel_tensor::parallel::with_threads`,
/// unwrapped for tests).
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    gumbel_tensor::parallel::with_threads(threads, f).unwrap()
}
