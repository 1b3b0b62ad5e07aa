//! BLEU and self-BLEU exactly as Texygen computes them: NLTK's `sentence_bleu` with
//! `SmoothingFunction().method1` and uniform weights, every hypothesis against the whole
//! reference set, averaged over hypotheses.
//!
//! # NLTK's sentence BLEU-N (nltk/translate/bleu_score.py, NLTK 3.4.5)
//! For a hypothesis `h` of length `c` and references `R`:
//! - modified precision of order `n`: `p_n = num_n / den_n` with
//!   `num_n = sum_g min(count_h(g), max_{r in R} count_r(g))` over the n-grams `g` of `h`,
//!   `den_n = max(1, number of n-grams of h)` (so `den_n = 1` when `c < n`);
//! - if `num_1 = 0` (no unigram in common) the score is 0;
//! - method1 smoothing: a `p_n` with `num_n = 0` becomes `0.1 / den_n` (epsilon 0.1);
//! - brevity penalty with `r` the reference length closest to `c`, ties to the shorter:
//!   `BP = 1` if `c > r`, else `exp(1 - r / c)`;
//! - `BLEU-N = BP * exp(sum_{n=1..N} (1/N) ln p_n)`.
//!
//! # Texygen's protocol (utils/metrics/Bleu.py, SelfBleu.py)
//! The corpus score is the plain mean of the hypotheses' sentence scores. In "fast" mode,
//! Texygen's default, only the first 500 reference sentences are used
//! ([`References::First`]`(`[`TEXYGEN_FAST_REFERENCES`]`)`); otherwise all
//! ([`References::All`]). Self-BLEU scores each generated sentence against all the *other*
//! generated sentences (the sentence itself excluded, duplicates of it kept); in fast mode
//! Texygen keeps the first 500 generated sentences and scores each against the other 499.
//! Tokens are compared as given: pass word tokens (e.g. from [`crate::data::text::tokenize`])
//! or token ids.
//!
//! # Speed
//! NLTK recounts every reference for every hypothesis (O(|R|) per hypothesis). Here the
//! reference set is preprocessed once ([`BleuReferences`]): per order `n`, a hash map from
//! n-gram to its largest count in any one reference (and the runner-up, for self-BLEU's
//! exclusion), and the sorted reference lengths with their multiplicities. A hypothesis then
//! costs O(c) lookups. Hypotheses are scored in parallel with rayon and summed in order, so
//! the result is the same for any number of threads.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use rayon::prelude::*;

use crate::error::{Error, Result};
use gumbel_tensor::random::splitmix64;

/// Number of reference sentences in Texygen's "fast" mode.
pub const TEXYGEN_FAST_REFERENCES: usize = 500;
/// Highest n-gram order supported (BLEU-5): five token ids of 25 bits pack into a `u128`.
pub const MAX_ORDER: usize = 5;
/// method1's epsilon: the numerator given to a precision with no matching n-gram.
pub const EPSILON: f64 = 0.1;

/// Bits per token id in a packed n-gram key.
const ID_BITS: u32 = 25;

/// Which reference sentences to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum References {
    /// All of them.
    All,
    /// The first `k` (Texygen's fast mode: `First(500)`).
    First(usize),
}

impl References {
    fn take<T>(self, refs: &[Vec<T>]) -> &[Vec<T>] {
        match self {
            References::All => refs,
            References::First(k) => &refs[..k.min(refs.len())],
        }
    }
}

/// Hasher for packed n-gram keys: SplitMix64 of the two halves (keys are already
/// well-spread integers; SipHash's DoS resistance is not needed here).
#[derive(Default)]
struct NgramHasher(u64);

