//! `metrics.csv`: one row per logged step, with a fixed set of columns.
//!
//! Every row has the same columns ([`COLUMNS`]); a value that was not measured at that step
//! (an evaluation metric between evaluations, the discriminator loss during MLE) is an empty
//! cell. Numbers are written with Rust's shortest round-trip formatting, so a resumed run
//! writes byte-for-byte the file an uninterrupted run writes: the file has no wall-clock
//! column for that reason.
//!
//! The file is flushed after every row: a crash or a non-finite loss leaves every row
//! written so far intact. On resume, rows past the checkpoint's step are dropped (they will
//! be logged again, identically).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The training phase a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// MLE pretraining (teacher forcing).
    Mle,
    /// The adversarial phase.
    Adv,
}

impl Phase {
    /// The name in the `phase` column.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Mle => "mle",
            Phase::Adv => "adv",
        }
    }
}

/// Declares [`Metrics`] (one `Option<f64>` field per column) and [`COLUMNS`] (the field
/// names, in file order) from one list, so the two cannot disagree.
macro_rules! metrics_columns {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// The measured values of one row, one field per value column of `metrics.csv`
        /// (`None`: not measured at that step, an empty cell).
        #[derive(Debug, Clone, Copy, Default, PartialEq)]
        pub struct Metrics {
            $($(#[$doc])* pub $name: Option<f64>,)*
        }

        /// The value columns, after `phase, step, global_step`: the fields of [`Metrics`].
        pub const COLUMNS: &[&str] = &[$(stringify!($name)),*];

        impl Metrics {
            /// The values in [`COLUMNS`] order.
            pub fn values(&self) -> Vec<Option<f64>> {
                vec![$(self.$name),*]
            }

            /// The fields in [`COLUMNS`] order, to fill from a parsed line.
            fn cells_mut(&mut self) -> Vec<&mut Option<f64>> {
                vec![$(&mut self.$name),*]
            }
        }
    };
}

metrics_columns!(
    /// MLE epochs so far (fractional).
    epoch,
    /// Mean cross-entropy of the MLE minibatch.
    mle_loss,
    /// Generator loss of the step's last generator update.
    g_loss,
    /// Discriminator loss of the step's last discriminator update.
    d_loss,
    /// Mean discriminator logit on the real batch.
    d_real,
    /// Mean discriminator logit on the generated batch.
    d_fake,
    /// The temperature the step used (tau, or beta for `--temperature-form beta`).
    temperature,
    /// Generator gradient norm before clipping.
    g_grad_norm,
    /// Discriminator gradient norm before clipping.
    d_grad_norm,
    /// Mean per-token entropy of the generator along its samples (evaluation).
    entropy,
    /// NLL_oracle of samples (oracle data).
    nll_oracle,
    /// NLL_gen: the generator's NLL of held-out data.
    nll_gen,
    /// BLEU-2 of samples against the test set.
    bleu2,
    /// BLEU-3.
    bleu3,
    /// BLEU-4.
    bleu4,
    /// BLEU-5.
    bleu5,
    /// Self-BLEU-2 of samples against each other.
    self_bleu2,
    /// Self-BLEU-3.
    self_bleu3,
    /// Self-BLEU-4.
    self_bleu4,
    /// Self-BLEU-5.
    self_bleu5,
    /// Fraction of samples the grammar accepts.
    validity,
    /// Fraction of distinct samples.
    uniqueness,
    /// Mean sample length in tokens.
    mean_length,
    /// The learning rate of the phase's generator optimizer.
    lr,
);

/// One row of `metrics.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub phase: Phase,
    /// Step within the phase (MLE steps count minibatches across epochs).
    pub step: usize,
    /// MLE steps, then adversarial steps, on one axis (for plots).
    pub global_step: usize,
    /// The measured values.
    pub metrics: Metrics,
}

impl Row {
    /// A row with no values.
    pub fn new(phase: Phase, step: usize, global_step: usize) -> Row {
        Row {
            phase,
            step,
            global_step,
            metrics: Metrics::default(),
        }
    }

    /// The CSV line (without newline).
    pub fn to_csv(&self) -> String {
        let mut s = format!("{},{},{}", self.phase.name(), self.step, self.global_step);
        for v in self.metrics.values() {
            s.push(',');
            if let Some(v) = v {
                s.push_str(&format!("{v}"));
            }
        }
        s
    }

