//! Bad inputs give errors that name the flag, file or tensor: never a panic, an allocation
//! abort or a run that fails after all its work (issue 10, items 2, 5, 6, 9, 10 and 14).
//!
//! Each test reproduces one reported failure: sizes that overflow or ask for terabytes,
//! temperature schedules that reach 0 in f32 at a late step, oracle files whose logits
//! overflow or whose vocabulary is empty, text corpora with a byte-order mark, lines of
//! control characters or sentences longer than the convolutions need.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use gumbel_gan::Error;
use gumbel_gan::data::oracle::Oracle;
use gumbel_gan::data::text;
use gumbel_gan::model::TemperatureForm;
use gumbel_gan::schedule::ScheduleKind;
use gumbel_gan::train::config::{DataSource, TrainConfig};
use gumbel_gan::train::data::TrainData;
use gumbel_gan::train::run::{self, RunOptions, Silent};
use gumbel_tensor::Tensor;
use safetensors::{Dtype, tensor::TensorView};

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gumbel-bad-input-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn grammar() -> TrainConfig {
    TrainConfig::defaults_for(DataSource::Grammar)
}

fn text_config(train: &Path) -> TrainConfig {
    TrainConfig::defaults_for(DataSource::Text {
        train: train.to_path_buf(),
        test: None,
    })
}

