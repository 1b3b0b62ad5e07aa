//! BLEU and self-BLEU against NLTK 3.4.5 (`sentence_bleu`, `SmoothingFunction().method1`,
//! uniform weights, mean over hypotheses as Texygen does), against the direct transcription
//! `sentence_bleu_reference`, and for determinism across thread counts.
//!
//! The hand cases were produced by (NLTK 3.4.5 in a Python 3.11 venv with two shims):
//!
//! ```python
//! import nltkshim  # Python 3.11 shims for NLTK 3.4.5
//! from nltk.translate.bleu_score import sentence_bleu, SmoothingFunction
//! sm = SmoothingFunction().method1
//! s = lambda x: x.split()
//! for refs_, hyp, n in cases:                       # the CASES table below
//!     w = tuple(1. / n for _ in range(n))
//!     print(sentence_bleu(refs_, hyp, w, smoothing_function=sm))
//! sents = [s("a b c"), s("a b d"), s("a b c"), s("c d"), s("b c d e")]
//! for n in (2, 3):
//!     w = tuple(1. / n for _ in range(n))
//!     v = [sentence_bleu(sents[:i] + sents[i+1:], sents[i], w, smoothing_function=sm)
//!          for i in range(len(sents))]
//!     print("self", n, repr(sum(v) / len(v)))
//! ```
//!
//! and the COCO numbers by:
//!
//! ```python
//! import nltkshim
//! import nltk.tokenize as T
//! from nltk.tokenize.punkt import PunktSentenceTokenizer
//! from nltk.translate.bleu_score import sentence_bleu, SmoothingFunction
//! tb, punkt = T._treebank_word_tokenizer, PunktSentenceTokenizer()
//! def tok(l):
//!     return [t for s in punkt.tokenize(l.lower()) for t in tb.tokenize(s)]
//! read = lambda f: open(f"/work/shared/data/coco/{f}.txt").read().split("\n")
//! train = [tok(l) for l in read("train")]
//! test = [tok(l) for l in read("test")]
//! # test line 45 as gumbel-gan's tokenizer splits it (documented difference from untrained Punkt)
//! test[44] = ['a', 'skier', 'near', 'a', 'ski', 'sign', 'labeled', '``', 'experts', 'only', '!', "''", '.']
//! sm = SmoothingFunction().method1
//! def bleu(refs, hyps, n):
//!     w = tuple(1. / n for _ in range(n))
//!     return sum(sentence_bleu(refs, h, w, smoothing_function=sm) for h in hyps) / len(hyps)
//! def self_bleu(sents, n):
//!     w = tuple(1. / n for _ in range(n))
//!     return sum(sentence_bleu(sents[:i] + sents[i + 1:], sents[i], w, smoothing_function=sm)
//!                for i in range(len(sents))) / len(sents)
//! hyps = train[:300]
//! for n in (2, 3, 4, 5):
//!     print(f"fast n={n}: {bleu(test[:500], hyps, n)!r}")
//! for n in (2, 3, 4, 5):
//!     print(f"selfbleu300 n={n}: {self_bleu(train[1000:1300], n)!r}")
//! for n in (2, 3, 4, 5):
//!     print(f"full n={n}: {bleu(test, hyps[:100], n)!r}")
//! ```
//!
//! Tolerance: NLTK sums the weighted logs with `math.fsum` (exactly rounded), we sum them
//! in order; with at most 5 terms of magnitude < 10 that differs by a few ulps of 10
//! (~1e-14) before the final `exp`, so 1e-12 on scores <= 1.

use crate::common;

use approx::abs_diff_eq;
use gumbel_gan::data::text;
use gumbel_gan::metrics::bleu::{
    BleuReferences, References, TEXYGEN_FAST_REFERENCES, bleu, bleu_2_to_5, self_bleu,
    self_bleu_2_to_5, sentence_bleu_reference,
};

const TOL: f64 = 1e-12;

