//! The `gumbel-lab` binary end to end: bad corpus files give clear errors naming the file
//! (and never a panic), Ctrl-C (SIGINT) leaves a checkpoint that `--resume` continues, and
//! `--resume` refuses flags it would ignore.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gumbel-lab"))
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gumbel-cli-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

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
    let d = tmp("corpus");
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
    let d = tmp("cause");
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

/// Sends SIGINT to a child process.
fn interrupt(pid: u32) {
    let ok = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -INT {pid}");
}

/// Starts `gumbel-lab` with `args`, waits until a line of its stderr contains `marker`,
/// sends SIGINT, and returns (exit success, all of stderr).
fn run_and_interrupt(args: &[&str], marker: &str) -> (bool, String) {
    let mut child = bin()
        .args(args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut text = String::new();
    let start = Instant::now();
    for line in lines.by_ref() {
        let line = line.unwrap();
        text.push_str(&line);
        text.push('\n');
        if line.contains(marker) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no '{marker}' in: {text}"
        );
    }
    interrupt(child.id());
    for line in lines {
        text.push_str(&line.unwrap());
        text.push('\n');
    }
    (child.wait().unwrap().success(), text)
}

#[test]
fn ctrl_c_leaves_a_checkpoint_that_resume_continues() {
    let d = tmp("sigint");
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
    let (ok, err) = run_and_interrupt(&args, "[MLE 20/");
    assert!(!ok, "an interrupted run exits with an error status: {err}");
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
    let (ok, err) = run_and_interrupt(&["train", "--threads", "1", "--resume", out_s], "resuming");
    assert!(!ok);
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
