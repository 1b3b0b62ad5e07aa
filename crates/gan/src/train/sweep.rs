//! Experiments that outgrow one machine: `gumbel-lab sweep` writes the runs of an experiment
//! (estimator x seed x setting) as a plain list of independent shell commands, and
//! `gumbel-lab collect` merges the finished run folders into one table (and, through
//! [`super::frontier`], the frontier plot).
//!
//! No scheduler: each line of `commands.txt` is one run, a POSIX `sh` command that starts the
//! run in its own folder or, if the folder already holds one, resumes it (`--resume`), so
//! the same list can be run again after an interruption and only unfinished runs do work:
//!
//! ```sh
//! parallel -j 2 < runs/exp/commands.txt                                  # GNU parallel
//! sed -n "${SLURM_ARRAY_TASK_ID}p" runs/exp/commands.txt | sh            # a Slurm job array
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::checkpoint::resolve_checkpoint;
use super::config::TrainConfig;
use super::frontier::{Frontier, Verdict, judged_axes};
use super::log::read_rows;
use super::report::Evaluation;
use super::select::Best;
use super::state::{Stage, TrainState};
use crate::error::{Error, Result};

/// One run of a sweep: its folder and the `train` flags that define it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub dir: PathBuf,
    pub args: Vec<String>,
}

/// Flags a sweep sets for each run itself; given among the common flags they would clash.
const SWEEP_FLAGS: [&str; 4] = ["--out", "--seed", "--estimator", "--resume"];

/// The runs of a sweep under `root`: every combination of `estimators`, `seeds` and the
/// `grid` (`(flag, values)`, e.g. `("--temp-end", ["1", "100"])`), each with the `common`
/// flags. A run's folder is named by its values: `st-gumbel_s1`, `gumbel-rao-10_s2_temp-end-100`.
///
/// Errors: an empty list of estimators, seeds or grid values, a grid flag given twice or
/// not starting with `--`, a common flag the sweep sets itself (naming it).
pub fn jobs(
    root: &Path,
    estimators: &[String],
    seeds: &[u64],
    grid: &[(String, Vec<String>)],
    common: &[String],
) -> Result<Vec<Job>> {
    if estimators.is_empty() || seeds.is_empty() {
        return Err(Error::Config(
            "sweep: give at least one --estimators value and one --seeds value".into(),
        ));
    }
    if let Some(f) = common.iter().find(|a| {
        SWEEP_FLAGS
            .iter()
            .any(|s| a == s || a.starts_with(&format!("{s}=")))
    }) {
        return Err(Error::Config(format!(
            "sweep: {f} is set by the sweep for each run (--estimators, --seeds, --root); leave it out of the common flags"
        )));
    }
    for (i, (flag, values)) in grid.iter().enumerate() {
        if !flag.starts_with("--") || values.is_empty() {
            return Err(Error::Config(format!(
                "--grid {flag}: expected --grid --FLAG=V1,V2,..."
            )));
        }
        if grid[..i].iter().any(|(f, _)| f == flag) || SWEEP_FLAGS.contains(&flag.as_str()) {
            return Err(Error::Config(format!(
                "--grid {flag}: given twice, or a flag the sweep sets itself"
            )));
        }
    }
    // every combination of the grid's values, in order
    let mut settings: Vec<Vec<(&str, &str)>> = vec![vec![]];
    for (flag, values) in grid {
        settings = settings
            .iter()
            .flat_map(|s| {
                values.iter().map(move |v| {
                    let mut s = s.clone();
                    s.push((flag.as_str(), v.as_str()));
                    s
                })
            })
            .collect();
    }
    let clean = |s: &str| s.trim_start_matches('-').replace([':', '/', ' ', ','], "-");
    let mut out = vec![];
    for e in estimators {
        for &seed in seeds {
            for s in &settings {
                let mut name = format!("{}_s{seed}", clean(e));
                let mut args = common.to_vec();
                args.extend([
                    "--estimator".into(),
                    e.clone(),
                    "--seed".into(),
                    seed.to_string(),
                ]);
                for (flag, v) in s {
                    let _ = write!(name, "_{}-{}", clean(flag), clean(v));
                    args.extend([flag.to_string(), v.to_string()]);
                }
                out.push(Job {
                    dir: root.join(name),
                    args,
                });
            }
        }
    }
    Ok(out)
}

/// `s` quoted for POSIX `sh` (single quotes; a `'` inside becomes `'\''`), unquoted when it
/// is made only of characters the shell leaves alone.
pub fn sh_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,+@%".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The line of `commands.txt` for `job`, with `bin` the `gumbel-lab` executable: resume the
/// run if its folder holds a checkpoint, start it otherwise.
pub fn command_line(bin: &str, job: &Job) -> String {
    let (bin, dir) = (sh_quote(bin), sh_quote(&job.dir.display().to_string()));
    let args: Vec<String> = job.args.iter().map(|a| sh_quote(a)).collect();
    format!(
        "if [ -d {dir}/checkpoint ]; then {bin} train --resume {dir}; else {bin} train {} --out {dir}; fi",
        args.join(" ")
    )
}

