//! [`Lstm`]: a one-layer LSTM (`nn.LSTM(in, H)`, gate order i, f, g, o) as a step function
//! and unrolled over a sequence.
//!
//! Per step, with `x_t: [B, in]` and state `(h, c)`:
//!
//! ```text
//! z_t = x_t W_ih^T + b_ih + h W_hh^T + b_hh     [B, 4H]
//! (h', c') = lstm_cell(z_t, c)                    (fused pointwise op)
//! ```
//!
//! Unrolled over a whole sequence known in advance (teacher forcing), the input projection
//! of all steps is one matmul, `X W_ih^T + (b_ih + b_hh)` on `[L*B, in]`, and each step
//! adds `h W_hh^T` to its `B` rows with one `addmm`.

use rand::Rng;

use gumbel_tensor::{Element, Error, Result, Tensor};

use crate::init;
use crate::ops::lstm::lstm_cell;
use crate::ops::matmul::addmm;
use crate::params::{ParamId, ParamStore};
use crate::tape::{Tape, Var};

/// The state `(h, c)` of an LSTM, each `[B, H]`.
#[derive(Clone, Copy, Debug)]
pub struct LstmState<'t, T: Element> {
    pub h: Var<'t, T>,
    pub c: Var<'t, T>,
}

/// One LSTM layer with PyTorch's parameter names and layouts.
#[derive(Clone, Debug)]
pub struct Lstm {
    pub weight_ih: ParamId,
    pub weight_hh: ParamId,
    pub bias_ih: ParamId,
    pub bias_hh: ParamId,
    pub in_dim: usize,
    pub hidden: usize,
}

impl Lstm {
    /// Registers `{name}.weight_ih_l0 [4H, in]`, `{name}.weight_hh_l0 [4H, H]`,
    /// `{name}.bias_ih_l0 [4H]`, `{name}.bias_hh_l0 [4H]`, all `U(-1/sqrt(H), 1/sqrt(H))`.
    pub fn new<T: Element>(
        params: &mut ParamStore<T>,
        name: &str,
        in_dim: usize,
        hidden: usize,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let k = 1.0 / (hidden.max(1) as f64).sqrt();
        let h4 = 4 * hidden;
        Ok(Lstm {
            weight_ih: params.add(
                format!("{name}.weight_ih_l0"),
                init::uniform(&[h4, in_dim], k, rng),
            )?,
            weight_hh: params.add(
                format!("{name}.weight_hh_l0"),
                init::uniform(&[h4, hidden], k, rng),
            )?,
            bias_ih: params.add(format!("{name}.bias_ih_l0"), init::uniform(&[h4], k, rng))?,
            bias_hh: params.add(format!("{name}.bias_hh_l0"), init::uniform(&[h4], k, rng))?,
            in_dim,
            hidden,
        })
    }

    /// The zero state for a batch of `b`.
    pub fn zero_state<'t, T: Element>(&self, tape: &'t Tape<T>, b: usize) -> LstmState<'t, T> {
        LstmState {
            h: tape.constant(Tensor::zeros([b, self.hidden])),
            c: tape.constant(Tensor::zeros([b, self.hidden])),
        }
    }

    /// One step: `x: [B, in]`, state `(h, c)` (or zeros) -> the new state.
    pub fn step<'t, T: Element>(
        &self,
        tape: &'t Tape<T>,
        params: &ParamStore<T>,
        x: &Var<'t, T>,
        state: Option<LstmState<'t, T>>,
    ) -> Result<LstmState<'t, T>> {
        let bias = params
            .var(tape, self.bias_ih)?
            .add(&params.var(tape, self.bias_hh)?)?;
        let xz = x.linear(&params.var(tape, self.weight_ih)?, Some(&bias))?;
        self.recur(tape, params, xz, state)
    }

    /// The recurrent half of a step: `z = xz + h W_hh^T` (skipped for a zero state), then
    /// the fused cell.
    fn recur<'t, T: Element>(
        &self,
        tape: &'t Tape<T>,
        params: &ParamStore<T>,
        xz: Var<'t, T>,
        state: Option<LstmState<'t, T>>,
    ) -> Result<LstmState<'t, T>> {
        let (z, c) = match state {
            Some(s) => (
                addmm(
                    Some(&xz),
                    &s.h,
                    false,
                    &params.var(tape, self.weight_hh)?,
                    true,
                )?,
                s.c,
            ),
            None => {
                let b = xz.shape()?[0];
                (xz, tape.constant(Tensor::zeros([b, self.hidden])))
            }
        };
        let (h, c) = lstm_cell(&z, &c)?;
        Ok(LstmState { h, c })
    }

    /// Runs the LSTM over a sequence given time-major as `xs: [L*B, in]` (rows `t*B ..
    /// (t+1)*B` are step `t`), from `state` or zeros. Returns every step's `h` stacked
    /// time-major, `[L*B, H]` (ready for one batched output projection), and the final
    /// state.
    pub fn forward_seq<'t, T: Element>(
        &self,
        tape: &'t Tape<T>,
        params: &ParamStore<T>,
        xs: &Var<'t, T>,
        batch: usize,
        state: Option<LstmState<'t, T>>,
    ) -> Result<(Var<'t, T>, LstmState<'t, T>)> {
        let shape = xs.shape()?;
        let rows = shape.first().copied().unwrap_or(0);
        if shape.len() != 2 || batch == 0 || rows % batch != 0 || rows == 0 {
            return Err(Error::invalid_argument(
                "Lstm::forward_seq",
                format!(
                    "inputs {shape:?} must be 2-D [steps * batch, in] with a positive multiple \
                     of the batch size {batch} rows"
                ),
            ));
        }
        let steps = rows / batch;
        let bias = params
            .var(tape, self.bias_ih)?
            .add(&params.var(tape, self.bias_hh)?)?;
        let xz_all = xs.linear(&params.var(tape, self.weight_ih)?, Some(&bias))?;
        let mut state = state;
        let mut hs = Vec::with_capacity(steps);
        for t in 0..steps {
            let xz = if steps == 1 {
                xz_all
            } else {
                xz_all.slice(0, t * batch, (t + 1) * batch)?
            };
            let s = self.recur(tape, params, xz, state)?;
            hs.push(s.h);
            state = Some(s);
        }
        let hs = if steps == 1 {
            hs[0]
        } else {
            Var::concat(&hs, 0)?
        };
        Ok((hs, state.expect("at least one step")))
    }
}
