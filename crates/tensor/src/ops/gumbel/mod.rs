//! The Gumbel-Softmax (Concrete) relaxation: Gumbel noise, the fused forward and backward
//! kernels, the Gumbel-max sampler, the Gumbel-Rao backward with its conditional Gumbel
//! sampler, and the ExpConcrete density; and its two-class special case, the binary
//! Concrete (RelaxedBernoulli), in `binary.rs`.
//!
//! For logits `l` (one row per distribution, classes along the last dimension), Gumbel
//! noise `g_i = -ln(-ln u_i)`, `u_i ~ U(0, 1)`, and a temperature `tau`:
//!
//! ```text
//! index = argmax_i (l_i + g_i)              a sample of Categorical(softmax(l))  (Gumbel-max)
//! y     = softmax((l + g) / tau)            its relaxation: a point on the simplex
//! dl    = y * (dy - <dy, y>) / tau          the backward, from y alone
//! dtau  = -(1/tau) sum_i y_i (dy_i - <dy, y>) ln y_i
//! ```
//!
//! docs/math.md derives all of it; docs/kernels.md explains how the kernels are built.
//!
//! ## Files
//! | file | what |
//! |---|---|
//! | `rng.rs` | [`GumbelRng`] and the per-row 8-lane xoshiro256++ streams |
//! | `noise.rs` | the uniform grid, `u -> g`, [`gumbel_noise`], [`uniform_noise`] |
//! | `fused.rs` | [`gumbel_softmax`] and [`gumbel_softmax_backward`] side by side, [`gumbel_max`] |
//! | `composed.rs` | the unfused twin (noise, add, scale, softmax as separate passes) |
//! | `concrete.rs` | [`exp_concrete_log_density`] |
//! | `conditional.rs` | Gumbel-Rao: [`gumbel_rao_backward`] and the conditional (top-down) Gumbel sampler [`conditional_gumbel_noise`] |
//! | `binary.rs` | the binary Concrete (RelaxedBernoulli): [`binary_concrete`] and [`binary_concrete_backward`] side by side, [`binary_concrete_log_density`] and its gradients |
//! | `uninit.rs` | output tensors written in full without zeroing them first |
//!
//! The 512-bit vectors the kernels run on ([`Element::Lanes`]: `f32x16`, `f64x8`), the
//! `ln`/`exp` polynomials for their input ranges ([`Element::ln_lanes`],
//! [`Element::exp_lanes`], in `poly.rs`) and the uniform grid ([`crate::random`]) live
//! below the ops, with the element types: the softmax kernels share the first two.
//!
//! ## Numerical contract
//! - `tau`/`beta` must be finite and `> 0`, and so must their reciprocal:
//!   [`Error::InvalidTemperature`] otherwise.
//! - `-inf` logits are masked classes: `y` is exactly 0 there, their gradient is exactly
//!   0, Gumbel-max never picks them. A row with only `-inf`:
//!   [`Error::AllMasked`].
//! - A NaN or `+inf` logit: [`Error::NonFiniteLogit`] naming
//!   the row and column.
//! - Finite logits give finite `y` and gradients for any valid temperature (tested for
//!   `|l| <= 1e4`, `tau` in `[1e-3, 1e3]`); rows of `y` sum to 1 within `1e-5` (`f32`) /
//!   `1e-12` (`f64`).
//! - Same seed and counter: bitwise the same output for any number of threads.
//! - The binary Concrete (`binary.rs`) has one logit per variable: there `+inf` and `-inf`
//!   are certain outcomes (`y` exactly 1 or 0, gradient exactly 0) and only NaN is an
//!   error; see [`binary_concrete`].

mod binary;
pub mod composed;
mod concrete;
mod conditional;
mod fused;
mod noise;
mod rng;
mod uninit;

pub use binary::{
    BinaryConcrete, BinaryNoise, Space, binary_concrete, binary_concrete_backward,
    binary_concrete_log_density, binary_concrete_log_density_backward, binary_concrete_with_noise,
};
pub use concrete::exp_concrete_log_density;
pub use conditional::{conditional_gumbel_noise, gumbel_rao_backward};
pub use fused::{
    gumbel_max, gumbel_softmax, gumbel_softmax_backward, gumbel_softmax_backward_into,
    gumbel_softmax_with_noise,
};
pub use noise::{gumbel_noise, uniform_noise};
pub use rng::GumbelRng;

/// Scalar reference kernels, public for benchmarks and studies: the same noise streams
/// (rand_xoshiro generators, scalar uniform mapping, scalar `ln` twin) followed by plain
/// three-pass loops with `std`'s `exp`.
pub mod scalar {
    pub use super::binary::scalar::{
        binary_concrete, binary_concrete_backward, binary_concrete_with_noise,
    };
    pub use super::conditional::scalar::{conditional_gumbel_noise, gumbel_rao_backward};
    pub use super::fused::scalar::{
        gumbel_max, gumbel_softmax, gumbel_softmax_backward, gumbel_softmax_with_gumbel,
    };
}

