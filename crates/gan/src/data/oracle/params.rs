//! The oracle's parameters: the 15 named tensors of SeqGAN's layout and their packed form,
//! safetensors files, a random oracle from a seed, and the magnitude check that keeps every
//! logit finite.

use std::collections::HashMap;
use std::path::Path;

use gumbel_tensor::{Element, Tensor};

use super::{EMB_DIM, GATES, HIDDEN_DIM, Oracle, PARAM_DOMAIN, VOCAB_SIZE};
use crate::error::{Error, Result};
use crate::io::safetensors::{self, TensorFile};
use crate::io::write_atomic;
use crate::random::{self, Normal};

/// Names and shapes of the 15 tensors of an oracle file, in SeqGAN's pickle order.
pub fn tensor_specs(vocab: usize, emb: usize, hidden: usize) -> Vec<(String, Vec<usize>)> {
    let mut specs = vec![("embedding".to_string(), vec![vocab, emb])];
    for g in GATES {
        specs.push((format!("{g}.W_x"), vec![emb, hidden]));
        specs.push((format!("{g}.W_h"), vec![hidden, hidden]));
        specs.push((format!("{g}.b"), vec![hidden]));
    }
    specs.push(("output.W".to_string(), vec![hidden, vocab]));
    specs.push(("output.b".to_string(), vec![vocab]));
    specs
}

impl<T: Element> Oracle<T> {
    /// Builds an oracle from its 15 tensors, given by name as in [`tensor_specs`]
    /// (`W` stored `[in, out]`). `Err` if one is missing or has the wrong shape.
    pub fn from_tensors(tensors: &HashMap<String, Tensor<T>>) -> Result<Self> {
        const OP: &str = "Oracle::from_tensors";
        let get = |name: &str| {
            tensors
                .get(name)
                .ok_or_else(|| Error::invalid_argument(OP, format!("tensor {name:?} is missing")))
        };
        let e = get("embedding")?;
        let wh = get("lstm.input_gate.W_h")?;
        if e.rank() != 2 || wh.rank() != 2 {
            return Err(Error::invalid_argument(
                OP,
                "embedding and W_h must be matrices",
            ));
        }
        let (vocab, emb, hidden) = (e.shape()[0], e.shape()[1], wh.shape()[0]);
        if let Some(what) = zero_size(vocab, emb, hidden) {
            return Err(Error::invalid_argument(OP, what));
        }
        for (name, shape) in tensor_specs(vocab, emb, hidden) {
            let t = get(&name)?;
            if t.shape() != shape.as_slice() {
                return Err(Error::invalid_argument(
                    OP,
                    format!(
                        "tensor {name:?}: expected shape {shape:?}, found {:?}",
                        t.shape()
                    ),
                ));
            }
            if let Some(i) = t.as_slice().iter().position(|x| !x.is_finite()) {
                return Err(Error::invalid_argument(
                    OP,
                    format!(
                        "tensor {name:?}: element {i} is {}; parameters must be finite",
                        t.as_slice()[i].to_f64()
                    ),
                ));
            }
        }
        let o = Self::pack(vocab, emb, hidden, |name| {
            get(name)
                .map(|t| t.as_slice().to_vec())
                .expect("checked above")
        });
        o.check_magnitudes().map_err(|(name, what)| {
            Error::invalid_argument(OP, format!("tensor {name:?}: {what}"))
        })?;
        Ok(o)
    }

    /// Packs per-gate tensors (fetched by name) into the fused layout.
    pub(super) fn pack(
        vocab: usize,
        emb: usize,
        hidden: usize,
        mut get: impl FnMut(&str) -> Vec<T>,
    ) -> Self {
        let h4 = 4 * hidden;
        let mut w_x = vec![T::ZERO; emb * h4];
        let mut w_h = vec![T::ZERO; hidden * h4];
        let mut b = vec![T::ZERO; h4];
        for (gi, g) in GATES.iter().enumerate() {
            let (wx, wh, bg) = (
                get(&format!("{g}.W_x")),
                get(&format!("{g}.W_h")),
                get(&format!("{g}.b")),
            );
            for r in 0..emb {
                w_x[r * h4 + gi * hidden..][..hidden].copy_from_slice(&wx[r * hidden..][..hidden]);
            }
            for r in 0..hidden {
                w_h[r * h4 + gi * hidden..][..hidden].copy_from_slice(&wh[r * hidden..][..hidden]);
            }
            b[gi * hidden..][..hidden].copy_from_slice(&bg);
        }
        Oracle {
            vocab,
            emb,
            hidden,
            embedding: get("embedding"),
            w_x,
            w_h,
            b,
            out_w: get("output.W"),
            out_b: get("output.b"),
        }
    }