fn config_error(c: &TrainConfig) -> String {
    match c.validate() {
        Ok(()) => panic!("the config should be refused: {}", c.to_json()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn absurd_sizes_are_errors_naming_the_flag() {
    // 1e13 asks for hundreds of terabytes on any machine; usize::MAX overflows the product.
    type Set = fn(&mut TrainConfig, usize);
    let cases: [(&str, Set); 8] = [
        ("--train-size", |c, v| c.train_size = v),
        ("--test-size", |c, v| c.test_size = v),
        ("--eval-samples", |c, v| c.eval_samples = v),
        ("--gen-emb", |c, v| c.model.gen_emb = v),
        ("--gen-hidden", |c, v| c.model.gen_hidden = v),
        ("--disc-emb", |c, v| c.model.disc_emb = v),
        ("--disc-filters", |c, v| c.model.disc_filters = v),
        ("--batch", |c, v| c.batch = v),
    ];
    for (flag, set) in cases {
        for v in [10_000_000_000_000, usize::MAX] {
            let mut c = grammar();
            set(&mut c, v);
            let e = config_error(&c);
            assert!(e.contains(flag), "{flag} {v}: {e}");
            assert!(
                e.contains("GiB") || e.contains("overflows"),
                "{flag} {v}: the message says how much or that it overflows: {e}"
            );
        }
    }
    // The message says how much was asked and the ceiling.
    let mut c = grammar();
    c.model.gen_hidden = 1 << 24;
    let e = config_error(&c);
    assert!(
        e.contains("--gen-hidden") && e.contains("at least") && e.contains("of this machine"),
        "{e}"
    );
    // Sizes a real run uses stay valid.
    for data in [DataSource::Grammar, DataSource::Oracle { file: None }] {
        TrainConfig::defaults_for(data).validate().unwrap();
    }
}

#[test]
fn text_evaluation_needs_two_samples_up_front() {
    let mut c = text_config(Path::new("corpus.txt"));
    c.eval_samples = 1;
    let e = config_error(&c);
    assert!(
        e.contains("--eval-samples") && e.contains("self-BLEU"),
        "{e}"
    );
    c.eval_samples = 2;
    c.validate().unwrap();
    // The grammar has no self-BLEU: one sample is enough there.
    let mut g = grammar();
    g.eval_samples = 1;
    g.validate().unwrap();
}

#[test]
fn pretrain_epochs_that_overflow_the_step_count_are_refused() {
    // 1844674407370955162 epochs of 156 steps (10,000 / 64) wrap to 4 steps in usize.
    let mut c = grammar();
    c.pretrain_epochs = 1_844_674_407_370_955_162;
    let e = config_error(&c);
    assert!(e.contains("--pretrain-epochs"), "{e}");
    // run::train refuses it before creating anything.
    let out = tmp("epochs").join("run");
    let e = run::train(c, &out, &RunOptions::default(), &mut Silent).unwrap_err();
    assert!(e.to_string().contains("--pretrain-epochs"), "{e}");
    assert!(!out.join("config.json").exists());
    // A large but representable count is the user's choice.
    let mut c = grammar();
    c.pretrain_epochs = 1_000_000;
    assert_eq!(c.mle_total_steps(10_000).unwrap(), 156_000_000);
}

#[test]
fn schedules_that_reach_zero_or_overflow_in_f32_are_refused_before_the_run() {
    use ScheduleKind::{Exp, Linear, Log, Quad, Sqrt};
    use TemperatureForm::{Beta, Tau};
    // (form, schedule, start, end, steps, the step the error must name)
    let cases = [
        (Tau, Linear, 1.0, 1e-17, 200, 199),
        (Tau, Quad, 1.0, 1e-17, 200, 199),
        (Tau, Sqrt, 1.0, 1e-17, 200, 199),
        (Tau, Log, 1.0, 1e-17, 200, 199),
        // beta = 1e39 is infinite in f32.
        (Beta, Exp, 1e39, 1.0, 200, 0),
        // beta = 1 + (1e40 - 1) i / 199 passes f32::MAX = 3.4e38 at i = 7.
        (Beta, Linear, 1.0, 1e40, 200, 7),
    ];
    for (form, schedule, start, end, steps, step) in cases {
        let mut c = grammar();
        c.temperature.form = form;
        c.temperature.schedule = schedule;
        c.temperature.start = start;
        c.temperature.end = end;
        c.adv_steps = steps;
        let e = config_error(&c);
        assert!(
            e.contains(&format!("step {step} ")) && e.contains("f32"),
            "{schedule} {start} -> {end}: {e}"
        );
    }
    // Jang et al. with a floor of 1e-320 (0 in f32): tau = exp(-t) falls below f32's range
    // (1/tau must stay finite, tau >= 2.9e-39) at t = 89.
    let mut c = grammar();
    c.temperature.form = TemperatureForm::Tau;
    c.temperature.schedule = ScheduleKind::Jang;
    c.temperature.start = 1.0;
    c.temperature.end = 1e-320;
    c.temperature.jang_rate = 1.0;
    c.temperature.jang_every = 1;
    c.adv_steps = 200;
    let e = config_error(&c);
    assert!(e.contains("step 89 ") && e.contains("tau"), "{e}");
    // A learnable temperature only uses the first value.
    c.temperature.learnable = true;
    c.validate().unwrap();
    // Low but representable temperatures stay valid (the geometric schedule reaches 1e-30;
    // the linear one computes 1 + (1e-30 - 1), which is 0 in f64).
    let mut c = grammar();
    c.temperature.form = TemperatureForm::Tau;
    c.temperature.schedule = ScheduleKind::Exp;
    c.temperature.start = 1.0;
    c.temperature.end = 1e-30;
    c.validate().unwrap();
    c.temperature.schedule = ScheduleKind::Linear;
    assert!(config_error(&c).contains("step 999 "));
    c.temperature.end = 1e-3;
    c.validate().unwrap();
}

/// Writes the tensors of `o` to `path` as f32, passing each through `edit` first.
fn write_oracle(path: &Path, o: &Oracle<f32>, edit: impl Fn(&str, &mut Vec<usize>, &mut Vec<f32>)) {
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = o
        .parameters()
        .into_iter()
        .map(|(name, t)| {
            let (mut shape, mut data) = (t.shape().to_vec(), t.as_slice().to_vec());
            edit(&name, &mut shape, &mut data);
            let bytes = data.iter().flat_map(|x| x.to_le_bytes()).collect();
            (name, shape, bytes)
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

#[test]
fn oracle_with_overflowing_logits_is_refused_naming_the_tensor() {
    let d = tmp("oracle-huge");
    let o = Oracle::<f32>::random_with_dims(10, 4, 3, 1).unwrap();
    // Finite values, but h @ W_out overflows f32 (the sampler then met inf - inf = NaN and
    // panicked with "the max class has exp(0) = 1").
    let huge = d.join("huge.safetensors");
    write_oracle(&huge, &o, |name, _, data| {
        if name == "output.W" {
            data.iter_mut().for_each(|x| *x *= 3e37);
        }
    });
    let e = Oracle::<f32>::load(&huge).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, Error::BadTensor { .. })
            && msg.contains("huge.safetensors")
            && msg.contains("output.W"),
        "{msg}"
    );
    // Huge gate weights make the LSTM's pre-activations overflow (inf - inf in a gate).
    let gate = d.join("gate.safetensors");
    write_oracle(&gate, &o, |name, _, data| {
        if name == "lstm.forget_gate.W_h" {
            data.iter_mut().for_each(|x| *x = 3e38);
        }
    });
    let msg = Oracle::<f32>::load(&gate).unwrap_err().to_string();
    assert!(
        msg.contains("gate.safetensors") && msg.contains("forget_gate"),
        "{msg}"
    );
    // The same check in from_tensors.
    let mut map: HashMap<String, Tensor<f32>> = o.parameters().into_iter().collect();
    let w = map.remove("output.W").unwrap();
    let big = w.as_slice().iter().map(|x| x * 3e37).collect();
    map.insert(
        "output.W".into(),
        Tensor::new(w.shape().to_vec(), big).unwrap(),
    );
    let msg = Oracle::from_tensors(&map).unwrap_err().to_string();
    assert!(msg.contains("output.W"), "{msg}");
    // Large but safe values still load, and sample.
    let ok = d.join("ok.safetensors");
    write_oracle(&ok, &o, |name, _, data| {
        if name == "output.W" {
            data.iter_mut().for_each(|x| *x *= 1e3);
        }
    });
    let o2 = Oracle::<f32>::load(&ok).unwrap();
    assert_eq!(o2.sample(3, 5, 1).len(), 3);
}

#[test]
fn oracle_with_an_empty_vocabulary_is_refused() {
    let d = tmp("oracle-empty");
    let o = Oracle::<f32>::random_with_dims(10, 4, 3, 1).unwrap();
    let empty = d.join("vocab0.safetensors");
    // Vocabulary 0: embedding [0, 4], output.W [3, 0], output.b [0]. Sampling indexed the
    // empty embedding ("index out of range").
    write_oracle(&empty, &o, |name, shape, data| match name {
        "embedding" | "output.b" => {
            shape[0] = 0;
            data.clear();
        }
        "output.W" => {
            shape[1] = 0;
            data.clear();
        }
        _ => {}
    });
    let msg = Oracle::<f32>::load(&empty).unwrap_err().to_string();
    assert!(
        msg.contains("vocab0.safetensors") && msg.contains("vocabulary 0"),
        "{msg}"
    );
    // The same file as training data: an error, not a panic.
    let mut c = TrainConfig::defaults_for(DataSource::Oracle {
        file: Some(empty.clone()),
    });
    c.train_size = 64;
    c.test_size = 64;
    let msg = TrainData::load(&c).err().expect("refused").to_string();
    assert!(msg.contains("vocabulary 0"), "{msg}");
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_first_word() {
    let d = tmp("bom");
    let f = d.join("bom.txt");
    fs::write(&f, "\u{feff}hello world\nhello there\n").unwrap();
    let c = text::load(&f, &f).unwrap();
    assert_eq!(c.train_tokens[0], ["hello", "world"]);
    assert_eq!(
        c.dataset.vocab.id("hello"),
        Some(4),
        "one 'hello', counted twice"
    );
}

#[test]
fn lines_of_control_characters_are_skipped_like_blank_ones() {
    let d = tmp("control");
    let f = d.join("mixed.txt");
    fs::write(&f, "a b c d e\n\x01\x02\n\x1c\x1d \x07\nb c d e f\n").unwrap();
    let c = text::load(&f, &f).unwrap();
    assert_eq!(c.dataset.train.len(), 2);
    assert!(c.dataset.vocab.tokens().iter().all(|t| !t.contains('\x01')));
    // A corpus of nothing else is empty: the error names the file, not --disc-widths.
    let only = d.join("only_control.txt");
    fs::write(&only, "\x01\x02\n\x03\n\x1c\x1d\n").unwrap();
    let mut cfg = text_config(&only);
    cfg.batch = 1;
    let msg = TrainData::load(&cfg).err().expect("refused").to_string();
    assert!(
        msg.contains("only_control.txt") && !msg.contains("--disc-widths"),
        "{msg}"
    );
}

#[test]
fn a_corpus_shorter_than_the_widest_convolution_is_refused_naming_it() {
    let d = tmp("short");
    let f = d.join("short.txt");
    fs::write(&f, "a b\nc\n").unwrap();
    let mut cfg = text_config(&f);
    cfg.batch = 1;
    // Widths 2..5 against sequences of 3 (2 tokens + <eos>): refused when the data is
    // loaded, naming the flag and the corpus, before any model is built.
    let msg = TrainData::load(&cfg).err().expect("refused").to_string();
    assert!(
        msg.contains("--disc-widths") && msg.contains("short.txt") && msg.contains("2 tokens"),
        "{msg}"
    );
    cfg.model.disc_widths = vec![2, 3];
    TrainData::load(&cfg).unwrap();
}

#[test]
fn sentences_over_the_length_limit_are_skipped_and_counted() {
    let d = tmp("long");
    let f = d.join("long.txt");
    // One line of 2 million tokens among short ones: it set seq_len for every sentence and
    // the padded matrices asked for gigabytes.
    let long_line = "w ".repeat(2_000_000);
    fs::write(&f, format!("a b c d e\n{long_line}\nb c d e f g\n")).unwrap();
    let c = text::load_for_training(&f, None, Some(64)).unwrap();
    assert_eq!(c.dataset.train.len(), 2);
    assert_eq!(
        c.dataset.seq_len, 7,
        "the longest kept sentence (6) + <eos>"
    );
    assert_eq!(c.skipped.len(), 1);
    assert_eq!((c.skipped[0].line, c.skipped[0].tokens), (2, 2_000_000));
    let w = c.skipped_summary(64).unwrap();
    assert!(
        w.contains("skipped 1 sentence") && w.contains("long.txt line 2"),
        "{w}"
    );
    // Nothing left: an error naming the file and the limit.
    let e = text::load_for_training(&f, None, Some(3)).unwrap_err();
    assert!(
        e.to_string().contains("long.txt") && e.to_string().contains("--max-len 3"),
        "{e}"
    );
    // Through TrainData: the same, with the warning kept for the caller.
    let mut cfg = text_config(&f);
    cfg.batch = 1;
    cfg.model.disc_widths = vec![2, 3];
    let data = TrainData::load(&cfg).unwrap();
    assert_eq!(data.dataset.seq_len, 7);
    assert_eq!(data.warnings.len(), 1);
    // Without a limit a corpus with no long sentence loads exactly as before.
    let coco_like = d.join("short.txt");
    fs::write(&coco_like, "a b c\nd e\n").unwrap();
    let limited = text::load_for_training(&coco_like, Some(&coco_like), Some(64)).unwrap();
    let plain = text::load(&coco_like, &coco_like).unwrap();
    assert_eq!(limited, plain);
}

#[test]
fn a_pretrained_model_of_other_data_is_named_as_such() {
    let d = tmp("pretrained");
    // A tiny grammar run leaves pretrained/ (vocabulary of 11 tokens).
    let mut g = grammar();
    g.train_size = 64;
    g.test_size = 8;
    g.batch = 32;
    g.pretrain_epochs = 1;
    g.adv_steps = 0;
    g.model.gen_emb = 4;
    g.model.gen_hidden = 4;
    g.model.disc_emb = 4;
    g.model.disc_filters = 2;
    g.eval_samples = 8;
    run::train(g, &d.join("grammar"), &RunOptions::default(), &mut Silent).unwrap();
    let pretrained = d.join("grammar/pretrained");
    assert!(pretrained.join("generator.safetensors").is_file());
    // A text run that starts from it.
    let f = d.join("corpus.txt");
    fs::write(&f, "a b c d e\nb c d e f\n").unwrap();
    let mut t = text_config(&f);
    t.batch = 2;
    t.model.gen_emb = 4;
    t.model.gen_hidden = 4;
    t.pretrain_epochs = 0;
    t.pretrained = Some(pretrained.clone());
    let e = run::train(t, &d.join("text"), &RunOptions::default(), &mut Silent)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(pretrained.to_str().unwrap())
            && e.contains("differs from this data set's")
            && e.contains("--pretrained"),
        "{e}"
    );
}