impl Hasher for NgramHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = splitmix64(self.0 ^ b as u64);
        }
    }
    fn write_u128(&mut self, x: u128) {
        self.0 = splitmix64(x as u64 ^ splitmix64((x >> 64) as u64));
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type NgramMap<V> = HashMap<u128, V, BuildHasherDefault<NgramHasher>>;

/// The largest count of an n-gram in any single reference, how many references reach it,
/// and the largest count among the others when only one does (self-BLEU's exclusion).
#[derive(Debug, Clone, Copy, Default)]
struct MaxCount {
    max: u32,
    holders: u32,
    second: u32,
}

impl MaxCount {
    fn add(&mut self, c: u32) {
        if c > self.max {
            self.second = self.max;
            self.max = c;
            self.holders = 1;
        } else if c == self.max {
            self.holders += 1;
        } else if c > self.second {
            self.second = c;
        }
    }

    /// The largest count over the references other than one whose own count is `own`.
    fn excluding(&self, own: u32) -> u32 {
        if own == self.max && self.holders == 1 {
            self.second
        } else {
            self.max
        }
    }
}

/// A preprocessed reference set for BLEU of orders `1..=max_order`.
#[derive(Debug, Clone)]
pub struct BleuReferences<T> {
    max_order: usize,
    ids: HashMap<T, u32>,
    /// Per order n (index n - 1): n-gram -> max count.
    max_counts: Vec<NgramMap<MaxCount>>,
    /// Distinct reference lengths, ascending, with their multiplicities.
    lengths: Vec<(usize, u32)>,
    /// The references as packed ids (for self-BLEU's own counts).
    encoded: Vec<Vec<u32>>,
}

/// Packs `ids` (each < 2^25) into one key.
#[inline]
fn pack(ids: &[u32]) -> u128 {
    ids.iter().fold(0u128, |k, &id| (k << ID_BITS) | id as u128)
}

/// The n-grams of `s` as packed keys, sorted, with their counts.
fn ngram_counts(s: &[u32], n: usize) -> Vec<(u128, u32)> {
    if s.len() < n {
        return Vec::new();
    }
    let mut keys: Vec<u128> = s.windows(n).map(pack).collect();
    keys.sort_unstable();
    let mut out: Vec<(u128, u32)> = Vec::with_capacity(keys.len());
    for k in keys {
        match out.last_mut() {
            Some((last, c)) if *last == k => *c += 1,
            _ => out.push((k, 1)),
        }
    }
    out
}

impl<T: Hash + Eq + Clone + Sync> BleuReferences<T> {
    /// Preprocesses `references` for BLEU up to order `max_order` (1..=5).
    ///
    /// `Err` if `references` is empty (NLTK fails there too), if `max_order` is out of range,
    /// or if the references hold 2^25 - 1 or more distinct tokens.
    pub fn new(references: &[Vec<T>], max_order: usize) -> Result<Self> {
        const OP: &str = "BleuReferences::new";
        if references.is_empty() {
            return Err(Error::invalid_argument(OP, "the reference set is empty"));
        }
        if !(1..=MAX_ORDER).contains(&max_order) {
            return Err(Error::invalid_argument(
                OP,
                format!("max_order must be in 1..={MAX_ORDER}, got {max_order}"),
            ));
        }
        let mut ids: HashMap<T, u32> = HashMap::new();
        let limit = (1u32 << ID_BITS) - 1; // one id is kept for tokens no reference has
        let mut encoded = Vec::with_capacity(references.len());
        for r in references {
            let mut e = Vec::with_capacity(r.len());
            for t in r {
                let next = ids.len() as u32;
                let id = *ids.entry(t.clone()).or_insert(next);
                if ids.len() as u32 >= limit {
                    return Err(Error::invalid_argument(
                        OP,
                        format!("more than {} distinct tokens", limit - 1),
                    ));
                }
                e.push(id);
            }
            encoded.push(e);
        }
        let mut max_counts: Vec<NgramMap<MaxCount>> =
            (0..max_order).map(|_| NgramMap::default()).collect();
        for e in &encoded {
            for (n, map) in max_counts.iter_mut().enumerate() {
                for (k, c) in ngram_counts(e, n + 1) {
                    map.entry(k).or_default().add(c);
                }
            }
        }
        let mut lens: Vec<usize> = encoded.iter().map(Vec::len).collect();
        lens.sort_unstable();
        let mut lengths: Vec<(usize, u32)> = Vec::new();
        for l in lens {
            match lengths.last_mut() {
                Some((last, c)) if *last == l => *c += 1,
                _ => lengths.push((l, 1)),
            }
        }
        Ok(BleuReferences {
            max_order,
            ids,
            max_counts,
            lengths,
            encoded,
        })
    }

    /// Number of reference sentences.
    pub fn len(&self) -> usize {
        self.encoded.len()
    }

    /// Always false: a reference set is never empty.
    pub fn is_empty(&self) -> bool {
        self.encoded.is_empty()
    }

    /// Highest order this set was prepared for.
    pub fn max_order(&self) -> usize {
        self.max_order
    }

    /// The hypothesis as ids; tokens no reference has share the id `ids.len()`, which no
    /// reference n-gram contains.
    fn encode(&self, hyp: &[T]) -> Vec<u32> {
        let unseen = self.ids.len() as u32;
        hyp.iter()
            .map(|t| self.ids.get(t).copied().unwrap_or(unseen))
            .collect()
    }

    /// The reference length closest to `c`, ties to the shorter; with `exclude`, one
    /// reference of that length is left out.
    fn closest_length(&self, c: usize, exclude: Option<usize>) -> Option<usize> {
        let available = |&(l, m): &(usize, u32)| m > (exclude == Some(l)) as u32;
        let split = self.lengths.partition_point(|&(l, _)| l < c);
        let above = self.lengths[split..]
            .iter()
            .find(|e| available(e))
            .map(|e| e.0);
        let below = self.lengths[..split]
            .iter()
            .rev()
            .find(|e| available(e))
            .map(|e| e.0);
        match (below, above) {
            (Some(b), Some(a)) => Some(if c - b <= a - c { b } else { a }),
            (b, a) => b.or(a),
        }
    }

    /// NLTK's sentence BLEU-`n` (module docs) of `hyp` against every reference, or every
    /// reference but `exclude` (an index into the reference set: self-BLEU). `n` must be
    /// in `1..=max_order` (checked by the public callers).
    fn score(&self, hyp: &[u32], n: usize, exclude: Option<usize>) -> f64 {
        let c = hyp.len();
        let own = exclude.map(|i| &self.encoded[i]);
        let Some(r) = self.closest_length(c, own.map(Vec::len)) else {
            return 0.0; // no reference left (self-BLEU of a single sentence)
        };
        let mut log_sum = 0.0;
        let w = 1.0 / n as f64;
        for order in 1..=n {
            let map = &self.max_counts[order - 1];
            let own_counts = own.map(|s| ngram_counts(s, order));
            let mut num = 0u64;
            let hyp_counts = ngram_counts(hyp, order);
            for &(k, count) in &hyp_counts {
                let Some(mc) = map.get(&k) else { continue };
                let max = match &own_counts {
                    None => mc.max,
                    Some(oc) => {
                        let own_c = oc.binary_search_by_key(&k, |e| e.0).map_or(0, |i| oc[i].1);
                        mc.excluding(own_c)
                    }
                };
                num += count.min(max) as u64;
            }
            let den = (c + 1).saturating_sub(order).max(1) as f64;
            if order == 1 && num == 0 {
                return 0.0;
            }
            let p = if num == 0 {
                EPSILON / den
            } else {
                num as f64 / den
            };
            log_sum += w * p.ln();
        }
        let bp = if c > r {
            1.0
        } else {
            (1.0 - r as f64 / c as f64).exp()
        };
        bp * log_sum.exp()
    }

    fn check_order(&self, op: &'static str, n: usize) -> Result<()> {
        if (1..=self.max_order).contains(&n) {
            Ok(())
        } else {
            Err(Error::invalid_argument(
                op,
                format!("order {n} is not in 1..={}", self.max_order),
            ))
        }
    }

    /// NLTK's `sentence_bleu(references, hyp, (1/n,)*n, smoothing_function=method1)`.
    pub fn sentence_bleu(&self, hyp: &[T], n: usize) -> Result<f64> {
        self.check_order("BleuReferences::sentence_bleu", n)?;
        Ok(self.score(&self.encode(hyp), n, None))
    }

    /// The mean of [`BleuReferences::sentence_bleu`] over `hyps` (Texygen's corpus score),
    /// computed in parallel and summed in order. `Err` if `hyps` is empty.
    pub fn mean_bleu(&self, hyps: &[Vec<T>], n: usize) -> Result<f64> {
        const OP: &str = "BleuReferences::mean_bleu";
        self.check_order(OP, n)?;
        if hyps.is_empty() {
            return Err(Error::invalid_argument(OP, "no hypotheses"));
        }
        let scores: Vec<f64> = hyps
            .par_iter()
            .with_min_len(64)
            .map(|h| self.score(&self.encode(h), n, None))
            .collect();
        Ok(scores.iter().sum::<f64>() / scores.len() as f64)
    }

    /// Self-BLEU-`n` of the reference set itself: the mean over references `i` of the
    /// sentence BLEU of reference `i` against all the others. `Err` if there are fewer than
    /// two sentences.
    pub fn mean_self_bleu(&self, n: usize) -> Result<f64> {
        const OP: &str = "BleuReferences::mean_self_bleu";
        self.check_order(OP, n)?;
        if self.len() < 2 {
            return Err(Error::invalid_argument(
                OP,
                "self-BLEU needs at least two sentences",
            ));
        }
        let scores: Vec<f64> = (0..self.len())
            .into_par_iter()
            .with_min_len(64)
            .map(|i| self.score(&self.encoded[i], n, Some(i)))
            .collect();
        Ok(scores.iter().sum::<f64>() / scores.len() as f64)
    }
}

/// BLEU-2..5 (or any orders up to 5) of a set, in one struct.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BleuScores {
    /// `scores[k]` is BLEU-`(k + 2)`: BLEU-2, 3, 4, 5.
    pub scores: [f64; 4],
}

