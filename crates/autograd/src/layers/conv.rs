//! [`Conv1dBank`]: several 1-D convolutions over time, each followed by ReLU and max over
//! time, concatenated: the feature extractor of a CNN text discriminator (Kim 2014).

use rand::Rng;

use gumbel_tensor::{Element, Result};

use crate::init;
use crate::ops::conv1d::conv1d;
use crate::params::{ParamId, ParamStore};
use crate::tape::{Tape, Var};

/// Convolutions of widths `widths[k]` with `filters[k]` output channels each, over inputs
/// `[B, L, C]` (channels last). Parameters `{name}.convs.{k}.weight: [F_k, C, w_k]` and
/// `{name}.convs.{k}.bias: [F_k]` (an `nn.ModuleList` of `nn.Conv1d`).
#[derive(Clone, Debug)]
pub struct Conv1dBank {
    pub convs: Vec<(usize, ParamId, ParamId)>,
    pub channels: usize,
    pub out_dim: usize,
}

impl Conv1dBank {
    /// Registers one `Conv1d(channels, filters[k], widths[k])` per width with PyTorch's
    /// default initialisation `U(-1/sqrt(C w), 1/sqrt(C w))`.
    pub fn new<T: Element>(
        params: &mut ParamStore<T>,
        name: &str,
        channels: usize,
        widths: &[usize],
        filters: &[usize],
        rng: &mut impl Rng,
    ) -> Result<Self> {
        if widths.len() != filters.len() || widths.is_empty() {
            return Err(gumbel_tensor::Error::invalid_argument(
                "Conv1dBank::new",
                format!(
                    "{} widths but {} filter counts",
                    widths.len(),
                    filters.len()
                ),
            ));
        }
        let mut convs = Vec::new();
        for (k, (&w, &f)) in widths.iter().zip(filters).enumerate() {
            let bound = 1.0 / ((channels * w).max(1) as f64).sqrt();
            let weight = params.add(
                format!("{name}.convs.{k}.weight"),
                init::uniform(&[f, channels, w], bound, rng),
            )?;
            let bias = params.add(
                format!("{name}.convs.{k}.bias"),
                init::uniform(&[f], bound, rng),
            )?;
            convs.push((w, weight, bias));
        }
        Ok(Conv1dBank {
            convs,
            channels,
            out_dim: filters.iter().sum(),
        })
    }

    /// `concat_k max_t relu(conv_k(x))`: `[B, L, C]` -> `[B, sum_k F_k]`.
    pub fn forward<'t, T: Element>(
        &self,
        tape: &'t Tape<T>,
        params: &ParamStore<T>,
        x: &Var<'t, T>,
    ) -> Result<Var<'t, T>> {
        let mut pooled = Vec::with_capacity(self.convs.len());
        for &(_, w, b) in &self.convs {
            let y = conv1d(x, &params.var(tape, w)?, Some(&params.var(tape, b)?))?;
            pooled.push(y.relu()?.max_axis(1)?);
        }
        Var::concat(&pooled, 1)
    }
}
