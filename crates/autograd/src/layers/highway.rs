//! [`Highway`]: `y = t * relu(W_h x + b_h) + (1 - t) * x` with `t = sigmoid(W_t x + b_t)`.

use rand::Rng;

use gumbel_tensor::{Element, Result};

use crate::layers::{Bias, Linear};
use crate::params::ParamStore;
use crate::tape::{Tape, Var};

/// A highway layer on `[rows, d]` (Srivastava et al. 2015), as in the SeqGAN / RelGAN CNN
/// discriminators. Computed as `x + t * (h - x)`, the same value, by one fused node
/// ([`Var::highway_combine`]) after the two products.
#[derive(Clone, Debug)]
pub struct Highway {
    /// The transform gate `t = sigmoid(gate(x))`.
    pub gate: Linear,
    /// The candidate `h = relu(proj(x))`.
    pub proj: Linear,
}

impl Highway {
    /// Registers `{name}.gate.*` and `{name}.proj.*` (two `Linear(d, d)`).
    pub fn new<T: Element>(
        params: &mut ParamStore<T>,
        name: &str,
        d: usize,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        Ok(Highway {
            gate: Linear::new(params, &format!("{name}.gate"), d, d, Bias::Yes, rng)?,
            proj: Linear::new(params, &format!("{name}.proj"), d, d, Bias::Yes, rng)?,
        })
    }

    /// `x + t * (h - x)`.
    pub fn forward<'t, T: Element>(
        &self,
        tape: &'t Tape<T>,
        params: &ParamStore<T>,
        x: &Var<'t, T>,
    ) -> Result<Var<'t, T>> {
        let a = self.gate.forward(tape, params, x)?;
        let b = self.proj.forward(tape, params, x)?;
        x.highway_combine(&a, &b)
    }
}
