//! The error type of the GAN crate.
//!
//! Every variant names what went wrong and where: the file (and tensor) of a bad
//! checkpoint, the flag of a bad configuration, the step of a non-finite loss.

use std::path::PathBuf;

use thiserror::Error;

/// Result alias used throughout the GAN crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a caller of the GAN crate can get wrong, and the faults training reports.
#[derive(Debug, Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A tensor operation rejected its inputs (shapes, temperatures, NaN logits).
    #[error(transparent)]
    Tensor(#[from] gumbel_tensor::Error),

    /// A configuration value that cannot work (named by its flag).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A checkpoint file that is missing, truncated, corrupt or from another model.
    #[error("checkpoint {}: {what}", path.display())]
    Checkpoint { path: PathBuf, what: String },

    /// One tensor of a checkpoint file is missing or has the wrong shape or dtype.
    #[error("checkpoint {}: tensor '{tensor}': {what}", path.display())]
    CheckpointTensor {
        path: PathBuf,
        tensor: String,
        what: String,
    },

    /// A loss or gradient norm became NaN or infinite: training stopped before the update.
    #[error(
        "{what} is {value} at {phase} step {step}; training stopped. {}",
        match checkpoint {
            Some(p) => format!("The last good checkpoint is {} (resume with --resume).", p.display()),
            None => "No checkpoint had been written yet.".to_string(),
        }
    )]
    NonFinite {
        phase: &'static str,
        step: usize,
        what: &'static str,
        value: f64,
        checkpoint: Option<PathBuf>,
    },
}

impl Error {
    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`Error::Checkpoint`].
    pub fn checkpoint(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Error::Checkpoint {
            path: path.into(),
            what: what.into(),
        }
    }

    /// Shorthand for [`Error::CheckpointTensor`].
    pub fn checkpoint_tensor(
        path: impl Into<PathBuf>,
        tensor: impl Into<String>,
        what: impl Into<String>,
    ) -> Self {
        Error::CheckpointTensor {
            path: path.into(),
            tensor: tensor.into(),
            what: what.into(),
        }
    }
}
