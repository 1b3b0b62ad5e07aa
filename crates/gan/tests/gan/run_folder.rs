//! A run folder cannot be lost or mixed up: one process per run, no overwriting of files
//! that are not a run's, every artefact restored on resume, corrupt state refused before
//! anything is touched, checksums on every checkpoint file, and every numerical fault
//! ending with the same message and a finite checkpoint.

use std::fs;
use std::path::{Path, PathBuf};

use gumbel_gan::Error;
use gumbel_gan::io::safetensors::TensorFile;
use gumbel_gan::train::checkpoint::Checkpoint;
use gumbel_gan::train::config::TrainConfig;

use crate::common::tiny;
use gumbel_gan::train::run::{self, Outcome, RunOptions, Silent};
use gumbel_gan::train::run_dir::RunDir;
use gumbel_gan::train::{inspect, log};

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gumbel-runfolder-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn stop_after(n: usize) -> RunOptions {
    RunOptions {
        stop_after: Some(n),
        ..Default::default()
    }
}

fn finished(o: Outcome) {
    assert!(matches!(o, Outcome::Finished(_)), "{o:?}");
}

fn bytes(p: &Path) -> Vec<u8> {
    fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn same_results(a: &Path, b: &Path) {
    for f in [
        "metrics.csv",
        "config.json",
        "checkpoint/generator.safetensors",
        "checkpoint/discriminator.safetensors",
        "checkpoint/optimizer.safetensors",
        "pretrained/generator.safetensors",
    ] {
        assert!(bytes(&a.join(f)) == bytes(&b.join(f)), "{f} differs");
    }
}

#[test]
fn a_second_process_on_a_run_folder_is_refused() {
    let dir = tmp("lock");
    run::train(tiny(), &dir, &stop_after(3), &mut Silent).unwrap();
    let metrics = bytes(&dir.join("metrics.csv"));
    // Another process holding the run (the lock is an OS lock: another open file
    // description conflicts even inside one process).
    let holder = RunDir::open(&dir).unwrap();
    let e = run::resume(&dir, &RunOptions::default(), &mut Silent).unwrap_err();
    assert!(e.to_string().contains("another process"), "{e}");
    let e = run::train(tiny(), &dir, &RunOptions::default(), &mut Silent).unwrap_err();
    assert!(e.to_string().contains("another process"), "{e}");
    assert_eq!(bytes(&dir.join("metrics.csv")), metrics, "nothing written");
    drop(holder);
    finished(run::resume(&dir, &RunOptions::default(), &mut Silent).unwrap());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_folder_of_user_files_is_refused_and_a_failed_start_leaves_nothing() {
    let dir = tmp("theirs");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("report.html"), "my report").unwrap();
    fs::write(dir.join("metrics.csv"), "my numbers").unwrap();
    let e = run::train(tiny(), &dir, &RunOptions::default(), &mut Silent).unwrap_err();
    assert!(e.to_string().contains("not empty"), "{e}");
    assert_eq!(bytes(&dir.join("report.html")), b"my report");
    assert_eq!(bytes(&dir.join("metrics.csv")), b"my numbers");
    fs::remove_dir_all(&dir).unwrap();

    // A start that fails (an unreadable --pretrained) removes the folder it made.
    let mut c = tiny();
    c.pretrain_epochs = 0;
    c.pretrained = Some(dir.join("no-such-run"));
    let e = run::train(c, &dir, &RunOptions::default(), &mut Silent).unwrap_err();
    assert!(e.to_string().contains("no-such-run"), "{e}");
    assert!(!dir.exists(), "a failed run left {} behind", dir.display());
}

#[test]
fn a_run_without_checkpoint_restarts_on_resume_and_can_be_reused() {
    let want = tmp("stale-ref");
    finished(run::train(tiny(), &want, &RunOptions::default(), &mut Silent).unwrap());
    // A run killed before its first checkpoint: config.json and the metrics header only.
    let dir = tmp("stale");
    run::train(tiny(), &dir, &stop_after(2), &mut Silent).unwrap();
    fs::remove_dir_all(dir.join("checkpoint")).unwrap();
    finished(run::resume(&dir, &RunOptions::default(), &mut Silent).unwrap());
    same_results(&want, &dir);
    // The same folder state, and a new run instead of a resume.
    let dir2 = tmp("stale-new");
    run::train(tiny(), &dir2, &stop_after(2), &mut Silent).unwrap();
    fs::remove_dir_all(dir2.join("checkpoint")).unwrap();
    finished(run::train(tiny(), &dir2, &RunOptions::default(), &mut Silent).unwrap());
    same_results(&want, &dir2);
    // With a checkpoint, a new run is refused and points at --resume.
    let e = run::train(tiny(), &dir2, &RunOptions::default(), &mut Silent).unwrap_err();
    assert!(e.to_string().contains("--resume"), "{e}");
    for d in [want, dir, dir2] {
        fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn resume_restores_pretrained_lost_between_the_end_of_mle_and_its_write() {
    let want = tmp("pre-ref");
    finished(run::train(tiny(), &want, &RunOptions::default(), &mut Silent).unwrap());
    // Stopped right after the 16 MLE steps: the end-of-MLE checkpoint; then pretrained/
    // lost (as a kill between the two writes of an older version left it).
    let dir = tmp("pre");
    run::train(tiny(), &dir, &stop_after(16), &mut Silent).unwrap();
    fs::remove_dir_all(dir.join("pretrained")).unwrap();
    finished(run::resume(&dir, &RunOptions::default(), &mut Silent).unwrap());
    same_results(&want, &dir);
    let text = inspect::evaluate(&dir, None, Some(64), 0, 1.0)
        .unwrap()
        .table();
    assert!(text.contains("after MLE"), "{text}");
    fs::remove_dir_all(&want).unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_corrupt_step_counter_is_refused_and_metrics_are_kept() {
    let dir = tmp("counter");
    run::train(tiny(), &dir, &stop_after(19), &mut Silent).unwrap();
    let metrics = bytes(&dir.join("metrics.csv"));
    let state_path = dir.join("checkpoint/state.json");
    let good = fs::read_to_string(&state_path).unwrap();
    // Hand edits: the checksum catches them first...
    let edited = good.replace("\"adv_step\": 3", "\"adv_step\": 18446744073709551615");
    assert_ne!(edited, good);
    fs::write(&state_path, &edited).unwrap();
    let e = run::resume(&dir, &RunOptions::default(), &mut Silent).unwrap_err();
    assert!(e.to_string().contains("checksum mismatch"), "{e}");
    // ... and without a checksum list, the counters are checked against the config.
    fs::remove_file(dir.join("checkpoint/SHA256SUMS")).unwrap();
    for bad in [
        edited,
        good.replace("\"adv_step\": 3", "\"adv_step\": 7"),
        good.replace("\"mle_step\": 16", "\"mle_step\": 15"),
        good.replace("\"stage\": \"adv\"", "\"stage\": \"done\""),
    ] {
        fs::write(&state_path, &bad).unwrap();
        let e = run::resume(&dir, &RunOptions::default(), &mut Silent).unwrap_err();
        assert!(e.to_string().contains("does not fit"), "{e}");
        assert_eq!(
            bytes(&dir.join("metrics.csv")),
            metrics,
            "metrics.csv touched"
        );
    }
    fs::write(&state_path, &good).unwrap();
    finished(run::resume(&dir, &RunOptions::default(), &mut Silent).unwrap());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stale_temporaries_of_dead_processes_are_removed_on_resume() {
    let dir = tmp("temps");
    run::train(tiny(), &dir, &stop_after(7), &mut Silent).unwrap();
    fs::create_dir_all(dir.join(".checkpoint.tmp-4194304")).unwrap();
    fs::write(
        dir.join(".checkpoint.tmp-4194304/generator.safetensors"),
        vec![0u8; 1 << 20],
    )
    .unwrap();
    fs::write(dir.join(".report.html.tmp-4194305"), "partial").unwrap();
    fs::write(dir.join("notes.tmp-1"), "a user's file").unwrap();
    finished(run::resume(&dir, &RunOptions::default(), &mut Silent).unwrap());
    assert!(!dir.join(".checkpoint.tmp-4194304").exists());
    assert!(!dir.join(".report.html.tmp-4194305").exists());
    assert!(dir.join("notes.tmp-1").exists(), "not ours: kept");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_flipped_byte_in_a_checkpoint_is_named_on_load() {
    let dir = tmp("flip");
    run::train(tiny(), &dir, &stop_after(7), &mut Silent).unwrap();
    let p = dir.join("checkpoint/discriminator.safetensors");
    let mut b = bytes(&p);
    let n = b.len();
    b[n - 2] ^= 0x10; // a high mantissa bit of the last float: still finite
    fs::write(&p, &b).unwrap();
    for e in [
        run::resume(&dir, &RunOptions::default(), &mut Silent).unwrap_err(),
        inspect::load(&dir).err().unwrap(),
    ] {
        let msg = e.to_string();
        assert!(
            msg.contains("discriminator.safetensors") && msg.contains("checksum mismatch"),
            "{msg}"
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn learning_rates_and_metrics_resume_to_the_same_bits() {
    // 0.00019199124459577086 needs serde_json's float_roundtrip to come back exactly.
    let mut c = tiny();
    c.gen_lr = 0.000_191_991_244_595_770_86;
    c.mle_lr = 0.000_191_991_244_595_770_86;
    let back = TrainConfig::from_json(&c.to_json(), Path::new("config.json")).unwrap();
    assert_eq!(back.gen_lr.to_bits(), c.gen_lr.to_bits());
    let (a, b) = (tmp("bits-a"), tmp("bits-b"));
    finished(run::train(c.clone(), &a, &RunOptions::default(), &mut Silent).unwrap());
    run::train(c, &b, &stop_after(18), &mut Silent).unwrap();
    let config = bytes(&b.join("config.json"));
    finished(run::resume(&b, &RunOptions::default(), &mut Silent).unwrap());
    assert_eq!(
        bytes(&b.join("config.json")),
        config,
        "config.json rewritten"
    );
    same_results(&a, &b);
    let entropy = |d: &Path| {
        let s = Checkpoint::read(&d.join("checkpoint"))
            .unwrap()
            .state()
            .unwrap();
        s.after_mle.unwrap().entropy.map(f64::to_bits)
    };
    assert_eq!(entropy(&a), entropy(&b));
    fs::remove_dir_all(&a).unwrap();
    fs::remove_dir_all(&b).unwrap();
}

/// Every route to a NaN or an overflow ends with [`Error::NonFinite`] naming the phase, the
/// step and a checkpoint whose tensors are all finite, and whose state resumes.
#[test]
fn every_numerical_fault_names_the_step_and_leaves_a_finite_checkpoint() {
    type Case = (&'static str, fn(&mut TrainConfig));
    let cases: [Case; 4] = [
        ("--gen-lr 1e300", |c| c.gen_lr = 1e300),
        ("--disc-lr 1e30", |c| c.disc_lr = 1e30),
        ("--mle-lr 1e300", |c| c.mle_lr = 1e300),
        ("--learn-temperature --gen-lr 1e10", |c| {
            c.temperature.learnable = true;
            c.gen_lr = 1e10;
        }),
    ];
    for (name, set) in cases {
        let dir = tmp("nan");
        let mut c = tiny();
        set(&mut c);
        let e = run::train(c, &dir, &RunOptions::default(), &mut Silent).unwrap_err();
        let msg = e.to_string();
        let Error::NonFinite {
            checkpoint: Some((ck, mle, adv)),
            ..
        } = &e
        else {
            panic!("{name}: {msg}");
        };
        assert!(
            msg.contains("step") && msg.contains("--pretrained"),
            "{name}: {msg}"
        );
        for f in ["generator", "discriminator", "optimizer"] {
            let mut t = TensorFile::load(&ck.join(format!("{f}.safetensors"))).unwrap();
            for n in t.remaining() {
                let shape = t.shape_of(&n).unwrap().to_vec();
                t.take::<f32>(&n, &shape)
                    .unwrap_or_else(|e| panic!("{name}: {f}: {e}"));
            }
        }
        let state = Checkpoint::read(ck).unwrap().state().unwrap();
        assert_eq!((state.mle_step, state.adv_step), (*mle, *adv), "{name}");
        // Every logged row is finite, and the run resumes into the same fault.
        for r in log::read_rows(&dir.join("metrics.csv")).unwrap() {
            assert!(
                r.metrics
                    .values()
                    .into_iter()
                    .flatten()
                    .all(|v| v.is_finite()),
                "{name}: {r:?}"
            );
        }
        let again = run::resume(&dir, &RunOptions::default(), &mut Silent).unwrap_err();
        assert!(matches!(again, Error::NonFinite { .. }), "{name}: {again}");
        fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn a_text_test_set_one_sentence_past_the_bleu_references_finishes() {
    // The real-data row takes the test sentences after the --bleu-refs references; with one
    // left, self-BLEU has nothing to compare it with: the run must still finish (it used to
    // fail after all the training).
    let dir = tmp("text-refs");
    let mut c = crate::common::tiny_text(&dir, 64, 5);
    c.bleu_refs = 4;
    let out = dir.join("run");
    finished(run::train(c, &out, &RunOptions::default(), &mut Silent).unwrap());
    fs::remove_dir_all(&dir).unwrap();
}