/// (references separated by " | ", hypothesis, n, NLTK's score).
const CASES: &[(&str, &str, usize, f64)] = &[
    // clipping: "the" occurs at most twice in one reference
    (
        "the cat is on the mat | there is a cat on the mat",
        "the the the the the the the",
        2,
        0.06900655593423542,
    ),
    // hypothesis shorter than n: p3 = p4 = 0.1 / 1
    (
        "the cat is on the mat | there is a cat on the mat",
        "the cat",
        4,
        0.04279677428117006,
    ),
    (
        "the cat is on the mat | there is a cat on the mat",
        "the",
        2,
        0.002130725927060655,
    ),
    // no unigram in common: 0
    (
        "the cat is on the mat | there is a cat on the mat",
        "dog",
        2,
        0.0,
    ),
    (
        "the cat is on the mat | there is a cat on the mat",
        "a cat is on the mat there",
        3,
        0.7937005259840997,
    ),
    (
        "the cat is on the mat | there is a cat on the mat",
        "there is a cat on the mat",
        5,
        1.0,
    ),
    (
        "the cat is on the mat | there is a cat on the mat",
        "there is a cat on the mat today , yes",
        5,
        0.6083643418932058,
    ),
    // closest length: 3 and 5 are both 1 away from 4: the shorter (3) wins, c > r, BP = 1
    ("a b c | a b c d e", "a b c d", 2, 1.0),
    ("x | a b c", "a b", 2, 1.0),
    (
        "a b a b a b | b a b",
        "a b a b a a b b",
        3,
        0.644615994694649,
    ),
    // brevity penalty exp(1 - 7/5)
    ("a b c d e f g", "a b c d e", 5, 0.6703200460356393),
];

fn words(s: &str) -> Vec<String> {
    s.split(' ').map(String::from).collect()
}

#[test]
fn sentence_bleu_matches_nltk_hand_cases() {
    for &(refs, hyp, n, want) in CASES {
        let refs: Vec<Vec<String>> = refs.split(" | ").map(words).collect();
        let hyp = words(hyp);
        let fast = BleuReferences::new(&refs, 5)
            .unwrap()
            .sentence_bleu(&hyp, n)
            .unwrap();
        let slow = sentence_bleu_reference(&refs, &hyp, n);
        assert!(
            abs_diff_eq!(fast, want, epsilon = TOL),
            "{hyp:?} n={n}: {fast} vs NLTK {want}"
        );
        assert!(
            abs_diff_eq!(slow, want, epsilon = TOL),
            "{hyp:?} n={n}: reference {slow} vs NLTK {want}"
        );
    }
    let refs = vec![words("the cat")];
    assert_eq!(
        BleuReferences::new(&refs, 2)
            .unwrap()
            .sentence_bleu(&[], 2)
            .unwrap(),
        0.0
    );
}

#[test]
fn self_bleu_matches_nltk_hand_case() {
    let sents: Vec<Vec<String>> = ["a b c", "a b d", "a b c", "c d", "b c d e"]
        .map(words)
        .to_vec();
    let s2 = self_bleu(&sents, 2, References::All).unwrap();
    let s3 = self_bleu(&sents, 3, References::All).unwrap();
    assert!(abs_diff_eq!(s2, 0.8041488444171456, epsilon = TOL), "{s2}");
    assert!(abs_diff_eq!(s3, 0.5884663034843841, epsilon = TOL), "{s3}");
    assert!(self_bleu(&sents[..1], 2, References::All).is_err());
}

/// A small deterministic pseudo-random corpus over `vocab` words (so n-grams repeat).
fn corpus(n: usize, vocab: u32, seed: u64) -> Vec<Vec<u32>> {
    let mut s = seed;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) as u32
    };
    (0..n)
        .map(|_| (0..next() % 9).map(|_| next() % vocab).collect())
        .collect()
}

