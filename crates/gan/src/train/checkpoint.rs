//! Checkpoint files: safetensors reading and writing, atomic replacement of a checkpoint
//! folder, and errors that name the file and the tensor.
//!
//! A checkpoint is a folder:
//!
//! | file | holds |
//! |---|---|
//! | `generator.safetensors` | the generator under PyTorch's names and layouts (`embedding.weight`, `lstm.weight_ih_l0`, ..., `linear.bias`), loadable with `load_state_dict` |
//! | `discriminator.safetensors` | the discriminator |
//! | `optimizer.safetensors` | every Adam state (`exp_avg`, `exp_avg_sq`, `step`, PyTorch's names) as `<optimizer>/<param>.<buffer>`, optimizers `mle`, `gen`, `disc`, `temp`; and the learnable temperature |
//! | `state.json` | stage, step counters, the vocabulary, metrics and samples after MLE: everything else an exact resume needs |
//!
//! | `SHA256SUMS` | the SHA-256 of every other file, in `sha256sum`'s format (`sha256sum -c SHA256SUMS` checks a folder by hand) |
//!
//! Random draws are functions of (seed, purpose, step) (see `train::rng`), so the step
//! counters in `state.json` are the whole RNG state.
//!
//! Reading a checkpoint ([`resolve_checkpoint_dir`]) first checks every file against
//! `SHA256SUMS`: a flipped bit anywhere (disk corruption, an edit) is an error naming the
//! file, not a model that silently differs. Folders written before `SHA256SUMS` existed
//! have none and are read unchecked.
//!
//! Writing never leaves a half-written checkpoint: the files go to a fresh temporary folder
//! beside the target, are flushed to disk, and the folder is renamed into place (the old
//! checkpoint is first renamed to `<name>.old` and removed last; a reader that finds only
//! `<name>.old` after a crash between the two renames uses it).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use gumbel_autograd::ParamStore;
use gumbel_tensor::Tensor;
use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};

use super::failpoint;
use crate::error::{Error, Result};

/// Writes `bytes` to `path` through a temporary file in the same folder, flushed to disk
/// and renamed over `path`: readers see the old file or the new one, never a mix.
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

/// Serialises f32 tensors to safetensors bytes, with `__metadata__` `{"format": "pt"}`
/// (what `safetensors.torch` writes). Tensors are sorted by name and the metadata has one
/// entry, so the same tensors always give the same bytes (safetensors keeps metadata in a
/// hash map, whose order would differ from run to run with more entries).
pub fn safetensors_bytes(tensors: &[(String, &Tensor<f32>)]) -> Result<Vec<u8>> {
    struct View<'a>(&'a Tensor<f32>);
    impl safetensors::View for View<'_> {
        fn dtype(&self) -> Dtype {
            Dtype::F32
        }
        fn shape(&self) -> &[usize] {
            self.0.shape()
        }
        fn data(&self) -> std::borrow::Cow<'_, [u8]> {
            let mut out = Vec::with_capacity(self.0.numel() * 4);
            for x in self.0.as_slice() {
                out.extend_from_slice(&x.to_le_bytes());
            }
            out.into()
        }
        fn data_len(&self) -> usize {
            self.0.numel() * 4
        }
    }
    let mut meta: HashMap<String, String> = HashMap::new();
    meta.insert("format".into(), "pt".into());
    let views = tensors.iter().map(|(n, t)| (n.clone(), View(t)));
    safetensors::serialize(views, Some(meta))
        .map_err(|e| Error::Config(format!("cannot serialise tensors: {e}")))
}

/// The tensors of one safetensors file, taken out by name with checked shapes.
pub struct TensorFile {
    path: PathBuf,
    tensors: HashMap<String, Tensor<f32>>,
    metadata: HashMap<String, String>,
}

