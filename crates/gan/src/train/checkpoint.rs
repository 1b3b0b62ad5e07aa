//! Checkpoint folders: atomic replacement, checksums, and finding the folder to read for a
//! path a user gives. The tensors inside are safetensors files (`io::safetensors`).
//!
//! A checkpoint is a folder:
//!
//! | file | holds |
//! |---|---|
//! | `generator.safetensors` | the generator under PyTorch's names and layouts (`embedding.weight`, `lstm.weight_ih_l0`, ..., `linear.bias`), loadable with `load_state_dict` |
//! | `discriminator.safetensors` | the discriminator |
//! | `optimizer.safetensors` | every Adam state (`exp_avg`, `exp_avg_sq`, `step`, PyTorch's names) as `<optimizer>/<param>.<buffer>`, optimizers `mle`, `gen`, `disc`, `temp`; and the learnable temperature |
//! | `state.json` | stage, step counters, the vocabulary, metrics and samples after MLE: everything else an exact resume needs |
//! | `rollout.safetensors` | `--estimator reinforce` only, from the first adversarial update on: the rollout policy, in the generator's names |
//!
//! | `SHA256SUMS` | the SHA-256 of every other file, in `sha256sum`'s format (`sha256sum -c SHA256SUMS` checks a folder by hand) |
//!
//! Random draws are functions of (seed, purpose, step) (see `crate::random`), so the step
//! counters in `state.json` are the whole RNG state.
//!
//! Reading a checkpoint ([`Checkpoint::read`], [`resolve_checkpoint`]) first checks every file against
//! `SHA256SUMS`: a flipped bit anywhere (disk corruption, an edit) is an error naming the
//! file, not a model that silently differs. Folders written before `SHA256SUMS` existed
//! have none and are read unchecked.
//!
//! Writing never leaves a half-written checkpoint: the files go to a fresh temporary folder
//! beside the target, are flushed to disk, and the folder is renamed into place (the old
//! checkpoint is first renamed to `<name>.old` and removed last; a reader that finds only
//! `<name>.old` after a crash between the two renames uses it).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::io::failpoint;
use crate::io::safetensors::TensorFile;
use crate::train::state::TrainState;

/// Replaces the checkpoint folder `dir` with one holding `files` (name, bytes), atomically
/// (see the module docs).
pub fn write_checkpoint_dir(dir: &Path, files: &[(&str, Vec<u8>)]) -> Result<()> {
    let parent = dir
        .parent()
        .ok_or_else(|| Error::checkpoint(dir, "a checkpoint folder needs a parent folder"))?;
    let name = dir
        .file_name()
        .ok_or_else(|| Error::checkpoint(dir, "not a folder path"))?
        .to_string_lossy()
        .into_owned();
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let old = parent.join(format!("{name}.old"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| Error::write(&tmp, e))?;
    }
    fs::create_dir_all(&tmp).map_err(|e| Error::write(&tmp, e))?;
    let mut sums = String::new();
    for (file, bytes) in files {
        sums.push_str(&format!("{}  {file}\n", sha256_hex(bytes)));
    }
    let sums = (CHECKSUMS, sums.into_bytes());
    for (file, bytes) in files
        .iter()
        .map(|(f, b)| (*f, b))
        .chain([(sums.0, &sums.1)])
    {
        let p = tmp.join(file);
        let mut f = File::create(&p).map_err(|e| Error::write(&p, e))?;
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::write(&p, e))?;
    }
    failpoint::hit("checkpoint:files-written");
    if dir.exists() {
        if old.exists() {
            fs::remove_dir_all(&old).map_err(|e| Error::write(&old, e))?;
        }
        fs::rename(dir, &old).map_err(|e| Error::write(dir, e))?;
        failpoint::hit("checkpoint:between-renames");
    }
    fs::rename(&tmp, dir).map_err(|e| Error::write(dir, e))?;
    failpoint::hit("checkpoint:before-cleanup");
    if old.exists() {
        fs::remove_dir_all(&old).map_err(|e| Error::write(&old, e))?;
    }
    // Make the renames durable (best effort: not every platform can open a folder).
    if let Ok(d) = File::open(parent) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The name of a checkpoint folder's checksum file.
pub const CHECKSUMS: &str = "SHA256SUMS";

