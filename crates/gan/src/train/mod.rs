//! Training: configuration, the MLE and adversarial phases, evaluation, checkpoints,
//! `metrics.csv` and `report.html`.

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod eval;
pub mod frontier;
pub mod inspect;
pub mod log;
pub mod peer;
pub mod report;
pub mod run;
pub mod run_dir;
pub mod select;
pub mod state;
pub mod step;
pub mod sweep;
