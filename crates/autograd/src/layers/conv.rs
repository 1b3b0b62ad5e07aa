//! [`Conv1dBank`]: several 1-D convolutions over time, each followed by ReLU and max over
//! time, concatenated: the feature extractor of a CNN text discriminator (Kim 2014).

use rand::Rng;

use gumbel_tensor::{Element, Error, Result, Tensor};

use crate::init;
use crate::ops::column_conv_max::column_conv_max;
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

/// RelGAN's multi-representation convolutions: over inputs `[B, L, R]` (each of the `R`
/// columns a one-dimensional representation of the sequence), one bank of `filters[k]`
/// one-channel filters of width `widths[k]` per width, shared by the columns, each followed
/// by relu and max over time ([`column_conv_max`]), concatenated per column:
/// `[B, L, R] -> [B, R, sum_k F_k]`. Parameters `{name}.{k}.weight: [F_k, 1, w_k, 1]` and
/// `{name}.{k}.bias: [F_k]` (an `nn.ModuleList` of `nn.Conv2d(1, F_k, (w_k, 1))`), with
/// RelGAN's initialisation: weights truncated normal with std `sqrt(2 / w_k)`, biases 0.
#[derive(Clone, Debug)]
pub struct ColumnConvBank {
    pub convs: Vec<(usize, ParamId, ParamId)>,
    pub out_dim: usize,
}

impl ColumnConvBank {
    /// Registers one bank per width; `Err` if the lists differ in length or a width is 0.
    pub fn new<T: Element>(
        params: &mut ParamStore<T>,
        name: &str,
        widths: &[usize],
        filters: &[usize],
        rng: &mut impl Rng,
    ) -> Result<Self> {
        if widths.len() != filters.len() || widths.contains(&0) {
            return Err(Error::invalid_argument(
                "ColumnConvBank::new",
                format!("widths {widths:?} (each > 0) and filters {filters:?} must pair up"),
            ));
        }
        let mut convs = Vec::new();
        for (k, (&w, &f)) in widths.iter().zip(filters).enumerate() {
            let std = (2.0 / w as f64).sqrt();
            let weight = params.add(
                format!("{name}.{k}.weight"),
                init::truncated_normal(&[f, 1, w, 1], std, rng),
            )?;
            let bias = params.add(format!("{name}.{k}.bias"), Tensor::zeros([f]))?;
            convs.push((w, weight, bias));
        }
        Ok(ColumnConvBank {
            convs,
            out_dim: filters.iter().sum(),
        })
    }

    /// `concat_k column_conv_max(x, W_k, b_k)` over the last axis: `[B, L, R] -> [B, R,
    /// sum_k F_k]`.
    pub fn forward<'t, T: Element>(
        &self,
        tape: &'t Tape<T>,
        params: &ParamStore<T>,
        x: &Var<'t, T>,
    ) -> Result<Var<'t, T>> {
        let mut pooled = Vec::with_capacity(self.convs.len());
        for &(w, wid, bid) in &self.convs {
            let weight = params.var(tape, wid)?;
            let f = weight.shape()?[0];
            let weight = weight.reshape([f, w])?;
            pooled.push(column_conv_max(x, &weight, Some(&params.var(tape, bid)?))?);
        }
        Var::concat(&pooled, 2)
    }
}
