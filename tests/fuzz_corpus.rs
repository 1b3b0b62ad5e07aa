//! The fuzz targets in CI: each target's body (`fuzz/src/targets.rs`, the code the libFuzzer
//! binaries run) on every file of its committed corpus (`fuzz/corpus/<target>/`), then on
//! mutations of those files for a bounded time. A panic fails the test and leaves the input
//! that caused it in `target/fuzz-corpus-test/<target>-crash`, with the command that replays
//! it under libFuzzer.
//!
//! This is not coverage-guided (libFuzzer needs its own build, ~15 minutes here, see
//! `fuzz/README.md`): the mutations are blind, drawn from a fixed seed, so a run is
//! reproducible up to where its time budget ends. Budget per target:
//! `GUMBEL_LAB_FUZZ_SECONDS` (default 8 s), also read as 0 (corpus only).

#[path = "../fuzz/src/scratch.rs"]
mod scratch;
#[path = "../fuzz/src/targets.rs"]
mod targets;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gumbel_tensor::random::splitmix64;

/// The committed corpus of a target, in name order.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a readable folder entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} has no corpus files", dir.display());
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect()
}

/// A deterministic stream of words (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        splitmix64(self.0)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four blind mutations of `input`, some taking bytes from `other`: flipping a bit,
/// setting a byte to a boundary value, overwriting 1-8 bytes with a little-endian boundary
/// integer (the safetensors header's length prefix and offsets, JSON numbers), truncating,
/// duplicating or deleting a range, inserting random bytes, splicing `other` in.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    const BYTES: [u8; 8] = [0, 1, 0x7F, 0x80, 0xFF, b'0', b'9', b'-'];
    const WORDS: [u64; 8] = [
        0,
        1,
        0xFF,
        0x7FFF_FFFF,
        0xFFFF_FFFF,
        1 << 32,
        u64::MAX,
        1 << 62,
    ];
    let mut x = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(x.len());
        match rng.below(8) {
            0 if !x.is_empty() => x[at] ^= 1 << rng.below(8),
            1 if !x.is_empty() => x[at] = BYTES[rng.below(BYTES.len())],
            2 if !x.is_empty() => {
                let w = WORDS[rng.below(WORDS.len())].to_le_bytes();
                let n = (1 + rng.below(8)).min(x.len() - at);
                x[at..at + n].copy_from_slice(&w[..n]);
            }
            3 => x.truncate(at),
            4 if !x.is_empty() => {
                let n = 1 + rng.below(64.min(x.len() - at));
                let chunk = x[at..at + n].to_vec();
                x.splice(at..at, chunk);
            }
            5 if !x.is_empty() => {
                let n = 1 + rng.below(64.min(x.len() - at));
                x.drain(at..at + n);
            }
            6 => {
                let n = 1 + rng.below(16);
                let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                x.splice(at..at, junk);
            }
            _ if !other.is_empty() => {
                let from = rng.below(other.len());
                let n = 1 + rng.below(256.min(other.len() - from));
                x.splice(at..at, other[from..from + n].iter().copied());
            }
            _ => {}
        }
    }
    x
}

/// Runs `body` on `input`; on a panic, saves the input and fails naming it.
fn run_one(target: &str, what: &str, body: fn(&[u8]), input: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| body(input))).is_ok() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-corpus-test");
    std::fs::create_dir_all(&dir).expect("create target/fuzz-corpus-test");
    let saved = dir.join(format!("{target}-crash"));
    std::fs::write(&saved, input).expect("save the crashing input");
    panic!(
        "fuzz target {target} panicked on {what} (panic message above); input saved to {}; \
         replay: cd fuzz && cargo fuzz run --sanitizer none {target} {}",
        saved.display(),
        saved.display()
    );
}

/// The corpus, then mutations until the time budget is spent. Returns the executions.
fn fuzz(target: &str, body: fn(&[u8])) -> usize {
    let seconds: u64 = std::env::var("GUMBEL_LAB_FUZZ_SECONDS")
        .ok()
        .map(|s| {
            s.parse()
                .expect("GUMBEL_LAB_FUZZ_SECONDS is a whole number of seconds")
        })
        .unwrap_or(8);
    let files = corpus(target);
    for (path, bytes) in &files {
        run_one(target, &path.display().to_string(), body, bytes);
    }
    let budget = Duration::from_secs(seconds);
    let start = Instant::now();
    let mut rng = Rng(0x6675_7A7A ^ target.len() as u64);
    let mut runs = files.len();
    while start.elapsed() < budget {
        let (_, input) = &files[rng.below(files.len())];
        let (_, other) = &files[rng.below(files.len())];
        let x = mutate(&mut rng, input, other);
        run_one(target, &format!("mutation {runs}"), body, &x);
        runs += 1;
    }
    eprintln!(
        "fuzz target {target}: {runs} inputs in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    // The four target tests share this process's scratch folder: the last one removes it.
    static RUNNING: AtomicUsize = AtomicUsize::new(4);
    if RUNNING.fetch_sub(1, Ordering::SeqCst) == 1 {
        let _ = std::fs::remove_dir_all(scratch::scratch_dir());
    }
    runs
}

#[test]
fn oracle_loader_survives_its_corpus_and_mutations() {
    assert!(fuzz("oracle", targets::oracle) >= 5);
}

#[test]
fn checkpoint_loader_survives_its_corpus_and_mutations() {
    assert!(fuzz("checkpoint", targets::checkpoint) >= 4);
}

#[test]
fn state_json_reader_survives_its_corpus_and_mutations() {
    assert!(fuzz("state_json", targets::state_json) >= 3);
}

#[test]
fn text_loader_survives_its_corpus_and_mutations() {
    assert!(fuzz("text", targets::text) >= 4);
}

/// The mutator changes its inputs and can reach every kind of edit, or the test above
/// would run the corpus over and over.
#[test]
fn mutations_differ_from_their_input() {
    let mut rng = Rng(1);
    let input: Vec<u8> = (0..200).map(|i| i as u8).collect();
    let changed = (0..1000)
        .filter(|_| mutate(&mut rng, &input, b"other") != input)
        .count();
    assert!(
        changed > 900,
        "{changed} of 1000 mutations changed the input"
    );
}
