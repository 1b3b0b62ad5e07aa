//! Data sets for the text GAN: token vocabularies, padded sequences, and the three sources.
//!
//! - [`grammar`]: arithmetic expressions from a seeded stochastic context-free grammar, with a
//!   recursive-descent parser that measures validity (the project's default data set).
//! - [`oracle`]: the SeqGAN synthetic oracle LSTM (load, create, sample, score, NLL_oracle).
//! - [`text`]: a word-level corpus from text files (COCO captions), with a port of NLTK 3.4's
//!   Treebank tokenizer and a frequency-ordered vocabulary.
//!
//! All three produce a [`Dataset`]: a [`Vocab`], training and test sequences of token ids
//! without padding, and the fixed sequence length `seq_len` that models see. A sequence is
//! padded by appending the end-of-sequence token (if the vocabulary has one) and then the pad
//! token up to `seq_len` ([`Dataset::padded`]).

pub mod grammar;
pub mod oracle;
pub mod text;

use std::collections::HashMap;

use crate::error::{Error, Result};

/// A token id: an index into a [`Vocab`].
pub type Token = u32;

/// A vocabulary: the token strings in id order and the ids of the special tokens.
///
/// ```
/// use gumbel_gan::data::{Specials, Vocab};
/// let v = Vocab::new(
///     ["<pad>", "<bos>", "<eos>", "a", "b"].map(String::from).to_vec(),
///     Specials { pad: Some(0), bos: Some(1), eos: Some(2), unk: None },
/// ).unwrap();
/// assert_eq!(v.id("b"), Some(4));
/// assert_eq!(v.decode(&[3, 4, 2, 0]).unwrap(), vec!["a", "b"]); // stops at <eos>
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Vocab {
    tokens: Vec<String>,
    index: HashMap<String, Token>,
    specials: Specials,
}

/// The ids of the special tokens of a [`Vocab`] (`None` where a vocabulary has no such token,
/// as the SeqGAN oracle's, in which every id is an ordinary token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Specials {
    /// Padding after the end of a sequence.
    pub pad: Option<Token>,
    /// Beginning of sequence: the generator's first input.
    pub bos: Option<Token>,
    /// End of sequence.
    pub eos: Option<Token>,
    /// Stands for a word that is not in the vocabulary.
    pub unk: Option<Token>,
}

impl Vocab {
    /// A vocabulary from its token strings in id order. `Err` if a string occurs twice, if
    /// there are more than `u32::MAX` tokens, or if a special id is out of range.
    pub fn new(tokens: Vec<String>, specials: Specials) -> Result<Self> {
        const OP: &str = "Vocab::new";
        if tokens.len() > Token::MAX as usize {
            return Err(Error::invalid_argument(
                OP,
                format!("{} tokens do not fit u32 ids", tokens.len()),
            ));
        }
        let mut index = HashMap::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            if let Some(j) = index.insert(t.clone(), i as Token) {
                return Err(Error::invalid_argument(
                    OP,
                    format!("token {t:?} occurs at ids {j} and {i}"),
                ));
            }
        }
        for (name, id) in [
            ("pad", specials.pad),
            ("bos", specials.bos),
            ("eos", specials.eos),
            ("unk", specials.unk),
        ] {
            if let Some(id) = id.filter(|&id| id as usize >= tokens.len()) {
                return Err(Error::invalid_argument(
                    OP,
                    format!(
                        "{name} id {id} is not below the vocabulary size {}",
                        tokens.len()
                    ),
                ));
            }
        }
        Ok(Vocab {
            tokens,
            index,
            specials,
        })
    }

    /// Number of tokens (special tokens included): the size of the model's output layer.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True if the vocabulary has no token.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The string of token `id`, or `None` if `id` is out of range.
    pub fn token(&self, id: Token) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// All token strings in id order.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// The id of a token string, or `None`.
    pub fn id(&self, token: &str) -> Option<Token> {
        self.index.get(token).copied()
    }

    /// The special tokens' ids.
    pub fn specials(&self) -> Specials {
        self.specials
    }

    /// Ids of `words`; a word not in the vocabulary becomes the unknown token. `Err` naming
    /// the word if it is unknown and the vocabulary has no unknown token.
    pub fn encode<S: AsRef<str>>(&self, words: &[S]) -> Result<Vec<Token>> {
        words
            .iter()
            .map(|w| {
                let w = w.as_ref();
                self.id(w).or(self.specials.unk).ok_or_else(|| {
                    Error::invalid_argument(
                        "Vocab::encode",
                        format!("word {w:?} is not in the vocabulary, which has no unknown token"),
                    )
                })
            })
            .collect()
    }

    /// The strings of a sequence of ids, read up to (not including) the first
    /// end-of-sequence or pad token; beginning-of-sequence tokens are skipped. `Err` naming
    /// the position if an id is out of range.
    pub fn decode(&self, ids: &[Token]) -> Result<Vec<&str>> {
        let mut out = Vec::with_capacity(ids.len());
        for (pos, &id) in ids.iter().enumerate() {
            let s = self.token(id).ok_or(Error::TokenOutOfRange {
                op: "Vocab::decode",
                sequence: 0,
                position: pos,
                token: id,
                vocab: self.len(),
            })?;
            if Some(id) == self.specials.eos || Some(id) == self.specials.pad {
                break;
            }
            if Some(id) != self.specials.bos {
                out.push(s);
            }
        }
        Ok(out)
    }
}

