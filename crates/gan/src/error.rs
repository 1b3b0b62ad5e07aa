//! The error type of `gumbel-gan`: everything a caller can get wrong when loading data sets,
//! oracles and corpora, or when computing metrics.
//!
//! Variants name the file (and line, tensor, sequence or token) that caused the problem, so a
//! message such as `oracle.safetensors: tensor "output.W": expected shape [32, 5000], found
//! [5000, 32]` points straight at the fix.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a caller of `gumbel-gan` can get wrong.
#[derive(Debug, Error)]
pub enum Error {
    /// A file could not be opened or read (missing, a directory, no permission, ...).
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file could not be written.
    #[error("{path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file or folder could not be created (no permission, a read-only or full disk, a
    /// path through a file, ...).
    #[error("{path}: cannot create: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file that must hold data is empty (or holds only blank lines).
    #[error("{path}: the file is empty")]
    EmptyFile { path: PathBuf },

    /// A corpus file has no usable sentence (`what` says why: e.g. all are longer than
    /// `--max-len`).
    #[error("{path}: no usable sentence: {what}")]
    EmptyCorpus { path: PathBuf, what: String },

    /// A text file holds a NUL byte: it is almost certainly binary, not text.
    #[error("{path}: line {line}: NUL byte: this looks like a binary file, not text")]
    BinaryFile { path: PathBuf, line: usize },

    /// A text file is not valid UTF-8.
    #[error("{path}: line {line}: invalid UTF-8 at byte {byte} of the file")]
    NotUtf8 {
        path: PathBuf,
        line: usize,
        byte: usize,
    },

    /// A line of a text file could not be parsed (`what` says why).
    #[error("{path}: line {line}: {what}")]
    Parse {
        path: PathBuf,
        line: usize,
        what: String,
    },

    /// A safetensors file could not be parsed (truncated, corrupt header, ...).
    #[error("{path}: not a valid safetensors file: {what}")]
    Safetensors { path: PathBuf, what: String },

    /// A tensor the loader needs is absent from a safetensors file.
    #[error("{path}: tensor {name:?} is missing (the file has: {available})")]
    MissingTensor {
        path: PathBuf,
        name: String,
        available: String,
    },

    /// A tensor has the wrong shape.
    #[error("{path}: tensor {name:?}: expected shape {expected:?}, found {found:?}")]
    TensorShape {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },

    /// A tensor has the wrong element type.
    #[error("{path}: tensor {name:?}: expected dtype {expected}, found {found}")]
    TensorDtype {
        path: PathBuf,
        name: String,
        expected: &'static str,
        found: String,
    },

    /// A tensor whose sizes or values cannot work (`what` says why: a zero size, values so
    /// large that the model's outputs would overflow, ...).
    #[error("{path}: tensor {name:?}: {what}")]
    BadTensor {
        path: PathBuf,
        name: String,
        what: String,
    },

    /// A tensor holds a NaN or infinite value.
    #[error("{path}: tensor {name:?}: element {index} is {value}; parameters must be finite")]
    NonFiniteParameter {
        path: PathBuf,
        name: String,
        index: usize,
        value: f64,
    },

    /// A token id outside the vocabulary, in sequence `sequence` at position `position`.
    #[error(
        "{op}: sequence {sequence}, position {position}: token {token} is not below the vocabulary size {vocab}"
    )]
    TokenOutOfRange {
        op: &'static str,
        sequence: usize,
        position: usize,
        token: u32,
        vocab: usize,
    },

    /// A sequence whose length does not fit the op (`what` says what was expected).
    #[error("{op}: sequence {sequence} has length {len}: {what}")]
    SequenceLength {
        op: &'static str,
        sequence: usize,
        len: usize,
        what: String,
    },

    /// An argument outside the range the op accepts.
    #[error("{op}: {what}")]
    InvalidArgument { op: &'static str, what: String },

    /// An error from a tensor operation.
    #[error(transparent)]
    Tensor(#[from] gumbel_tensor::Error),

    /// A training configuration value that cannot work (the message names its flag).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A checkpoint (or run folder) that is missing, incomplete, from another version or
    /// from another data set; `what` says which.
    #[error("{path}: {what}")]
    Checkpoint { path: PathBuf, what: String },

    /// A loss, gradient norm, logit, temperature or updated parameter became NaN or
    /// infinite during training (a learning rate too large, parameters that overflowed):
    /// the run stopped. `checkpoint` is the last good state (see `train::run`), with the
    /// MLE and adversarial steps it holds.
    #[error(
        "{what} at {phase} step {step}; training stopped. {}",
        match checkpoint {
            Some((p, mle, adv)) => format!(
                "The last good state is the checkpoint {} (MLE step {mle}, adversarial step {adv}): \
                 evaluate it with `gumbel-lab eval --checkpoint {}`, or start a new run from its \
                 generator with `--pretrained {}` and a smaller learning rate.",
                p.display(), p.display(), p.display()
            ),
            None => "No checkpoint had been written yet.".to_string(),
        }
    )]
    NonFinite {
        phase: &'static str,
        step: usize,
        /// What went non-finite, with its value (the tensor crate's message).
        what: String,
        /// The last good checkpoint folder and its MLE and adversarial step.
        checkpoint: Option<(PathBuf, usize, usize)>,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid_argument(op: &'static str, what: impl Into<String>) -> Self {
        Error::InvalidArgument {
            op,
            what: what.into(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Shorthand for [`Error::Write`].
    pub fn write(path: &Path, source: std::io::Error) -> Self {
        Error::Write {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Shorthand for [`Error::Create`].
    pub fn create(path: &Path, source: std::io::Error) -> Self {
        Error::Create {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Shorthand for [`Error::Checkpoint`].
    pub fn checkpoint(path: &Path, what: impl Into<String>) -> Self {
        Error::Checkpoint {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }

    /// Shorthand for [`Error::Parse`].
    pub fn parse(path: &Path, line: usize, what: impl Into<String>) -> Self {
        Error::Parse {
            path: path.to_path_buf(),
            line,
            what: what.into(),
        }
    }
}