    fn parse(line: &str, path: &Path, lineno: usize) -> Result<Row> {
        let bad = |what: String| Error::checkpoint(path, format!("line {lineno}: {what}"));
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != 3 + COLUMNS.len() {
            return Err(bad(format!(
                "{} cells, expected {}",
                cells.len(),
                3 + COLUMNS.len()
            )));
        }
        let phase = match cells[0] {
            "mle" => Phase::Mle,
            "adv" => Phase::Adv,
            p => return Err(bad(format!("unknown phase '{p}'"))),
        };
        let int = |s: &str| {
            s.parse::<usize>()
                .map_err(|_| bad(format!("'{s}' is not a step number")))
        };
        let mut row = Row::new(phase, int(cells[1])?, int(cells[2])?);
        for (slot, cell) in row.metrics.cells_mut().into_iter().zip(&cells[3..]) {
            if !cell.is_empty() {
                *slot = Some(
                    cell.parse::<f64>()
                        .map_err(|_| bad(format!("'{cell}' is not a number")))?,
                );
            }
        }
        Ok(row)
    }
}

/// The header line of `metrics.csv`.
pub fn header() -> String {
    let mut s = String::from("phase,step,global_step");
    for c in COLUMNS {
        s.push(',');
        s.push_str(c);
    }
    s
}

/// Reads every row of a `metrics.csv`.
pub fn read_rows(path: &Path) -> Result<Vec<Row>> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut rows = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if i == 0 {
            if line != header() {
                return Err(Error::checkpoint(
                    path,
                    "the header does not match this version's metrics.csv columns",
                ));
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        rows.push(Row::parse(&line, path, i + 1)?);
    }
    Ok(rows)
}

/// The open `metrics.csv` of a run, and every row written to it (for the report).
pub struct MetricsLog {
    path: PathBuf,
    file: File,
    rows: Vec<Row>,
}

impl MetricsLog {
    /// Creates (or truncates) `path` and writes the header.
    pub fn create(path: &Path) -> Result<MetricsLog> {
        let mut file = File::create(path).map_err(|e| Error::write(path, e))?;
        writeln!(file, "{}", header()).map_err(|e| Error::write(path, e))?;
        Ok(MetricsLog {
            path: path.to_path_buf(),
            file,
            rows: Vec::new(),
        })
    }

    /// Reopens a run's `metrics.csv`, keeping only rows up to and including
    /// `global_step` (later rows were logged after the checkpoint being resumed), and
    /// rewrites the file with them.
    pub fn resume(path: &Path, global_step: usize) -> Result<MetricsLog> {
        let rows: Vec<Row> = read_rows(path)?
            .into_iter()
            .filter(|r| r.global_step <= global_step)
            .collect();
        let mut text = header();
        text.push('\n');
        for r in &rows {
            text.push_str(&r.to_csv());
            text.push('\n');
        }
        crate::io::write_atomic(path, text.as_bytes())?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::write(path, e))?;
        Ok(MetricsLog {
            path: path.to_path_buf(),
            file,
            rows,
        })
    }

    /// Appends a row and flushes it to disk.
    pub fn push(&mut self, row: Row) -> Result<()> {
        writeln!(self.file, "{}", row.to_csv())
            .and_then(|_| self.file.flush())
            .map_err(|e| Error::write(&self.path, e))?;
        self.rows.push(row);
        Ok(())
    }

    /// Every row so far (including those read back on resume).
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_resume_drops_later_rows() {
        let dir = std::env::temp_dir().join(format!("gumbel-log-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("metrics.csv");
        let mut log = MetricsLog::create(&path).unwrap();
        for s in 0..5 {
            let mut r = Row::new(Phase::Adv, s, 100 + s);
            r.metrics.g_loss = Some(0.1 * s as f64 + 1e-17);
            r.metrics.temperature = Some(1.0 / 3.0);
            log.push(r).unwrap();
        }
        let back = read_rows(&path).unwrap();
        assert_eq!(back, log.rows());
        assert_eq!(back[3].metrics.g_loss, Some(0.1 * 3.0 + 1e-17));
        assert_eq!(back[3].metrics.d_loss, None);
        let line = back[3].to_csv();
        assert_eq!(line.split(',').count(), 3 + COLUMNS.len());
        assert_eq!(
            header().split(',').position(|c| c == "temperature"),
            line.split(',')
                .position(|c| c == format!("{}", 1.0f64 / 3.0)),
            "each value sits under its own column name"
        );
        drop(log);
        let log = MetricsLog::resume(&path, 102).unwrap();
        assert_eq!(log.rows().len(), 3);
        assert_eq!(read_rows(&path).unwrap().len(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_malformed_file_names_the_line() {
        let dir = std::env::temp_dir().join(format!("gumbel-log-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("metrics.csv");
        std::fs::write(&path, format!("{}\nadv,1,2,x\n", header())).unwrap();
        let e = read_rows(&path).unwrap_err().to_string();
        assert!(e.contains("metrics.csv") && e.contains("line 2"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
