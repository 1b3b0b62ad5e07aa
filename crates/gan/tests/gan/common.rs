//! Shared helpers of the integration tests: where the benchmark data and the PyTorch venv
//! live, the record of optional checks, and scratch files.

use std::path::PathBuf;

#[path = "../../../../tests/support/optional_checks.rs"]
mod optional_checks;
pub use optional_checks::record_optional;

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

/// A small text corpus written into `dir` (`train.txt` with `train` sentences, `test.txt` with
/// the next `test`; 4 to 8 words each from a vocabulary of 10) and a run on it with [`tiny`]'s
/// model sizes: batch 16, one MLE epoch, 2 adversarial steps, 8 evaluation samples.
pub fn tiny_text(
    dir: &std::path::Path,
    train: usize,
    test: usize,
) -> gumbel_gan::train::config::TrainConfig {
    let words = [
        "a", "man", "rides", "a", "red", "bike", "on", "the", "street", "today",
    ];
    let line = |i: usize| -> String {
        (0..4 + i % 5)
            .map(|k| words[(i * 7 + k * 3) % words.len()])
            .collect::<Vec<_>>()
            .join(" ")
    };
    let corpus = |r: std::ops::Range<usize>| r.map(|i| line(i) + "\n").collect::<String>();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("train.txt"), corpus(0..train)).unwrap();
    std::fs::write(dir.join("test.txt"), corpus(train..train + test)).unwrap();
    let mut c = gumbel_gan::train::config::TrainConfig::defaults_for(
        gumbel_gan::train::config::DataSource::Text {
            train: dir.join("train.txt"),
            test: Some(dir.join("test.txt")),
        },
    );
    (c.batch, c.pretrain_epochs, c.adv_steps, c.eval_samples) = (16, 1, 2, 8);
    c.model = tiny().model;
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
