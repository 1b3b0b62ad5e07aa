//! The SeqGAN oracle against the numbers in `shared/data/seqgan_oracle/README.md` (computed
//! there in numpy float64 from the README alone, and cross-checked against the TF oracle's
//! logged NLL_oracle = 8.66977), plus file errors, sampling statistics and determinism.

use crate::common;

use approx::abs_diff_eq;
use std::path::{Path, PathBuf};

use gumbel_gan::Error;
use gumbel_gan::data::oracle::{
    self, EVAL_SEQUENCES, Oracle, SEQ_LEN, read_sample_file, write_sample_file,
};
use gumbel_tensor::Element;
use safetensors::{Dtype, tensor::TensorView};

fn oracle_dir(test: &str) -> Option<PathBuf> {
    common::data_dir(test).map(|d| d.join("seqgan_oracle"))
}

/// Step-1 vectors and per-sequence NLLs of the README, for one element type. `tol` is the
/// allowed absolute error of a step-1 value: the README prints 6 decimals (rounding error
/// 5e-7); f64 adds ~1e-15, f32 about 1e-6 relative to the logits' magnitude (~10) plus the
/// f32 log-sum-exp over 5000 terms, so 2e-5 (the README: "f32 agrees to about 1e-5").
fn check_readme_vectors<T: Element>(dir: &Path, tol: f64) {
    let o = Oracle::<T>::load(dir.join("oracle.safetensors")).unwrap();
    assert_eq!(
        (o.vocab_size(), o.emb_dim(), o.hidden_dim()),
        (5000, 32, 32)
    );
    let (c1, h1, z1) = o.state_after(&[]).unwrap();
    let lp1 = o.log_probs(&[]).unwrap();
    let close = |got: &[f64], want: &[f64], what: &str| {
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                abs_diff_eq!(g, w, epsilon = tol),
                "{} {what}[{i}] = {g}, README {w}",
                T::NAME
            );
        }
    };
    close(&c1[..4], &[0.439440, -0.948563, 0.990432, 0.025271], "c_1");
    close(&h1[..4], &[0.411368, -0.001221, 0.757546, 0.007647], "h_1");
    close(
        &z1[..4],
        &[-1.784539, -3.463152, 2.625229, -1.735632],
        "z_1",
    );
    close(
        &lp1[..4],
        &[-12.347646, -14.026258, -7.937877, -12.298738],
        "log p_1",
    );
    let argmax = (0..5000).max_by(|&a, &b| z1[a].total_cmp(&z1[b])).unwrap();
    assert_eq!(argmax, 3918);
    close(&lp1[3918..3919], &[-3.642865], "log p_1");

    // Entropy of p_1 = the expected NLL at position 1.
    let entropy: f64 = -lp1.iter().map(|&l| l.exp() * l).sum::<f64>();
    assert!(
        abs_diff_eq!(entropy, 6.523954, epsilon = tol),
        "{} entropy {entropy}",
        T::NAME
    );

    // Per-sequence NLLs of the first three sample lines: sums of 20 terms, each within the
    // step tolerance, so 20 * tol.
    let samples = read_sample_file(dir.join("oracle_samples_9984x20.txt"), 5000, SEQ_LEN).unwrap();
    let nll = o.sequence_nll(&samples.sequences[..3]).unwrap();
    for (g, w) in nll.iter().zip([110.819042, 106.363611, 126.854593]) {
        assert!(
            abs_diff_eq!(*g, w, epsilon = 20.0 * tol),
            "{} sequence NLL {g} vs {w}",
            T::NAME
        );
    }
    // Per-position NLLs of line 1, printed with 4 decimals (rounding 5e-5).
    let pos = o.position_nll(&samples.sequences[..1]).unwrap();
    let want = [
        8.3727, 9.6006, 5.4538, 4.6764, 2.9711, 6.4956, 5.4772, 6.0954, 2.7837, 8.6111, 4.5175,
        7.9971, 3.9940, 3.6768, 2.5779, 2.3918, 6.8028, 8.0272, 4.4189, 5.8773,
    ];
    for (t, (g, w)) in pos.row(0).iter().zip(want).enumerate() {
        assert!(
            abs_diff_eq!(*g, w, epsilon = 5e-5 + tol),
            "{} position {t}: {g} vs {w}",
            T::NAME
        );
    }
}

#[test]
fn readme_step_one_vectors_and_sequence_nlls_f64() {
    let Some(dir) = oracle_dir("readme_step_one_vectors_and_sequence_nlls_f64") else {
        return;
    };
    check_readme_vectors::<f64>(&dir, 1e-6);
}

#[test]
fn readme_step_one_vectors_and_sequence_nlls_f32() {
    let Some(dir) = oracle_dir("readme_step_one_vectors_and_sequence_nlls_f32") else {
        return;
    };
    check_readme_vectors::<f32>(&dir, 2e-5);
}

