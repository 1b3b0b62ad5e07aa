//! [`ParamStore`]: a model's parameters, by stable name, outside any tape.
//!
//! Parameters outlive tapes. Each training step builds a fresh [`Tape`], puts the
//! parameters it needs on it with [`ParamStore::var`] (a leaf sharing the parameter's tensor,
//! no copy), runs forward and backward, and moves the resulting gradients into the store
//! with [`ParamStore::accumulate`]. An optimizer then reads `grad` and updates `value` in
//! place. Gradients accumulate across backward calls until [`ParamStore::zero_grad`].
//!
//! ```text
//!   ParamStore { "lstm.weight_ih_l0": value, grad } ---var()---> Tape leaf (shares value)
//!        ^  accumulate(grads)                                      | forward, backward
//!        '------------------------------------------ Gradients <---'
//! ```
//!
//! Names are the checkpoint keys: layers prefix theirs with the layer's name
//! (`"lstm.weight_ih_l0"`), in PyTorch's layouts, so that a state dict saved from a store
//! loads into the matching PyTorch module with `load_state_dict`. Insertion order is kept.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use gumbel_tensor::{Element, Error, Result, Tensor};

use crate::tape::{Gradients, Tape, Var};

static NEXT_STORE_ID: AtomicU32 = AtomicU32::new(0);

/// A handle to one parameter of one [`ParamStore`]. Cheap to copy; layers keep these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParamId {
    store: u32,
    index: u32,
}

impl ParamId {
    /// The parameter's position in its store (insertion order).
    pub fn index(self) -> usize {
        self.index as usize
    }
}

/// Named parameters with their gradients.
///
/// ```
/// use gumbel_autograd::{ParamStore, Tape, tensor::Tensor};
/// # fn main() -> gumbel_autograd::Result<()> {
/// let mut params = ParamStore::<f64>::new();
/// let w = params.add("w", Tensor::new([2], vec![1.0, 3.0])?)?;
/// for _ in 0..2 {
///     let tape = Tape::new();
///     let loss = params.var(&tape, w)?.mul(&params.var(&tape, w)?)?.sum()?; // w0^2 + w1^2
///     params.accumulate(&mut loss.backward()?)?;
/// }
/// // two backward passes accumulated: 2 * 2w
/// assert_eq!(params.grad(w).unwrap().as_slice(), &[4.0, 12.0]);
/// params.zero_grad();
/// assert!(params.grad(w).is_none());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ParamStore<T: Element> {
    id: u32,
    names: Vec<String>,
    by_name: HashMap<String, usize>,
    values: Vec<Arc<Tensor<T>>>,
    grads: Vec<Option<Tensor<T>>>,
    requires_grad: bool,
}