use crate::element::Element;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The temperature of the relaxation, in one of two forms:
/// `Tau(tau)`: `y = softmax((l + g) / tau)`; `Beta(beta)`: `y = softmax(beta (l + g))`,
/// the inverse-temperature form RelGAN anneals. `tau -> 0` (`beta -> inf`) approaches the
/// one-hot Gumbel-max sample, `tau -> inf` (`beta -> 0`) the uniform vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Temperature<T> {
    /// Temperature `tau > 0`: the logits plus noise are divided by it.
    Tau(T),
    /// Inverse temperature `beta > 0`: the logits plus noise are multiplied by it.
    Beta(T),
}

impl<T: Element> Temperature<T> {
    /// `"tau"` or `"beta"`.
    pub fn name(&self) -> &'static str {
        match self {
            Temperature::Tau(_) => "tau",
            Temperature::Beta(_) => "beta",
        }
    }

    /// The value of `tau` or `beta`.
    pub fn value(&self) -> T {
        match *self {
            Temperature::Tau(t) | Temperature::Beta(t) => t,
        }
    }

    /// The factor `c` that multiplies `l + g`: `1/tau` or `beta`, after checking that
    /// the value is finite and `> 0` and that its reciprocal is finite too (a subnormal
    /// `tau` would make `1/tau = inf`).
    ///
    /// ```
    /// use gumbel_tensor::ops::gumbel::Temperature;
    /// assert_eq!(Temperature::Tau(0.5f64).scale("doc").unwrap(), 2.0);
    /// assert_eq!(Temperature::Beta(3.0f32).scale("doc").unwrap(), 3.0);
    /// assert!(Temperature::Tau(0.0f32).scale("doc").is_err());
    /// assert!(Temperature::Beta(f64::NAN).scale("doc").is_err());
    /// ```
    pub fn scale(&self, op: &'static str) -> Result<T> {
        let v = self.value();
        let recip = T::ONE / v;
        if !(v.is_finite() && v > T::ZERO && recip.is_finite()) {
            return Err(Error::InvalidTemperature {
                op,
                name: self.name(),
                value: v.to_f64(),
            });
        }
        Ok(match self {
            Temperature::Tau(_) => recip,
            Temperature::Beta(_) => v,
        })
    }
}

/// Caller-given noise for [`gumbel_softmax_with_noise`], with the shape of the logits.
#[derive(Debug, Clone, Copy)]
pub enum Noise<'a, T: Element> {
    /// Gumbel noise `g`, used as is. Must be finite.
    Gumbel(&'a Tensor<T>),
    /// Uniforms `u`, strictly inside `(0, 1)`; turned into `g = -ln(-ln u)` exactly as
    /// the generator's uniforms are. `u` and `-ln u` must be normal numbers, which holds
    /// for every `u` in `[2^-126, 1 - 2^-24]` (`f32`); anything else is an error.
    Uniform(&'a Tensor<T>),
}

/// What a Gumbel-Softmax forward returns: the relaxed sample only, or also its one-hot
/// (for the straight-through estimator). Named at the call site, e.g.
/// `gumbel_softmax(&l, Temperature::Tau(0.5), &mut rng, Output::Hard)`.
///
/// In `gumbel_autograd`'s Gumbel-Softmax node the same choice sets the node's value:
/// `y` (`Soft`) or `one_hot(index)` with the gradient taken through `y` (`Hard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// `y = softmax(c (l + g))` and the indices; [`GumbelSoftmax::hard`] is `None`.
    Soft,
    /// Also `one_hot(index)` in [`GumbelSoftmax::hard`].
    Hard,
}

/// Whether a Gumbel-Softmax backward also returns the gradient of the temperature
/// (`dtau` or `dbeta`), which costs one `ln` per element. Named at the call site, e.g.
/// `gumbel_softmax_backward(&y, &dy, temp, TempGrad::Compute)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TempGrad {
    /// Only `dl`; the temperature gradient returned is `None`.
    Skip,
    /// `dl` and the temperature gradient.
    Compute,
}

impl TempGrad {
    /// `f()` for [`TempGrad::Compute`], `None` for [`TempGrad::Skip`].
    pub(crate) fn then<T>(self, f: impl FnOnce() -> T) -> Option<T> {
        match self {
            TempGrad::Compute => Some(f()),
            TempGrad::Skip => None,
        }
    }
}

/// The result of a Gumbel-Softmax forward pass.
#[derive(Debug, Clone, PartialEq)]
pub struct GumbelSoftmax<T: Element> {
    /// The relaxed sample `softmax(c (l + g))`, shape of the logits.
    pub y: Tensor<T>,
    /// The Gumbel-max sample `argmax_i (l_i + g_i)` of each row (the first maximum on
    /// ties), with the same noise as `y`.
    pub index: Vec<usize>,
    /// With [`Output::Hard`]: the one-hot of `index`, for the straight-through estimator
    /// (forward value `hard`, gradient taken through `y`, i.e. pass `dy` for `hard` to
    /// [`gumbel_softmax_backward`] unchanged).
    pub hard: Option<Tensor<T>>,
}
