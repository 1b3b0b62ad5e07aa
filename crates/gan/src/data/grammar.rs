//! The built-in `grammar` data set: arithmetic expressions over two variables from a seeded
//! stochastic context-free grammar (as in Kusner & Hernandez-Lobato 2016, "GANs for
//! sequences of discrete elements with the Gumbel-softmax distribution", and Texygen's CFG
//! mode), and a recursive-descent parser that measures the validity of generated sequences.
//!
//! # Tokens
//! `<pad>`=0, `<bos>`=1, `<eos>`=2, then `x y + - * / ( )` = 3..=10 ([`VOCAB_SIZE`] = 11).
//! Expressions have at most [`MAX_LEN`] = 15 tokens; padded sequences have [`SEQ_LEN`] = 16
//! (the expression, `<eos>`, then `<pad>`s).
//!
//! # The language
//! Infix expressions with the usual precedence, no unary minus, redundant parentheses
//! allowed:
//! ```text
//! E -> T (A T)*        A -> + | -
//! T -> F (M F)*        M -> * | /
//! F -> x | y | ( E )
//! ```
//! Every expression has odd length (each operator brings one operand, each `(` its `)`).
//! [`is_valid`] recognises exactly this language.
//!
//! # The stochastic grammar (production probabilities)
//! The repetitions above are drawn as right-recursive rules with these probabilities:
//! ```text
//! S -> T              0.10      start: a single term ...
//!    | T A T R        0.90      ... or at least two terms
//! R -> A T R          0.55      more top-level terms
//!    | (empty)        0.45
//! E -> T Q                      inside parentheses
//! Q -> A T Q          0.30
//!    | (empty)        0.70
//! T -> F P
//! P -> M F P          0.40
//!    | (empty)        0.60
//! F -> x 0.40 | y 0.40 | ( E ) 0.20
//! A -> + 0.50 | - 0.50          M -> * 0.50 | / 0.50
//! ```
//! conditioned on length <= 15 by rejection: a draw is abandoned as soon as it passes 15
//! tokens, and the expression's stream goes on with a fresh draw (about 0.6 rejections per
//! accepted expression). The separate start rule keeps trivial expressions rare. Measured on
//! 10,000 draws (test `grammar_distribution_is_rich`): lengths 1, 3, ..., 15 all occur with
//! mean 7.4 and 8% at length 15, and 53% of the expressions are distinct.
//!
//! # Seeds
//! Training expression `i` is drawn from [`random::stream`]`(seed, `[`TRAIN_DOMAIN`]`, i)`,
//! test expression `i` from `stream(seed, `[`TEST_DOMAIN`]`, i)` (and validation expressions,
//! `--valid-size`, from [`VALID_DOMAIN`] with a key of their own): reproducible, independent
//! of thread count, and a longer set extends a shorter one. Train and test are independent
//! draws from the same distribution, so short expressions occur in both.

use rayon::prelude::*;

use crate::data::{Dataset, Specials, Token, Vocab, strip_sequence};
use crate::error::{Error, Result};
use crate::random::{self, uniform_f64};

/// Padding after the end of a sequence.
pub const PAD: Token = 0;
/// Beginning of sequence (the generator's first input).
pub const BOS: Token = 1;
/// End of sequence.
pub const EOS: Token = 2;
/// The variable `x`.
pub const X: Token = 3;
/// The variable `y`.
pub const Y: Token = 4;
/// `+`
pub const PLUS: Token = 5;
/// `-`
pub const MINUS: Token = 6;
/// `*`
pub const TIMES: Token = 7;
/// `/`
pub const DIVIDE: Token = 8;
/// `(`
pub const LPAREN: Token = 9;
/// `)`
pub const RPAREN: Token = 10;
/// Number of tokens, special tokens included.
pub const VOCAB_SIZE: usize = 11;
/// Longest expression.
pub const MAX_LEN: usize = 15;
/// Length of a padded sequence: [`MAX_LEN`] + 1 for `<eos>`.
pub const SEQ_LEN: usize = MAX_LEN + 1;
/// The token strings in id order.
pub const TOKENS: [&str; VOCAB_SIZE] = [
    "<pad>", "<bos>", "<eos>", "x", "y", "+", "-", "*", "/", "(", ")",
];

