//! Safetensors files: the one decoder and the one encoder of the crate. The SeqGAN oracle
//! (`data::oracle`), the networks (`model`) and the checkpoints (`train::checkpoint`) all read
//! and write their tensors through [`TensorFile`] and [`to_bytes`].
//!
//! A file is decoded in full on [`TensorFile::load`] (header, offsets, and that the data
//! matches the header); tensors are then taken out by name with a checked shape
//! ([`TensorFile::take`]), and every value is checked to be finite. Errors name the file and
//! the tensor.
//!
//! Stored element types are f32 and f64. A tensor is taken in the element type the caller
//! computes in: [`TensorFile::take`] demands the stored type to be exactly `T` (a checkpoint
//! must restore bitwise what was saved), [`TensorFile::take_converted`] accepts either and
//! rounds (the oracle is stored in f32 and may be scored in f64).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gumbel_autograd::ParamStore;
use gumbel_tensor::{Element, Tensor};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::error::{Error, Result};

/// One decoded tensor, in the element type it was stored in.
enum Stored {
    F32(Tensor<f32>),
    F64(Tensor<f64>),
}

impl Stored {
    fn shape(&self) -> &[usize] {
        match self {
            Stored::F32(t) => t.shape(),
            Stored::F64(t) => t.shape(),
        }
    }

    fn dtype(&self) -> &'static str {
        match self {
            Stored::F32(_) => "F32",
            Stored::F64(_) => "F64",
        }
    }
}

/// The safetensors dtype of element type `T`.
fn dtype_of<T: Element>() -> Dtype {
    match T::NAME {
        "f32" => Dtype::F32,
        "f64" => Dtype::F64,
        other => unreachable!("Element is implemented for f32 and f64 only, not {other}"),
    }
}

/// Serialises tensors to safetensors bytes with the given `__metadata__` entries. Tensors
/// are written in name order whatever the order of `tensors`, so the same tensors and
/// metadata always give the same bytes. `metadata` should have at most one entry:
/// safetensors keeps it in a hash map, whose order would differ from run to run with more.
pub fn to_bytes<T: Element>(
    tensors: &[(String, &Tensor<T>)],
    metadata: &[(&str, &str)],
) -> Result<Vec<u8>> {
    let dtype = dtype_of::<T>();
    let bytes: Vec<(&str, &[usize], Vec<u8>)> = tensors
        .iter()
        .map(|(name, t)| {
            let mut b = Vec::with_capacity(t.numel() * std::mem::size_of::<T>());
            for &x in t.as_slice() {
                match dtype {
                    Dtype::F32 => b.extend_from_slice(&(x.to_f64() as f32).to_le_bytes()),
                    _ => b.extend_from_slice(&x.to_f64().to_le_bytes()),
                }
            }
            (name.as_str(), t.shape(), b)
        })
        .collect();
    let views = bytes.iter().map(|(name, shape, b)| {
        let view = TensorView::new(dtype, shape.to_vec(), b).expect("byte length matches shape");
        (name.to_string(), view)
    });
    let meta: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    safetensors::serialize(views, Some(meta))
        .map_err(|e| Error::Config(format!("cannot serialise tensors: {e}")))
}

/// The tensors of one safetensors file, taken out by name with checked shapes.
pub struct TensorFile {
    path: PathBuf,
    tensors: HashMap<String, Stored>,
    metadata: HashMap<String, String>,
}

