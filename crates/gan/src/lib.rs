//! # gumbel-gan
//!
//! A text GAN whose generator is trained through the Gumbel-Softmax relaxation: data sets
//! (a built-in arithmetic-expression grammar, the SeqGAN synthetic oracle, text files such
//! as COCO captions), an LSTM generator, a CNN discriminator, temperature schedules,
//! metrics (NLL_oracle, NLL_gen, BLEU, self-BLEU, validity, uniqueness), training loops and
//! checkpoints.
//!
//! ## Map
//! - [`data`]: vocabularies and padded sequences ([`data::Dataset`]), the three data sources
//!   ([`data::grammar`], [`data::oracle`], [`data::text`]).
//! - [`metrics`]: BLEU and self-BLEU (NLTK's `sentence_bleu`, Texygen's protocol), unique
//!   fraction, grammar validity, NLL_oracle, and the masked mean of per-token NLLs.
//! - [`Error`] (`error.rs`): every fallible call returns it; messages name the file, line,
//!   tensor or sequence at fault.
//!
//! `gumbel-tensor` <- `gumbel-autograd` <- `gumbel-gan` <- the `gumbel-lab` CLI.

pub mod data;
pub mod error;
pub mod io;
pub mod metrics;
pub mod model;
pub mod random;
pub mod schedule;
pub mod train;

pub use error::{Error, Result};
pub use gumbel_autograd as autograd;