/// `S -> T` (a single top-level term).
pub const P_SINGLE_TERM: f64 = 0.10;
/// `R -> A T R`: another top-level term.
pub const P_MORE_TOP_TERMS: f64 = 0.55;
/// `Q -> A T Q`: another term inside parentheses.
pub const P_MORE_TERMS: f64 = 0.30;
/// `P -> M F P`: another factor.
pub const P_MORE_FACTORS: f64 = 0.40;
/// `F -> x`.
pub const P_X: f64 = 0.40;
/// `F -> y`.
pub const P_Y: f64 = 0.40;
// F -> ( E ) has the remaining 1 - P_X - P_Y = 0.20.

/// Stream domain of training expressions.
pub const TRAIN_DOMAIN: u64 = 0x6A3_0001;
/// Stream domain of test expressions.
pub const TEST_DOMAIN: u64 = 0x6A3_0002;
/// Stream domain of validation expressions (`--valid-size`).
pub const VALID_DOMAIN: u64 = 0x6A3_0003;

/// Nesting depth beyond which [`is_valid`] gives up and answers `false`: a guard against
/// stack overflow on adversarial input (a valid expression of at most 15 tokens nests at
/// most 7 deep).
pub const MAX_PARSE_DEPTH: usize = 1000;

/// The grammar's vocabulary ([`TOKENS`]; pad 0, bos 1, eos 2, no unknown token).
pub fn vocab() -> Vocab {
    Vocab::new(
        TOKENS.iter().map(|s| s.to_string()).collect(),
        Specials {
            pad: Some(PAD),
            bos: Some(BOS),
            eos: Some(EOS),
            unk: None,
        },
    )
    .expect("grammar tokens are distinct")
}

/// The draw was abandoned because it passed [`MAX_LEN`] tokens.
struct TooLong;

/// One derivation of the stochastic grammar, appending tokens to `out`.
struct Sampler<'a, R> {
    rng: &'a mut R,
    out: Vec<Token>,
}

impl<R: rand::Rng> Sampler<'_, R> {
    fn coin(&mut self, p: f64) -> bool {
        uniform_f64(self.rng) < p
    }

    fn push(&mut self, t: Token) -> Result<(), TooLong> {
        self.out.push(t);
        if self.out.len() > MAX_LEN {
            Err(TooLong)
        } else {
            Ok(())
        }
    }

    /// `S -> T | T A T R`
    fn start(&mut self) -> Result<(), TooLong> {
        self.term()?;
        if self.coin(P_SINGLE_TERM) {
            return Ok(());
        }
        self.add_op()?;
        self.term()?;
        while self.coin(P_MORE_TOP_TERMS) {
            self.add_op()?;
            self.term()?;
        }
        Ok(())
    }

    /// `E -> T Q`
    fn expr(&mut self) -> Result<(), TooLong> {
        self.term()?;
        while self.coin(P_MORE_TERMS) {
            self.add_op()?;
            self.term()?;
        }
        Ok(())
    }

    /// `T -> F P`
    fn term(&mut self) -> Result<(), TooLong> {
        self.factor()?;
        while self.coin(P_MORE_FACTORS) {
            let op = if self.coin(0.5) { TIMES } else { DIVIDE };
            self.push(op)?;
            self.factor()?;
        }
        Ok(())
    }

    /// `F -> x | y | ( E )`
    fn factor(&mut self) -> Result<(), TooLong> {
        let u = uniform_f64(self.rng);
        if u < P_X {
            self.push(X)
        } else if u < P_X + P_Y {
            self.push(Y)
        } else {
            self.push(LPAREN)?;
            self.expr()?;
            self.push(RPAREN)
        }
    }

    fn add_op(&mut self) -> Result<(), TooLong> {
        let op = if self.coin(0.5) { PLUS } else { MINUS };
        self.push(op)
    }
}

/// One expression from the stochastic grammar conditioned on length <= [`MAX_LEN`]
/// (rejection: draws from `rng` until a derivation stays within the limit).
pub fn sample_expression<R: rand::Rng>(rng: &mut R) -> Vec<Token> {
    loop {
        let mut s = Sampler {
            rng: &mut *rng,
            out: Vec::with_capacity(MAX_LEN + 1),
        };
        if s.start().is_ok() {
            return s.out;
        }
    }
}