#[test]
fn nll_oracle_reproduces_seqgan_crosscheck_and_oracle_samples() {
    let Some(dir) = oracle_dir("nll_oracle_reproduces_seqgan_crosscheck_and_oracle_samples") else {
        return;
    };
    let o64 = Oracle::<f64>::load(dir.join("oracle.safetensors")).unwrap();
    let o32 = Oracle::<f32>::load(dir.join("oracle.safetensors")).unwrap();
    let cross = read_sample_file(
        dir.join("crosscheck_seqgan_generator_samples.txt"),
        5000,
        SEQ_LEN,
    )
    .unwrap();
    let real = read_sample_file(dir.join("oracle_samples_9984x20.txt"), 5000, SEQ_LEN).unwrap();
    assert_eq!(
        (cross.sequences.len(), cross.skipped_lines.len()),
        (EVAL_SEQUENCES, 0)
    );
    assert_eq!(
        (real.sequences.len(), real.skipped_lines.len()),
        (EVAL_SEQUENCES, 0)
    );

    // f64: the README's numpy float64 values, printed with 6 decimals.
    let c64 = o64.nll_oracle(&cross.sequences).unwrap();
    let r64 = o64.nll_oracle(&real.sequences).unwrap();
    println!("NLL_oracle f64: crosscheck {c64:.7}, oracle samples {r64:.7}");
    assert!(
        abs_diff_eq!(c64, 8.669767, epsilon = 1e-6),
        "crosscheck f64 {c64}"
    );
    assert!(
        abs_diff_eq!(r64, 5.760948, epsilon = 1e-6),
        "oracle samples f64 {r64}"
    );

    // f32: a mean of 199,680 per-token values each within ~2e-5 (see above) whose errors
    // largely cancel; the TF run logged 8.66977 (5 significant digits, rounding 5e-6).
    let c32 = o32.nll_oracle(&cross.sequences).unwrap();
    let r32 = o32.nll_oracle(&real.sequences).unwrap();
    println!("NLL_oracle f32: crosscheck {c32:.7}, oracle samples {r32:.7}");
    assert!(
        abs_diff_eq!(c32, 8.66977, epsilon = 5e-6 + 5e-6),
        "crosscheck f32 {c32} vs TF log 8.66977"
    );
    assert!(
        abs_diff_eq!(c32, c64, epsilon = 1e-5),
        "f32 {c32} vs f64 {c64}"
    );
    assert!(
        abs_diff_eq!(r32, r64, epsilon = 1e-5),
        "f32 {r32} vs f64 {r64}"
    );
}

#[test]
fn fresh_oracle_samples_score_the_oracle_entropy_rate() {
    let Some(dir) = oracle_dir("fresh_oracle_samples_score_the_oracle_entropy_rate") else {
        return;
    };
    let o = Oracle::<f32>::load(dir.join("oracle.safetensors")).unwrap();
    // README: NLL_oracle of fresh oracle samples is 5.7554 (mean of 10 x 10,000 numpy
    // samples), with a standard deviation of 0.0054 for one 10k set; a 9,984-set differs by
    // 5 of those at most (plus the reference's own error 0.0054 / sqrt(10)).
    let seqs = o.sample(EVAL_SEQUENCES, SEQ_LEN, 20170204);
    assert!(
        seqs.iter()
            .all(|s| s.len() == SEQ_LEN && s.iter().all(|&t| t < 5000))
    );
    let nll = o.nll_oracle(&seqs).unwrap();
    println!("NLL_oracle of 9,984 fresh f32 samples (seed 20170204): {nll:.5}");
    assert!(
        (nll - 5.7554).abs() < 5.0 * 0.0054 + 0.002,
        "fresh samples {nll}"
    );
}

#[test]
fn first_token_frequencies_match_p1() {
    // A small random oracle (vocab 6) sampled 60,000 times at length 1: each class count is
    // Binomial(n, p_k); we require every count within 5 standard deviations of n p_k.
    let o = Oracle::<f64>::random_with_dims(6, 4, 3, 11).unwrap();
    let p: Vec<f64> = o.log_probs(&[]).unwrap().iter().map(|l| l.exp()).collect();
    let n = 60_000;
    let seqs = o.sample(n, 1, 5);
    let mut counts = [0usize; 6];
    for s in &seqs {
        counts[s[0] as usize] += 1;
    }
    for k in 0..6 {
        let (mean, sd) = (n as f64 * p[k], (n as f64 * p[k] * (1.0 - p[k])).sqrt());
        assert!(
            (counts[k] as f64 - mean).abs() < 5.0 * sd + 1.0,
            "class {k}: {} vs {mean}",
            counts[k]
        );
    }
    // Second token given the first: sample length 2, condition on the most frequent first
    // token, compare with log_probs(&[first]).
    let seqs = o.sample(n, 2, 6);
    let first = (0..6).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap() as u32;
    let q: Vec<f64> = o
        .log_probs(&[first])
        .unwrap()
        .iter()
        .map(|l| l.exp())
        .collect();
    let cond: Vec<&Vec<u32>> = seqs.iter().filter(|s| s[0] == first).collect();
    let m = cond.len() as f64;
    for k in 0..6u32 {
        let c = cond.iter().filter(|s| s[1] == k).count() as f64;
        let (mean, sd) = (
            m * q[k as usize],
            (m * q[k as usize] * (1.0 - q[k as usize])).sqrt(),
        );
        assert!(
            (c - mean).abs() < 5.0 * sd + 1.0,
            "second token {k}: {c} vs {mean}"
        );
    }
}

