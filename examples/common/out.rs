//! Where a study example writes its files, the command-line flags every example shares,
//! and a minimal CSV writer.
//!
//! Output folder, in order of precedence: `--out DIR`; `$GUMBEL_STUDY_OUT/NAME`;
//! `target/study/NAME` under the workspace root. The folder is created if missing and the
//! example prints it.

use std::fmt::Display;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Flags shared by the study examples (flattened into each example's own `Args`).
#[derive(clap::Args, Debug, Clone)]
pub struct OutArgs {
    /// Folder for the SVGs and CSVs [default: $GUMBEL_STUDY_OUT/NAME, else target/study/NAME]
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl OutArgs {
    /// The output folder of example `name`, created if missing.
    pub fn dir(&self, name: &str) -> io::Result<PathBuf> {
        let dir = match (&self.out, std::env::var_os("GUMBEL_STUDY_OUT")) {
            (Some(dir), _) => dir.clone(),
            (None, Some(root)) => PathBuf::from(root).join(name),
            (None, None) => Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target")
                .join("study")
                .join(name),
        };
        fs::create_dir_all(&dir)?;
        Ok(dir)
    }
}

/// One CSV file: a header line, then rows of the same length. Numbers are written with
/// Rust's shortest round-trip formatting (`{}` of `f64`), so the file holds the exact
/// values the example computed.
pub struct Csv {
    w: BufWriter<fs::File>,
    cols: usize,
    path: PathBuf,
}

impl Csv {
    /// Creates `path` and writes the header.
    pub fn create(path: &Path, header: &[&str]) -> io::Result<Csv> {
        let mut w = BufWriter::new(fs::File::create(path)?);
        writeln!(w, "{}", header.join(","))?;
        Ok(Csv {
            w,
            cols: header.len(),
            path: path.to_path_buf(),
        })
    }

    /// Writes one row; panics if it has not as many fields as the header (a bug in the
    /// example, not an input error).
    pub fn row(&mut self, fields: &[&dyn Display]) -> io::Result<()> {
        assert_eq!(
            fields.len(),
            self.cols,
            "CSV row of the wrong length for {}",
            self.path.display()
        );
        let line: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        writeln!(self.w, "{}", line.join(","))
    }

    /// Flushes the file.
    pub fn finish(mut self) -> io::Result<()> {
        self.w.flush()
    }
}
