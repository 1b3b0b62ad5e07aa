//! Files: reading text with errors that name the file and line (missing, empty, binary or
//! non-UTF-8 files are reported, never panicked on), writing a file atomically, the
//! safetensors format ([`safetensors`]) and the crash tests' fault points ([`failpoint`]).
//!
//! The bottom layer of the crate: `data`, `model` and `train` read and write through it.

pub mod failpoint;
pub mod safetensors;

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Reads a whole text file into a `String`.
///
/// A leading UTF-8 byte-order mark is dropped.
///
/// Errors (each names `path`): [`Error::Io`] if the file cannot be read,
/// [`Error::EmptyFile`] if it holds nothing but whitespace, [`Error::BinaryFile`] if it holds
/// a NUL byte (with the line of the first one), [`Error::NotUtf8`] if it is not valid UTF-8
/// (with the line and byte offset of the first bad byte).
pub fn read_text_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    check_text(path, bytes)
}

/// The checks of [`read_text_file`] on bytes already in memory.
pub(crate) fn check_text(path: &Path, bytes: Vec<u8>) -> Result<String> {
    let line_of =
        |bytes: &[u8], byte: usize| 1 + bytes[..byte].iter().filter(|&&b| b == b'\n').count();
    if let Some(nul) = bytes.iter().position(|&b| b == 0) {
        return Err(Error::BinaryFile {
            path: path.to_path_buf(),
            line: line_of(&bytes, nul),
        });
    }
    let mut text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let byte = e.utf8_error().valid_up_to();
            return Err(Error::NotUtf8 {
                path: path.to_path_buf(),
                line: line_of(e.as_bytes(), byte),
                byte,
            });
        }
    };
    // A UTF-8 byte-order mark (Windows editors write one) is not part of the first line.
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    if text.trim().is_empty() {
        return Err(Error::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    Ok(text)
}

/// Writes `bytes` to `path` through a temporary file in the same folder, flushed to disk
/// and renamed over `path`: readers see the old file or the new one, never a mix. The
/// temporary is `.<name>.tmp-<pid>`; a crash can leave it behind, and a run folder removes
/// those of dead processes when it is opened (`train::run_dir`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::checkpoint(path, "not a file path"))?
        .to_string_lossy()
        .into_owned();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        Ok(())
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::write(&tmp, e)
    })?;
    failpoint::hit("write_atomic:before-rename");
    fs::rename(&tmp, path).map_err(|e| Error::write(path, e))
}

/// The lines of a text with their 1-based line numbers. Lines end at `\n`; a trailing `\r`
/// is removed (Windows line ends); a final `\n` does not start an extra empty line.
pub fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    body.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_and_bad_utf8_name_the_line() {
        let p = Path::new("f.txt");
        let err = check_text(p, b"ab\ncd\nx\0y".to_vec()).unwrap_err();
        assert!(matches!(err, Error::BinaryFile { line: 3, .. }), "{err}");
        assert!(err.to_string().contains("f.txt: line 3"), "{err}");
        let err = check_text(p, b"ok\n\xffbad".to_vec()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotUtf8 {
                    line: 2,
                    byte: 3,
                    ..
                }
            ),
            "{err}"
        );
        let err = check_text(p, b" \n\n".to_vec()).unwrap_err();
        assert!(matches!(err, Error::EmptyFile { .. }), "{err}");
        let err = read_text_file(Path::new("/nonexistent/dir/x.txt")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/dir/x.txt"), "{err}");
    }

    #[test]
    fn numbered_lines_handles_line_ends() {
        let v: Vec<_> = numbered_lines("a\r\nb\n\nc\n").collect();
        assert_eq!(v, vec![(1, "a"), (2, "b"), (3, ""), (4, "c")]);
        let v: Vec<_> = numbered_lines("a\nb").collect();
        assert_eq!(v, vec![(1, "a"), (2, "b")]);
    }
}
