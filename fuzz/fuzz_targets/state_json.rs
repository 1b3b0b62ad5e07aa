//! The checkpoint's `state.json` reader, `gumbel_gan::train::checkpoint::Checkpoint::read(dir)` then `.state()`, on
//! arbitrary bytes as `<dir>/state.json`. A state that reads is then used as
//! `gumbel-lab sample` uses it (`train::inspect`): its vocabulary and special tokens make a
//! `Vocab`, its sizes a generator (small widths, random weights instead of a
//! `generator.safetensors`), which draws one sequence that is rendered with the state's
//! vocabulary. Any panic is a bug: a bad state.json must be an `Err`.
//!
//! The generator is built only for vocabularies of at most 4096 tokens and `seq_len` at
//! most 256 (a larger but valid state would only be slow here).
//!
//! The body is `gumbel_fuzz::targets::state_json` (fuzz/src/targets.rs), shared with the workspace
//! test `tests/fuzz_corpus.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: gumbel_fuzz::run_rayon_on_this_thread(),
    |data: &[u8]| gumbel_fuzz::targets::state_json(data)
);