impl TensorFile {
    /// Reads and validates a safetensors file: a missing file, a truncated or corrupt header,
    /// data that does not match the header, or a tensor that is not f32 is an error naming
    /// the file (and the tensor).
    pub fn load(path: &Path) -> Result<TensorFile> {
        let bytes = fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::checkpoint(path, "file not found"),
            _ => Error::io(path, e),
        })?;
        let corrupt = |e: safetensors::SafeTensorError| Error::Safetensors {
            path: path.to_path_buf(),
            what: format!("{} bytes, truncated or corrupt: {e}", bytes.len()),
        };
        let st = SafeTensors::deserialize(&bytes).map_err(corrupt)?;
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(corrupt)?;
        let metadata = header.metadata().clone().unwrap_or_default();
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(Error::TensorDtype {
                    path: path.to_path_buf(),
                    name,
                    expected: "F32",
                    found: format!("{:?}", view.dtype()),
                });
            }
            let data: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let t = Tensor::new(view.shape().to_vec(), data).map_err(|e| Error::Safetensors {
                path: path.to_path_buf(),
                what: format!("tensor {name:?}: {e}"),
            })?;
            tensors.insert(name, t);
        }
        Ok(TensorFile {
            path: path.to_path_buf(),
            tensors,
            metadata,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `__metadata__` entries.
    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    /// Takes tensor `name`, which must have shape `shape`.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<Tensor<f32>> {
        let t = self
            .tensors
            .remove(name)
            .ok_or_else(|| Error::MissingTensor {
                path: self.path.clone(),
                name: name.to_string(),
                available: self.remaining().join(", "),
            })?;
        if t.shape() != shape {
            // The usual cause: a checkpoint of another model size (--gen-hidden, ...).
            return Err(Error::TensorShape {
                path: self.path.clone(),
                name: name.to_string(),
                expected: shape.to_vec(),
                found: t.shape().to_vec(),
            });
        }
        if let Some(i) = t.as_slice().iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFiniteParameter {
                path: self.path.clone(),
                name: name.to_string(),
                index: i,
                value: t.as_slice()[i] as f64,
            });
        }
        Ok(t)
    }

    /// Takes every tensor whose name starts with `prefix`, with the prefix removed, sorted
    /// by name.
    pub fn take_prefix(&mut self, prefix: &str) -> Vec<(String, Tensor<f32>)> {
        let names: Vec<String> = self
            .tensors
            .keys()
            .filter(|n| n.starts_with(prefix))
            .cloned()
            .collect();
        let mut out: Vec<(String, Tensor<f32>)> = names
            .into_iter()
            .map(|n| {
                let t = self.tensors.remove(&n).expect("listed above");
                (n[prefix.len()..].to_string(), t)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The shape of tensor `name`, if present.
    pub fn shape_of(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|t| t.shape())
    }

    /// Names left after every `take` (unexpected tensors), sorted.
    pub fn remaining(&self) -> Vec<String> {
        let mut v: Vec<String> = self.tensors.keys().cloned().collect();
        v.sort();
        v
    }

    /// `Err` naming the first tensor no `take` asked for: a file from another model.
    pub fn expect_empty(&self) -> Result<()> {
        match self.remaining().first() {
            None => Ok(()),
            Some(n) => Err(Error::checkpoint(
                &self.path,
                format!("unexpected tensor {n:?} (a checkpoint from another model?)"),
            )),
        }
    }
}

/// A parameter store's `(name, tensor)` pairs in insertion order: what a network writes
/// to its `.safetensors` file (the names are PyTorch's, see `docs/gan.md`).
pub fn state_dict(params: &ParamStore<f32>) -> Vec<(String, &Tensor<f32>)> {
    params
        .named_values()
        .map(|(n, t)| (n.to_string(), t))
        .collect()
}

/// Sets every parameter of `params` from `file`: `Err` naming the file and the tensor if
/// one is missing, has another shape (a checkpoint of another model size) or is not
/// finite, or if the file holds a tensor the store does not (a checkpoint of another
/// model).
pub fn load_params(params: &mut ParamStore<f32>, file: &mut TensorFile) -> Result<()> {
    let ids: Vec<_> = params.ids().collect();
    for id in ids {
        let name = params.name(id)?.to_string();
        let shape = params.value(id)?.shape().to_vec();
        let t = file.take(&name, &shape)?;
        params.set(id, t)?;
    }
    file.expect_empty()
}

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

/// Checks every file listed in `dir/SHA256SUMS` against its SHA-256: `Err` naming the first
/// file that is missing or differs, or a malformed list. A folder without the file (written
/// before checksums existed) passes.
pub fn verify_checkpoint_dir(dir: &Path) -> Result<()> {
    let list = dir.join(CHECKSUMS);
    let text = match fs::read_to_string(&list) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(&list, e)),
    };
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
    }
    Ok(())
}