impl TensorFile {
    /// Reads and decodes a safetensors file. `Err` naming the file: [`Error::Io`] if it
    /// cannot be read (a missing file included), [`Error::Safetensors`] if the header is
    /// truncated or corrupt or the data does not match it, [`Error::TensorDtype`] naming the
    /// tensor if one is neither F32 nor F64.
    pub fn load(path: &Path) -> Result<TensorFile> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::decode(path, &bytes)
    }

    /// [`TensorFile::load`] on bytes already read from `path` (named in errors).
    pub fn decode(path: &Path, bytes: &[u8]) -> Result<TensorFile> {
        let corrupt = |e: safetensors::SafeTensorError| Error::Safetensors {
            path: path.to_path_buf(),
            what: format!("{} bytes, truncated or corrupt: {e}", bytes.len()),
        };
        let st = SafeTensors::deserialize(bytes).map_err(corrupt)?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(corrupt)?;
        let metadata = header.metadata().clone().unwrap_or_default();
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            let shape = view.shape().to_vec();
            let bad = |e: gumbel_tensor::Error| Error::Safetensors {
                path: path.to_path_buf(),
                what: format!("tensor {name:?}: {e}"),
            };
            let stored = match view.dtype() {
                Dtype::F32 => {
                    let data = view.data().chunks_exact(4);
                    let data = data.map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")));
                    Stored::F32(Tensor::new(shape, data.collect()).map_err(bad)?)
                }
                Dtype::F64 => {
                    let data = view.data().chunks_exact(8);
                    let data = data.map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")));
                    Stored::F64(Tensor::new(shape, data.collect()).map_err(bad)?)
                }
                other => {
                    return Err(Error::TensorDtype {
                        path: path.to_path_buf(),
                        name,
                        expected: "F32 or F64",
                        found: format!("{other:?}"),
                    });
                }
            };
            tensors.insert(name, stored);
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

    /// Takes tensor `name`, which must be stored as `T` exactly and have shape `shape`.
    /// `Err` naming the file and the tensor if it is missing ([`Error::MissingTensor`], with
    /// the names present), of another shape ([`Error::TensorShape`]: usually a file of
    /// another model size) or dtype ([`Error::TensorDtype`]), or holds a value that is not
    /// finite ([`Error::NonFiniteParameter`]).
    pub fn take<T: Element>(&mut self, name: &str, shape: &[usize]) -> Result<Tensor<T>> {
        let stored = self.take_stored(name, shape)?;
        let expected = if dtype_of::<T>() == Dtype::F32 {
            "F32"
        } else {
            "F64"
        };
        if stored.dtype() != expected {
            return Err(Error::TensorDtype {
                path: self.path.clone(),
                name: name.to_string(),
                expected,
                found: stored.dtype().to_string(),
            });
        }
        self.finite(name, convert(stored))
    }

    /// [`TensorFile::take`], accepting f32 or f64 storage and rounding to `T`.
    pub fn take_converted<T: Element>(&mut self, name: &str, shape: &[usize]) -> Result<Tensor<T>> {
        let stored = self.take_stored(name, shape)?;
        self.finite(name, convert(stored))
    }

    fn take_stored(&mut self, name: &str, shape: &[usize]) -> Result<Stored> {
        let Some(t) = self.tensors.remove(name) else {
            return Err(Error::MissingTensor {
                path: self.path.clone(),
                name: name.to_string(),
                available: self.remaining().join(", "),
            });
        };
        if t.shape() != shape {
            return Err(Error::TensorShape {
                path: self.path.clone(),
                name: name.to_string(),
                expected: shape.to_vec(),
                found: t.shape().to_vec(),
            });
        }
        Ok(t)
    }

    fn finite<T: Element>(&self, name: &str, t: Tensor<T>) -> Result<Tensor<T>> {
        match t.as_slice().iter().position(|x| !x.is_finite()) {
            None => Ok(t),
            Some(index) => Err(Error::NonFiniteParameter {
                path: self.path.clone(),
                name: name.to_string(),
                index,
                value: t.as_slice()[index].to_f64(),
            }),
        }
    }

    /// Takes every f32 tensor whose name starts with `prefix`, with the prefix removed,
    /// sorted by name (values unchecked: the caller validates what they mean).
    pub fn take_prefix(&mut self, prefix: &str) -> Result<Vec<(String, Tensor<f32>)>> {
        let mut names: Vec<String> = self
            .tensors
            .keys()
            .filter(|n| n.starts_with(prefix))
            .cloned()
            .collect();
        names.sort();
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            let shape = self.tensors[&n].shape().to_vec();
            let stored = self.take_stored(&n, &shape)?;
            let Stored::F32(t) = stored else {
                return Err(Error::TensorDtype {
                    path: self.path.clone(),
                    name: n,
                    expected: "F32",
                    found: stored.dtype().to_string(),
                });
            };
            out.push((n[prefix.len()..].to_string(), t));
        }
        Ok(out)
    }

    /// The shape of tensor `name`, if present.
    pub fn shape_of(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(Stored::shape)
    }

    /// Names not taken yet, sorted.
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