/// One run folder as `collect` reads it: its config and state (from its checkpoint).
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub dir: PathBuf,
    pub config: TrainConfig,
    pub state: TrainState,
}

impl RunInfo {
    /// `true` once both phases have finished.
    pub fn finished(&self) -> bool {
        self.state.stage == Stage::Done
    }
}

/// The run folders under `paths`: each path is a run folder (it has `checkpoint/`) or a
/// folder of them (a sweep's root: its subfolders that have `checkpoint/`, by name).
/// Errors name a path that is neither, and a checkpoint that cannot be read.
pub fn find_runs(paths: &[PathBuf]) -> Result<Vec<RunInfo>> {
    let mut dirs = vec![];
    for p in paths {
        if p.join("checkpoint").is_dir() {
            dirs.push(p.clone());
            continue;
        }
        let mut sub: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| Error::io(p, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|d| d.join("checkpoint").is_dir())
            .collect();
        if sub.is_empty() {
            return Err(Error::Config(format!(
                "{}: neither a run folder (no checkpoint/) nor a folder of run folders",
                p.display()
            )));
        }
        sub.sort();
        dirs.extend(sub);
    }
    dirs.into_iter()
        .map(|dir| {
            let ck = resolve_checkpoint(&dir)?;
            let config =
                TrainConfig::from_json(&ck.text("config.json")?, &ck.dir().join("config.json"))?;
            let state = ck.state()?;
            Ok(RunInfo { dir, config, state })
        })
        .collect()
}

/// A run folder as one CSV cell: in double quotes, its own quotes doubled.
fn quoted(dir: &Path) -> String {
    format!("\"{}\"", dir.display().to_string().replace('"', "\"\""))
}

/// The table of `collect`: one row per run (finished or not): its folder, estimator, seed,
/// stage and steps, the metrics of its last evaluation, and its `--select-by` best.
pub fn runs_csv(runs: &[RunInfo]) -> String {
    let mut s = String::from(
        "run,estimator,seed,finished,adv_step,nll_oracle,nll_gen,bleu2,bleu3,bleu4,bleu5,\
         self_bleu2,self_bleu3,self_bleu4,self_bleu5,validity,uniqueness,entropy,mean_length,\
         select_by,best_value,best_adv_step\n",
    );
    let opt = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    for r in runs {
        let e = r.state.last_eval.clone().unwrap_or_default();
        let four = |b: Option<[f64; 4]>| (0..4).map(move |i| opt(b.map(|b| b[i])));
        let mut cells = vec![
            quoted(&r.dir),
            r.config.estimator.to_string(),
            r.config.seed.to_string(),
            r.finished().to_string(),
            r.state.adv_step.to_string(),
            opt(e.nll_oracle),
            opt(e.nll_gen),
        ];
        cells.extend(four(e.bleu));
        cells.extend(four(e.self_bleu));
        cells.extend([e.validity, e.uniqueness, e.entropy, e.mean_length].map(opt));
        let best: Option<&Best> = r.state.best.as_ref();
        cells.extend([
            best.map(|b| b.metric.flag().to_string())
                .unwrap_or_default(),
            opt(best.map(|b| b.value)),
            best.map(|b| b.adv_step.to_string()).unwrap_or_default(),
        ]);
        let _ = writeln!(s, "{}", cells.join(","));
    }
    s
}

/// `collect`'s `trajectories.csv` and its console summary: every evaluation of every run
/// (its `metrics.csv`, finished or not) judged against the MLE curves of `f` in each plane
/// of [`judged_axes`] ([`Frontier::trajectory`]): one CSV row per evaluation and plane, one
/// summary line per run and plane (how many evaluations lie beyond the curve, and the best
/// margin). Errors name an unreadable `metrics.csv`.
pub fn trajectories(runs: &[RunInfo], f: &Frontier) -> Result<(String, String)> {
    let mut csv = String::from(
        "run,estimator,seed,phase,step,diversity_metric,diversity,quality_metric,quality,\
         mle_quality_at_same_diversity,verdict\n",
    );
    let mut summary = String::new();
    for r in runs {
        let rows = read_rows(&r.dir.join("metrics.csv"))?;
        let run = quoted(&r.dir);
        for (ax, ay) in judged_axes(f.kind) {
            let points = f.trajectory((ax, ay), &rows);
            for p in &points {
                let (q, verdict) = match p.verdict {
                    Verdict::Beyond(q) => (q.to_string(), "beyond"),
                    Verdict::NotBeyond(q) => (q.to_string(), "not beyond"),
                    Verdict::OutsideRange => (String::new(), "outside the range"),
                };
                let _ = writeln!(
                    csv,
                    "{run},{},{},{},{},{},{},{},{},{q},{verdict}",
                    r.config.estimator,
                    r.config.seed,
                    p.phase.name(),
                    p.step,
                    ax.name,
                    p.x,
                    ay.name,
                    p.y
                );
            }
            let beyond = points
                .iter()
                .filter(|p| matches!(p.verdict, Verdict::Beyond(_)))
                .count();
            let best = points
                .iter()
                .filter_map(|p| Some((p.margin(ay)?, p)))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let _ = write!(
                summary,
                "  {}{}, {} against {}: {beyond} of {} evaluations beyond the MLE curve",
                r.dir.display(),
                if r.finished() { "" } else { " (not finished)" },
                ay.name,
                ax.name,
                points.len()
            );
            let _ = match best {
                Some((m, p)) => writeln!(
                    summary,
                    "; best margin {m:+.4} at {} step {}",
                    p.phase.name(),
                    p.step
                ),
                None => writeln!(summary),
            };
        }
    }
    Ok((csv, summary))
}

