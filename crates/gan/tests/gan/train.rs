//! Training runs end to end, small: resume gives the metrics of an uninterrupted run, 1
//! thread gives the results of 2 and 7, a non-finite loss stops cleanly, bad checkpoints give
//! errors naming the file and tensor, and PyTorch loads the generator.

use crate::common;

use approx::{abs_diff_eq, assert_relative_eq};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use gumbel_gan::Error;
use gumbel_gan::model::{Feedback, LossKind};
use gumbel_gan::train::config::DataSource;
use gumbel_gan::train::data::TrainData;
use gumbel_gan::train::run::{self, Outcome, RunOptions, Silent};
use gumbel_gan::train::{inspect, log};

use crate::common::tiny;

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gumbel-train-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn finish(o: Outcome) -> Box<run::Summary> {
    match o {
        Outcome::Finished(s) => s,
        Outcome::Interrupted { global_step, .. } => panic!("interrupted at {global_step}"),
    }
}

fn bytes(p: &Path) -> Vec<u8> {
    fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// metrics.csv and the checkpoint's tensors (state.json also holds wall-clock seconds).
fn assert_same_run(a: &Path, b: &Path) {
    assert_eq!(
        String::from_utf8(bytes(&a.join("metrics.csv"))).unwrap(),
        String::from_utf8(bytes(&b.join("metrics.csv"))).unwrap(),
        "metrics.csv differs"
    );
    for f in [
        "generator.safetensors",
        "discriminator.safetensors",
        "optimizer.safetensors",
        "rollout.safetensors",
    ] {
        let (fa, fb) = (a.join("checkpoint").join(f), b.join("checkpoint").join(f));
        assert_eq!(fa.exists(), fb.exists(), "{f} in one run only");
        if fa.exists() {
            assert!(bytes(&fa) == bytes(&fb), "{f} differs");
        }
    }
}

/// Trains `cfg` in `dir`, stopped after global step 19 (in the adversarial phase of
/// [`tiny`]'s 16 MLE steps), resumes it to the end, and checks it matches the uninterrupted
/// run in `reference`.
fn stop_resume_and_compare(
    cfg: gumbel_gan::train::config::TrainConfig,
    dir: &Path,
    reference: &Path,
) {
    let stop = RunOptions {
        stop_after: Some(19),
        ..Default::default()
    };
    run::train(cfg, dir, &stop, &mut Silent).unwrap();
    finish(run::resume(dir, &RunOptions::default(), &mut Silent).unwrap());
    assert_same_run(reference, dir);
}

#[test]
fn resumed_runs_match_an_uninterrupted_run() {
    let (a, b) = (tmp("resume-a"), tmp("resume-b"));
    let cfg = tiny();
    finish(run::train(cfg.clone(), &a, &RunOptions::default(), &mut Silent).unwrap());
    // Stop in the middle of MLE (step 7 of 16), then in the adversarial phase (3 of 6).
    let stop = |n| RunOptions {
        stop_after: Some(n),
        ..Default::default()
    };
    let o = run::train(cfg, &b, &stop(7), &mut Silent).unwrap();
    assert!(matches!(o, Outcome::Interrupted { global_step: 7, .. }));
    let o = run::resume(&b, &stop(19), &mut Silent).unwrap();
    assert!(matches!(
        o,
        Outcome::Interrupted {
            global_step: 19,
            ..
        }
    ));
    finish(run::resume(&b, &RunOptions::default(), &mut Silent).unwrap());
    assert_same_run(&a, &b);
    let rows = log::read_rows(&a.join("metrics.csv")).unwrap();
    assert_eq!(rows.last().unwrap().global_step, 22);
    // Resuming a finished run does nothing more and changes nothing.
    finish(run::resume(&b, &RunOptions::default(), &mut Silent).unwrap());
    assert_same_run(&a, &b);
    // Starting a run in a folder that holds one is refused.
    let e = run::train(tiny(), &a, &RunOptions::default(), &mut Silent).unwrap_err();
    assert!(e.to_string().contains("--resume"), "{e}");
    fs::remove_dir_all(&a).unwrap();
    fs::remove_dir_all(&b).unwrap();
}

/// Each one-hot estimator trains a run, writes its name into config.json, and a run
/// stopped in the adversarial phase resumes to the same bytes.
#[test]
fn every_estimator_trains_and_resumes_exactly() {
    for name in [
        "st",
        "reinmax",
        "gapped-st:p",
        "gumbel-rao:3",
        "reinforce:3",
    ] {
        let tag = name.replace(':', "-");
        let (a, b) = (tmp(&format!("est-{tag}-a")), tmp(&format!("est-{tag}-b")));
        let mut cfg = tiny();
        cfg.estimator = name.parse().unwrap();
        if name.starts_with("reinforce") {
            cfg.loss = LossKind::Nsgan;
        }
        finish(run::train(cfg.clone(), &a, &RunOptions::default(), &mut Silent).unwrap());
        let json = String::from_utf8(bytes(&a.join("config.json"))).unwrap();
        assert!(
            json.contains(&format!(r#""estimator": "{name}""#)),
            "{json}"
        );
        let policy = a.join("checkpoint").join("rollout.safetensors");
        assert_eq!(policy.exists(), name.starts_with("reinforce"), "{name}");
        stop_resume_and_compare(cfg, &b, &a);
        if policy.exists() {
            // a REINFORCE checkpoint without its rollout policy (and without the checksum
            // line that would name it first) is refused, naming the file
            let sums = a.join("checkpoint").join("SHA256SUMS");
            let kept: String = String::from_utf8(bytes(&sums))
                .unwrap()
                .lines()
                .filter(|l| !l.ends_with("rollout.safetensors"))
                .map(|l| format!("{l}\n"))
                .collect();
            fs::write(&sums, kept).unwrap();
            fs::remove_file(&policy).unwrap();
            let e = run::resume(&a, &RunOptions::default(), &mut Silent)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("rollout.safetensors") && e.contains("missing"),
                "{e}"
            );
        }
        fs::remove_dir_all(&a).unwrap();
        fs::remove_dir_all(&b).unwrap();
    }
}

/// The frontier of two runs that share their MLE model (same seed and data): one MLE curve
/// and one curve per run, each point at every temperature; the MLE model's entropy falls
/// with the temperature (sampling below 1 sharpens it), and so does its uniqueness between
/// the ends of the sweep. A run of another seed is measured on the first run's test set; a
/// run on another distribution (a random oracle) is refused, naming it.
#[test]
fn the_frontier_sweeps_every_run_and_its_mle_model_once() {
    use gumbel_gan::train::frontier::{self, Verdict};
    let (a, b, c) = (tmp("front-a"), tmp("front-b"), tmp("front-c"));
    finish(run::train(tiny(), &a, &RunOptions::default(), &mut Silent).unwrap());
    let mut cfg = tiny();
    cfg.estimator = "reinmax".parse().unwrap();
    finish(run::train(cfg, &b, &RunOptions::default(), &mut Silent).unwrap());
    let temps = [0.5f32, 1.0, 2.0];
    let mut calls = 0;
    let sweep = |samples| frontier::Sweep {
        temperatures: &temps,
        sweep_runs: true,
        samples: Some(samples),
        seed: 3,
    };
    let f = frontier::frontier(&[a.clone(), b.clone()], &sweep(200), &mut |_, total, _| {
        calls += 1;
        assert_eq!(total, 3 * temps.len());
    })
    .unwrap();
    assert_eq!(calls, 3 * temps.len() + 1);
    let labels: Vec<(&str, bool)> = f.curves.iter().map(|c| (c.label.as_str(), c.mle)).collect();
    let (la, lb) = (a.display().to_string(), b.display().to_string());
    assert_eq!(
        labels,
        [
            (format!("MLE ({la})").as_str(), true),
            (la.as_str(), false),
            (lb.as_str(), false)
        ]
    );
    let mle = &f.curves[0];
    assert!(mle.checkpoint.ends_with("pretrained"));
    let entropy: Vec<f64> = mle.points.iter().map(|(_, e)| e.entropy.unwrap()).collect();
    assert!(
        entropy[0] < entropy[1] && entropy[1] < entropy[2],
        "{entropy:?}"
    );
    let unique = |i: usize| mle.points[i].1.uniqueness.unwrap();
    assert!(unique(0) < unique(2), "{} vs {}", unique(0), unique(2));
    // every GAN point gets a verdict or is outside the MLE curve's range; the MLE points
    // themselves lie on it (never strictly beyond)
    for (_, e) in &mle.points {
        assert!(!matches!(
            f.verdict(e.uniqueness, e.validity),
            Verdict::Beyond(_)
        ));
    }
    let text = frontier::csv(&f);
    assert_eq!(text.lines().count(), 1 + 3 * temps.len());
    // another seed draws other grammar sequences from the same grammar: measured on a's
    // test set; a random oracle is another distribution: refused
    let mut reseeded = tiny();
    reseeded.seed = 9;
    let d = tmp("front-d");
    finish(run::train(reseeded, &d, &RunOptions::default(), &mut Silent).unwrap());
    frontier::frontier(&[a.clone(), d.clone()], &sweep(50), &mut |_, _, _| {}).unwrap();
    let mut other = tiny();
    other.data = DataSource::Oracle { file: None };
    (other.train_size, other.test_size, other.eval_samples) = (64, 64, 16);
    finish(run::train(other, &c, &RunOptions::default(), &mut Silent).unwrap());
    let e = frontier::frontier(&[a.clone(), c.clone()], &sweep(50), &mut |_, _, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&c.display().to_string()) && e.contains("other data"),
        "{e}"
    );
    for d in [a, b, c, d] {
        fs::remove_dir_all(d).unwrap();
    }
}

/// `frontier` and `eval` draw with the same key for the same seed: on a finished run, the
/// frontier's points of the run and of its MLE model at every temperature are the
/// evaluations `eval --temperature T` makes (all but NLL_gen on the training data, which only
/// `eval` measures). On the grammar, and on a text corpus (BLEU, self-BLEU and NLL_gen on
/// the test file).
#[test]
fn the_frontier_reproduces_eval_at_every_temperature() {
    use gumbel_gan::train::frontier;
    use gumbel_gan::train::report::Evaluation;
    let dir = tmp("front-eval");
    let mut text = common::tiny_text(&dir, 64, 16);
    (text.pretrain_epochs, text.adv_steps, text.eval_samples) = (2, 3, 16);
    text.bleu_refs = 0;

    let temps = [0.5f32, 0.8, 1.0, 1.5];
    let only_both_measure = |mut e: Evaluation| {
        (e.nll_gen_train, e.nll_gen_train_per_position) = (None, None);
        e
    };
    for (name, cfg) in [("grammar", tiny()), ("text", text)] {
        let run = dir.join(name);
        finish(run::train(cfg, &run, &RunOptions::default(), &mut Silent).unwrap());
        let sweep = frontier::Sweep {
            temperatures: &temps,
            sweep_runs: true,
            samples: Some(16),
            seed: 7,
        };
        let f = frontier::frontier(std::slice::from_ref(&run), &sweep, &mut |_, _, _| {}).unwrap();
        let (mle, gan) = (&f.curves[0], &f.curves[1]);
        assert!(mle.mle && !gan.mle);
        for (i, &t) in temps.iter().enumerate() {
            let e = inspect::evaluate(&run, None, Some(16), 7, t).unwrap();
            assert_eq!(e.temperature, t);
            assert_eq!(
                gan.points[i],
                (t, only_both_measure(e.model.clone())),
                "{name} at {t}"
            );
            let (mle_dir, mle_eval) = e.mle.expect("the run folder has pretrained/");
            assert_eq!(mle_dir, mle.checkpoint);
            assert_eq!(
                mle.points[i],
                (t, only_both_measure(mle_eval)),
                "{name} at {t}"
            );
            if name == "text" {
                assert!(e.model.bleu.is_some() && e.model.nll_gen_train.is_some());
            }
        }
        // other temperatures draw other samples: the comparison above could fail
        assert_ne!(gan.points[0].1, gan.points[2].1);
    }
    fs::remove_dir_all(&dir).unwrap();
}

/// `--select-by nll-gen` with a validation set: the validation sequences leave the
/// training and test sets as they were; `best/` holds a generator whose validation NLL is
/// the recorded value and no worse than the MLE model's or the final model's (both were
/// candidates); a run stopped in the adversarial phase and resumed keeps the same `best/`.
#[test]
fn select_by_keeps_the_best_generator_and_resumes_to_the_same_one() {
    use gumbel_gan::train::select::SelectBy;
    let (a, b) = (tmp("select-a"), tmp("select-b"));
    let mut cfg = tiny();
    cfg.valid_size = 64;
    cfg.select_by = Some(SelectBy::NllGen);
    cfg.eval_every = 2;
    let plain = TrainData::load(&tiny()).unwrap();
    let data = TrainData::load(&cfg).unwrap();
    assert_eq!((&data.train, &data.test), (&plain.train, &plain.test));
    assert_eq!(data.valid.len(), 64 * data.dataset.seq_len);
    assert_ne!(&data.valid[..], &data.test[..data.valid.len()]);
    let summary = finish(run::train(cfg.clone(), &a, &RunOptions::default(), &mut Silent).unwrap());
    let best = summary.best.clone().expect("a best model");
    assert_eq!(best.metric, SelectBy::NllGen);
    assert!(
        summary
            .text()
            .contains("best by NLL_gen of the validation set")
    );
    // the end of the run: the MLE and final models on the frontier, in the summary and report
    let text = summary.text();
    assert!(
        text.contains("against the MLE model's temperature curve"),
        "{text}"
    );
    assert!(
        text.contains("GAN (st-gumbel)") && text.contains("(the reference)"),
        "{text}"
    );
    let html = String::from_utf8(bytes(&a.join("report.html"))).unwrap();
    assert!(html.contains("Against the MLE model's temperature curve"));
    assert!(html.contains("quality-diversity frontier"));
    let nll = |dir: &Path| {
        inspect::load(dir)
            .unwrap()
            .generator
            .nll(&data.valid)
            .unwrap()
    };
    assert_eq!(nll(&a.join("best")), best.value);
    assert!(
        best.value <= nll(&a.join("pretrained")),
        "the MLE model was a candidate"
    );
    assert!(
        best.value <= nll(&a.join("checkpoint")),
        "the final model was a candidate"
    );
    stop_resume_and_compare(cfg, &b, &a);
    assert!(
        bytes(&a.join("best/generator.safetensors"))
            == bytes(&b.join("best/generator.safetensors"))
    );
    fs::remove_dir_all(&a).unwrap();
    fs::remove_dir_all(&b).unwrap();
}

/// A text corpus's validation set is the last sentences of the training file, which are
/// then not trained on; asking for all of them is an error naming the flag.
#[test]
fn a_text_validation_set_is_the_end_of_the_training_file() {
    let dir = common::scratch_path("valid-text");
    fs::create_dir_all(&dir).unwrap();
    let train = dir.join("train.txt");
    let lines: Vec<String> = (0..40)
        .map(|i| format!("a cat number {} sat", i % 7))
        .collect();
    fs::write(&train, lines.join("\n")).unwrap();
    let mut cfg = gumbel_gan::train::config::TrainConfig::defaults_for(DataSource::Text {
        train: train.clone(),
        test: None,
    });
    cfg.batch = 8;
    let all = TrainData::load(&cfg).unwrap();
    cfg.valid_size = 5;
    let split = TrainData::load(&cfg).unwrap();
    let l = split.dataset.seq_len;
    assert_eq!(split.train_len(), all.train_len() - 5);
    assert_eq!(&split.valid[..], &all.train[(all.train_len() - 5) * l..]);
    assert_eq!(&split.train[..], &all.train[..split.train.len()]);
    cfg.valid_size = 40;
    let e = TrainData::load(&cfg).err().unwrap().to_string();
    assert!(
        e.contains("--valid-size 40") && e.contains("40 sentences"),
        "{e}"
    );
    // an MLE model pretrained on the whole file has seen the validation sentences
    cfg.valid_size = 0;
    (cfg.pretrain_epochs, cfg.adv_steps, cfg.eval_samples) = (1, 0, 8);
    (cfg.model.gen_emb, cfg.model.gen_hidden, cfg.model.disc_emb) = (4, 4, 4);
    (cfg.model.disc_widths, cfg.model.disc_filters) = (vec![2], 2);
    finish(
        run::train(
            cfg.clone(),
            &dir.join("mle"),
            &RunOptions::default(),
            &mut Silent,
        )
        .unwrap(),
    );
    (cfg.valid_size, cfg.pretrain_epochs) = (5, 0);
    cfg.pretrained = Some(dir.join("mle/pretrained"));
    let e = run::train(cfg, &dir.join("gan"), &RunOptions::default(), &mut Silent)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--pretrained") && e.contains("holds out for validation"),
        "{e}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// NLL_gen on the training sentences, as `gumbel-lab eval` reports it: per target token
/// (words and end tokens, pads left out) and per position of the sentences padded to the
/// longest one (RelGAN's and Texygen's convention).
#[test]
fn nll_gen_on_training_text_is_per_token_and_per_padded_position() {
    let dir = common::scratch_path("nll-train");
    fs::create_dir_all(&dir).unwrap();
    let train = dir.join("train.txt");
    let sentences = ["a cat sat", "a dog sat on the mat", "the cat", "a mat"];
    let lines: Vec<&str> = (0..24).map(|i| sentences[i % 4]).collect();
    fs::write(&train, lines.join("\n")).unwrap();
    let mut cfg = gumbel_gan::train::config::TrainConfig::defaults_for(DataSource::Text {
        train: train.clone(),
        test: None,
    });
    (
        cfg.batch,
        cfg.pretrain_epochs,
        cfg.adv_steps,
        cfg.eval_samples,
    ) = (8, 1, 0, 8);
    (cfg.model.gen_emb, cfg.model.gen_hidden, cfg.model.disc_emb) = (4, 4, 4);
    (cfg.model.disc_widths, cfg.model.disc_filters) = (vec![2], 2);
    let run_dir = dir.join("mle");
    finish(run::train(cfg.clone(), &run_dir, &RunOptions::default(), &mut Silent).unwrap());
    let data = TrainData::load(&cfg).unwrap();
    let g = inspect::load(&run_dir).unwrap().generator;
    let l = data.dataset.seq_len;
    let longest = 6;
    assert_eq!(l, longest + 1, "room for the end token");

    let sum = g.nll_sum_at(&data.train, 1.0).unwrap();
    // every word and one end token per sentence; no pad
    let targets: usize = lines.iter().map(|s| s.split(' ').count() + 1).sum();
    assert_eq!((sum.tokens, sum.sequences), (targets, 24));
    assert_relative_eq!(
        sum.per_token(),
        g.nll(&data.train).unwrap(),
        max_relative = 1e-12
    );
    assert_relative_eq!(
        sum.per_position(longest),
        sum.nats / (24 * longest) as f64,
        max_relative = 1e-12
    );
    // the sum does not depend on how the sequences are batched
    let one_by_one: f64 = data
        .train
        .chunks(l)
        .map(|s| g.nll_sum_at(s, 1.0).unwrap().nats)
        .sum();
    assert_relative_eq!(sum.nats, one_by_one, max_relative = 1e-6);

    let text = inspect::evaluate(&run_dir, None, Some(8), 0, 1.0)
        .unwrap()
        .table();
    let row = |name: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} row in\n{text}"));
        line.split_whitespace()
            .find_map(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("no value in {line}"))
    };
    assert_relative_eq!(row("NLL_gen train"), sum.per_token(), max_relative = 1e-3);
    assert_relative_eq!(
        row("NLL_gen train/position"),
        sum.per_position(longest),
        max_relative = 1e-3
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_learned_temperature_moves_and_resumes_exactly() {
    let (a, b) = (tmp("learn-a"), tmp("learn-b"));
    let mut cfg = tiny();
    cfg.temperature.learnable = true;
    cfg.temperature.form = gumbel_gan::model::TemperatureForm::Tau;
    cfg.temperature.start = 2.0;
    cfg.temperature.end = 2.0;
    cfg.gen_lr = 1e-2;
    finish(run::train(cfg.clone(), &a, &RunOptions::default(), &mut Silent).unwrap());
    let temps: Vec<f64> = log::read_rows(&a.join("metrics.csv"))
        .unwrap()
        .iter()
        .filter_map(|r| r.metrics.temperature)
        .collect();
    // The first row (step 2) used the value after one update, and Adam's first step moves
    // a parameter by lr (m_hat / sqrt(v_hat) = +-1): log tau = ln 2 -+ 0.01. Tolerance: the
    // parameter is f32 (ulp of ln 2 ~ 6e-8) and eps = 1e-8 in Adam's denominator.
    let moved = (temps[0] / 2.0).ln().abs();
    assert!(
        abs_diff_eq!(moved, 0.01, epsilon = 1e-6),
        "tau 2 -> {}",
        temps[0]
    );
    assert!(
        temps.iter().any(|&t| t != 2.0),
        "the generator's loss moved it: {temps:?}"
    );
    stop_resume_and_compare(cfg, &b, &a);
    fs::remove_dir_all(&a).unwrap();
    fs::remove_dir_all(&b).unwrap();
}

#[test]
fn sample_and_eval_read_a_run_folder() {
    let dir = tmp("inspect");
    finish(run::train(tiny(), &dir, &RunOptions::default(), &mut Silent).unwrap());
    let lines = inspect::sample(&dir, 7, 3).unwrap();
    assert_eq!(lines.len(), 7);
    assert_eq!(
        lines,
        inspect::sample(&dir.join("checkpoint"), 7, 3).unwrap()
    );
    let text = inspect::evaluate(&dir, None, Some(64), 0, 1.0)
        .unwrap()
        .table();
    // The run folder has pretrained/: both models side by side, with real data.
    assert!(
        text.contains("after MLE") && text.contains("real data") && text.contains("validity"),
        "{text}"
    );
    let e = inspect::evaluate(&dir, Some(Path::new("x.txt")), None, 0, 1.0).unwrap_err();
    assert!(e.to_string().contains("--test"), "{e}");

    // Sampling temperature: 1 is the model itself; below 1 the tempered distributions are
    // sharper (lower entropy) and held-out data is less likely under them.
    let g = inspect::load(&dir).unwrap().generator;
    let (s1, h1) = g.sample_with_entropy(256, 5).unwrap();
    assert_eq!(
        (s1.clone(), h1),
        g.sample_with_entropy_at(256, 5, 1.0).unwrap()
    );
    let (_, h_cold) = g.sample_with_entropy_at(256, 5, 0.5).unwrap();
    assert!(
        h_cold < h1,
        "entropy at T = 0.5 ({h_cold}) not below T = 1 ({h1})"
    );
    let test: Vec<_> = s1[..64 * 16].to_vec();
    assert_eq!(g.nll(&test).unwrap(), g.nll_at(&test, 1.0).unwrap());
    for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        let e = g.sample_with_entropy_at(4, 0, bad).unwrap_err().to_string();
        assert!(e.contains("temperature"), "{e}");
    }
    let text = inspect::evaluate(&dir, None, Some(64), 0, 0.7)
        .unwrap()
        .table();
    assert!(text.contains("sampling temperature: 0.7"), "{text}");
    fs::remove_dir_all(&dir).unwrap();
}

/// Trains `cfg` on 1, 2 and 7 threads (run folders tagged `tag`), asserts the three runs are
/// the same bytes, and returns their folders.
fn same_run_on_1_2_and_7_threads(
    cfg: &gumbel_gan::train::config::TrainConfig,
    tag: &str,
) -> [PathBuf; 3] {
    let dirs = [1, 2, 7].map(|n| tmp(&format!("threads-{tag}-{n}")));
    for (n, dir) in [1, 2, 7].into_iter().zip(&dirs) {
        let c = cfg.clone();
        finish(
            gumbel_tensor::parallel::with_threads(n, || {
                run::train(c, dir, &RunOptions::default(), &mut Silent)
            })
            .unwrap()
            .unwrap(),
        );
    }
    assert_same_run(&dirs[0], &dirs[1]);
    assert_same_run(&dirs[0], &dirs[2]);
    dirs
}

#[test]
fn one_two_and_seven_threads_give_the_same_run() {
    // The oracle's vocabulary (5000) makes the matmuls and softmaxes large enough to run in
    // parallel; soft feedback exercises the soft-embedding matmul. Every estimator: the
    // one-hot ones with hard feedback, reinforce with 2 rollouts per prefix.
    let mut cfg = tiny();
    cfg.data = DataSource::Oracle { file: None };
    cfg.train_size = 64;
    cfg.pretrain_epochs = 1;
    cfg.adv_steps = 2;
    cfg.eval_every = 2;
    for name in [
        "gumbel",
        "st-gumbel",
        "st",
        "reinmax",
        "gapped-st:p",
        "gumbel-rao:3",
        "reinforce:2",
    ] {
        let mut cfg = cfg.clone();
        cfg.estimator = name.parse().unwrap();
        cfg.feedback = match cfg.estimator.is_relaxed() {
            true => Feedback::Soft,
            false => Feedback::Hard,
        };
        if name.starts_with("reinforce") {
            cfg.loss = LossKind::Nsgan;
        }
        let tag = name.replace(':', "-");
        let dirs = same_run_on_1_2_and_7_threads(&cfg, &tag);
        let rows = log::read_rows(&dirs[0].join("metrics.csv")).unwrap();
        assert!(
            rows.iter().any(|r| r.metrics.nll_oracle.is_some()),
            "NLL_oracle was logged"
        );
        for d in dirs {
            fs::remove_dir_all(d).unwrap();
        }
    }
}

#[test]
fn a_non_finite_loss_stops_and_keeps_the_last_checkpoint() {
    let dir = tmp("nan");
    let mut cfg = tiny();
    // Adam moves every weight by about lr per step: 1e38 overflows the next forward pass.
    cfg.gen_lr = 1e38;
    cfg.disc_lr = 1e38;
    let e = run::train(cfg, &dir, &RunOptions::default(), &mut Silent).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::NonFinite { .. }), "{msg}");
    assert!(
        msg.contains("adversarial step") && msg.contains("checkpoint"),
        "{msg}"
    );
    // Everything logged is intact and finite; the checkpoint is the one from the end of
    // MLE, and it loads.
    let rows = log::read_rows(&dir.join("metrics.csv")).unwrap();
    assert!(
        rows.iter()
            .any(|r| r.phase == log::Phase::Mle && r.step == 16)
    );
    for r in &rows {
        assert!(
            r.metrics
                .values()
                .into_iter()
                .flatten()
                .all(|v| v.is_finite()),
            "{r:?}"
        );
    }
    let loaded = inspect::load(&dir).unwrap();
    assert_eq!((loaded.state.mle_step, loaded.state.adv_step), (16, 0));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_checkpoints_name_the_file_and_tensor() {
    let (a, b) = (tmp("bad-a"), tmp("bad-b"));
    let mut cfg = tiny();
    cfg.adv_steps = 0;
    cfg.pretrain_epochs = 1;
    finish(run::train(cfg.clone(), &a, &RunOptions::default(), &mut Silent).unwrap());
    cfg.model.gen_hidden = 8;
    finish(run::train(cfg, &b, &RunOptions::default(), &mut Silent).unwrap());
    let gen_a = a.join("checkpoint/generator.safetensors");
    let gen_b = b.join("checkpoint/generator.safetensors");
    let good = bytes(&gen_b);

    // Any change to a file is caught by its checksum first, naming the file.
    fs::copy(&gen_a, &gen_b).unwrap();
    let e = inspect::load(&b).err().unwrap().to_string();
    assert!(
        e.contains("generator.safetensors") && e.contains("checksum mismatch"),
        "{e}"
    );
    // The loaders' own checks, for folders without SHA256SUMS (written before checksums
    // existed, or edited by hand together with the list):
    fs::remove_file(a.join("checkpoint/SHA256SUMS")).unwrap();
    fs::remove_file(b.join("checkpoint/SHA256SUMS")).unwrap();

    // Another model size: hidden 16 tensors into a hidden 8 model.
    fs::copy(&gen_a, &gen_b).unwrap();
    let e = inspect::load(&b).err().unwrap().to_string();
    assert!(
        e.contains("generator.safetensors") && e.contains("lstm.weight_ih_l0"),
        "{e}"
    );
    assert!(
        e.contains("[32, 8]") && e.contains("[64, 8]"),
        "expected and found shapes: {e}"
    );
    // Truncated.
    fs::write(&gen_b, &good[..good.len() / 2]).unwrap();
    let e = inspect::load(&b).err().unwrap().to_string();
    assert!(
        e.contains("generator.safetensors") && e.contains("truncated"),
        "{e}"
    );
    // Corrupt header.
    let mut bad = good.clone();
    bad[9] = b'#';
    fs::write(&gen_b, &bad).unwrap();
    let e = inspect::load(&b).err().unwrap().to_string();
    assert!(e.contains("generator.safetensors"), "{e}");
    // Missing file, missing folder, missing state.json.
    fs::remove_file(&gen_b).unwrap();
    let e = inspect::load(&b).err().unwrap().to_string();
    assert!(
        e.contains("generator.safetensors") && e.contains("No such file"),
        "{e}"
    );
    let e = inspect::load(&b.join("nope")).err().unwrap().to_string();
    assert!(e.contains("nope"), "{e}");
    // A checkpoint folder without state.json is damaged, not "no checkpoint yet": a
    // resume must not start the run over on it.
    fs::remove_file(b.join("checkpoint/state.json")).unwrap();
    let e = run::resume(&b, &RunOptions::default(), &mut Silent)
        .unwrap_err()
        .to_string();
    assert!(e.contains("state.json") && e.contains("damaged"), "{e}");
    // A damaged discriminator stops a resume, naming it.
    let disc = a.join("checkpoint/discriminator.safetensors");
    let d = bytes(&disc);
    fs::write(&disc, &d[..d.len() - 3]).unwrap();
    let e = run::resume(&a, &RunOptions::default(), &mut Silent)
        .unwrap_err()
        .to_string();
    assert!(e.contains("discriminator.safetensors"), "{e}");
    fs::remove_dir_all(&a).unwrap();
    fs::remove_dir_all(&b).unwrap();
}

