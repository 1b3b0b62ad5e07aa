//! [`Linear`]: `y = x W^T + b` (`nn.Linear`), one fused node.

use rand::Rng;

use gumbel_tensor::{Element, Result, Tensor};

use crate::init;
use crate::ops::matmul::PreparedLinear;
use crate::params::{ParamId, ParamStore};
use crate::tape::{Tape, Var};

/// Whether a layer has a bias: `Linear::new(&mut params, "fc", 3, 2, Bias::Yes, &mut rng)`
/// instead of a bare `true` (PyTorch's `bias=True`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bias {
    /// With a bias parameter, `y = x W^T + b`.
    Yes,
    /// Without, `y = x W^T`.
    No,
}

/// A fully connected layer, `weight: [out, in]`, `bias: [out]` (optional).
#[derive(Clone, Debug)]
pub struct Linear {
    pub weight: ParamId,
    pub bias: Option<ParamId>,
    pub in_dim: usize,
    pub out_dim: usize,
}

impl Linear {
    /// Registers `{name}.weight` and (with [`Bias::Yes`]) `{name}.bias` with PyTorch's
    /// default initialisation `U(-1/sqrt(in), 1/sqrt(in))`, weight first.
    pub fn new<T: Element>(
        params: &mut ParamStore<T>,
        name: &str,
        in_dim: usize,
        out_dim: usize,
        bias: Bias,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let bound = 1.0 / (in_dim.max(1) as f64).sqrt();
        let weight = init::uniform(&[out_dim, in_dim], bound, rng);
        let bias = match bias {
            Bias::Yes => Some(init::uniform(&[out_dim], bound, rng)),
            Bias::No => None,
        };
        Self::register(params, name, weight, bias)
    }

    /// [`Linear::new`] with the initialisation of RelGAN's TensorFlow layers (`utils/ops.py`,
    /// `linear`): weight truncated normal with std `1/sqrt(in)` ([`init::truncated_normal`]),
    /// bias 0.
    pub fn new_truncated_normal<T: Element>(
        params: &mut ParamStore<T>,
        name: &str,
        in_dim: usize,
        out_dim: usize,
        bias: Bias,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let std = 1.0 / (in_dim.max(1) as f64).sqrt();
        let weight = init::truncated_normal(&[out_dim, in_dim], std, rng);
        let bias = match bias {
            Bias::Yes => Some(Tensor::zeros([out_dim])),
            Bias::No => None,
        };
        Self::register(params, name, weight, bias)
    }

    /// Registers `{name}.weight` (`[out, in]`) and, if given, `{name}.bias`, weight first.
    fn register<T: Element>(
        params: &mut ParamStore<T>,
        name: &str,
        weight: Tensor<T>,
        bias: Option<Tensor<T>>,
    ) -> Result<Self> {
        let (out_dim, in_dim) = (weight.shape()[0], weight.shape()[1]);
        let weight = params.add(format!("{name}.weight"), weight)?;
        let bias = bias
            .map(|b| params.add(format!("{name}.bias"), b))
            .transpose()?;
        Ok(Linear {
            weight,
            bias,
            in_dim,
            out_dim,
        })
    }

    /// The mean cross-entropy of the logits `x W^T + b` against `targets` (one per row of
    /// `x`, rows with `ignore_index` skipped), as one fused node
    /// ([`Var::linear_cross_entropy`]): the same value and gradients as
    /// `cross_entropy(forward(x))`, with fewer passes over the `[rows, out]` logits.
    pub fn forward_cross_entropy<'t, T: Element>(
        &self,
        tape: &'t Tape<T>,
        params: &ParamStore<T>,
        x: &Var<'t, T>,
        targets: &[usize],
        ignore_index: Option<usize>,
    ) -> Result<Var<'t, T>> {
        let w = params.var(tape, self.weight)?;
        let b = self.bias.map(|b| params.var(tape, b)).transpose()?;
        x.linear_cross_entropy(&w, b.as_ref(), targets, ignore_index)
    }

    /// [`Linear::forward_cross_entropy`] with a constant weight per row
    /// ([`Var::linear_weighted_cross_entropy`]: `(1/N') sum_i w_i CE_i`), as one fused node.
    pub fn forward_weighted_cross_entropy<'t, T: Element>(
        &self,
        tape: &'t Tape<T>,
        params: &ParamStore<T>,
        x: &Var<'t, T>,
        targets: &[usize],
        weights: &[T],
        ignore_index: Option<usize>,
    ) -> Result<Var<'t, T>> {
        let w = params.var(tape, self.weight)?;
        let b = self.bias.map(|b| params.var(tape, b)).transpose()?;
        x.linear_weighted_cross_entropy(&w, b.as_ref(), targets, weights, ignore_index)
    }

    /// `x W^T + b` for `x: [rows, in]`.
    pub fn forward<'t, T: Element>(
        &self,
        tape: &'t Tape<T>,
        params: &ParamStore<T>,
        x: &Var<'t, T>,
    ) -> Result<Var<'t, T>> {
        let w = params.var(tape, self.weight)?;
        let b = self.bias.map(|b| params.var(tape, b)).transpose()?;
        x.linear(&w, b.as_ref())
    }

    /// The layer prepared for many calls on one tape ([`PreparedLinear`]: `W^T` and the
    /// bias copied once into the layout a product with a short `x` reads fastest); its
    /// `apply(x)` is [`Linear::forward`] with the same value and gradients.
    pub fn prepare<'t, T: Element>(
        &self,
        tape: &'t Tape<T>,
        params: &ParamStore<T>,
    ) -> Result<PreparedLinear<'t, T>> {
        let w = params.var(tape, self.weight)?;
        let b = self.bias.map(|b| params.var(tape, b)).transpose()?;
        PreparedLinear::new(&w, b.as_ref())
    }
}