/// A stored tensor in element type `T` (exact when the types agree).
fn convert<T: Element>(s: Stored) -> Tensor<T> {
    match s {
        Stored::F32(t) => t.cast(),
        Stored::F64(t) => t.cast(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gumbel-st-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn tensors_round_trip_bitwise_in_both_dtypes_and_bytes_do_not_depend_on_order() {
        let d = tmpdir("rt");
        let a = Tensor::from_fn([3, 4], |i| (i as f32).sin() * 1e-3);
        let b = Tensor::from_fn([5], |i| -(i as f32) / 7.0);
        let bytes = to_bytes(&[("a.weight".into(), &a), ("b".into(), &b)], &[("k", "v")]).unwrap();
        let again = to_bytes(&[("b".into(), &b), ("a.weight".into(), &a)], &[("k", "v")]).unwrap();
        assert_eq!(bytes, again, "the same tensors give the same bytes");
        let p = d.join("x.safetensors");
        std::fs::write(&p, &bytes).unwrap();
        let mut f = TensorFile::load(&p).unwrap();
        assert_eq!(f.metadata().get("k").map(String::as_str), Some("v"));
        assert_eq!(f.take::<f32>("a.weight", &[3, 4]).unwrap(), a);
        let e = f.take::<f32>("b", &[6]).unwrap_err().to_string();
        assert!(
            e.contains("x.safetensors") && e.contains("\"b\"") && e.contains("[5]"),
            "{e}"
        );

        let c = Tensor::from_fn([2, 2], |i| 1.0 / (i as f64 + 3.0));
        let bytes = to_bytes(&[("c".into(), &c)], &[]).unwrap();
        let mut f = TensorFile::decode(&p, &bytes).unwrap();
        assert_eq!(f.shape_of("c"), Some(&[2, 2][..]));
        let e = f.take::<f32>("c", &[2, 2]).unwrap_err();
        assert!(
            matches!(e, Error::TensorDtype { expected: "F32", ref found, .. } if found == "F64"),
            "an f64 tensor is not taken as f32 silently: {e}"
        );
        let mut f = TensorFile::decode(&p, &bytes).unwrap();
        assert_eq!(f.take::<f64>("c", &[2, 2]).unwrap(), c);
        let mut f = TensorFile::decode(&p, &bytes).unwrap();
        let rounded = f.take_converted::<f32>("c", &[2, 2]).unwrap();
        let expected: Vec<f32> = c.as_slice().iter().map(|&x| x as f32).collect();
        assert_eq!(rounded.as_slice(), &expected[..]);
        f.expect_empty().unwrap();
    }

    #[test]
    fn non_finite_values_and_unexpected_tensors_are_named() {
        let p = Path::new("w.safetensors");
        let t = Tensor::new(vec![3], vec![1.0f32, f32::NAN, 2.0]).unwrap();
        let u = Tensor::new(vec![1], vec![0.0f32]).unwrap();
        let bytes = to_bytes(&[("t".into(), &t), ("u".into(), &u)], &[]).unwrap();
        let mut f = TensorFile::decode(p, &bytes).unwrap();
        let e = f.take::<f32>("t", &[3]).unwrap_err();
        assert!(
            matches!(e, Error::NonFiniteParameter { index: 1, ref name, .. } if name == "t"),
            "{e}"
        );
        let e = f.expect_empty().unwrap_err().to_string();
        assert!(e.contains("\"u\""), "{e}");
        let e = f.take::<f32>("v", &[1]).unwrap_err().to_string();
        assert!(e.contains("\"v\"") && e.contains("u"), "{e}");
    }

    #[test]
    fn truncated_bytes_are_an_error_naming_the_file() {
        let t = Tensor::new(vec![2], vec![1.0f32, 2.0]).unwrap();
        let bytes = to_bytes(&[("t".into(), &t)], &[]).unwrap();
        for cut in [0, 7, 8, bytes.len() - 1] {
            let e = TensorFile::decode(Path::new("cut.safetensors"), &bytes[..cut]);
            let e = e.err().expect("truncated bytes are refused").to_string();
            assert!(e.contains("cut.safetensors"), "{e}");
        }
    }

    #[test]
    fn corrupt_and_missing_files_and_bit_rot_to_nan_are_named() {
        let d = tmpdir("bad");
        let a = Tensor::from_fn([16, 16], |i| i as f32);
        let bytes = to_bytes(&[("a".into(), &a)], &[]).unwrap();
        let p = d.join("g.safetensors");
        std::fs::write(&p, b"\xff\xfe garbage").unwrap();
        let e = TensorFile::load(&p).err().unwrap().to_string();
        assert!(e.contains("g.safetensors") && e.contains("corrupt"), "{e}");
        let e = TensorFile::load(&d.join("nope.safetensors")).err().unwrap();
        assert!(
            matches!(e, Error::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound),
            "{e}"
        );
        assert!(e.to_string().contains("nope.safetensors"), "{e}");
        // A NaN inside the data (bit rot) is caught by `take`.
        let mut nan = bytes.clone();
        let n = nan.len();
        nan[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
        let e = TensorFile::decode(&p, &nan)
            .unwrap()
            .take::<f32>("a", &[16, 16])
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"a\"") && e.contains("NaN"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
