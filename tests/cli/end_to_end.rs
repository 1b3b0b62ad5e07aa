//! The `gumbel-lab` binary end to end: bad corpus files give clear errors naming the file
//! (and never a panic), Ctrl-C (SIGINT) leaves a checkpoint that `--resume` continues,
//! `--resume` refuses flags it would ignore, and `--arch relgan` is a preset that flags
//! override.

use std::fs;
use std::path::Path;

use crate::support::cli::{bin, fresh_dir, run_and_signal};

/// Runs `train --data FILE` and returns (success, stderr).
fn train_on(file: &Path, out: &Path) -> (bool, String) {
    let o = bin()
        .args(["train", "--threads", "1", "--data"])
        .arg(file)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn bad_corpus_files_are_named_without_a_panic() {
    let d = fresh_dir("corpus");
    let cases: [(&str, &[u8], &str); 4] = [
        ("missing.txt", b"", "cannot read"),
        ("empty.txt", b"\n  \n", "empty"),
        ("binary.txt", b"a b c\n\x00\x01\x02\x03\n", "binary"),
        ("latin1.txt", b"a caf\xe9 by the sea\n", "UTF-8"),
    ];
    for (name, bytes, what) in cases {
        let f = d.join(name);
        if name != "missing.txt" {
            fs::write(&f, bytes).unwrap();
        }
        let (ok, err) = train_on(&f, &d.join(format!("run-{name}")));
        assert!(!ok, "{name}: training should fail");
        assert!(err.contains(name) && err.contains(what), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    // A bad checkpoint for `sample`: named, no panic.
    let ck = d.join("ck");
    fs::create_dir_all(&ck).unwrap();
    let cfg = gumbel_gan::train::config::TrainConfig::defaults_for(
        gumbel_gan::train::config::DataSource::Grammar,
    );
    fs::write(ck.join("config.json"), cfg.to_json()).unwrap();
    fs::write(ck.join("state.json"), "{ not json").unwrap();
    let o = bin()
        .arg("sample")
        .arg("--checkpoint")
        .arg(&ck)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("state.json"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn an_error_and_its_cause_are_printed_once_each() {
    // A missing corpus: gumbel-gan's error names the file and wraps the operating system's
    // error (its `source()`), which its message already quotes. The CLI prints the chain
    // (`  caused by: ...` lines) without saying the reason twice.
    let d = fresh_dir("cause");
    let missing = d.join("missing.txt");
    let reason = fs::read(&missing).unwrap_err().to_string();
    let (ok, err) = train_on(&missing, &d.join("run"));
    assert!(!ok, "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("{err}"));
    assert_eq!(
        line,
        format!("error: {}: cannot read: {reason}", missing.display())
    );
    assert_eq!(err.matches(&reason).count(), 1, "{err}");
    assert!(!err.contains("caused by"), "{err}");
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn ctrl_c_leaves_a_checkpoint_that_resume_continues() {
    let d = fresh_dir("sigint");
    let out = d.join("run");
    let out_s = out.to_str().unwrap();
    // Evaluations print a line ("[MLE 20/...]") that tells us training is under way.
    let args = [
        "train",
        "--threads",
        "1",
        "--out",
        out_s,
        "--train-size",
        "512",
        "--test-size",
        "64",
        "--pretrain-epochs",
        "200",
        "--adv-steps",
        "10",
        "--eval-every",
        "20",
        "--eval-samples",
        "32",
    ];
    let (status, err) = run_and_signal(&args, "[MLE 20/", "INT");
    assert!(
        !status.success(),
        "an interrupted run exits with an error status: {err}"
    );
    assert!(
        err.contains("checkpoint written") && err.contains("--resume"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let state = fs::read_to_string(out.join("checkpoint/state.json")).unwrap();
    let step = |s: &str| -> usize {
        let v: serde_json::Value = serde_json::from_str(s).unwrap();
        v["mle_step"].as_u64().unwrap() as usize
    };
    let first = step(&state);
    assert!(first >= 20, "{state}");
    // Resume, and interrupt it again once it has said where it resumes.
    let (status, err) = run_and_signal(
        &["train", "--threads", "1", "--resume", out_s],
        "resuming",
        "INT",
    );
    assert!(!status.success());
    assert!(err.contains(&format!("MLE step {first}")), "{err}");
    let second = step(&fs::read_to_string(out.join("checkpoint/state.json")).unwrap());
    assert!(second >= first, "{first} -> {second}");
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn resume_refuses_flags_it_would_ignore() {
    // A resumed run takes its settings from config.json: a flag beside --resume would be
    // silently ignored, so it is an error naming the flag, before anything is read.
    let o = bin()
        .args(["train", "--resume", "no-such-run", "--adv-steps", "5000"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("--resume") && err.contains("--adv-steps"),
        "{err}"
    );
    // --threads is allowed: the error is then about the missing run folder.
    let o = bin()
        .args(["train", "--resume", "no-such-run", "--threads", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("no-such-run") && !err.contains("cannot be used"),
        "{err}"
    );
}

/// `frontier` on a short grammar run: writes frontier.csv (a row per model and temperature)
/// and frontier.svg into the current folder by default, prints the verdicts, and refuses to
/// replace its files without `--force`, naming the file.
#[test]
fn frontier_writes_its_csv_and_plot_and_keeps_them_safe() {
    let d = fresh_dir("frontier");
    let run = d.join("run");
    let o = bin()
        .args(["train", "--threads", "1", "--adv-steps", "20", "--out"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let frontier = |extra: &[&str]| {
        bin()
            .current_dir(&d)
            .args(["frontier", "--threads", "1", "--checkpoint", "run"])
            .args(["--temperatures", "0.7,1", "--samples", "100"])
            .args(extra)
            .output()
            .unwrap()
    };
    let o = frontier(&[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("MLE (run)") && out.contains("against the MLE curve"),
        "{out}"
    );
    let csv = fs::read_to_string(d.join("frontier.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 2, "{csv}");
    assert!(
        fs::read_to_string(d.join("frontier.svg"))
            .unwrap()
            .contains("<svg")
    );
    let o = frontier(&[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("frontier.csv exists"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(d.join("frontier.csv")).unwrap(), csv);
    assert!(frontier(&["--force"]).status.success());
    let o = frontier(&["--temperatures", "0"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--temperatures"));
    fs::remove_dir_all(&d).unwrap();
}

/// `sweep` writes one command per run that starts it (or resumes it once its folder has a
/// checkpoint), after checking every run's flags; the commands run as they are under `sh`,
/// a second time too (then they resume finished runs, which do nothing); `collect` merges
/// the run folders into runs.csv, the frontier and trajectories.csv (every evaluation of
/// every run against the MLE curve). Clashing or invalid flags are refused
/// before anything is written.
#[test]
fn sweep_commands_run_as_they_are_and_collect_merges_them() {
    let d = fresh_dir("sweep");
    let common = [
        "--",
        "--threads",
        "1",
        "--adv-steps",
        "4",
        "--train-size",
        "256",
        "--test-size",
        "64",
        "--batch",
        "32",
        "--eval-samples",
        "50",
    ];
    let sweep = |extra: &[&str]| {
        bin()
            .current_dir(&d)
            .args([
                "sweep",
                "--root",
                "exp",
                "--estimators",
                "st,reinmax",
                "--seeds",
                "1",
            ])
            .args(extra)
            .args(common)
            .output()
            .unwrap()
    };
    let o = sweep(&[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines = fs::read_to_string(d.join("exp/commands.txt")).unwrap();
    assert_eq!(lines.lines().count(), 2, "{lines}");
    for _ in 0..2 {
        for line in lines.lines() {
            let o = std::process::Command::new("sh")
                .current_dir(&d)
                .args(["-c", line])
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{line}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
    // an MLE model alone (no adversarial phase) in the same root: the MLE curve, not a GAN
    // point, but its evaluations are judged with the others
    let o = bin()
        .current_dir(&d)
        .args(["train", "--out", "exp/mle-only", "--adv-steps", "0"])
        .args(
            common[1..]
                .iter()
                .filter(|a| **a != "--adv-steps" && **a != "4"),
        )
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = bin()
        .current_dir(&d)
        .args([
            "collect",
            "exp",
            "--threads",
            "1",
            "--temperatures",
            "0.8,1",
            "--samples",
            "50",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("reinmax") && out.contains("(1 runs)"), "{out}");
    let runs = fs::read_to_string(d.join("runs.csv")).unwrap();
    assert!(runs.contains(",reinmax,1,true,4,"), "{runs}");
    // every evaluation of every run (the metrics.csv rows that hold uniqueness and
    // validity), judged against the MLE curve
    let along = fs::read_to_string(d.join("trajectories.csv")).unwrap();
    let header = along.lines().next().unwrap();
    assert!(
        header.starts_with("run,estimator,seed,phase,step,diversity_metric,diversity,"),
        "{header}"
    );
    for (run, estimator) in [("exp/st_s1", "st"), ("exp/reinmax_s1", "reinmax")] {
        let metrics = fs::read_to_string(d.join(run).join("metrics.csv")).unwrap();
        let cols: Vec<&str> = metrics.lines().next().unwrap().split(',').collect();
        let at = |name| cols.iter().position(|c| *c == name).unwrap();
        let evaluations = metrics
            .lines()
            .skip(1)
            .filter(|l| {
                let c: Vec<&str> = l.split(',').collect();
                !c[at("uniqueness")].is_empty() && !c[at("validity")].is_empty()
            })
            .count();
        let judged: Vec<&str> = along
            .lines()
            .filter(|l| l.starts_with(&format!("\"{run}\",{estimator},1,")))
            .collect();
        assert!(evaluations >= 2, "{metrics}");
        assert_eq!(judged.len(), evaluations, "{along}");
        assert!(judged[0].contains(",mle,"), "{along}");
        assert!(judged.iter().all(|l| l.contains(",uniqueness,")), "{along}");
        assert!(judged.iter().all(|l| l.contains(",validity,")), "{along}");
        assert!(
            out.contains(&format!("{run}, validity against uniqueness: ")),
            "{out}"
        );
    }
    assert!(out.contains("evaluations beyond the MLE curve"), "{out}");
    assert!(
        along.contains("\"exp/mle-only\",st-gumbel,1,mle,"),
        "{along}"
    );
    assert!(
        !out.contains("st-gumbel"),
        "the MLE run is no GAN point: {out}"
    );
    assert_eq!(
        runs.lines().count(),
        4,
        "every run folder is listed: {runs}"
    );
    // an estimator that does not exist, or a flag the sweep sets: refused, nothing written
    let o = bin()
        .current_dir(&d)
        .args([
            "sweep",
            "--root",
            "bad",
            "--estimators",
            "bogus",
            "--seeds",
            "1",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("bogus") && err.contains("bad/bogus_s1"),
        "{err}"
    );
    let o = sweep(&["--grid", "seed=1,2"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--grid --seed"));
    assert!(!d.join("bad").exists());
    fs::remove_dir_all(&d).unwrap();
}

/// `--arch relgan` sets RelGAN's networks and settings, and the flags beside it override
/// its values (the preset is applied first): a grammar run at tiny sizes writes the preset's
/// choices and the overrides into config.json and its tensors under RelGAN's names.
#[test]
fn arch_relgan_is_a_preset_that_flags_override() {
    let dir = fresh_dir("arch-relgan");
    let out = dir.join("run");
    let o = crate::support::cli::run_with_limit(
        &[
            "train",
            "--data",
            "grammar",
            "--arch",
            "relgan",
            "--threads",
            "1",
            "--gen-emb",
            "4",
            "--gen-head-size",
            "4",
            "--disc-emb",
            "4",
            "--disc-filters",
            "4",
            "--disc-widths",
            "2,3",
            "--disc-hidden",
            "3",
            "--pretrain-epochs",
            "1",
            "--adv-steps",
            "2",
            "--train-size",
            "640",
            "--eval-every",
            "2",
            "--eval-samples",
            "64",
            "--temp-horizon",
            "7",
            "--out",
            out.to_str().unwrap(),
        ],
        crate::support::cli::PATIENCE,
    );
    assert!(o.status.success(), "{}", crate::support::cli::stderr(&o));
    let json = fs::read_to_string(out.join("config.json")).unwrap();
    let compact: String = json.split_whitespace().collect();
    for want in [
        r#""generator":"rmc""#,
        r#""discriminator":"relgan""#,
        r#""gen_head_size":4"#,
        r#""gen_heads":2"#,
        r#""disc_hidden":3"#,
        r#""d_steps":5"#,
        r#""horizon":7"#,
        r#""form":"beta""#,
        r#""feedback":"hard""#,
    ] {
        assert!(compact.contains(want), "{want} in {json}");
    }
    let g = fs::read(out.join("checkpoint").join("generator.safetensors")).unwrap();
    let header = String::from_utf8_lossy(&g[..g.len().min(4096)]);
    assert!(header.contains("rmc.qkv.weight"), "{header}");
    fs::remove_dir_all(&dir).unwrap();
}