/// A data set: vocabulary, training and test sequences (token ids, no bos/eos/padding), and
/// the fixed length `seq_len` of the padded sequences that models see.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Short name (`"grammar"`, `"oracle"`, or the training file's name).
    pub name: String,
    pub vocab: Vocab,
    pub train: Vec<Vec<Token>>,
    pub test: Vec<Vec<Token>>,
    /// Length of a padded sequence: the longest sequence plus one for the end token when the
    /// vocabulary has one (grammar: 15 + 1; COCO: 37 + 1; oracle: 20).
    pub seq_len: usize,
}

impl Dataset {
    /// `seq` followed by the end token (if the vocabulary has one) and then pad tokens up to
    /// `seq_len`. `Err` if it does not fit, or if the sequence is shorter than `seq_len` and
    /// the vocabulary has no pad token.
    pub fn padded(&self, seq: &[Token]) -> Result<Vec<Token>> {
        pad_sequence(seq, self.seq_len, self.vocab.specials, 0)
    }

    /// The padded sequences of `seqs`, concatenated row-major: `[seqs.len(), seq_len]`.
    pub fn padded_batch(&self, seqs: &[Vec<Token>]) -> Result<Vec<Token>> {
        let mut out = Vec::with_capacity(seqs.len() * self.seq_len);
        for (i, s) in seqs.iter().enumerate() {
            out.extend(pad_sequence(s, self.seq_len, self.vocab.specials, i)?);
        }
        Ok(out)
    }

    /// The content of a padded (or generated) sequence: everything before the first end or
    /// pad token. The inverse of [`Dataset::padded`].
    pub fn strip<'a>(&self, padded: &'a [Token]) -> &'a [Token] {
        strip_sequence(padded, self.vocab.specials)
    }
}

/// See [`Dataset::padded`]; `index` names the sequence in errors.
pub fn pad_sequence(
    seq: &[Token],
    seq_len: usize,
    specials: Specials,
    index: usize,
) -> Result<Vec<Token>> {
    const OP: &str = "pad_sequence";
    let need = seq.len() + specials.eos.is_some() as usize;
    if need > seq_len {
        return Err(Error::SequenceLength {
            op: OP,
            sequence: index,
            len: seq.len(),
            what: format!("does not fit seq_len {seq_len} (with its end token: {need})"),
        });
    }
    let mut out = Vec::with_capacity(seq_len);
    out.extend_from_slice(seq);
    out.extend(specials.eos);
    if out.len() < seq_len {
        let pad = specials.pad.ok_or_else(|| Error::SequenceLength {
            op: OP,
            sequence: index,
            len: seq.len(),
            what: format!("is shorter than seq_len {seq_len} and the vocabulary has no pad token"),
        })?;
        out.resize(seq_len, pad);
    }
    Ok(out)
}

/// Everything before the first end or pad token of `padded`.
pub fn strip_sequence(padded: &[Token], specials: Specials) -> &[Token] {
    let end = padded
        .iter()
        .position(|&t| Some(t) == specials.eos || Some(t) == specials.pad)
        .unwrap_or(padded.len());
    &padded[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Vocab {
        let toks = ["<pad>", "<bos>", "<eos>", "<unk>", "a", "b"]
            .map(String::from)
            .to_vec();
        Vocab::new(
            toks,
            Specials {
                pad: Some(0),
                bos: Some(1),
                eos: Some(2),
                unk: Some(3),
            },
        )
        .unwrap()
    }

    #[test]
    fn encode_decode_round_trip_with_unknown_words() {
        let v = small();
        assert_eq!(v.encode(&["a", "zzz", "b"]).unwrap(), vec![4, 3, 5]);
        assert_eq!(
            v.decode(&[1, 4, 3, 5, 2, 0, 0]).unwrap(),
            vec!["a", "<unk>", "b"]
        );
        assert!(
            v.decode(&[4, 9])
                .unwrap_err()
                .to_string()
                .contains("token 9")
        );
    }

    #[test]
    fn vocab_rejects_duplicates_and_bad_specials() {
        let err = Vocab::new(vec!["a".into(), "a".into()], Specials::default()).unwrap_err();
        assert!(
            err.to_string().contains("\"a\" occurs at ids 0 and 1"),
            "{err}"
        );
        let err = Vocab::new(
            vec!["a".into()],
            Specials {
                eos: Some(1),
                ..Specials::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("eos id 1"), "{err}");
    }

    #[test]
    fn padding_appends_eos_then_pad_and_strips_back() {
        let d = Dataset {
            name: "t".into(),
            vocab: small(),
            train: vec![],
            test: vec![],
            seq_len: 5,
        };
        assert_eq!(d.padded(&[4, 5]).unwrap(), vec![4, 5, 2, 0, 0]);
        assert_eq!(d.strip(&[4, 5, 2, 0, 0]), &[4, 5]);
        assert_eq!(d.padded(&[4, 5, 4, 5]).unwrap(), vec![4, 5, 4, 5, 2]);
        let err = d.padded_batch(&[vec![4], vec![4; 5]]).unwrap_err();
        assert!(err.to_string().contains("sequence 1 has length 5"), "{err}");
    }
}
