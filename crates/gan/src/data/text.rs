//! Word-level text corpora (one sentence per line, e.g. the COCO captions benchmark): the
//! benchmark's tokenizer, a frequency-ordered vocabulary, and loading of a training file and
//! a held-out test file into a [`Dataset`].
//!
//! # Tokenizer
//! Texygen, RelGAN and TextGAN-PyTorch tokenize with `nltk.word_tokenize(line.lower())`.
//! [`tokenize`] reproduces NLTK 3.4's `word_tokenize` by hand:
//!
//! 1. lowercase (Rust's `str::to_lowercase`, as Python's `str.lower`);
//! 2. split into sentences ([`split_sentences`]; NLTK uses its Punkt model here);
//! 3. each sentence through the Treebank rules ([`treebank_tokenize`]): NLTK 3.4.5's
//!    `TreebankWordTokenizer` with the "improved" rules that `word_tokenize` adds
//!    (`nltk/tokenize/__init__.py`), i.e. the exact regex substitutions, in order, ported to
//!    plain Rust (no regex crate: each rule is a small matcher with Python `re.sub` scanning
//!    semantics; see the comments at each rule);
//! 4. split on whitespace.
//!
//! Tested against NLTK 3.4.5 on every line of the COCO files and on tricky cases (tests in
//! `tests/text.rs`). Character classes follow Python's Unicode `str` patterns closely but
//! not exactly outside ASCII: `\w` is `char::is_alphanumeric() || '_'`, `\d` is an ASCII
//! digit or a non-ASCII `char::is_numeric()`, `\s` is `char::is_whitespace()` or
//! U+001C..=U+001F, and `(?i)` compares ASCII letters only. The COCO files are pure ASCII.
//!
//! ## Sentence splitting (the one approximation)
//! `word_tokenize` first splits with Punkt's trained English model, which cannot be
//! downloaded here (the data README's counts use an *untrained* Punkt). [`split_sentences`]
//! implements Punkt's decision for the cases that occur in captions: a sentence ends after a
//! whitespace-separated word whose last character, ignoring closing `" ' ) ] }`, is `?`
//! or `!`, or `.` unless the word is an ellipsis (`..`), or its last Punkt sub-token (the
//! part after the last of `? ! ) " ; } ] * : @ ' ( { [`) is an abbreviation with an inner
//! period (`u.s.`, `a.m.`), or is a single letter or a number (`59.` in `11:59.`) followed by
//! a word that starts in lower case or is a punctuation mark (Punkt's orthographic
//! heuristic; a single letter followed by an upper-case word does not end a sentence
//! either). On the COCO files this
//! differs from untrained Punkt on two lines: train 321 (`a u.s. air force plane ...`,
//! untrained Punkt splits after `u.s.`) and test 45 (`... "experts only!". `, where Punkt
//! also splits inside `!".`, turning the closing quote into an opening one).
//!
//! # Vocabulary
//! Built from the training file only (as TextGAN-PyTorch): `<pad>`=0, `<bos>`=1, `<eos>`=2,
//! `<unk>`=3, then every word of the training file by decreasing count, ties in byte-wise
//! (Unicode code point) order of the word. Test words not in it encode as `<unk>`; the
//! token strings ([`TextCorpus::test_tokens`]) keep them for BLEU.
//!
//! # Measured on COCO (`shared/data/coco`, test `coco_counts_match_the_benchmark`)
//! Train: 10,000 sentences, 113,593 tokens, 4,681 word types, longest sentence 37 tokens.
//! Test: 112,108 tokens, 4,237 types, longest 34; 4,269 test tokens are not in the train
//! vocabulary. The data README, with untrained Punkt, has 113,594 / 4,680 / 37 for train:
//! the one difference is `u.s.` (above). TextGAN-PyTorch's `vocab_size = 4683` for this
//! file (4,681 words + `<pad>` + `<bos>`) agrees with our 4,681. The vocabulary has 4,685
//! tokens with the four special ones, and `seq_len` is 38 (37 + `<eos>`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::data::{Dataset, Specials, Token, Vocab};
use crate::error::{Error, Result};
use crate::io::{numbered_lines, read_text_file};