impl BleuScores {
    /// BLEU-`n` for `n` in 2..=5.
    pub fn get(&self, n: usize) -> Option<f64> {
        n.checked_sub(2).and_then(|k| self.scores.get(k)).copied()
    }
}

/// Texygen's BLEU-`n`: the mean over `hyps` of NLTK's smoothed sentence BLEU against the
/// `refs` selected by `which` ([`References::First`]`(500)` is Texygen's fast mode).
///
/// ```
/// use gumbel_gan::metrics::bleu::{bleu, References};
/// let s = |x: &'static str| x.split(' ').collect::<Vec<_>>();
/// let refs = vec![s("the cat is on the mat"), s("there is a cat on the mat")];
/// // An exact match of a reference scores 1.
/// assert_eq!(bleu(&[s("there is a cat on the mat")], &refs, 4, References::All).unwrap(), 1.0);
/// // "the the the the the the the": p1 = 2/7 (clipped), p2 = 0.1/6 (smoothed), BP = 1:
/// let want = (2.0f64 / 7.0 * 0.1 / 6.0).sqrt();
/// let got = bleu(&[s("the the the the the the the")], &refs, 2, References::All).unwrap();
/// assert!((got - want).abs() < 1e-15);
/// ```
pub fn bleu<T: Hash + Eq + Clone + Sync>(
    hyps: &[Vec<T>],
    refs: &[Vec<T>],
    n: usize,
    which: References,
) -> Result<f64> {
    BleuReferences::new(which.take(refs), n)?.mean_bleu(hyps, n)
}

