//! [`Embedding`]: a `[num, dim]` table, looked up by index or by a distribution.

use rand::Rng;

use gumbel_tensor::{Element, Error, Result, Tensor};

use crate::init;
use crate::ops::embedding::{embedding, soft_embedding};
use crate::ops::matmul::PreparedRight;
use crate::params::{ParamId, ParamStore};
use crate::tape::{Tape, Var};

/// An embedding table `weight: [num, dim]` (`nn.Embedding`).
#[derive(Clone, Debug)]
pub struct Embedding {
    pub weight: ParamId,
    pub num: usize,
    pub dim: usize,
}

impl Embedding {
    /// Registers `{name}.weight` with PyTorch's default initialisation `N(0, 1)`.
    pub fn new<T: Element>(
        params: &mut ParamStore<T>,
        name: &str,
        num: usize,
        dim: usize,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        Self::from_table(params, name, init::normal(&[num, dim], 1.0, rng))
    }

    /// Registers `{name}.weight` with the given `[num, dim]` table (another initialisation;
    /// RelGAN's is [`init::truncated_normal`]). `Err` unless the table is 2-D.
    pub fn from_table<T: Element>(
        params: &mut ParamStore<T>,
        name: &str,
        table: Tensor<T>,
    ) -> Result<Self> {
        let &[num, dim] = table.shape() else {
            return Err(Error::invalid_shape(
                "Embedding::from_table",
                table.shape(),
                "an embedding table must be 2-D [num, dim]",
            ));
        };
        let weight = params.add(format!("{name}.weight"), table)?;
        Ok(Embedding { weight, num, dim })
    }

    /// Rows at `indices`: `[indices.len(), dim]`.
    pub fn forward<'t, T: Element>(
        &self,
        tape: &'t Tape<T>,
        params: &ParamStore<T>,
        indices: &[usize],
    ) -> Result<Var<'t, T>> {
        embedding(&params.var(tape, self.weight)?, indices)
    }

    /// `probs @ weight` for `probs: [n, num]`: the expected embedding (soft one-hot input).
    pub fn forward_soft<'t, T: Element>(
        &self,
        tape: &'t Tape<T>,
        params: &ParamStore<T>,
        probs: &Var<'t, T>,
    ) -> Result<Var<'t, T>> {
        soft_embedding(probs, &params.var(tape, self.weight)?)
    }

    /// The table prepared for many soft lookups on one tape ([`PreparedRight`]: the
    /// gradient of each `probs` reads a transposed copy of the table made once); its
    /// `apply(probs)` is [`Embedding::forward_soft`] with the same value and gradients.
    pub fn prepare_soft<'t, T: Element>(
        &self,
        tape: &'t Tape<T>,
        params: &ParamStore<T>,
    ) -> Result<PreparedRight<'t, T>> {
        PreparedRight::new(&params.var(tape, self.weight)?)
    }
}