#[test]
fn sampling_and_scoring_are_identical_for_1_2_7_threads() {
    let o = Oracle::<f32>::random_with_dims(300, 8, 8, 3).unwrap();
    let run = |t| {
        common::with_threads(t, || {
            let s = o.sample(101, 9, 42);
            let nll = o.sequence_nll(&s).unwrap();
            (s, nll.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
        })
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(7));
    // A prefix of the draw is the draw of fewer sequences (per-sequence streams).
    assert_eq!(o.sample(17, 9, 42), one.0[..17].to_vec());
    assert_ne!(o.sample(17, 9, 43), one.0[..17].to_vec());
    // The SeqGAN size, where the logits product is large enough for gemm to split it over
    // threads: still identical, and a row's values do not depend on its block's size.
    let big = Oracle::<f32>::random(5);
    let run = |t| common::with_threads(t, || big.sample(40, SEQ_LEN, 1));
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(7));
    assert_eq!(big.sample(17, SEQ_LEN, 1), one[..17].to_vec());
    let nll = |s: &[Vec<u32>], t| common::with_threads(t, || big.sequence_nll(s).unwrap());
    let all = nll(&one, 1);
    assert_eq!(all, nll(&one, 7));
    assert_eq!(nll(&one[..17], 2), all[..17].to_vec());
}

#[test]
fn random_oracle_save_load_round_trip() {
    let o = Oracle::<f32>::random_with_dims(50, 6, 7, 1).unwrap();
    let path = common::scratch_path("random_oracle.safetensors");
    o.save(&path).unwrap();
    assert_eq!(Oracle::<f32>::load(&path).unwrap(), o);
    let o64 = Oracle::<f64>::random_with_dims(50, 6, 7, 1).unwrap();
    o64.save(&path).unwrap();
    assert_eq!(Oracle::<f64>::load(&path).unwrap(), o64);
    // Parameters look N(0, 1): mean and variance of the 5000 x 32 embedding of the default
    // size (n = 160,000: standard errors 0.0025 and 0.0035; bounds 5 of them).
    let big = Oracle::<f64>::random(7);
    let params = big.parameters();
    let e = params[0].1.as_slice();
    let n = e.len() as f64;
    let mean = e.iter().sum::<f64>() / n;
    let var = e.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    assert!(
        mean.abs() < 5.0 * 0.0025 && (var - 1.0).abs() < 5.0 * 0.0035,
        "mean {mean} var {var}"
    );
    assert_eq!(Oracle::<f64>::random(7), big);
    assert_ne!(Oracle::<f64>::random(8), big);
}

/// Writes a safetensors file from (name, dtype, shape, bytes).
fn write_st(path: &Path, tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>) {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

fn f32_tensors(o: &Oracle<f32>) -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    o.parameters()
        .into_iter()
        .map(|(n, t)| {
            let b = t.as_slice().iter().flat_map(|x| x.to_le_bytes()).collect();
            (n, Dtype::F32, t.shape().to_vec(), b)
        })
        .collect()
}