/// Expressions `0..n` of stream domain `domain` for `seed` (see the module docs), drawn in
/// parallel; the same for any thread count.
pub fn sample(n: usize, seed: u64, domain: u64) -> Vec<Vec<Token>> {
    (0..n)
        .into_par_iter()
        .with_min_len(256)
        .map(|i| sample_expression(&mut random::stream(seed, domain, i as u64)))
        .collect()
}

/// The grammar data set: `n_train` training and `n_test` test expressions for `seed`,
/// the vocabulary of [`vocab`], `seq_len` [`SEQ_LEN`].
///
/// ```
/// use gumbel_gan::data::grammar;
/// let ds = grammar::dataset(100, 10, 7);
/// assert_eq!((ds.train.len(), ds.test.len(), ds.seq_len, ds.vocab.len()), (100, 10, 16, 11));
/// assert!(ds.train.iter().all(|e| grammar::is_valid(e) && e.len() <= 15));
/// assert_eq!(ds, grammar::dataset(100, 10, 7)); // reproducible
/// ```
pub fn dataset(n_train: usize, n_test: usize, seed: u64) -> Dataset {
    Dataset {
        name: "grammar".to_string(),
        vocab: vocab(),
        train: sample(n_train, seed, TRAIN_DOMAIN),
        test: sample(n_test, seed, TEST_DOMAIN),
        seq_len: SEQ_LEN,
    }
}

/// True if `tokens` is an expression of the language (module docs): recursive descent
/// over `E`, `T`, `F`, which must consume every token. Special tokens, ids out of range and
/// the empty sequence are invalid. The length limit of the data set is not part of the
/// language: a valid 17-token expression is valid. Nesting deeper than
/// [`MAX_PARSE_DEPTH`] is reported invalid.
///
/// ```
/// use gumbel_gan::data::grammar::{is_valid, parse};
/// assert!(is_valid(&parse("x*(y-x)/y").unwrap()));
/// assert!(is_valid(&parse("((x))").unwrap()));
/// assert!(!is_valid(&parse("x+").unwrap()));
/// assert!(!is_valid(&parse("(x))").unwrap()));
/// assert!(!is_valid(&parse("-x").unwrap())); // no unary minus
/// ```
pub fn is_valid(tokens: &[Token]) -> bool {
    let mut p = Parser { tokens, pos: 0 };
    p.expr(0) && p.pos == tokens.len()
}

/// Recursive-descent recogniser; each method consumes its nonterminal or returns `false`.
struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<Token> {
        self.tokens.get(self.pos).copied()
    }

    /// `E -> T ((+|-) T)*`
    fn expr(&mut self, depth: usize) -> bool {
        if !self.term(depth) {
            return false;
        }
        while matches!(self.peek(), Some(PLUS | MINUS)) {
            self.pos += 1;
            if !self.term(depth) {
                return false;
            }
        }
        true
    }

    /// `T -> F ((*|/) F)*`
    fn term(&mut self, depth: usize) -> bool {
        if !self.factor(depth) {
            return false;
        }
        while matches!(self.peek(), Some(TIMES | DIVIDE)) {
            self.pos += 1;
            if !self.factor(depth) {
                return false;
            }
        }
        true
    }

    /// `F -> x | y | ( E )`
    fn factor(&mut self, depth: usize) -> bool {
        match self.peek() {
            Some(X | Y) => {
                self.pos += 1;
                true
            }
            Some(LPAREN) if depth < MAX_PARSE_DEPTH => {
                self.pos += 1;
                if !self.expr(depth + 1) || self.peek() != Some(RPAREN) {
                    return false;
                }
                self.pos += 1;
                true
            }
            _ => false,
        }
    }
}

