//! The record of optional checks, shared by every test that may skip (it needs the benchmark
//! data, the PyTorch venv or Linux's `/proc`): included with `#[path]` by
//! `crates/gan/tests/common/mod.rs` and `crates/autograd/tests/memory.rs`, so that the
//! marker format `.ci/run` sums up is written in one place.

use std::io::Write;

/// Records whether the optional check `test` (one that needs the benchmark data or the
/// PyTorch venv) ran, or was skipped and why. A skip is printed to stderr as
/// `SKIPPED {test}: {reason}` (shown with `--nocapture` or when the test fails). If
/// `GUMBEL_LAB_CHECK_LOG` names a file, one line is appended to it, `ran {test}` or
/// `SKIPPED {test}: {reason}`; `.ci/run` sets it and prints a summary of the file at the
/// end, so that a green CI says which optional checks never ran. The line is written with
/// one `write_all` to a file opened for appending, so lines of parallel tests do not mix.
pub fn record_optional(test: &str, skipped: Option<&str>) {
    let line = match skipped {
        None => format!("ran {test}\n"),
        Some(reason) => {
            eprintln!("SKIPPED {test}: {reason}");
            format!("SKIPPED {test}: {reason}\n")
        }
    };
    if let Some(log) = std::env::var_os("GUMBEL_LAB_CHECK_LOG") {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .unwrap_or_else(|e| panic!("GUMBEL_LAB_CHECK_LOG {log:?}: {e}"));
    }
}