/// Padding token string (id 0).
pub const PAD: &str = "<pad>";
/// Beginning-of-sequence token string (id 1).
pub const BOS: &str = "<bos>";
/// End-of-sequence token string (id 2).
pub const EOS: &str = "<eos>";
/// Unknown-word token string (id 3).
pub const UNK: &str = "<unk>";

/// The benchmark tokenization of one line: lowercase, [`split_sentences`], then
/// [`treebank_tokenize`] on each sentence.
///
/// ```
/// use gumbel_gan::data::text::tokenize;
/// assert_eq!(
///     tokenize("A bicycle replica with a clock as the front wheel."),
///     ["a", "bicycle", "replica", "with", "a", "clock", "as", "the", "front", "wheel", "."]
/// );
/// assert_eq!(tokenize("it's a dog's \"toy\", isn't it?"),
///     ["it", "'s", "a", "dog", "'s", "``", "toy", "''", ",", "is", "n't", "it", "?"]);
/// ```
pub fn tokenize(line: &str) -> Vec<String> {
    let lower = line.to_lowercase();
    split_sentences(&lower)
        .into_iter()
        .flat_map(treebank_tokenize)
        .collect()
}

/// Splits a line into sentences (see the module docs for the rule). Each sentence is a
/// slice of `text` from its first to its last non-whitespace character; a line with no
/// boundary is one sentence, a blank line none.
///
/// ```
/// use gumbel_gan::data::text::split_sentences;
/// assert_eq!(split_sentences("a cat. a dog!  ok"), ["a cat.", "a dog!", "ok"]);
/// assert_eq!(split_sentences("a u.s. jet at 5 p.m. today"), ["a u.s. jet at 5 p.m. today"]);
/// ```
pub fn split_sentences(text: &str) -> Vec<&str> {
    let words = word_spans(text);
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (k, &(pos, word)) in words.iter().enumerate() {
        let s = *start.get_or_insert(pos);
        let end = pos + word.len();
        let boundary = match words.get(k + 1) {
            Some(&(_, next)) => ends_sentence(word, next),
            None => true,
        };
        if boundary {
            out.push(&text[s..end]);
            start = None;
        }
    }
    out
}

/// `(byte offset, word)` of every maximal run of non-whitespace characters.
fn word_spans(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (is_space(c), start) {
            (true, Some(s)) => {
                out.push((s, &text[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &text[s..]));
    }
    out
}

/// Does a sentence end after `word`, given the word after it? (Module docs.)
fn ends_sentence(word: &str, next: &str) -> bool {
    let core = word.trim_end_matches(['"', '\'', ')', ']', '}']);
    if core.ends_with(['?', '!']) {
        return true;
    }
    let Some(stem) = core.strip_suffix('.') else {
        return false;
    };
    if stem.ends_with('.') {
        return false; // ellipsis
    }
    // Punkt judges the last of its own word tokens, which end at `? ! ) " ; } ] * : @ ' ( { [`:
    // in `11:59.` that is `59.`, a number.
    let stem = stem
        .rsplit([
            '?', '!', ')', '"', ';', '}', ']', '*', ':', '@', '\'', '(', '{', '[',
        ])
        .next()
        .unwrap_or("");
    if stem.contains('.') {
        return false; // abbreviation with an inner period
    }
    let initial = {
        let mut cs = stem.chars();
        matches!((cs.next(), cs.next()), (Some(c), None) if c.is_alphabetic())
    };
    // Punkt's number type: -?[.,]?\d[\d,.-]*
    let digits = stem.strip_prefix('-').unwrap_or(stem);
    let digits = digits.strip_prefix([',', '.']).unwrap_or(digits);
    let number = digits.starts_with(|c: char| c.is_ascii_digit())
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ',' | '.' | '-'));
    if initial || number {
        let first = next.chars().next().unwrap_or(' ');
        let punct = matches!(next, ";" | ":" | "," | "." | "!" | "?");
        if punct || first.is_lowercase() || (initial && first.is_uppercase()) {
            return false;
        }
    }
    true
}

/// Python's `\s` on `str` (see the module docs).
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `\w` on `str`.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Python's `\d` on `str` (Unicode decimal digits; approximated outside ASCII).
fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric())
}

/// A rewrite rule: at position `i` of `t`, either no match, or the end of the match and
/// its replacement.
type Rule = fn(&[char], usize) -> Option<(usize, String)>;