/// Fraction of `seqs` that are valid expressions. Each sequence is first cut at its first
/// `<eos>` or `<pad>` (as [`Dataset::strip`]), so padded generator output can be passed
/// as is. `Err` if `seqs` is empty.
pub fn validity_fraction(seqs: &[Vec<Token>]) -> Result<f64> {
    if seqs.is_empty() {
        return Err(Error::invalid_argument(
            "grammar::validity_fraction",
            "no sequences",
        ));
    }
    let specials = vocab().specials();
    let valid = seqs
        .par_iter()
        .filter(|s| is_valid(strip_sequence(s, specials)))
        .count();
    Ok(valid as f64 / seqs.len() as f64)
}

/// Tokens of an expression written as text (`"x*(y-x)"`; whitespace ignored). Checks the
/// characters only, not the syntax (use [`is_valid`]). `Err` naming the first character
/// that is not one of `x y + - * / ( )`.
pub fn parse(text: &str) -> Result<Vec<Token>> {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .enumerate()
        .map(|(i, c)| match c {
            'x' => Ok(X),
            'y' => Ok(Y),
            '+' => Ok(PLUS),
            '-' => Ok(MINUS),
            '*' => Ok(TIMES),
            '/' => Ok(DIVIDE),
            '(' => Ok(LPAREN),
            ')' => Ok(RPAREN),
            _ => Err(Error::invalid_argument(
                "grammar::parse",
                format!("character {c:?} (non-space character {i}) is not one of x y + - * / ( )"),
            )),
        })
        .collect()
}

