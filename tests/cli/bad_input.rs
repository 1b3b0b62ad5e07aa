//! The `gumbel-lab` binary on bad input (issue 10): absurd thread counts and sample counts,
//! flags that do not apply to the data set, a FIFO as the corpus, sentences over
//! `--max-len`, progress lines without `NaN`, and SIGTERM handled like Ctrl-C. Every case
//! ends in a clear message, never a panic, an abort or a hang.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::cli::{PATIENCE, fresh_dir, run_and_signal, run_with_limit, stderr};

/// A tiny grammar run (4 MLE steps, 2 adversarial) in `out`; returns its stderr.
fn tiny_run(out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "train",
        "--threads",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--train-size",
        "128",
        "--test-size",
        "32",
        "--batch",
        "32",
        "--pretrain-epochs",
        "1",
        "--adv-steps",
        "2",
        "--eval-samples",
        "16",
        "--gen-emb",
        "4",
        "--gen-hidden",
        "4",
        "--disc-emb",
        "4",
        "--disc-filters",
        "2",
    ];
    args.extend_from_slice(extra);
    let o = run_with_limit(&args, PATIENCE);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    err
}

#[test]
fn thread_counts_have_an_upper_bound_for_every_command() {
    let d = fresh_dir("bad-threads");
    let out = d.join("run");
    let out_s = out.to_str().unwrap();
    // 1000 threads on this machine's cores (a 10,000-thread run reached a load of 1000).
    for args in [
        vec!["train", "--threads", "1000", "--out", out_s],
        vec!["sample", "--checkpoint", out_s, "--threads", "1000"],
        vec!["eval", "--checkpoint", out_s, "--threads", "1000"],
    ] {
        let o = run_with_limit(&args, Duration::from_secs(60));
        let err = stderr(&o);
        assert!(!o.status.success(), "{args:?}: {err}");
        assert!(
            err.contains("--threads 1000") && err.contains("must be between 1 and"),
            "{args:?}: {err}"
        );
        assert!(!out.join("config.json").exists(), "nothing was started");
    }
}

#[test]
fn flags_that_do_not_apply_to_text_data_are_errors() {
    let d = fresh_dir("bad-text-flags");
    let f = d.join("corpus.txt");
    fs::write(&f, "a b c\n").unwrap();
    for flag in ["--train-size", "--test-size"] {
        let o = run_with_limit(
            &["train", "--data", f.to_str().unwrap(), flag, "500"],
            Duration::from_secs(30),
        );
        let err = stderr(&o);
        assert!(!o.status.success(), "{err}");
        assert!(
            err.contains(flag) && err.contains("grammar and the oracle"),
            "{err}"
        );
    }
    let o = run_with_limit(&["train", "--max-len", "10"], Duration::from_secs(30));
    let err = stderr(&o);
    assert!(!o.status.success() && err.contains("--max-len"), "{err}");
}

#[test]
fn a_fifo_as_corpus_is_refused_instead_of_hanging() {
    let d = fresh_dir("bad-fifo");
    let fifo = d.join("corpus.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    // Nobody writes to it: reading it would block for ever.
    let o = run_with_limit(
        &[
            "train",
            "--threads",
            "1",
            "--data",
            fifo.to_str().unwrap(),
            "--out",
            d.join("run").to_str().unwrap(),
        ],
        Duration::from_secs(30),
    );
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("corpus.fifo") && err.contains("not a regular file"),
        "{err}"
    );
}

#[test]
fn sentences_over_max_len_are_skipped_with_a_warning() {
    let d = fresh_dir("bad-max-len");
    let f = d.join("corpus.txt");
    let mut text = String::new();
    for i in 0..40 {
        text.push_str(&format!("a cat number {i} sat on the mat .\n"));
    }
    // One line of 5,000 tokens: without a limit every sequence is padded to it.
    text.push_str(&"w ".repeat(5000));
    text.push('\n');
    fs::write(&f, text).unwrap();
    let out = d.join("run");
    let o = run_with_limit(
        &[
            "train",
            "--threads",
            "1",
            "--data",
            f.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--batch",
            "8",
            "--pretrain-epochs",
            "0",
            "--adv-steps",
            "0",
            "--eval-samples",
            "4",
            "--gen-emb",
            "4",
            "--gen-hidden",
            "4",
        ],
        PATIENCE,
    );
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("skipped 1 sentence") && err.contains("--max-len 64"),
        "{err}"
    );
    let state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("checkpoint/state.json")).unwrap())
            .unwrap();
    assert_eq!(state["seq_len"], 10, "9 tokens + <eos>");
    let cfg: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["max_len"], 64);
}

