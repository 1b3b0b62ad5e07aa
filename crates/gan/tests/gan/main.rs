//! The integration tests of `gumbel-gan`, one test binary: each module is one part of the
//! crate seen from outside, and `common` holds what they share (where the benchmark data
//! and the PyTorch venv live, the record of optional checks, scratch files). One binary
//! instead of one per file: the generic model and training code is compiled once for all
//! of them, not once per file.
//!
//! | module | what it checks |
//! |---|---|
//! | `train` | runs end to end: resume, thread counts, faults, PyTorch loading the generator |
//! | `run_folder` | a run cannot be lost or mixed up |
//! | `bad_input` | bad inputs give errors that name the flag, file or tensor |
//! | `oracle` | the SeqGAN oracle against its README's numbers |
//! | `text` | the COCO tokenizer against NLTK, corpus loading |
//! | `bleu` | BLEU and self-BLEU against NLTK |
//! | `relgan` | RelGAN's networks against the PyTorch reference (`../shared/peers/relgan_step_bench.py`) |
//!
//! `cargo test --release -p gumbel-gan --test gan -- oracle::` runs one module.

mod bad_input;
mod bleu;
mod common;
mod oracle;
mod relgan;
mod run_folder;
mod text;
mod train;