#[test]
fn preprocessed_bleu_equals_direct_nltk_transcription() {
    // Random sentences of length 0..=8 over 5 words: many repeated n-grams, ties in
    // reference lengths, hypotheses shorter than n, and empty ones.
    let refs = corpus(60, 5, 1);
    let hyps = corpus(200, 6, 2);
    let pre = BleuReferences::new(&refs, 5).unwrap();
    for n in 1..=5 {
        for h in &hyps {
            let (a, b) = (
                pre.sentence_bleu(h, n).unwrap(),
                sentence_bleu_reference(&refs, h, n),
            );
            assert!(abs_diff_eq!(a, b, epsilon = TOL), "{h:?} n={n}: {a} vs {b}");
        }
        // self-BLEU against the brute-force leave-one-out.
        let brute: f64 = (0..refs.len())
            .map(|i| {
                let others: Vec<Vec<u32>> = refs
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .map(|(_, r)| r.clone())
                    .collect();
                sentence_bleu_reference(&others, &refs[i], n)
            })
            .sum::<f64>()
            / refs.len() as f64;
        let got = self_bleu(&refs, n, References::All).unwrap();
        assert!(
            abs_diff_eq!(got, brute, epsilon = TOL),
            "self-BLEU-{n}: {got} vs {brute}"
        );
    }
}

#[test]
fn bleu_is_identical_for_1_2_7_threads() {
    let refs = corpus(3000, 40, 3);
    let hyps = corpus(3000, 40, 4);
    let run = |t| {
        common::with_threads(t, || {
            let b = bleu_2_to_5(&hyps, &refs, References::All).unwrap();
            let s = self_bleu_2_to_5(&hyps, References::First(TEXYGEN_FAST_REFERENCES)).unwrap();
            (b.scores.map(f64::to_bits), s.scores.map(f64::to_bits))
        })
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(7));
}

#[test]
fn argument_errors() {
    let refs = corpus(5, 3, 1);
    assert!(bleu(&refs, &[], 2, References::All).is_err());
    assert!(bleu::<u32>(&[], &refs, 2, References::All).is_err());
    assert!(bleu(&refs, &refs, 6, References::All).is_err());
    assert!(
        BleuReferences::new(&refs, 3)
            .unwrap()
            .sentence_bleu(&refs[0], 4)
            .is_err()
    );
}

#[test]
fn coco_bleu_matches_nltk() {
    let Some(dir) = common::data_dir("coco_bleu_matches_nltk") else {
        return;
    };
    let c = text::load(dir.join("coco/train.txt"), dir.join("coco/test.txt")).unwrap();
    let hyps = &c.train_tokens[..300];
    let fast = bleu_2_to_5(
        hyps,
        &c.test_tokens,
        References::First(TEXYGEN_FAST_REFERENCES),
    )
    .unwrap();
    let full = bleu_2_to_5(&hyps[..100], &c.test_tokens, References::All).unwrap();
    let selfb = self_bleu_2_to_5(&c.train_tokens[1000..1300], References::All).unwrap();
    println!(
        "COCO BLEU-2..5 fast (300 train lines vs first 500 test lines): {:?}",
        fast.scores
    );
    println!(
        "COCO BLEU-2..5 full (100 train lines vs all 10,000 test lines): {:?}",
        full.scores
    );
    println!(
        "COCO self-BLEU-2..5 (train lines 1001..1300): {:?}",
        selfb.scores
    );
    let nltk_fast = [
        0.510407009807281,
        0.27126381073715494,
        0.14776697458982072,
        0.0925248567686819,
    ];
    let nltk_self = [
        0.6647102709119185,
        0.44573897753452135,
        0.2878997488596002,
        0.1936726794684235,
    ];
    let nltk_full = [
        0.7272424951477733,
        0.5016892704270046,
        0.30887126907181367,
        0.20336634791172997,
    ];
    for k in 0..4 {
        assert!(
            abs_diff_eq!(fast.scores[k], nltk_fast[k], epsilon = TOL),
            "fast BLEU-{}: {} vs {}",
            k + 2,
            fast.scores[k],
            nltk_fast[k]
        );
        assert!(
            abs_diff_eq!(selfb.scores[k], nltk_self[k], epsilon = TOL),
            "self-BLEU-{}",
            k + 2
        );
        assert!(
            abs_diff_eq!(full.scores[k], nltk_full[k], epsilon = TOL),
            "full BLEU-{}: {} vs {}",
            k + 2,
            full.scores[k],
            nltk_full[k]
        );
    }
}