/// Python's `re.sub` scanning: from left to right, at each position try the rule; on a
/// match emit the replacement and continue after it, else copy one character. (No rule
/// here can match the empty string.)
fn sub(t: &[char], rule: Rule) -> Vec<char> {
    let mut out = Vec::with_capacity(t.len() + 8);
    let mut i = 0;
    while i < t.len() {
        match rule(t, i) {
            Some((end, rep)) => {
                debug_assert!(end > i);
                out.extend(rep.chars());
                i = end;
            }
            None => {
                out.push(t[i]);
                i += 1;
            }
        }
    }
    out
}

/// Python's `$` without MULTILINE: the end of the text, or just before a final `\n`.
fn at_end(t: &[char], p: usize) -> bool {
    p == t.len() || (p + 1 == t.len() && t[p] == '\n')
}

/// `\b` at position `p`: exactly one of `t[p - 1]`, `t[p]` is a word character.
fn boundary(t: &[char], p: usize) -> bool {
    let before = p > 0 && is_word(t[p - 1]);
    let after = p < t.len() && is_word(t[p]);
    before != after
}

/// `t[i..]` starts with `s`, comparing ASCII letters case-insensitively when `fold`.
fn starts(t: &[char], i: usize, s: &str, fold: bool) -> bool {
    let mut k = i;
    for c in s.chars() {
        match t.get(k) {
            Some(&d) if d == c || (fold && d.eq_ignore_ascii_case(&c)) => k += 1,
            _ => return false,
        }
    }
    true
}

/// The final-period rules: `([^\.])(\.)([<closers>]*)\s*$`. Returns the end of the match
/// (the text's end) and the closers run, if `t[i]` is not a period, `t[i + 1]` is, and
/// after it come only closers and then only whitespace. (Only the last period of a text can
/// match: an earlier one is followed by a period, which is neither.)
fn final_period(t: &[char], i: usize, closers: &[char]) -> Option<String> {
    if t[i] == '.' || t.get(i + 1) != Some(&'.') {
        return None;
    }
    let mut k = i + 2;
    while k < t.len() && closers.contains(&t[k]) {
        k += 1;
    }
    let run: String = t[i + 2..k].iter().collect();
    t[k..].iter().all(|&c| is_space(c)).then_some(run)
}

const STARTING_QUOTES: [Rule; 5] = [
    // improved: ([«“‘„]|[`]+) -> " \1 "
    |t, i| match t[i] {
        '«' | '“' | '‘' | '„' => Some((i + 1, format!(" {} ", t[i]))),
        '`' => {
            let end = (i..t.len()).find(|&k| t[k] != '`').unwrap_or(t.len());
            Some((end, format!(" {} ", "`".repeat(end - i))))
        }
        _ => None,
    },
    // ^\" -> ``
    |t, i| (i == 0 && t[0] == '"').then(|| (1, "``".to_string())),
    // (``) -> " \1 "
    |t, i| starts(t, i, "``", false).then(|| (i + 2, " `` ".to_string())),
    // ([ \(\[{<])(\"|\'{2}) -> "\1 `` "
    |t, i| {
        if !matches!(t[i], ' ' | '(' | '[' | '{' | '<') {
            return None;
        }
        if t.get(i + 1) == Some(&'"') {
            Some((i + 2, format!("{} `` ", t[i])))
        } else if starts(t, i + 1, "''", false) {
            Some((i + 3, format!("{} `` ", t[i])))
        } else {
            None
        }
    },
    // improved: (?i)(\')(?!re|ve|ll|m|t|s|d)(\w)\b -> "\1 \2": a quote before a
    // one-character word that is not a clitic.
    |t, i| {
        if t[i] != '\'' {
            return None;
        }
        if ["re", "ve", "ll", "m", "t", "s", "d"]
            .iter()
            .any(|s| starts(t, i + 1, s, true))
        {
            return None;
        }
        let w = *t.get(i + 1)?;
        (is_word(w) && boundary(t, i + 2)).then(|| (i + 2, format!("' {w}")))
    },
];