impl<T: Element> Default for ParamStore<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Element> ParamStore<T> {
    /// An empty store.
    pub fn new() -> Self {
        ParamStore {
            id: NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed),
            names: Vec::new(),
            by_name: HashMap::new(),
            values: Vec::new(),
            grads: Vec::new(),
            requires_grad: true,
        }
    }

    /// Adds a parameter under a new name. `Err` if the name is taken.
    pub fn add(&mut self, name: impl Into<String>, value: Tensor<T>) -> Result<ParamId> {
        let name = name.into();
        if self.by_name.contains_key(&name) {
            return Err(Error::invalid_argument(
                "ParamStore::add",
                format!("a parameter named {name:?} already exists"),
            ));
        }
        let index = self.values.len();
        self.by_name.insert(name.clone(), index);
        self.names.push(name);
        self.values.push(Arc::new(value));
        self.grads.push(None);
        Ok(ParamId {
            store: self.id,
            index: u32::try_from(index).expect("fewer than 2^32 parameters"),
        })
    }

    /// The id of the parameter called `name`.
    pub fn id(&self, name: &str) -> Result<ParamId> {
        self.by_name
            .get(name)
            .map(|&i| ParamId {
                store: self.id,
                index: i as u32,
            })
            .ok_or_else(|| {
                Error::invalid_argument("ParamStore::id", format!("no parameter named {name:?}"))
            })
    }

    fn index(&self, id: ParamId, op: &'static str) -> Result<usize> {
        if id.store != self.id {
            return Err(Error::invalid_argument(
                op,
                "the ParamId belongs to another ParamStore",
            ));
        }
        Ok(id.index as usize)
    }

    /// `true` if `id` was issued by this store.
    pub fn owns(&self, id: ParamId) -> bool {
        id.store == self.id
    }

    /// Number of parameters (tensors).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// `true` if the store holds no parameter.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Total number of scalar parameters.
    pub fn numel(&self) -> usize {
        self.values.iter().map(|v| v.numel()).sum()
    }

    /// Ids in insertion order.
    pub fn ids(&self) -> impl Iterator<Item = ParamId> + '_ {
        (0..self.values.len()).map(|i| ParamId {
            store: self.id,
            index: i as u32,
        })
    }

    /// `(name, value)` in insertion order (for checkpoints).
    pub fn named_values(&self) -> impl Iterator<Item = (&str, &Tensor<T>)> + '_ {
        self.names
            .iter()
            .map(String::as_str)
            .zip(self.values.iter().map(|v| &**v))
    }

    /// The name of a parameter.
    pub fn name(&self, id: ParamId) -> Result<&str> {
        Ok(&self.names[self.index(id, "ParamStore::name")?])
    }

    /// The value of a parameter.
    pub fn value(&self, id: ParamId) -> Result<&Tensor<T>> {
        Ok(&self.values[self.index(id, "ParamStore::value")?])
    }

    /// The value, mutable. If a live tape still shares the tensor, it is copied first
    /// (copy-on-write), so the tape keeps the value it computed with.
    pub fn value_mut(&mut self, id: ParamId) -> Result<&mut Tensor<T>> {
        let i = self.index(id, "ParamStore::value_mut")?;
        Ok(Arc::make_mut(&mut self.values[i]))
    }

    /// Replaces a parameter's value (loading a checkpoint). `Err` if the shape differs.
    pub fn set(&mut self, id: ParamId, value: Tensor<T>) -> Result<()> {
        let i = self.index(id, "ParamStore::set")?;
        if self.values[i].shape() != value.shape() {
            return Err(Error::shape_mismatch(
                "ParamStore::set",
                self.values[i].shape(),
                value.shape(),
            ));
        }
        self.values[i] = Arc::new(value);
        Ok(())
    }

    /// The accumulated gradient, or `None` if none was accumulated since the last
    /// [`ParamStore::zero_grad`] (PyTorch's `grad is None`). Also `None` for a foreign id.
    pub fn grad(&self, id: ParamId) -> Option<&Tensor<T>> {
        if !self.owns(id) {
            return None;
        }
        self.grads[id.index as usize].as_ref()
    }

    /// Whether [`ParamStore::var`] creates leaves that require a gradient (default `true`).
    /// Turning it off freezes the store for a while: e.g. the discriminator's weights while
    /// the generator trains, which saves computing their gradients.
    pub fn set_requires_grad(&mut self, on: bool) {
        self.requires_grad = on;
    }

    /// Whether the store's parameters currently require gradients.
    pub fn requires_grad(&self) -> bool {
        self.requires_grad
    }

    /// The parameter as a leaf of `tape`, sharing its tensor. Asking twice on the same tape
    /// returns the same `Var`.
    pub fn var<'t>(&self, tape: &'t Tape<T>, id: ParamId) -> Result<Var<'t, T>> {
        let i = self.index(id, "ParamStore::var")?;
        tape.param_leaf(id, &self.values[i], self.requires_grad)
    }

    /// Moves this store's parameter gradients out of `grads` and adds them to the stored
    /// ones (`grad += g`; a `None` grad takes `g` without copying). Gradients of other
    /// stores' parameters stay in `grads`.
    pub fn accumulate(&mut self, grads: &mut Gradients<T>) -> Result<()> {
        let store = self.id;
        for (id, g) in grads.take_params(|p| p.store == store) {
            let i = id.index as usize;
            match &mut self.grads[i] {
                Some(acc) => gumbel_tensor::ops::add_assign(acc, &g)?,
                slot @ None => {
                    self.values[i].expect_same_shape("ParamStore::accumulate", &g)?;
                    *slot = Some(g);
                }
            }
        }
        Ok(())
    }

    /// Drops every gradient (PyTorch's `zero_grad(set_to_none=True)`, its default).
    /// Optimizers skip parameters whose gradient is `None`.
    pub fn zero_grad(&mut self) {
        self.grads.iter_mut().for_each(|g| *g = None);
    }

    /// For optimizers: each parameter's index, mutable value (copy-on-write as in
    /// [`ParamStore::value_mut`]) and gradient.
    pub(crate) fn values_and_grads_mut(
        &mut self,
    ) -> impl Iterator<Item = (usize, &mut Tensor<T>, Option<&Tensor<T>>)> + '_ {
        self.values
            .iter_mut()
            .zip(self.grads.iter())
            .enumerate()
            .map(|(i, (v, g))| (i, Arc::make_mut(v), g.as_ref()))
    }

    /// For gradient clipping: every gradient held, mutable.
    pub(crate) fn grads_mut(&mut self) -> impl Iterator<Item = &mut Tensor<T>> + '_ {
        self.grads.iter_mut().flatten()
    }

    /// The store's identity (optimizers check they step the store they were made for).
    pub(crate) fn store_id(&self) -> u32 {
        self.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_ordered() {
        let mut p = ParamStore::<f32>::new();
        let a = p.add("layer.weight", Tensor::zeros([2, 3])).unwrap();
        let b = p.add("layer.bias", Tensor::zeros([2])).unwrap();
        assert!(
            p.add("layer.bias", Tensor::zeros([2]))
                .unwrap_err()
                .to_string()
                .contains("layer.bias")
        );
        assert_eq!(p.id("layer.bias").unwrap(), b);
        assert_eq!(p.name(a).unwrap(), "layer.weight");
        let names: Vec<_> = p.named_values().map(|(n, _)| n).collect();
        assert_eq!(names, ["layer.weight", "layer.bias"]);
        assert_eq!(p.numel(), 8);
        assert!(p.id("nope").is_err());
    }

    #[test]
    fn foreign_ids_are_errors() {
        let mut p = ParamStore::<f32>::new();
        let mut q = ParamStore::<f32>::new();
        let a = p.add("a", Tensor::zeros([1])).unwrap();
        q.add("a", Tensor::zeros([1])).unwrap();
        assert!(q.value(a).is_err());
        assert!(q.grad(a).is_none());
        let tape = Tape::new();
        assert!(q.var(&tape, a).is_err());
    }

    #[test]
    fn set_checks_shape_and_value_mut_copies_on_write() {
        let mut p = ParamStore::<f64>::new();
        let a = p.add("a", Tensor::zeros([2])).unwrap();
        assert!(
            p.set(a, Tensor::zeros([3]))
                .unwrap_err()
                .to_string()
                .contains("[3]")
        );
        let tape = Tape::new();
        let v = p.var(&tape, a).unwrap();
        assert_eq!(
            p.var(&tape, a).unwrap().id(),
            v.id(),
            "one leaf per parameter per tape"
        );
        p.value_mut(a).unwrap().as_mut_slice()[0] = 5.0;
        assert_eq!(
            v.value().unwrap().as_slice(),
            &[0.0, 0.0],
            "the tape kept its value"
        );
        assert_eq!(p.value(a).unwrap().as_slice(), &[5.0, 0.0]);
    }

    #[test]
    fn frozen_store_makes_constant_leaves() {
        let mut p = ParamStore::<f64>::new();
        let a = p.add("a", Tensor::ones([2])).unwrap();
        p.set_requires_grad(false);
        let tape = Tape::new();
        assert!(!p.var(&tape, a).unwrap().requires_grad());
    }
}
