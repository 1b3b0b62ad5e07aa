//! # gumbel-gan
//!
//! A text GAN whose generator is trained through the Gumbel-Softmax relaxation: data sets
//! (a built-in arithmetic-expression grammar, the SeqGAN synthetic oracle, text files such
//! as COCO captions), an LSTM generator, a CNN discriminator, temperature schedules,
//! metrics (NLL_oracle, NLL_gen, BLEU, self-BLEU, validity, uniqueness), training loops and
//! checkpoints.
//!
//! `gumbel-tensor` <- `gumbel-autograd` <- `gumbel-gan` <- the `gumbel-lab` CLI.

pub use gumbel_autograd as autograd;

pub mod error;
pub mod schedule;
pub mod train;

pub use error::{Error, Result};