const PUNCTUATION: [Rule; 8] = [
    // improved: ([^\.])(\.)([\]\)}>"\'»”’ ]*)\s*$ -> "\1 \2 \3 "
    |t, i| {
        let run = final_period(t, i, &[']', ')', '}', '>', '"', '\'', '»', '”', '’', ' '])?;
        Some((t.len(), format!("{} . {run} ", t[i])))
    },
    // ([:,])([^\d]) -> " \1 \2"
    |t, i| {
        let n = *t.get(i + 1)?;
        (matches!(t[i], ':' | ',') && !is_digit(n)).then(|| (i + 2, format!(" {} {n}", t[i])))
    },
    // ([:,])$ -> " \1 "
    |t, i| (matches!(t[i], ':' | ',') && at_end(t, i + 1)).then(|| (i + 1, format!(" {} ", t[i]))),
    // \.\.\. -> " ... "
    |t, i| starts(t, i, "...", false).then(|| (i + 3, " ... ".to_string())),
    // [;@#$%&] -> " \g<0> "
    |t, i| {
        matches!(t[i], ';' | '@' | '#' | '$' | '%' | '&').then(|| (i + 1, format!(" {} ", t[i])))
    },
    // ([^\.])(\.)([\]\)}>"\']*)\s*$ -> "\1 \2\3 "
    |t, i| {
        let run = final_period(t, i, &[']', ')', '}', '>', '"', '\''])?;
        Some((t.len(), format!("{} .{run} ", t[i])))
    },
    // [?!] -> " \g<0> "
    |t, i| matches!(t[i], '?' | '!').then(|| (i + 1, format!(" {} ", t[i]))),
    // ([^'])' -> "\1 ' "
    |t, i| {
        (t[i] != '\'' && t.get(i + 1) == Some(&'\'') && t.get(i + 2) == Some(&' '))
            .then(|| (i + 3, format!("{} ' ", t[i])))
    },
];

// [\]\[\(\)\{\}\<\>] -> " \g<0> "
const PARENS_BRACKETS: Rule = |t, i| {
    matches!(t[i], ']' | '[' | '(' | ')' | '{' | '}' | '<' | '>')
        .then(|| (i + 1, format!(" {} ", t[i])))
};

// -- -> " -- "
const DOUBLE_DASHES: Rule = |t, i| starts(t, i, "--", false).then(|| (i + 2, " -- ".to_string()));

const ENDING_QUOTES: [Rule; 5] = [
    // improved: ([»”’]) -> " \1 "
    |t, i| matches!(t[i], '»' | '”' | '’').then(|| (i + 1, format!(" {} ", t[i]))),
    // " -> " '' "
    |t, i| (t[i] == '"').then(|| (i + 1, " '' ".to_string())),
    // (\S)(\'\') -> "\1 \2 "
    |t, i| {
        (!is_space(t[i]) && starts(t, i + 1, "''", false)).then(|| (i + 3, format!("{} '' ", t[i])))
    },
    // ([^' ])('[sS]|'[mM]|'[dD]|') -> "\1 \2 "  (alternatives tried in order; each must
    // be followed by a space)
    |t, i| {
        if matches!(t[i], '\'' | ' ') || t.get(i + 1) != Some(&'\'') {
            return None;
        }
        match (t.get(i + 2).copied(), t.get(i + 3).copied()) {
            (Some(c), Some(' ')) if matches!(c, 's' | 'S' | 'm' | 'M' | 'd' | 'D') => {
                Some((i + 4, format!("{} '{c} ", t[i])))
            }
            (Some(' '), _) => Some((i + 3, format!("{} ' ", t[i]))),
            _ => None,
        }
    },
    // ([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) -> "\1 \2 "
    |t, i| {
        if matches!(t[i], '\'' | ' ') {
            return None;
        }
        ["'ll", "'LL", "'re", "'RE", "'ve", "'VE", "n't", "N'T"]
            .iter()
            .find(|s| starts(t, i + 1, s, false) && t.get(i + 4) == Some(&' '))
            .map(|s| (i + 5, format!("{} {s} ", t[i])))
    },
];

/// MacIntyre's contractions `(?i)\b(a)(b)\b` -> `" \1 \2 "`, in NLTK's order. The last,
/// `\b(wan)(na)\s`, ends in (and consumes) a whitespace character instead of `\b`.
const CONTRACTIONS2: [(&str, &str); 8] = [
    ("can", "not"),
    ("d", "'ye"),
    ("gim", "me"),
    ("gon", "na"),
    ("got", "ta"),
    ("lem", "me"),
    ("mor", "'n"),
    ("wan", "na"),
];