/// The text of a token sequence, tokens concatenated (`[X, PLUS, Y]` -> `"x+y"`); special
/// tokens print as `<pad>`, `<bos>`, `<eos>`, ids out of range as `<?>`.
pub fn render(tokens: &[Token]) -> String {
    tokens
        .iter()
        .map(|&t| TOKENS.get(t as usize).copied().unwrap_or("<?>"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn parser_accepts_the_language_and_rejects_the_rest() {
        for ok in [
            "x",
            "y",
            "x+y",
            "x-y*x",
            "(x)",
            "((x+y))*y/x",
            "x/(y-(x*y))+y",
            "(((((((x)))))))",
        ] {
            assert!(is_valid(&parse(ok).unwrap()), "{ok}");
        }
        for bad in [
            "", "+", "x+", "xy", "x(y)", "()", "(x", "x)", ")x(", "x++y", "*x", "(x+)y", "x y",
            "-x",
        ] {
            assert!(!is_valid(&parse(bad).unwrap()), "{bad:?}");
        }
        assert!(!is_valid(&[X, EOS]));
        assert!(!is_valid(&[BOS, X]));
        assert!(!is_valid(&[X, PLUS, 99]));
        let deep: Vec<Token> = std::iter::repeat_n(LPAREN, 5000)
            .chain([X])
            .chain(std::iter::repeat_n(RPAREN, 5000))
            .collect();
        assert!(
            !is_valid(&deep),
            "deeper than MAX_PARSE_DEPTH is rejected, not a stack overflow"
        );
        let ok_deep: Vec<Token> = std::iter::repeat_n(LPAREN, 900)
            .chain([X])
            .chain(std::iter::repeat_n(RPAREN, 900))
            .collect();
        assert!(is_valid(&ok_deep));
        assert!(parse("x+z").unwrap_err().to_string().contains("'z'"));
        assert_eq!(render(&parse("x*(y-x)").unwrap()), "x*(y-x)");
    }

    #[test]
    fn parser_agrees_with_brute_force_enumeration() {
        // All strings over the 8 symbols up to length 5 (37,449 strings): the valid ones are
        // exactly those the grammar derives, enumerated independently by expanding
        // nonterminals breadth-first.
        let syms = [X, Y, PLUS, MINUS, TIMES, DIVIDE, LPAREN, RPAREN];
        let derived = derive_all(5);
        let mut n_valid = 0;
        let mut stack: Vec<Vec<Token>> = vec![vec![]];
        while let Some(s) = stack.pop() {
            if !s.is_empty() {
                let v = is_valid(&s);
                assert_eq!(v, derived.contains(&s), "{}", render(&s));
                n_valid += v as usize;
            }
            if s.len() < 5 {
                for &c in &syms {
                    let mut t = s.clone();
                    t.push(c);
                    stack.push(t);
                }
            }
        }
        // Length 1: 2; length 3: x?y with 4 ops (16) + (x), (y) = 18; length 5: 8 * 16 = 128
        // chains a?b?c, ((x)) / ((y)) = 2, (x?y) = 16, (x)?y and x?(y) = 2 * 16 = 32: 178.
        assert_eq!(n_valid, 2 + 18 + 178);
    }

    /// Every terminal string of length <= `max` that the grammar E derives.
    fn derive_all(max: usize) -> HashSet<Vec<Token>> {
        // Sentential forms over terminals and nonterminals 100 (E), 101 (T), 102 (F);
        // leftmost expansion with E -> T | E + T | E - T, T -> F | T * F | T / F,
        // F -> x | y | ( E ). Every symbol yields at least one token, so forms longer than
        // `max` are pruned.
        const E: Token = 100;
        const T: Token = 101;
        const F: Token = 102;
        let rules: [(Token, Vec<Vec<Token>>); 3] = [
            (E, vec![vec![T], vec![E, PLUS, T], vec![E, MINUS, T]]),
            (T, vec![vec![F], vec![T, TIMES, F], vec![T, DIVIDE, F]]),
            (F, vec![vec![X], vec![Y], vec![LPAREN, E, RPAREN]]),
        ];
        let mut out = HashSet::new();
        let mut seen = HashSet::new();
        let mut todo = vec![vec![E]];
        while let Some(form) = todo.pop() {
            if form.len() > max || !seen.insert(form.clone()) {
                continue;
            }
            match form.iter().position(|&s| s >= 100) {
                None => {
                    out.insert(form);
                }
                Some(i) => {
                    let (_, alts) = rules.iter().find(|(n, _)| *n == form[i]).unwrap();
                    for alt in alts {
                        let mut f = form[..i].to_vec();
                        f.extend(alt);
                        f.extend(&form[i + 1..]);
                        todo.push(f);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn grammar_distribution_is_rich() {
        let exprs = sample(10_000, 1, TRAIN_DOMAIN);
        assert!(exprs.iter().all(|e| is_valid(e) && e.len() <= MAX_LEN));
        let mut hist = [0usize; MAX_LEN + 1];
        for e in &exprs {
            hist[e.len()] += 1;
        }
        let distinct = exprs.iter().collect::<HashSet<_>>().len();
        let mean = exprs.iter().map(Vec::len).sum::<usize>() as f64 / exprs.len() as f64;
        println!("grammar: lengths {hist:?}, distinct {distinct}, mean length {mean:.2}");
        // Every odd length up to 15 occurs, even lengths never do.
        for (len, &count) in hist.iter().enumerate() {
            if len % 2 == 1 {
                assert!(count >= 300, "length {len}: {count}");
            } else {
                assert_eq!(count, 0, "length {len}");
            }
        }
        // Single variables are the rare case the start rule allows.
        assert!(hist[1] < 1000, "{hist:?}");
        assert!(distinct > 4500, "distinct {distinct}");
        assert!((6.5..8.0).contains(&mean), "mean length {mean}");
    }

    #[test]
    fn sampling_is_reproducible_across_thread_counts() {
        let run =
            |t| gumbel_tensor::parallel::with_threads(t, || sample(3000, 9, TEST_DOMAIN)).unwrap();
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(7));
        assert_eq!(sample(100, 9, TEST_DOMAIN), one[..100].to_vec());
        assert_ne!(sample(100, 10, TEST_DOMAIN), one[..100].to_vec());
        assert_ne!(sample(100, 9, TRAIN_DOMAIN), one[..100].to_vec());
    }

    #[test]
    fn validity_fraction_strips_padding() {
        let ds = dataset(4, 0, 3);
        let padded: Vec<Vec<Token>> = ds.train.iter().map(|e| ds.padded(e).unwrap()).collect();
        assert_eq!(validity_fraction(&padded).unwrap(), 1.0);
        let mixed = vec![
            vec![X, EOS, PAD],
            vec![X, PLUS, EOS],
            vec![LPAREN, Y, RPAREN],
            vec![PAD; 3],
        ];
        assert_eq!(validity_fraction(&mixed).unwrap(), 0.5);
        assert!(validity_fraction(&[]).is_err());
    }
}