/// The SHA-256 of `bytes` in lowercase hex.
fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A checkpoint folder, read once. Every file its `SHA256SUMS` lists is read and checked
/// against its SHA-256 on [`Checkpoint::read`], and the loaders decode those same verified
/// bytes: no file is read twice, and none can change between its check and its load. A
/// folder written before checksums existed has no `SHA256SUMS`; its files are read unchecked
/// when asked for.
#[derive(Debug)]
pub struct Checkpoint {
    dir: PathBuf,
    verified: HashMap<String, Vec<u8>>,
}

impl Checkpoint {
    /// Reads the checkpoint folder `dir`: `Err` naming the first listed file that is
    /// missing or differs from its checksum, or a malformed `SHA256SUMS`.
    pub fn read(dir: &Path) -> Result<Checkpoint> {
        let list = dir.join(CHECKSUMS);
        let text = match fs::read_to_string(&list) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io(&list, e)),
        };
        let mut verified = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let (hex, name) = line
                .split_once("  ")
                .filter(|(h, n)| h.len() == 64 && !n.is_empty() && !n.contains(['/', '\\']))
                .ok_or_else(|| {
                    Error::checkpoint(&list, format!("line {}: not `<sha256>  <file>`", i + 1))
                })?;
            let p = dir.join(name);
            let bytes = fs::read(&p).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    Error::checkpoint(&p, format!("missing, but listed in {CHECKSUMS}"))
                }
                _ => Error::io(&p, e),
            })?;
            let found = sha256_hex(&bytes);
            if found != hex {
                return Err(Error::checkpoint(
                    &p,
                    format!(
                        "checksum mismatch: the file changed after it was written (disk \
                         corruption or an edit); SHA-256 {found}, {CHECKSUMS} says {hex}"
                    ),
                ));
            }
            verified.insert(name.to_string(), bytes);
        }
        Ok(Checkpoint {
            dir: dir.to_path_buf(),
            verified,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The bytes of file `name`: the verified copy, or (a folder without checksums, or a
    /// file they do not list) the file read now.
    pub fn bytes(&self, name: &str) -> Result<Cow<'_, [u8]>> {
        if let Some(b) = self.verified.get(name) {
            return Ok(Cow::Borrowed(b));
        }
        let p = self.dir.join(name);
        fs::read(&p).map(Cow::Owned).map_err(|e| Error::io(&p, e))
    }

    /// Whether the folder holds file `name` (listed in its checksums, or present).
    pub fn has(&self, name: &str) -> bool {
        self.verified.contains_key(name) || self.dir.join(name).is_file()
    }

    /// The tensors of the safetensors file `name`.
    pub fn tensors(&self, name: &str) -> Result<TensorFile> {
        TensorFile::decode(&self.dir.join(name), &self.bytes(name)?)
    }

    /// The checkpoint's `state.json`, parsed and checked ([`TrainState::from_json`]).
    pub fn state(&self) -> Result<TrainState> {
        TrainState::from_json(&self.text("state.json")?, &self.dir.join("state.json"))
    }

    /// The text file `name` (`state.json`, `config.json`).
    pub fn text(&self, name: &str) -> Result<String> {
        let p = self.dir.join(name);
        String::from_utf8(self.bytes(name)?.into_owned())
            .map_err(|_| Error::checkpoint(&p, "not UTF-8 text"))
    }
}

/// [`resolve_checkpoint`], with `Ok(None)` where `path` holds no checkpoint at all (a run
/// stopped before its first one).
pub fn find_checkpoint(path: &Path) -> Result<Option<Checkpoint>> {
    let candidates = [
        path.to_path_buf(),
        path.join("checkpoint"),
        path.join("checkpoint.old"),
        PathBuf::from(format!("{}.old", path.display())),
    ];
    for c in candidates {
        if c.join("state.json").is_file() {
            return Checkpoint::read(&c).map(Some);
        }
    }
    Ok(None)
}

/// The checkpoint to read for a user-given path: `path` itself if it holds `state.json`,
/// else `path/checkpoint` (a run folder), falling back to the `.old` copy a crash between two
/// renames may leave. Its files are checked against `SHA256SUMS` ([`Checkpoint::read`]).
pub fn resolve_checkpoint(path: &Path) -> Result<Checkpoint> {
    if let Some(ck) = find_checkpoint(path)? {
        return Ok(ck);
    }
    if !path.exists() {
        return Err(Error::checkpoint(path, "no such file or folder"));
    }
    Err(Error::checkpoint(
        path,
        "no checkpoint here: expected a checkpoint folder with state.json, or a run folder \
         with checkpoint/state.json",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::safetensors::to_bytes;
    use gumbel_tensor::Tensor;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gumbel-ckpt-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_flipped_byte_or_a_missing_file_is_named() {
        let d = tmpdir("sums");
        let ck = d.join("checkpoint");
        let a = Tensor::from_fn([64], |i| i as f32 * 0.25);
        let bytes = to_bytes(&[("a".into(), &a)], &[]).unwrap();
        let files = [("state.json", b"{}".to_vec()), ("g.safetensors", bytes)];
        write_checkpoint_dir(&ck, &files).unwrap();
        assert_eq!(resolve_checkpoint(&d).unwrap().dir().to_path_buf(), ck);
        // One bit of one float of the tensor data: still a valid, finite safetensors file.
        let p = ck.join("g.safetensors");
        let mut b = fs::read(&p).unwrap();
        let n = b.len();
        b[n - 7] ^= 0x01;
        fs::write(&p, &b).unwrap();
        assert!(
            TensorFile::load(&p)
                .unwrap()
                .take::<f32>("a", &[64])
                .is_ok()
        );
        let e = resolve_checkpoint(&d).unwrap_err().to_string();
        assert!(
            e.contains("g.safetensors") && e.contains("checksum mismatch"),
            "{e}"
        );
        fs::remove_file(&p).unwrap();
        let e = resolve_checkpoint(&d).unwrap_err().to_string();
        assert!(e.contains("g.safetensors") && e.contains("missing"), "{e}");
        fs::write(ck.join(CHECKSUMS), "nonsense\n").unwrap();
        let e = resolve_checkpoint(&d).unwrap_err().to_string();
        assert!(e.contains(CHECKSUMS) && e.contains("line 1"), "{e}");
        // A folder from before checksums existed is read unchecked.
        fs::remove_file(ck.join(CHECKSUMS)).unwrap();
        assert_eq!(resolve_checkpoint(&d).unwrap().dir().to_path_buf(), ck);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_checkpoint_is_read_once_and_loads_the_bytes_it_verified() {
        let d = tmpdir("once");
        let ck = d.join("checkpoint");
        let a = Tensor::from_fn([8], |i| i as f32);
        let bytes = to_bytes(&[("a".into(), &a)], &[]).unwrap();
        let files = [("state.json", b"{}".to_vec()), ("g.safetensors", bytes)];
        write_checkpoint_dir(&ck, &files).unwrap();
        let read = Checkpoint::read(&ck).unwrap();
        // Changed on disk after the check: the loader still sees the verified bytes.
        fs::write(ck.join("g.safetensors"), b"garbage").unwrap();
        assert_eq!(
            read.tensors("g.safetensors")
                .unwrap()
                .take::<f32>("a", &[8])
                .unwrap(),
            a
        );
        assert!(
            Checkpoint::read(&ck).is_err(),
            "a fresh read sees the change"
        );
        // A file the checksums do not list is read when asked for.
        fs::write(ck.join("extra.txt"), "x").unwrap();
        assert_eq!(read.text("extra.txt").unwrap(), "x");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn checkpoint_dir_is_replaced_whole() {
        let d = tmpdir("dir");
        let ck = d.join("checkpoint");
        write_checkpoint_dir(&ck, &[("state.json", b"1".to_vec()), ("x", b"a".to_vec())]).unwrap();
        write_checkpoint_dir(&ck, &[("state.json", b"2".to_vec())]).unwrap();
        assert_eq!(fs::read(ck.join("state.json")).unwrap(), b"2");
        assert_eq!(
            fs::read_to_string(ck.join(CHECKSUMS)).unwrap(),
            // printf 2 | sha256sum
            "d4735e3a265e16eee03f59718b9b5d03019c07d8b6c51f90da3a666eec13ab35  state.json\n"
        );
        assert!(!ck.join("x").exists(), "old files do not survive");
        assert_eq!(resolve_checkpoint(&d).unwrap().dir().to_path_buf(), ck);
        assert_eq!(resolve_checkpoint(&ck).unwrap().dir().to_path_buf(), ck);
        // A crash between the two renames leaves only checkpoint.old: it is used.
        fs::rename(&ck, d.join("checkpoint.old")).unwrap();
        assert_eq!(
            resolve_checkpoint(&d).unwrap().dir().to_path_buf(),
            d.join("checkpoint.old")
        );
        let leftovers: Vec<_> = fs::read_dir(&d).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary folders left behind");
        let e = resolve_checkpoint(&d.join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing"), "{e}");
        fs::remove_dir_all(&d).unwrap();
    }
}
