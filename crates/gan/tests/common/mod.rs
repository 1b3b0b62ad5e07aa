//! Shared helpers of the integration tests: where the benchmark data and the PyTorch venv
//! live, the record of optional checks, and scratch files.

#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::io::Write;
use std::path::PathBuf;

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

/// True if `GUMBEL_LAB_REQUIRE_DATA` is set to anything but empty or `0`: a missing
/// benchmark data directory then fails the test instead of skipping it (CI sets it).
pub fn data_required() -> bool {
    std::env::var_os("GUMBEL_LAB_REQUIRE_DATA").is_some_and(|v| !v.is_empty() && v != "0")
}

/// The benchmark data directory, `shared/data` beside the repository: `../shared/data` from
/// the workspace root, i.e. `CARGO_MANIFEST_DIR/../../../shared/data` for a checkout at
/// `/work/main`. A git worktree one level deeper (`/work/wt/<branch>`) finds it one more
/// `..` up. `GUMBEL_LAB_DATA` overrides both. If absent: a panic when
/// [`data_required`], else `None` (recorded as skipped by [`record_optional`]) and the
/// test skips its data-dependent assertions.
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
    match &found {
        Some(_) => record_optional(test, None),
        None if data_required() => panic!(
            "{test}: benchmark data directory not found (looked in {candidates:?}), and \
             GUMBEL_LAB_REQUIRE_DATA is set: point GUMBEL_LAB_DATA at shared/data"
        ),
        None => record_optional(
            test,
            Some(&format!(
                "benchmark data directory not found (looked in {candidates:?}); \
                 set GUMBEL_LAB_DATA to shared/data to run it"
            )),
        ),
    }
    found
}

/// The Python of the PyTorch peers venv (`$HOME/.cache/gumbel-peers-venv`, made by
/// `../shared/peers/setup.sh`), or `None` (recorded as skipped) if it is absent. The
/// PyTorch checks stay optional, also in CI.
pub fn peers_python(test: &str) -> Option<PathBuf> {
    let python = PathBuf::from(std::env::var("HOME").unwrap_or_default())
        .join(".cache/gumbel-peers-venv/bin/python");
    if python.is_file() {
        record_optional(test, None);
        Some(python)
    } else {
        record_optional(
            test,
            Some(&format!(
                "{} not found (the PyTorch peers venv)",
                python.display()
            )),
        );
        None
    }
}

/// A grammar run of 16 MLE steps and 6 adversarial steps on a tiny model.
pub fn tiny() -> gumbel_gan::train::config::TrainConfig {
    let mut c = gumbel_gan::train::config::TrainConfig::defaults_for(
        gumbel_gan::train::config::DataSource::Grammar,
    );
    c.train_size = 256;
    c.test_size = 64;
    c.batch = 32;
    c.pretrain_epochs = 2;
    c.adv_steps = 6;
    c.model.gen_emb = 8;
    c.model.gen_hidden = 16;
    c.model.disc_emb = 8;
    c.model.disc_widths = vec![2, 3];
    c.model.disc_filters = 8;
    c.log_every = 2;
    c.eval_every = 4;
    c.checkpoint_every = 5;
    c.eval_samples = 64;
    c
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