    /// The 15 named tensors of the oracle ([`tensor_specs`] order and shapes).
    pub fn parameters(&self) -> Vec<(String, Tensor<T>)> {
        let (h, h4) = (self.hidden, 4 * self.hidden);
        let mut out = Vec::with_capacity(15);
        for (name, shape) in tensor_specs(self.vocab, self.emb, self.hidden) {
            let data = match name.as_str() {
                "embedding" => self.embedding.clone(),
                "output.W" => self.out_w.clone(),
                "output.b" => self.out_b.clone(),
                _ => {
                    let gi = GATES
                        .iter()
                        .position(|g| name.starts_with(g))
                        .expect("gate tensor name");
                    let col = gi * h;
                    if name.ends_with(".W_x") {
                        (0..self.emb)
                            .flat_map(|r| self.w_x[r * h4 + col..][..h].to_vec())
                            .collect()
                    } else if name.ends_with(".W_h") {
                        (0..h)
                            .flat_map(|r| self.w_h[r * h4 + col..][..h].to_vec())
                            .collect()
                    } else {
                        self.b[col..col + h].to_vec()
                    }
                }
            };
            out.push((
                name,
                Tensor::new(shape, data).expect("shape matches the spec"),
            ));
        }
        out
    }

    /// Loads an oracle from a safetensors file holding the 15 tensors of [`tensor_specs`]
    /// (f32 or f64; converted to `T`). Sizes are read from the file (`embedding` gives
    /// vocabulary and embedding width, `lstm.input_gate.W_h` the hidden width) and every other
    /// tensor is checked against them.
    ///
    /// Errors name the file and, where relevant, the tensor: [`Error::Io`] (missing file),
    /// [`Error::Safetensors`] (truncated or corrupt), [`Error::MissingTensor`],
    /// [`Error::TensorShape`], [`Error::TensorDtype`], [`Error::NonFiniteParameter`], and
    /// [`Error::BadTensor`] for a zero size or parameters so large that the logits could
    /// overflow (see `check_magnitudes`: every gate pre-activation and logit must stay below
    /// `T::MAX / 16`).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let mut file = TensorFile::load(path)?;
        let matrix_dims = |file: &TensorFile, name: &str| -> Result<(usize, usize)> {
            match file.shape_of(name) {
                Some(&[a, b]) => Ok((a, b)),
                Some(other) => Err(Error::TensorShape {
                    path: path.to_path_buf(),
                    name: name.to_string(),
                    expected: vec![0, 0],
                    found: other.to_vec(),
                }),
                None => Err(Error::MissingTensor {
                    path: path.to_path_buf(),
                    name: name.to_string(),
                    available: file.remaining().join(", "),
                }),
            }
        };
        let (vocab, emb) = matrix_dims(&file, "embedding")?;
        let (hidden, _) = matrix_dims(&file, "lstm.input_gate.W_h")?;
        if let Some(what) = zero_size(vocab, emb, hidden) {
            return Err(Error::BadTensor {
                path: path.to_path_buf(),
                name: if hidden == 0 {
                    "lstm.input_gate.W_h"
                } else {
                    "embedding"
                }
                .to_string(),
                what,
            });
        }
        let mut tensors = HashMap::new();
        for (name, shape) in tensor_specs(vocab, emb, hidden) {
            let t = file.take_converted::<T>(&name, &shape)?;
            tensors.insert(name, t.into_vec());
        }
        let o = Self::pack(vocab, emb, hidden, |name| {
            tensors.remove(name).expect("loaded above")
        });
        o.check_magnitudes()
            .map_err(|(name, what)| Error::BadTensor {
                path: path.to_path_buf(),
                name,
                what,
            })?;
        Ok(o)
    }

    /// `Err((tensor, why))` if the parameters are so large that a gate pre-activation or a
    /// logit could overflow `T` (the sampler would then meet `inf - inf = NaN`).
    ///
    /// Bounds, in f64: `|h| <= 1` (`h = o * tanh(c)`) and every input is an embedding row,
    /// so gate column `j` is at most `|b_j| + max|emb| * sum_k |W_x[k, j]| + sum_k |W_h[k, j]|`
    /// and logit `j` at most `|b_out_j| + sum_k |W_out[k, j]|` in magnitude. Each must stay
    /// below `T::MAX / 16`, which leaves room for the difference of two logits (the
    /// log-sum-exp and the sampler subtract the largest) and for rounding. SeqGAN's oracle
    /// (N(0, 1) values) is about 1e-36 of that limit in f32.
    fn check_magnitudes(&self) -> std::result::Result<(), (String, String)> {
        let limit = T::MAX.to_f64() / 16.0;
        let (h, h4) = (self.hidden, 4 * self.hidden);
        let emax = self
            .embedding
            .iter()
            .fold(0.0f64, |m, x| m.max(x.to_f64().abs()));
        let col_sum = |w: &[T], cols: usize, j: usize| -> f64 {
            w.iter()
                .skip(j)
                .step_by(cols)
                .map(|x| x.to_f64().abs())
                .sum()
        };
        let too_large = |what: &str, j: usize, bound: f64| {
            format!(
                "{what} {j} can reach {bound:e} in magnitude, above the limit {limit:e} of {} arithmetic: the parameters are too large",
                T::NAME
            )
        };
        for j in 0..h4 {
            let bound = self.b[j].to_f64().abs()
                + emax * col_sum(&self.w_x, h4, j)
                + col_sum(&self.w_h, h4, j);
            if bound >= limit {
                let gate = GATES[j / h];
                return Err((
                    format!("{gate}.W_x"),
                    too_large(&format!("with the embedding, {gate} unit"), j % h, bound),
                ));
            }
        }
        for j in 0..self.vocab {
            let bound = self.out_b[j].to_f64().abs() + col_sum(&self.out_w, self.vocab, j);
            if bound >= limit {
                return Err(("output.W".to_string(), too_large("logit", j, bound)));
            }
        }
        Ok(())
    }

    /// Writes the oracle as a safetensors file in the layout [`Oracle::load`] reads (element
    /// type `T`; `__metadata__` records the conventions).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let params = self.parameters();
        let named: Vec<(String, &Tensor<T>)> = params.iter().map(|(n, t)| (n.clone(), t)).collect();
        let conventions =
            "SeqGAN oracle LSTM; y = x @ W + b with W stored [in, out]; start token 0; h0 = c0 = 0";
        let bytes = safetensors::to_bytes(&named, &[("conventions", conventions)])?;
        write_atomic(path.as_ref(), &bytes)
    }

    /// A random oracle of SeqGAN's size (5000, 32, 32) with i.i.d. N(0, 1) parameters.
    /// See [`Oracle::random_with_dims`].
    pub fn random(seed: u64) -> Self {
        Self::random_with_dims(VOCAB_SIZE, EMB_DIM, HIDDEN_DIM, seed)
            .expect("SeqGAN sizes are valid")
    }

    /// A random oracle with i.i.d. N(0, 1) parameters, as the SeqGAN oracle's look and as
    /// TextGAN-PyTorch initialises its oracles. The draws come from one stream,
    /// [`random::stream`]`(seed, `[`PARAM_DOMAIN`]`, 0)` through Box-Muller ([`Normal`]), in
    /// [`tensor_specs`] order, each tensor row-major; they are made in f64 and rounded to `T`.
    /// `Err` if a size is 0.
    pub fn random_with_dims(vocab: usize, emb: usize, hidden: usize, seed: u64) -> Result<Self> {
        if vocab == 0 || emb == 0 || hidden == 0 {
            return Err(Error::invalid_argument(
                "Oracle::random_with_dims",
                format!("sizes must be > 0, got vocab {vocab}, emb {emb}, hidden {hidden}"),
            ));
        }
        let mut normal = Normal::new(random::stream(seed, PARAM_DOMAIN, 0));
        let mut tensors: HashMap<String, Vec<T>> = HashMap::new();
        for (name, shape) in tensor_specs(vocab, emb, hidden) {
            let n: usize = shape.iter().product();
            tensors.insert(
                name,
                (0..n).map(|_| T::from_f64(normal.next_f64())).collect(),
            );
        }
        Ok(Self::pack(vocab, emb, hidden, |name| {
            tensors.remove(name).expect("drawn above")
        }))
    }
}

/// A message if a size of an oracle is 0 (such an oracle has nothing to sample).
fn zero_size(vocab: usize, emb: usize, hidden: usize) -> Option<String> {
    (vocab == 0 || emb == 0 || hidden == 0).then(|| {
        format!(
            "sizes must be at least 1, got vocabulary {vocab}, embedding {emb}, hidden {hidden}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_round_trip_through_the_packed_layout() {
        let o = Oracle::<f64>::random_with_dims(11, 3, 5, 9).unwrap();
        let map: HashMap<String, Tensor<f64>> = o.parameters().into_iter().collect();
        assert_eq!(map.len(), 15);
        assert_eq!(map["lstm.forget_gate.W_x"].shape(), &[3, 5]);
        let back = Oracle::from_tensors(&map).unwrap();
        assert_eq!(back, o);
    }
}