#[test]
fn load_errors_name_the_file_and_tensor() {
    let o = Oracle::<f32>::random_with_dims(10, 4, 3, 1).unwrap();
    let good = common::scratch_path("good.safetensors");
    o.save(&good).unwrap();

    let missing = common::scratch_path("does_not_exist.safetensors");
    let err = Oracle::<f32>::load(&missing).unwrap_err();
    assert!(
        matches!(err, Error::Io { .. }) && err.to_string().contains("does_not_exist.safetensors"),
        "{err}"
    );

    let bytes = std::fs::read(&good).unwrap();
    let truncated = common::scratch_path("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() - 10]).unwrap();
    let err = Oracle::<f32>::load(&truncated).unwrap_err();
    assert!(
        matches!(err, Error::Safetensors { .. })
            && err.to_string().contains("truncated.safetensors"),
        "{err}"
    );
    std::fs::write(&truncated, b"garbage").unwrap();
    assert!(matches!(
        Oracle::<f32>::load(&truncated).unwrap_err(),
        Error::Safetensors { .. }
    ));

    let mut ts = f32_tensors(&o);
    ts.retain(|t| t.0 != "lstm.output_gate.b");
    let p = common::scratch_path("missing_tensor.safetensors");
    write_st(&p, ts);
    let err = Oracle::<f32>::load(&p).unwrap_err();
    assert!(
        matches!(&err, Error::MissingTensor { name, .. } if name == "lstm.output_gate.b"),
        "{err}"
    );
    assert!(
        err.to_string().contains("missing_tensor.safetensors"),
        "{err}"
    );

    // A transposed output matrix: the classic mistake the README warns about.
    let mut ts = f32_tensors(&o);
    for t in &mut ts {
        if t.0 == "output.W" {
            t.2 = vec![10, 3];
        }
    }
    let p = common::scratch_path("wrong_shape.safetensors");
    write_st(&p, ts);
    let err = Oracle::<f32>::load(&p).unwrap_err();
    assert!(
        matches!(&err, Error::TensorShape { name, expected, found, .. }
            if name == "output.W" && expected == &vec![3, 10] && found == &vec![10, 3]),
        "{err}"
    );

    let mut ts = f32_tensors(&o);
    for t in &mut ts {
        if t.0 == "output.b" {
            t.1 = Dtype::I32;
        }
    }
    let p = common::scratch_path("wrong_dtype.safetensors");
    write_st(&p, ts);
    let err = Oracle::<f32>::load(&p).unwrap_err();
    assert!(
        matches!(&err, Error::TensorDtype { name, .. } if name == "output.b"),
        "{err}"
    );
    assert!(err.to_string().contains("I32"), "{err}");

    let mut ts = f32_tensors(&o);
    ts[0].3[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
    let p = common::scratch_path("nan.safetensors");
    write_st(&p, ts);
    let err = Oracle::<f32>::load(&p).unwrap_err();
    assert!(
        matches!(&err, Error::NonFiniteParameter { name, index: 1, .. } if name == "embedding"),
        "{err}"
    );
}

#[test]
fn sample_files_skip_wrong_lengths_and_reject_bad_tokens() {
    let p = common::scratch_path("samples.txt");
    std::fs::write(&p, "1 2 3\n4 5\n\n6 7 8\n").unwrap();
    let f = read_sample_file(&p, 10, 3).unwrap();
    assert_eq!(f.sequences, vec![vec![1, 2, 3], vec![6, 7, 8]]);
    assert_eq!(f.skipped_lines, vec![2, 3]);

    std::fs::write(&p, "1 2 3\n4 x 6\n").unwrap();
    let err = read_sample_file(&p, 10, 3).unwrap_err();
    assert!(
        err.to_string().contains("samples.txt: line 2: token \"x\""),
        "{err}"
    );
    std::fs::write(&p, "1 2 3\n4 5 -6\n").unwrap();
    assert!(
        read_sample_file(&p, 10, 3)
            .unwrap_err()
            .to_string()
            .contains("line 2")
    );
    std::fs::write(&p, "1 2 3\n4 5 10\n").unwrap();
    let err = read_sample_file(&p, 10, 3).unwrap_err();
    assert!(
        err.to_string()
            .contains("line 2: token 10 is not below the vocabulary size 10"),
        "{err}"
    );
    std::fs::write(&p, "1 2\n").unwrap();
    assert!(
        read_sample_file(&p, 10, 3)
            .unwrap_err()
            .to_string()
            .contains("no line holds exactly 3 tokens")
    );
    std::fs::write(&p, "").unwrap();
    assert!(matches!(
        read_sample_file(&p, 10, 3).unwrap_err(),
        Error::EmptyFile { .. }
    ));

    let seqs = vec![vec![0, 4999, 17], vec![3, 2, 1]];
    write_sample_file(&p, &seqs).unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "0 4999 17\n3 2 1\n");
    assert_eq!(read_sample_file(&p, 5000, 3).unwrap().sequences, seqs);
}

#[test]
fn scoring_rejects_bad_sequences() {
    let o = Oracle::<f64>::random_with_dims(10, 2, 2, 0).unwrap();
    let err = o.nll_oracle(&[vec![1, 2], vec![1, 2, 3]]).unwrap_err();
    assert!(err.to_string().contains("sequence 1 has length 3"), "{err}");
    let err = o.nll_oracle(&[vec![1, 2], vec![1, 10]]).unwrap_err();
    assert!(
        err.to_string().contains("sequence 1, position 1: token 10"),
        "{err}"
    );
    assert!(o.nll_oracle(&[]).is_err());
    let ds = oracle::dataset(&o, 5, 3, 1);
    assert_eq!(
        (ds.train.len(), ds.test.len(), ds.seq_len, ds.vocab.len()),
        (5, 3, 20, 10)
    );
}