/// `(?i) ('t)(is)\b` and `(?i) ('t)(was)\b` -> `" \1 \2 "`.
const CONTRACTIONS3: [&str; 2] = ["is", "was"];

fn contraction2(
    t: &[char],
    i: usize,
    a: &str,
    b: &str,
    ends_in_space: bool,
) -> Option<(usize, String)> {
    let (la, lb) = (a.chars().count(), b.chars().count());
    if !boundary(t, i) || !starts(t, i, a, true) || !starts(t, i + la, b, true) {
        return None;
    }
    let end = i + la + lb;
    let (ga, gb): (String, String) = (
        t[i..i + la].iter().collect(),
        t[i + la..end].iter().collect(),
    );
    if ends_in_space {
        t.get(end)
            .is_some_and(|&c| is_space(c))
            .then(|| (end + 1, format!(" {ga} {gb} ")))
    } else {
        boundary(t, end).then(|| (end, format!(" {ga} {gb} ")))
    }
}

/// NLTK 3.4.5's `TreebankWordTokenizer().tokenize` with the rules `word_tokenize` adds, on
/// one sentence (no lowercasing, no sentence splitting). `convert_parentheses` is off, as
/// in `word_tokenize`.
///
/// ```
/// use gumbel_gan::data::text::treebank_tokenize;
/// assert_eq!(treebank_tokenize("They'll save and invest more."),
///            ["They", "'ll", "save", "and", "invest", "more", "."]);
/// assert_eq!(treebank_tokenize("hi, my name can't hello,"),
///            ["hi", ",", "my", "name", "ca", "n't", "hello", ","]);
/// ```
pub fn treebank_tokenize(sentence: &str) -> Vec<String> {
    let mut t: Vec<char> = sentence.chars().collect();
    for rule in STARTING_QUOTES {
        t = sub(&t, rule);
    }
    for rule in PUNCTUATION {
        t = sub(&t, rule);
    }
    t = sub(&t, PARENS_BRACKETS);
    t = sub(&t, DOUBLE_DASHES);
    // "add extra space to make things easier"
    t.insert(0, ' ');
    t.push(' ');
    for rule in ENDING_QUOTES {
        t = sub(&t, rule);
    }
    for (k, (a, b)) in CONTRACTIONS2.iter().enumerate() {
        let ends_in_space = k == CONTRACTIONS2.len() - 1;
        t = sub_with(&t, |t, i| contraction2(t, i, a, b, ends_in_space));
    }
    for b in CONTRACTIONS3 {
        t = sub_with(&t, |t, i| {
            if t[i] != ' ' || !starts(t, i + 1, "'t", true) || !starts(t, i + 3, b, true) {
                return None;
            }
            let end = i + 3 + b.len();
            boundary(t, end).then(|| {
                let g1: String = t[i + 1..i + 3].iter().collect();
                let g2: String = t[i + 3..end].iter().collect();
                (end, format!(" {g1} {g2} "))
            })
        });
    }
    let s: String = t.into_iter().collect();
    s.split(is_space)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// [`sub`] for closures that capture (the contraction tables).
fn sub_with(t: &[char], rule: impl Fn(&[char], usize) -> Option<(usize, String)>) -> Vec<char> {
    let mut out = Vec::with_capacity(t.len() + 8);
    let mut i = 0;
    while i < t.len() {
        match rule(t, i) {
            Some((end, rep)) => {
                out.extend(rep.chars());
                i = end;
            }
            None => {
                out.push(t[i]);
                i += 1;
            }
        }
    }
    out
}

/// Options of [`load_with`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextOptions {
    /// Longest sentence allowed, in tokens. `None`: the longest training sentence. Any
    /// longer sentence (training or test) is an error naming its file and line.
    pub max_len: Option<usize>,
}

/// A loaded corpus: the [`Dataset`] (ids) and the token strings, which BLEU uses (test
/// words outside the vocabulary keep their identity there).
#[derive(Debug, Clone, PartialEq)]
pub struct TextCorpus {
    pub dataset: Dataset,
    pub train_tokens: Vec<Vec<String>>,
    pub test_tokens: Vec<Vec<String>>,
    /// Longest sentence allowed (`seq_len - 1`).
    pub max_len: usize,
    /// Sentences left out because they are longer than the limit of [`load_for_training`]
    /// (always empty from [`load`] and [`load_with`], which refuse them).
    pub skipped: Vec<Skipped>,
}

