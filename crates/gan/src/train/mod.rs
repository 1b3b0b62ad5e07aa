//! Training: configuration, the MLE and adversarial phases, evaluation, checkpoints,
//! `metrics.csv` and `report.html`.

pub mod checkpoint;
pub mod config;
pub mod log;
pub mod report;
pub mod rng;
