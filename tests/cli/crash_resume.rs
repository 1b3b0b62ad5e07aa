//! Fault injection: a run killed anywhere (between the two renames of a checkpoint write,
//! while `pretrained/` is written, mid-step, at random times) and continued with `--resume`,
//! as often as it takes, ends byte for byte where an uninterrupted run ends.
//!
//! Kills at chosen points use the library's fail points (`GUMBEL_LAB_FAILPOINT`, see
//! `gumbel_gan::io::failpoint`: the process aborts there, as `kill -9` would); kills at
//! random times send SIGKILL from outside.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::support;
use crate::support::cli::{bin, send_signal};

/// A tiny grammar run: 16 MLE steps (2 epochs), 6 adversarial steps, a checkpoint every 5
/// steps, one thread.
const RUN: &[&str] = &[
    "--train-size",
    "256",
    "--test-size",
    "64",
    "--batch",
    "32",
    "--pretrain-epochs",
    "2",
    "--adv-steps",
    "6",
    "--gen-emb",
    "8",
    "--gen-hidden",
    "16",
    "--disc-emb",
    "8",
    "--disc-widths",
    "2,3",
    "--disc-filters",
    "8",
    "--log-every",
    "2",
    "--eval-every",
    "4",
    "--checkpoint-every",
    "5",
    "--eval-samples",
    "64",
    "--seed",
    "7",
];

fn train(out: &Path, failpoint: Option<&str>) -> Output {
    let mut c = bin();
    c.args(["train", "--threads", "1", "--out"])
        .arg(out)
        .args(RUN)
        .env_remove("GUMBEL_LAB_FAILPOINT");
    if let Some(f) = failpoint {
        c.env("GUMBEL_LAB_FAILPOINT", f);
    }
    c.output().unwrap()
}

fn resume(out: &Path) -> Output {
    bin()
        .args(["train", "--threads", "1", "--resume"])
        .arg(out)
        .env_remove("GUMBEL_LAB_FAILPOINT")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every file a finished run's results live in, by path relative to the run folder, with
/// its bytes (`state.json` without its wall-clock `seconds`).
fn results(run: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![];
    for f in [
        "config.json",
        "metrics.csv",
        "checkpoint/generator.safetensors",
        "checkpoint/discriminator.safetensors",
        "checkpoint/optimizer.safetensors",
        "checkpoint/state.json",
        "pretrained/generator.safetensors",
        "pretrained/state.json",
    ] {
        let p = run.join(f);
        let mut b = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        if f.ends_with("state.json") {
            let mut v: serde_json::Value = serde_json::from_slice(&b).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            b = serde_json::to_vec(&v).unwrap();
        }
        out.push((f.to_string(), b));
    }
    out
}

fn assert_same(reference: &[(String, Vec<u8>)], run: &Path, what: &str) {
    for ((name, want), (_, got)) in reference.iter().zip(results(run)) {
        assert!(
            *want == got,
            "{what}: {name} differs from the uninterrupted run"
        );
    }
    // Nothing left behind but the run's own files.
    let mut names: Vec<String> = fs::read_dir(run)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".lock",
            "checkpoint",
            "config.json",
            "metrics.csv",
            "pretrained",
            "report.html"
        ],
        "{what}"
    );
}

/// Resumes `out` until it finishes; at most 20 attempts. A run killed before it wrote its
/// config.json has nothing to resume: the message says to start it again, which is done.
fn resume_until_done(out: &Path, what: &str) {
    for _ in 0..20 {
        let mut o = resume(out);
        if !o.status.success() && text(&o).contains("start it again with `gumbel-lab train --out") {
            o = train(out, None);
        }
        if o.status.success() {
            return;
        }
        let t = text(&o);
        assert!(
            o.status.code().is_none() || t.contains("failpoint"),
            "{what}: resume failed with a message instead of finishing: {t}"
        );
    }
    panic!("{what}: did not finish in 20 resumes");
}

fn reference(root: &Path) -> Vec<(String, Vec<u8>)> {
    let out = root.join("reference");
    let o = train(&out, None);
    assert!(o.status.success(), "{}", text(&o));
    results(&out)
}

#[test]
fn kills_at_every_write_point_resume_to_the_same_bytes() {
    let root = support::scratch_dir("crash-points");
    let _ = fs::remove_dir_all(&root);
    let want = reference(&root);
    // Checkpoints are written at step 0, 5, 10, the end of MLE (16) and at adversarial 5
    // and 6 (and pretrained/ once): the 1st to 6th write of each point covers them all.
    let mut cases: Vec<String> = vec![];
    for n in [1, 2, 3, 4, 5, 6] {
        for p in [
            "checkpoint:files-written",
            "checkpoint:between-renames",
            "checkpoint:before-cleanup",
        ] {
            cases.push(format!("{p}:{n}"));
        }
    }
    // config.json at the start, report.html at the end.
    for n in [1, 2] {
        cases.push(format!("write_atomic:before-rename:{n}"));
    }
    cases.push("run:after-pretrained:1".into());
    for n in [1, 7, 16, 17, 22] {
        cases.push(format!("run:step:{n}"));
    }
    for (i, case) in cases.iter().enumerate() {
        let out = root.join(format!("case-{i}"));
        let o = train(&out, Some(case));
        assert!(
            !o.status.success(),
            "{case}: the fail point was not reached"
        );
        assert!(text(&o).contains("failpoint"), "{case}: {}", text(&o));
        resume_until_done(&out, case);
        assert_same(&want, &out, case);
        fs::remove_dir_all(&out).unwrap();
    }
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn sigkill_at_random_times_resumes_to_the_same_bytes() {
    let root = support::scratch_dir("crash-random");
    let _ = fs::remove_dir_all(&root);
    let want = reference(&root);
    // A fixed sequence of delays (a small LCG), so a failure can be replayed.
    let mut x: u64 = 12345;
    let mut delay = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        Duration::from_millis(50 + (x >> 33) % 700)
    };
    for round in 0..4 {
        let out: PathBuf = root.join(format!("round-{round}"));
        let mut started = false;
        for _ in 0..30 {
            let mut c = bin();
            c.args(["train", "--threads", "1"])
                .env_remove("GUMBEL_LAB_FAILPOINT");
            if started {
                c.arg("--resume").arg(&out);
            } else {
                c.arg("--out").arg(&out).args(RUN);
            }
            let mut child = c
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(delay());
            // it may have finished already: then there is nothing to kill
            send_signal(child.id(), "KILL");
            let status = child.wait().unwrap();
            started |= out.join("config.json").exists();
            if status.success() {
                break;
            }
        }
        // Finish whatever is left without kills.
        resume_until_done(&out, &format!("round {round}"));
        assert_same(&want, &out, &format!("random kills, round {round}"));
    }
    fs::remove_dir_all(&root).unwrap();
}
