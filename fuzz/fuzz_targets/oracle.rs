//! The SeqGAN oracle loader, `gumbel_gan::data::oracle::Oracle::load`, on arbitrary bytes
//! as a `.safetensors` file, in both element types; an oracle that loads is then used a
//! little (first-step log-probabilities, a short sample, its NLL_oracle, its parameters), as
//! `gumbel-lab train --data oracle` would. Any panic is a bug: a bad file must be an `Err`.
//!
//! Work per input is bounded by the input: every tensor's bytes are in the file (a zero-sized
//! dimension gives an empty tensor), and the sample is 2 sequences of 3 tokens.
//!
//! The body is `gumbel_fuzz::targets::oracle` (fuzz/src/targets.rs), shared with the workspace
//! test `tests/fuzz_corpus.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: gumbel_fuzz::run_rayon_on_this_thread(),
    |data: &[u8]| gumbel_fuzz::targets::oracle(data)
);