#[test]
fn sample_and_eval_counts_are_checked_before_any_work() {
    let d = fresh_dir("bad-counts");
    let out = d.join("run");
    tiny_run(&out, &[]);
    let out_s = out.to_str().unwrap();
    // u64::MAX samples: "capacity overflow" before; now an error naming the flag.
    let max = u64::MAX.to_string();
    for args in [
        vec!["sample", "--checkpoint", out_s, "-n", &max],
        vec!["sample", "--checkpoint", out_s, "-n", "1000000000000"],
        vec!["eval", "--checkpoint", out_s, "--samples", &max],
    ] {
        let o = run_with_limit(&args, Duration::from_secs(60));
        let err = stderr(&o);
        assert!(!o.status.success(), "{args:?}: {err}");
        let flag = if args[0] == "sample" {
            "-n"
        } else {
            "--samples"
        };
        assert!(
            err.contains(&format!("configuration: {flag}: ")),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let o = run_with_limit(
        &["eval", "--checkpoint", out_s, "--samples", "0"],
        Duration::from_secs(60),
    );
    assert!(stderr(&o).contains("--samples 0: must be at least 1"));
    let o = run_with_limit(
        &["sample", "--checkpoint", out_s, "-n", "3"],
        Duration::from_secs(60),
    );
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 3);
}

#[test]
fn text_eval_with_one_sample_is_refused_up_front() {
    let d = fresh_dir("bad-eval-one");
    let f = d.join("corpus.txt");
    let text: String = (0..16)
        .map(|i| format!("the dog {i} runs in the park .\n"))
        .collect();
    fs::write(&f, text).unwrap();
    let out = d.join("run");
    let f_s = f.to_str().unwrap();
    let out_s = out.to_str().unwrap();
    let common = [
        "train",
        "--threads",
        "1",
        "--data",
        f_s,
        "--out",
        out_s,
        "--batch",
        "4",
        "--pretrain-epochs",
        "0",
        "--adv-steps",
        "0",
        "--gen-emb",
        "4",
        "--gen-hidden",
        "4",
        "--eval-samples",
    ];
    // train --eval-samples 1: refused before the MLE phase, nothing written.
    let mut args = common.to_vec();
    args.push("1");
    let o = run_with_limit(&args, Duration::from_secs(60));
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("--eval-samples") && err.contains("at least 2"),
        "{err}"
    );
    assert!(!out.join("config.json").exists());
    // eval --samples 1 on a text run.
    let mut args = common.to_vec();
    args.push("4");
    let o = run_with_limit(&args, Duration::from_secs(60));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run_with_limit(
        &["eval", "--checkpoint", out_s, "--samples", "1"],
        Duration::from_secs(60),
    );
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("--samples 1") && err.contains("self-BLEU"),
        "{err}"
    );
}

#[test]
fn evaluation_only_progress_rows_show_no_nan() {
    // Evaluations every 2 steps, losses logged every 100: most evaluation rows carry no
    // loss, and the progress lines printed "loss NaN" / "G NaN D NaN temp NaN" for them.
    let d = fresh_dir("bad-progress");
    let err = tiny_run(&d.join("run"), &["--eval-every", "2", "--log-every", "100"]);
    assert!(
        err.contains("[MLE 4/4]") && err.contains("[GAN 2/2]"),
        "{err}"
    );
    assert!(!err.contains("NaN"), "{err}");
}

#[test]
fn sigterm_stops_training_like_ctrl_c() {
    let d = fresh_dir("bad-sigterm");
    let out = d.join("run");
    let args = [
        "train",
        "--threads",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--train-size",
        "512",
        "--test-size",
        "64",
        "--pretrain-epochs",
        "200",
        "--eval-every",
        "20",
        "--eval-samples",
        "32",
    ];
    let (status, text) = run_and_signal(&args, "[MLE 20/", "TERM");
    assert!(!status.success(), "{text}");
    assert!(
        text.contains("SIGTERM") && text.contains("checkpoint written"),
        "{text}"
    );
    assert!(out.join("checkpoint/state.json").is_file());
}
