//! The end-of-run summary: the metrics after MLE and after the GAN phase side by side, and
//! samples of both.

use std::path::PathBuf;

use crate::train::report::{self, Evaluation};
use crate::train::select::Best;

/// The results of a finished run.
#[derive(Debug, Clone)]
pub struct Summary {
    pub out: PathBuf,
    pub after_mle: Option<Evaluation>,
    pub after_gan: Option<Evaluation>,
    /// The same measurements on held-out real data, for reference.
    pub real: Option<Evaluation>,
    pub samples_mle: Vec<String>,
    pub samples_gan: Vec<String>,
    /// The generator kept by `--select-by` (in `best/`).
    pub best: Option<Best>,
    /// The frontier's verdict table (the MLE and final models at the report's temperatures).
    pub frontier: Option<String>,
    pub seconds: f64,
}

impl Summary {
    /// The end-of-run text: metrics after MLE and after the GAN phase side by side, and
    /// samples of both.
    pub fn text(&self) -> String {
        let mut s = String::new();
        if let Some(m) = &self.after_mle {
            s.push_str(&report::side_by_side(
                m,
                self.after_gan.as_ref(),
                self.real.as_ref(),
            ));
        }
        for (title, samples) in [
            ("after MLE", &self.samples_mle),
            ("after GAN", &self.samples_gan),
        ] {
            if samples.is_empty() {
                continue;
            }
            s.push_str(&format!("\nsamples {title}:\n"));
            for x in samples.iter().take(10) {
                s.push_str(&format!("  {x}\n"));
            }
        }
        if let Some(f) = &self.frontier {
            s.push_str("\nagainst the MLE model's temperature curve (report.html has the plot):\n");
            s.push_str(f);
        }
        if let Some(b) = &self.best {
            s.push_str(&format!(
                "\nbest by {}: {:.4} at adversarial step {} ({}): {}\n",
                b.metric.name(),
                b.value,
                b.adv_step,
                if b.adv_step == 0 {
                    "the MLE model"
                } else {
                    "a GAN model"
                },
                self.out.join("best").display()
            ));
        }
        s.push_str(&format!(
            "\nrun folder: {} (report.html, metrics.csv, checkpoint/)\n",
            self.out.display()
        ));
        s
    }
}