/// A sentence [`load_for_training`] left out for its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// Its number of tokens.
    pub tokens: usize,
}

impl TextCorpus {
    /// A one-line summary of [`TextCorpus::skipped`] (`None` if nothing was skipped):
    /// how many sentences, the limit, and the first one's file and line.
    pub fn skipped_summary(&self, limit: usize) -> Option<String> {
        let first = self.skipped.first()?;
        Some(format!(
            "skipped {} sentence(s) longer than --max-len {limit} tokens (the first: {} line {}, {} tokens)",
            self.skipped.len(),
            first.path.display(),
            first.line,
            first.tokens
        ))
    }
}

/// Loads a corpus with default options. See [`load_with`].
pub fn load(train: impl AsRef<Path>, test: impl AsRef<Path>) -> Result<TextCorpus> {
    load_with(train, test, &TextOptions::default())
}

/// True for a line with nothing to tokenize: only whitespace and control characters
/// (such a line is skipped like a blank one).
fn is_blank(line: &str) -> bool {
    line.chars()
        .all(|c| c.is_whitespace() || c.is_control() || is_space(c))
}

/// Tokenized non-blank lines of a corpus file with their line numbers (a leading UTF-8
/// byte-order mark is dropped by [`read_text_file`]; lines of only whitespace or control
/// characters are skipped). `Err` if the file is not a regular file: a FIFO or a device
/// can be read only once, and a run reads its corpus again on `--resume` and `eval`.
fn read_corpus(path: &Path) -> Result<Vec<(usize, Vec<String>)>> {
    if let Ok(m) = std::fs::metadata(path)
        && !m.is_file()
        && !m.is_dir()
    {
        return Err(Error::io(
            path,
            std::io::Error::other(
                "not a regular file (a FIFO, socket or device): a corpus is read again on --resume and by eval, so it must be a file",
            ),
        ));
    }
    let text = read_text_file(path)?;
    let lines: Vec<(usize, &str)> = numbered_lines(&text)
        .filter(|(_, l)| !is_blank(l))
        .collect();
    let sentences: Vec<(usize, Vec<String>)> = lines
        .par_iter()
        .map(|&(n, l)| (n, tokenize(l)))
        .filter(|(_, s)| !s.is_empty())
        .collect();
    if sentences.is_empty() {
        return Err(Error::EmptyCorpus {
            path: path.to_path_buf(),
            what: "every line is blank or holds only whitespace and control characters".into(),
        });
    }
    Ok(sentences)
}

/// Loads a training and a test file (one sentence per line; blank lines skipped), tokenizes
/// every line with [`tokenize`], builds the vocabulary from the training file (module
/// docs) and encodes both files. `seq_len` is `max_len + 1` (room for `<eos>`).
///
/// Errors name the file (and line): [`Error::Io`] (missing, or not a regular file),
/// [`Error::EmptyFile`], [`Error::EmptyCorpus`] (only whitespace and control characters),
/// [`Error::BinaryFile`] (NUL bytes), [`Error::NotUtf8`], and [`Error::Parse`] for a
/// sentence longer than `max_len`.
pub fn load_with(
    train: impl AsRef<Path>,
    test: impl AsRef<Path>,
    opts: &TextOptions,
) -> Result<TextCorpus> {
    let (train, test) = (train.as_ref(), test.as_ref());
    let train_lines = read_corpus(train)?;
    let test_lines = read_corpus(test)?;
    build(
        train,
        train_lines,
        test,
        test_lines,
        opts.max_len,
        Vec::new(),
    )
}

