//! SeqGAN's sample-file format: one sequence per line, token ids separated by whitespace.

use std::path::Path;

use crate::data::Token;
use crate::error::{Error, Result};
use crate::io::{numbered_lines, read_text_file};

/// The sequences of a SeqGAN sample file, and the lines that were skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleFile {
    pub sequences: Vec<Vec<Token>>,
    /// 1-based numbers of the lines skipped because they did not hold exactly `len` tokens
    /// (blank lines included).
    pub skipped_lines: Vec<usize>,
}

/// Reads a SeqGAN sample file: one sequence per line, token ids separated by whitespace.
///
/// As SeqGAN's `Gen_Data_loader`, lines that do not hold exactly `len` tokens (blank lines
/// too) are skipped; their numbers are returned in [`SampleFile::skipped_lines`]. Unlike
/// SeqGAN, which then drops the last `N mod 64` sequences to form whole batches, all
/// sequences are kept. A token that is not an integer, or not below `vocab`, is an error
/// ([`Error::Parse`]) naming the file and line; so are missing, empty, binary and non-UTF-8
/// files, and a file with no line of length `len`.
pub fn read_sample_file(path: impl AsRef<Path>, vocab: usize, len: usize) -> Result<SampleFile> {
    let path = path.as_ref();
    let text = read_text_file(path)?;
    let mut sequences = Vec::new();
    let mut skipped_lines = Vec::new();
    for (line_no, line) in numbered_lines(&text) {
        let mut seq = Vec::with_capacity(len);
        for word in line.split_whitespace() {
            let id: u64 = word.parse().map_err(|_| {
                Error::parse(
                    path,
                    line_no,
                    format!("token {word:?} is not a non-negative integer"),
                )
            })?;
            if id >= vocab as u64 {
                return Err(Error::parse(
                    path,
                    line_no,
                    format!("token {id} is not below the vocabulary size {vocab}"),
                ));
            }
            seq.push(id as Token);
        }
        if seq.len() == len {
            sequences.push(seq);
        } else {
            skipped_lines.push(line_no);
        }
    }
    if sequences.is_empty() {
        return Err(Error::parse(
            path,
            1,
            format!("no line holds exactly {len} tokens"),
        ));
    }
    Ok(SampleFile {
        sequences,
        skipped_lines,
    })
}

/// Writes sequences in SeqGAN's sample-file format: ids separated by one space, `\n` after
/// every line.
pub fn write_sample_file(path: impl AsRef<Path>, seqs: &[Vec<Token>]) -> Result<()> {
    let path = path.as_ref();
    let mut s = String::with_capacity(seqs.len() * 100);
    for seq in seqs {
        for (i, t) in seq.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(&t.to_string());
        }
        s.push('\n');
    }
    std::fs::write(path, s).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}