#[test]
fn pytorch_loads_the_generator_and_computes_the_same_nll() {
    let Some(python) =
        common::peers_python("pytorch_loads_the_generator_and_computes_the_same_nll")
    else {
        return;
    };
    let dir = tmp("torch");
    let mut cfg = tiny();
    cfg.adv_steps = 2;
    finish(run::train(cfg.clone(), &dir, &RunOptions::default(), &mut Silent).unwrap());
    let loaded = inspect::load(&dir).unwrap();
    let data = TrainData::load(&cfg).unwrap();
    let nll = loaded.generator.nll(&data.test).unwrap();
    let l = data.dataset.seq_len;
    let lines: Vec<String> = data
        .test
        .chunks(l)
        .map(|s| {
            s.iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let tokens = dir.join("tokens.txt");
    fs::write(&tokens, lines.join("\n")).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pytorch/load_generator.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(dir.join("checkpoint"))
        .arg(&tokens)
        .arg(data.start_token().to_string())
        .arg(
            data.specials()
                .pad
                .map(|p| p as i64)
                .unwrap_or(-1)
                .to_string(),
        )
        .arg(format!("{nll}"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("ok"), "{text}");
    eprintln!("{}", text.trim());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_pretrained_model_replaces_mle_and_must_match_the_data() {
    // Run 1 pretrains; run 2 starts from run 1's pretrained/ folder with no MLE and no
    // adversarial step, so its final generator must be run 1's MLE model, bit for bit.
    let first = tmp("pretrained-src");
    let mut c = tiny();
    c.adv_steps = 0;
    finish(run::train(c.clone(), &first, &RunOptions::default(), &mut Silent).unwrap());
    let second = tmp("pretrained-dst");
    let mut c2 = c.clone();
    c2.pretrain_epochs = 0;
    c2.pretrained = Some(first.join("pretrained"));
    finish(run::train(c2.clone(), &second, &RunOptions::default(), &mut Silent).unwrap());
    assert!(
        bytes(&first.join("pretrained/generator.safetensors"))
            == bytes(&second.join("checkpoint/generator.safetensors")),
        "the generator was not taken from pretrained/"
    );
    // and the run folder keeps a copy of the model it started from, its reference
    assert!(
        bytes(&first.join("pretrained/generator.safetensors"))
            == bytes(&second.join("pretrained/generator.safetensors")),
        "the run folder has no copy of its MLE model"
    );

    // Pretraining and a pretrained model at once is a configuration error naming the flag.
    let mut both = c2.clone();
    both.pretrain_epochs = 1;
    let err = run::train(
        both,
        &tmp("pretrained-both"),
        &RunOptions::default(),
        &mut Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("--pretrained") && err.contains("pretrain-epochs"),
        "{err}"
    );

    // A model trained on other data (another vocabulary) is refused, naming the folder.
    let mut other = c2.clone();
    other.data = DataSource::Oracle { file: None };
    other.train_size = 64;
    other.test_size = 64;
    let err = run::train(
        other,
        &tmp("pretrained-other"),
        &RunOptions::default(),
        &mut Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("pretrained") && err.contains("vocabulary"),
        "{err}"
    );
    for d in [first, second] {
        let _ = fs::remove_dir_all(d);
    }
}

/// [`tiny`] with RelGAN's networks and settings (`--arch relgan`) at tiny sizes: a
/// relational memory of 2 heads of 4, a multi-representation discriminator of 8 filters per
/// width and 5 hidden units, 5 discriminator updates per generator update.
fn tiny_relgan() -> gumbel_gan::train::config::TrainConfig {
    let mut c = tiny();
    let small = c.clone();
    c.apply_relgan();
    (c.batch, c.pretrain_epochs, c.adv_steps) =
        (small.batch, small.pretrain_epochs, small.adv_steps);
    c.model.gen_emb = 8;
    c.model.gen_head_size = 4;
    c.model.disc_emb = 8;
    c.model.disc_widths = vec![2, 3];
    c.model.disc_filters = 8;
    c.model.disc_hidden = 5;
    c.temperature.end = 10.0; // beta annealed (over RelGAN's horizon of 5000 steps)
    c
}

/// RelGAN's networks train, write their kind into config.json and their tensors under
/// RelGAN's names, resume to the same bytes, and give the same run on 1, 2 and 7 threads
/// (on the oracle's vocabulary of 5000, where the products and the discriminator's
/// convolutions run in parallel).
#[test]
fn relgan_networks_train_resume_exactly_and_agree_across_threads() {
    let (a, b) = (tmp("relgan-a"), tmp("relgan-b"));
    let cfg = tiny_relgan();
    finish(run::train(cfg.clone(), &a, &RunOptions::default(), &mut Silent).unwrap());
    let json = String::from_utf8(bytes(&a.join("config.json"))).unwrap();
    for want in [
        r#""generator": "rmc""#,
        r#""discriminator": "relgan""#,
        r#""horizon": 5000"#,
    ] {
        assert!(json.contains(want), "{want} in {json}");
    }
    let file = |f: &str| {
        gumbel_gan::io::safetensors::TensorFile::load(&a.join("checkpoint").join(f)).unwrap()
    };
    let g = file("generator.safetensors");
    for (want, shape) in [
        ("emb.weight", &[11usize, 8][..]),
        ("rmc.qkv.weight", &[24, 8]),
        ("out.bias", &[11]),
    ] {
        assert_eq!(
            g.shape_of(want),
            Some(shape),
            "{want} in {:?}",
            g.remaining()
        );
    }
    let d = file("discriminator.safetensors");
    for (want, shape) in [
        ("emb.weight", &[8usize, 11][..]),
        ("convs.1.weight", &[8, 1, 3, 1]),
        ("hw_gate.weight", &[16, 16]),
        ("logit.bias", &[1]),
    ] {
        assert_eq!(
            d.shape_of(want),
            Some(shape),
            "{want} in {:?}",
            d.remaining()
        );
    }
    stop_resume_and_compare(cfg, &b, &a);
    fs::remove_dir_all(&a).unwrap();
    fs::remove_dir_all(&b).unwrap();

    let mut cfg = tiny_relgan();
    cfg.data = DataSource::Oracle { file: None };
    cfg.train_size = 64;
    cfg.pretrain_epochs = 1;
    cfg.adv_steps = 2;
    cfg.eval_every = 2;
    for d in same_run_on_1_2_and_7_threads(&cfg, "relgan") {
        fs::remove_dir_all(d).unwrap();
    }
}
