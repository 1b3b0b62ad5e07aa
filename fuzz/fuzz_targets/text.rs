//! The text-corpus loader, `gumbel_gan::data::text::load` / `load_with`, on arbitrary bytes
//! as a training and a test file: the input up to its first 0xFF byte is the training file,
//! the rest the test file (without a 0xFF byte both files hold the whole input; 0xFF is
//! never valid UTF-8, so the split loses no valid text). One load per input: the default
//! options (`load`) when the input length is 16 mod 17, else `load_with` and `max_len` =
//! length mod 17 (0 to 15). (Tokenizing is most of an execution's time, so one load per
//! input doubles the executions per second over loading with both.) Both files are also read as SeqGAN
//! sample files (`data::oracle::read_sample_file`, vocabulary 5000, length 20). A corpus
//! that loads is encoded, padded, stripped and decoded again. Any panic is a bug: a bad
//! file must be an `Err`.
//!
//! The body is `gumbel_fuzz::targets::text` (fuzz/src/targets.rs), shared with the workspace
//! test `tests/fuzz_corpus.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: gumbel_fuzz::run_rayon_on_this_thread(),
    |data: &[u8]| gumbel_fuzz::targets::text(data)
);