/// [`resolve_checkpoint_dir`], with `Ok(None)` where `path` holds no checkpoint at all (a
/// run stopped before its first one).
pub fn find_checkpoint_dir(path: &Path) -> Result<Option<PathBuf>> {
    let candidates = [
        path.to_path_buf(),
        path.join("checkpoint"),
        path.join("checkpoint.old"),
        PathBuf::from(format!("{}.old", path.display())),
    ];
    for c in candidates {
        if c.join("state.json").is_file() {
            verify_checkpoint_dir(&c)?;
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// The checkpoint folder to read for a user-given path: `path` itself if it holds
/// `state.json`, else `path/checkpoint` (a run folder), falling back to the `.old` copy a
/// crash between two renames may leave. Its files are checked against `SHA256SUMS`
/// ([`verify_checkpoint_dir`]).
pub fn resolve_checkpoint_dir(path: &Path) -> Result<PathBuf> {
    if let Some(dir) = find_checkpoint_dir(path)? {
        return Ok(dir);
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

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gumbel-ckpt-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn tensors_round_trip_bitwise() {
        let d = tmpdir("rt");
        let a = Tensor::from_fn([3, 4], |i| (i as f32).sin() * 1e-3);
        let b = Tensor::from_fn([5], |i| -(i as f32) / 7.0);
        let bytes = safetensors_bytes(&[("a.weight".into(), &a), ("b".into(), &b)]).unwrap();
        let again = safetensors_bytes(&[("b".into(), &b), ("a.weight".into(), &a)]).unwrap();
        assert_eq!(bytes, again, "the same tensors give the same bytes");
        let p = d.join("x.safetensors");
        write_atomic(&p, &bytes).unwrap();
        let mut f = TensorFile::load(&p).unwrap();
        assert_eq!(f.metadata().get("format").map(String::as_str), Some("pt"));
        assert_eq!(f.take("a.weight", &[3, 4]).unwrap(), a);
        let e = f.take("b", &[6]).unwrap_err().to_string();
        assert!(
            e.contains("x.safetensors") && e.contains("\"b\"") && e.contains("[5]"),
            "{e}"
        );
        let e = f.take("c", &[1]).unwrap_err().to_string();
        assert!(e.contains("\"c\"") && e.contains("missing"), "{e}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn truncated_corrupt_and_missing_files_are_named() {
        let d = tmpdir("bad");
        let a = Tensor::from_fn([16, 16], |i| i as f32);
        let bytes = safetensors_bytes(&[("a".into(), &a)]).unwrap();
        let p = d.join("g.safetensors");
        fs::write(&p, &bytes[..bytes.len() - 10]).unwrap();
        let e = TensorFile::load(&p).err().unwrap().to_string();
        assert!(
            e.contains("g.safetensors") && e.contains("truncated"),
            "{e}"
        );
        fs::write(&p, b"\xff\xfe garbage").unwrap();
        let e = TensorFile::load(&p).err().unwrap().to_string();
        assert!(e.contains("g.safetensors"), "{e}");
        let e = TensorFile::load(&d.join("nope.safetensors"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("nope.safetensors") && e.contains("not found"),
            "{e}"
        );
        // A NaN inside the data (bit rot) is caught by `take`.
        let mut nan = bytes.clone();
        let n = nan.len();
        nan[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
        fs::write(&p, &nan).unwrap();
        let e = TensorFile::load(&p)
            .unwrap()
            .take("a", &[16, 16])
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"a\"") && e.contains("NaN"), "{e}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_flipped_byte_or_a_missing_file_is_named() {
        let d = tmpdir("sums");
        let ck = d.join("checkpoint");
        let a = Tensor::from_fn([64], |i| i as f32 * 0.25);
        let bytes = safetensors_bytes(&[("a".into(), &a)]).unwrap();
        let files = [("state.json", b"{}".to_vec()), ("g.safetensors", bytes)];
        write_checkpoint_dir(&ck, &files).unwrap();
        assert_eq!(resolve_checkpoint_dir(&d).unwrap(), ck);
        // One bit of one float of the tensor data: still a valid, finite safetensors file.
        let p = ck.join("g.safetensors");
        let mut b = fs::read(&p).unwrap();
        let n = b.len();
        b[n - 7] ^= 0x01;
        fs::write(&p, &b).unwrap();
        assert!(TensorFile::load(&p).unwrap().take("a", &[64]).is_ok());
        let e = resolve_checkpoint_dir(&d).unwrap_err().to_string();
        assert!(
            e.contains("g.safetensors") && e.contains("checksum mismatch"),
            "{e}"
        );
        fs::remove_file(&p).unwrap();
        let e = resolve_checkpoint_dir(&d).unwrap_err().to_string();
        assert!(e.contains("g.safetensors") && e.contains("missing"), "{e}");
        fs::write(ck.join(CHECKSUMS), "nonsense\n").unwrap();
        let e = resolve_checkpoint_dir(&d).unwrap_err().to_string();
        assert!(e.contains(CHECKSUMS) && e.contains("line 1"), "{e}");
        // A folder from before checksums existed is read unchecked.
        fs::remove_file(ck.join(CHECKSUMS)).unwrap();
        assert_eq!(resolve_checkpoint_dir(&d).unwrap(), ck);
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
        assert_eq!(resolve_checkpoint_dir(&d).unwrap(), ck);
        assert_eq!(resolve_checkpoint_dir(&ck).unwrap(), ck);
        // A crash between the two renames leaves only checkpoint.old: it is used.
        fs::rename(&ck, d.join("checkpoint.old")).unwrap();
        assert_eq!(
            resolve_checkpoint_dir(&d).unwrap(),
            d.join("checkpoint.old")
        );
        let leftovers: Vec<_> = fs::read_dir(&d).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary folders left behind");
        let e = resolve_checkpoint_dir(&d.join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing"), "{e}");
        fs::remove_dir_all(&d).unwrap();
    }
}