/// Loads a corpus for training: [`load`], except that
///
/// - sentences longer than `limit` tokens (in either file) are left out and listed in
///   [`TextCorpus::skipped`] (`None`: no limit); `seq_len` is the longest remaining
///   training sentence plus one, so a corpus with none too long loads exactly as with
///   [`load`];
/// - without a `test` file the held-out set is empty, and the training file is read once.
///
/// `Err` ([`Error::EmptyCorpus`]) naming the file if every sentence of a file is longer
/// than `limit`; the errors of [`load_with`] otherwise.
pub fn load_for_training(
    train: &Path,
    test: Option<&Path>,
    limit: Option<usize>,
) -> Result<TextCorpus> {
    let mut skipped = Vec::new();
    let mut keep = |path: &Path, lines: Vec<(usize, Vec<String>)>| -> Result<_> {
        let Some(limit) = limit else {
            return Ok(lines);
        };
        let total = lines.len();
        let (kept, long): (Vec<_>, Vec<_>) = lines.into_iter().partition(|(_, s)| s.len() <= limit);
        if kept.is_empty() {
            return Err(Error::EmptyCorpus {
                path: path.to_path_buf(),
                what: format!("all {total} sentences are longer than --max-len {limit} tokens"),
            });
        }
        skipped.extend(long.into_iter().map(|(line, s)| Skipped {
            path: path.to_path_buf(),
            line,
            tokens: s.len(),
        }));
        Ok(kept)
    };
    let train_lines = keep(train, read_corpus(train)?)?;
    let (test_path, test_lines) = match test {
        Some(t) => (t, keep(t, read_corpus(t)?)?),
        None => (train, Vec::new()),
    };
    build(train, train_lines, test_path, test_lines, None, skipped)
}

/// The corpus of tokenized lines: checks lengths against `max_len` (`None`: the longest
/// training sentence), builds the vocabulary and encodes both sets.
fn build(
    train: &Path,
    train_lines: Vec<(usize, Vec<String>)>,
    test: &Path,
    test_lines: Vec<(usize, Vec<String>)>,
    max_len: Option<usize>,
    skipped: Vec<Skipped>,
) -> Result<TextCorpus> {
    let longest = train_lines.iter().map(|(_, s)| s.len()).max().unwrap_or(0);
    let limit = max_len.unwrap_or(longest);
    for (path, lines) in [(train, &train_lines), (test, &test_lines)] {
        if let Some((n, s)) = lines.iter().find(|(_, s)| s.len() > limit) {
            let source = if max_len.is_some() {
                "the max_len option"
            } else {
                "the longest training sentence"
            };
            return Err(Error::parse(
                path,
                *n,
                format!(
                    "sentence has {} tokens, more than the maximum length {limit} ({source})",
                    s.len()
                ),
            ));
        }
    }
    let train_tokens: Vec<Vec<String>> = train_lines.into_iter().map(|(_, s)| s).collect();
    let test_tokens: Vec<Vec<String>> = test_lines.into_iter().map(|(_, s)| s).collect();
    let vocab = build_vocab(&train_tokens);
    let encode = |sents: &[Vec<String>]| -> Result<Vec<Vec<Token>>> {
        sents.iter().map(|s| vocab.encode(s)).collect()
    };
    let dataset = Dataset {
        name: train
            .file_name()
            .map_or_else(|| "text".to_string(), |n| n.to_string_lossy().into_owned()),
        train: encode(&train_tokens)?,
        test: encode(&test_tokens)?,
        vocab,
        seq_len: limit + 1,
    };
    Ok(TextCorpus {
        dataset,
        train_tokens,
        test_tokens,
        max_len: limit,
        skipped,
    })
}

/// The vocabulary of tokenized sentences: `<pad> <bos> <eos> <unk>`, then words by
/// decreasing count, ties in byte-wise order. A word spelled like a special token
/// (`<unk>` in the text) is counted as that token rather than added twice.
///
/// ```
/// use gumbel_gan::data::text::build_vocab;
/// let s = |x: &str| x.split(' ').map(String::from).collect::<Vec<_>>();
/// let v = build_vocab(&[s("b a c"), s("a b"), s("a")]);
/// assert_eq!(v.tokens(), ["<pad>", "<bos>", "<eos>", "<unk>", "a", "b", "c"]);
/// ```
pub fn build_vocab(sentences: &[Vec<String>]) -> Vocab {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for w in sentences.iter().flatten() {
        *counts.entry(w.as_str()).or_default() += 1;
    }
    let specials = [PAD, BOS, EOS, UNK];
    let mut words: Vec<(&str, usize)> = counts
        .into_iter()
        .filter(|(w, _)| !specials.contains(w))
        .collect();
    words.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let tokens = specials
        .iter()
        .copied()
        .chain(words.into_iter().map(|(w, _)| w))
        .map(str::to_string)
        .collect();
    Vocab::new(
        tokens,
        Specials {
            pad: Some(0),
            bos: Some(1),
            eos: Some(2),
            unk: Some(3),
        },
    )
    .expect("words are distinct")
}