/// Mean and standard deviation (n - 1) of one metric over the runs of each estimator:
/// `(estimator, runs, mean, sd)`, in the order estimators first appear.
pub fn by_estimator(
    runs: &[RunInfo],
    metric: fn(&Evaluation) -> Option<f64>,
) -> Vec<(String, usize, f64, f64)> {
    let mut names: Vec<String> = vec![];
    for r in runs {
        let n = r.config.estimator.to_string();
        if !names.contains(&n) {
            names.push(n);
        }
    }
    names
        .into_iter()
        .filter_map(|name| {
            let v: Vec<f64> = runs
                .iter()
                .filter(|r| r.config.estimator.to_string() == name)
                .filter_map(|r| r.state.last_eval.as_ref().and_then(metric))
                .collect();
            if v.is_empty() {
                return None;
            }
            let n = v.len() as f64;
            let mean = v.iter().sum::<f64>() / n;
            let sd = if v.len() > 1 {
                (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
            } else {
                0.0
            };
            Some((name, v.len(), mean, sd))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_every_combination_named_by_their_values() {
        let grid = vec![("--temp-end".to_string(), vec!["1".into(), "100".into()])];
        let common = vec!["--data".to_string(), "oracle".into()];
        let j = jobs(
            Path::new("runs/x"),
            &["gumbel".into(), "gumbel-rao:10".into()],
            &[1, 2],
            &grid,
            &common,
        )
        .unwrap();
        assert_eq!(j.len(), 2 * 2 * 2);
        assert_eq!(j[0].dir, Path::new("runs/x/gumbel_s1_temp-end-1"));
        assert_eq!(j[7].dir, Path::new("runs/x/gumbel-rao-10_s2_temp-end-100"));
        assert_eq!(
            j[7].args,
            [
                "--data",
                "oracle",
                "--estimator",
                "gumbel-rao:10",
                "--seed",
                "2",
                "--temp-end",
                "100"
            ]
        );
        let line = command_line("/opt/gumbel lab/gumbel-lab", &j[0]);
        assert_eq!(
            line,
            "if [ -d runs/x/gumbel_s1_temp-end-1/checkpoint ]; then '/opt/gumbel lab/gumbel-lab' \
             train --resume runs/x/gumbel_s1_temp-end-1; else '/opt/gumbel lab/gumbel-lab' train \
             --data oracle --estimator gumbel --seed 1 --temp-end 1 --out runs/x/gumbel_s1_temp-end-1; fi"
        );
    }

    #[test]
    fn clashing_or_empty_sweep_settings_are_errors_naming_them() {
        let root = Path::new("r");
        let e =
            |est: &[String], seeds: &[u64], grid: &[(String, Vec<String>)], common: &[String]| {
                jobs(root, est, seeds, grid, common)
                    .unwrap_err()
                    .to_string()
            };
        let st = vec!["st".to_string()];
        assert!(e(&[], &[1], &[], &[]).contains("--estimators"));
        assert!(e(&st, &[], &[], &[]).contains("--seeds"));
        assert!(
            e(&st, &[1], &[], &["--seed".into(), "3".into()])
                .contains("--seed is set by the sweep")
        );
        assert!(e(&st, &[1], &[], &["--out=x".into()]).contains("--out=x"));
        let g = |f: &str| vec![(f.to_string(), vec!["1".to_string()])];
        assert!(e(&st, &[1], &g("temp-end"), &[]).contains("--grid temp-end"));
        assert!(e(&st, &[1], &g("--seed"), &[]).contains("sets itself"));
        let twice = [g("--clip"), g("--clip")].concat();
        assert!(e(&st, &[1], &twice, &[]).contains("given twice"));
    }

    #[test]
    fn shell_quoting_survives_quotes_and_spaces() {
        assert_eq!(sh_quote("runs/a-1"), "runs/a-1");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("$HOME;rm"), "'$HOME;rm'");
    }
}