/// BLEU-2, 3, 4 and 5 with one preprocessing of the references (see [`bleu`]).
pub fn bleu_2_to_5<T: Hash + Eq + Clone + Sync>(
    hyps: &[Vec<T>],
    refs: &[Vec<T>],
    which: References,
) -> Result<BleuScores> {
    let r = BleuReferences::new(which.take(refs), 5)?;
    let mut scores = [0.0; 4];
    for (k, s) in scores.iter_mut().enumerate() {
        *s = r.mean_bleu(hyps, k + 2)?;
    }
    Ok(BleuScores { scores })
}

/// Texygen's self-BLEU-`n` of generated `samples`: with `which` selecting the sentences
/// used (`First(500)` in fast mode), the mean over them of the sentence BLEU of each
/// against all the others (module docs). Lower means more diverse.
///
/// ```
/// use gumbel_gan::metrics::bleu::{self_bleu, References};
/// let s = |x: &'static str| x.split(' ').collect::<Vec<_>>();
/// // Two copies of one sentence: each is a perfect match of the other.
/// assert_eq!(self_bleu(&[s("a b c"), s("a b c")], 3, References::All).unwrap(), 1.0);
/// ```
pub fn self_bleu<T: Hash + Eq + Clone + Sync>(
    samples: &[Vec<T>],
    n: usize,
    which: References,
) -> Result<f64> {
    BleuReferences::new(which.take(samples), n)?.mean_self_bleu(n)
}

/// Self-BLEU-2, 3, 4 and 5 (see [`self_bleu`]).
pub fn self_bleu_2_to_5<T: Hash + Eq + Clone + Sync>(
    samples: &[Vec<T>],
    which: References,
) -> Result<BleuScores> {
    let r = BleuReferences::new(which.take(samples), 5)?;
    let mut scores = [0.0; 4];
    for (k, s) in scores.iter_mut().enumerate() {
        *s = r.mean_self_bleu(k + 2)?;
    }
    Ok(BleuScores { scores })
}

/// Direct transcription of NLTK's `sentence_bleu` with method1 (recounting every reference
/// for the hypothesis): the slow reference twin of [`BleuReferences`], for tests.
pub fn sentence_bleu_reference<T: Hash + Eq>(references: &[Vec<T>], hyp: &[T], n: usize) -> f64 {
    fn counts<T: Hash + Eq>(s: &[T], n: usize) -> HashMap<&[T], u32> {
        let mut m = HashMap::new();
        if s.len() >= n {
            for g in s.windows(n) {
                *m.entry(g).or_default() += 1;
            }
        }
        m
    }
    let mut p = Vec::with_capacity(n);
    for order in 1..=n {
        let hc = counts(hyp, order);
        let mut num = 0u32;
        for (g, &c) in &hc {
            let max = references
                .iter()
                .map(|r| counts(r, order).get(g).copied().unwrap_or(0))
                .max()
                .unwrap_or(0);
            num += c.min(max);
        }
        let den = hc.values().sum::<u32>().max(1);
        p.push((num, den));
    }
    if p[0].0 == 0 {
        return 0.0;
    }
    let c = hyp.len();
    let r = references
        .iter()
        .map(Vec::len)
        .min_by_key(|&l| (l.abs_diff(c), l))
        .expect("references");
    let bp = if c > r {
        1.0
    } else if c == 0 {
        0.0
    } else {
        (1.0 - r as f64 / c as f64).exp()
    };
    let w = 1.0 / n as f64;
    let s: f64 = p
        .iter()
        .map(|&(num, den)| {
            w * if num == 0 {
                EPSILON / den as f64
            } else {
                num as f64 / den as f64
            }
            .ln()
        })
        .sum();
    bp * s.exp()
}
