//! The checkpoint tensor-file loader, `gumbel_gan::io::safetensors::TensorFile::load`, on
//! arbitrary bytes as a `.safetensors` file; then, as a resume or `gumbel-lab sample` does,
//! a generator and a discriminator are built with the sizes the file's tensors imply and
//! loaded from it (`Generator::load`, `Discriminator::load`), and a model that loads is run
//! once (a short sample and its NLL; the discriminator's logits). Any panic is a bug.
//!
//! The models are built only when their parameter count stays below `MAX_PARAMS` (the
//! sizes come from tensor shapes, and a model is allocated before its file is checked), so
//! an execution stays fast.
//!
//! The body is `gumbel_fuzz::targets::checkpoint` (fuzz/src/targets.rs), shared with the workspace
//! test `tests/fuzz_corpus.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: gumbel_fuzz::run_rayon_on_this_thread(),
    |data: &[u8]| gumbel_fuzz::targets::checkpoint(data)
);
