//! The GAN's networks and losses.
//!
//! - [`generator`]: embedding -> recurrent core -> linear, in PyTorch's names and layouts; MLE loss,
//!   free-running relaxed samples through Gumbel-Softmax, evaluation sampling and NLL.
//! - [`core`]: the generator's recurrent core, an LSTM (SeqGAN) or RelGAN's relational
//!   memory.
//! - [`discriminator`]: a CNN over (soft) one-hot sequences (SeqGAN/RelGAN).
//! - [`estimator`]: what the discriminator sees of a generated token and which gradient
//!   comes back (`--estimator`).
//! - [`loss`]: RSGAN and non-saturating GAN losses.
//! - [`ops`]: the tape op specific to these models (padding after the end token).
//! - [`sampling`]: one multinomial draw from a row of logits (inverse CDF), and its entropy.

pub mod core;
pub mod discriminator;
pub mod estimator;
pub mod generator;
pub mod loss;
pub mod ops;
pub mod reinforce;
pub mod sampling;

pub use core::GeneratorArch;
pub use estimator::Estimator;
pub use generator::{Feedback, TemperatureForm};
pub use loss::LossKind;
