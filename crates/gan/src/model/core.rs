//! The generator's recurrent core: what reads one input embedding and a state, and gives the
//! output layer its input. Two architectures:
//!
//! - [`GeneratorArch::Lstm`]: one LSTM layer (SeqGAN's generator); state `(h, c)`, output `h`.
//! - [`GeneratorArch::Rmc`]: RelGAN's relational memory core
//!   ([`RelationalMemory`]); state the memory `m`,
//!   output `m` (all slots, `[B, slots * heads * head_size]`).
//!
//! Both start from a fixed state (the LSTM's zeros, the memory's identity rows) written as
//! `None`, and hand their state between tapes as plain tensors ([`StateValues`]: REINFORCE's
//! rollouts carry it from the prefix pass into each completion, a subset of rows at a time).

use gumbel_autograd::layers::{
    Lstm, LstmState, PreparedRelationalMemory, RelationalMemory, RmcSizes,
};
use gumbel_autograd::{ParamStore, Tape, Var};
use gumbel_tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The generator's architecture and the sizes of its core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum GeneratorArch {
    /// An LSTM of `hidden` units (SeqGAN).
    Lstm { hidden: usize },
    /// RelGAN's relational memory: `slots` of `heads * head_size` features (keys of
    /// `head_size` too). RelGAN: 1 slot, 2 heads of 256.
    Rmc {
        slots: usize,
        heads: usize,
        head_size: usize,
    },
}

impl GeneratorArch {
    /// RelGAN's relational memory: 1 slot, 2 heads of 256.
    pub const RELGAN: GeneratorArch = GeneratorArch::Rmc {
        slots: 1,
        heads: 2,
        head_size: 256,
    };

    /// The width of the core's output (the output layer's input).
    pub fn out_dim(&self) -> usize {
        match *self {
            GeneratorArch::Lstm { hidden } => hidden,
            GeneratorArch::Rmc {
                slots,
                heads,
                head_size,
            } => slots * heads * head_size,
        }
    }

    /// Every size positive, or an error naming the architecture.
    pub fn check(&self) -> Result<()> {
        let ok = match *self {
            GeneratorArch::Lstm { hidden } => hidden > 0,
            GeneratorArch::Rmc {
                slots,
                heads,
                head_size,
            } => slots > 0 && heads > 0 && head_size > 0,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "generator core sizes must be positive: {self:?}"
            )))
        }
    }
}

/// A core's layer and parameters' handles.
#[derive(Clone, Debug)]
pub enum Core {
    Lstm(Lstm),
    Rmc(Box<RelationalMemory>),
}

/// A core's state on a tape.
#[derive(Clone, Copy, Debug)]
pub enum CoreState<'t> {
    Lstm(LstmState<'t, f32>),
    Rmc(Var<'t, f32>),
}

impl<'t> CoreState<'t> {
    /// What the output layer reads: the LSTM's `h`, the whole memory.
    pub fn output(&self) -> Var<'t, f32> {
        match self {
            CoreState::Lstm(s) => s.h,
            CoreState::Rmc(m) => *m,
        }
    }

    /// The state as plain tensors, to carry to another tape.
    pub fn values(&self) -> Result<StateValues> {
        Ok(StateValues(match self {
            CoreState::Lstm(s) => vec![(*s.h.value()?).clone(), (*s.c.value()?).clone()],
            CoreState::Rmc(m) => vec![(*m.value()?).clone()],
        }))
    }
}

/// A core's state as plain tensors, each `[rows, _]`: `(h, c)` of an LSTM, the memory of an
/// RMC.
#[derive(Clone, Debug)]
pub struct StateValues(Vec<Tensor<f32>>);

impl StateValues {
    /// The rows `rows` of every part, in that order.
    pub fn pick_rows(&self, rows: &[usize]) -> Result<StateValues> {
        let pick = |m: &Tensor<f32>| {
            let mut data = Vec::with_capacity(rows.len() * m.cols());
            for &r in rows {
                data.extend_from_slice(m.row(r));
            }
            Tensor::new([rows.len(), m.cols()], data)
        };
        Ok(StateValues(
            self.0.iter().map(pick).collect::<Result<_, _>>()?,
        ))
    }
}

impl Core {
    /// Registers the core's parameters under `name` with the architecture's initialisation
    /// (PyTorch's `nn.LSTM` default; RelGAN's TensorFlow one for the RMC).
    pub fn new(
        params: &mut ParamStore<f32>,
        name: &str,
        arch: GeneratorArch,
        in_dim: usize,
        rng: &mut impl rand::Rng,
    ) -> Result<Core> {
        arch.check()?;
        Ok(match arch {
            GeneratorArch::Lstm { hidden } => {
                Core::Lstm(Lstm::new(params, name, in_dim, hidden, rng)?)
            }
            GeneratorArch::Rmc {
                slots,
                heads,
                head_size,
            } => {
                let sizes = RmcSizes {
                    in_dim,
                    slots,
                    heads,
                    head_size,
                    key_size: head_size,
                };
                Core::Rmc(Box::new(RelationalMemory::new(params, name, sizes, rng)?))
            }
        })
    }

    /// One step from `state` (`None`: the initial state) reading `x: [B, in]`. A loop over
    /// time steps should [`prepare`](Core::prepare) once and step the prepared core.
    pub fn step<'t>(
        &self,
        tape: &'t Tape<f32>,
        params: &ParamStore<f32>,
        x: &Var<'t, f32>,
        state: Option<CoreState<'t>>,
    ) -> Result<CoreState<'t>> {
        self.prepare(tape, params)?.step(tape, params, x, state)
    }

    /// The core prepared for the steps of one pass on `tape`: the RMC's linear layers with
    /// their transposed weights made once ([`PreparedRelationalMemory`]); the LSTM as it is
    /// (its step is one fused product already). Same values as [`Core::step`].
    pub fn prepare<'a, 't>(
        &'a self,
        tape: &'t Tape<f32>,
        params: &ParamStore<f32>,
    ) -> Result<PreparedCore<'a, 't>> {
        Ok(match self {
            Core::Lstm(l) => PreparedCore::Lstm(l),
            Core::Rmc(r) => PreparedCore::Rmc(Box::new(r.prepare(tape, params)?)),
        })
    }

    /// A state carried over from another tape, as constants.
    pub fn state_on<'t>(&self, tape: &'t Tape<f32>, v: StateValues) -> CoreState<'t> {
        let mut parts = v.0.into_iter().map(|t| tape.constant(t));
        let mut next = || parts.next().expect("a state of this core");
        match self {
            Core::Lstm(_) => CoreState::Lstm(LstmState {
                h: next(),
                c: next(),
            }),
            Core::Rmc(_) => CoreState::Rmc(next()),
        }
    }

    /// The outputs of every step over time-major inputs `xs: [L * B, in]` from the initial
    /// state, time-major `[L * B, out]` (the LSTM's input projection of all steps is one
    /// product).
    pub fn forward_seq<'t>(
        &self,
        tape: &'t Tape<f32>,
        params: &ParamStore<f32>,
        xs: &Var<'t, f32>,
        batch: usize,
    ) -> Result<Var<'t, f32>> {
        match self {
            Core::Lstm(l) => Ok(l.forward_seq(tape, params, xs, batch, None)?.0),
            Core::Rmc(_) => {
                let rows = xs.shape()?.first().copied().unwrap_or(0);
                if batch == 0 || rows == 0 || rows % batch != 0 {
                    return Err(Error::Config(format!(
                        "relational memory: {rows} input rows are not a positive multiple of \
                         the batch size {batch}"
                    )));
                }
                let core = self.prepare(tape, params)?;
                let mut state = None;
                let mut hs = Vec::with_capacity(rows / batch);
                for t in 0..rows / batch {
                    let x = xs.slice(0, t * batch, (t + 1) * batch)?;
                    let s = core.step(tape, params, &x, state)?;
                    hs.push(s.output());
                    state = Some(s);
                }
                Ok(Var::concat(&hs, 0)?)
            }
        }
    }
}

/// A [`Core`] prepared for the steps of one pass on one tape ([`Core::prepare`]).
pub enum PreparedCore<'a, 't> {
    Lstm(&'a Lstm),
    Rmc(Box<PreparedRelationalMemory<'t, f32>>),
}

impl<'t> PreparedCore<'_, 't> {
    /// One step from `state` (`None`: the initial state) reading `x: [B, in]`, as
    /// [`Core::step`].
    pub fn step(
        &self,
        tape: &'t Tape<f32>,
        params: &ParamStore<f32>,
        x: &Var<'t, f32>,
        state: Option<CoreState<'t>>,
    ) -> Result<CoreState<'t>> {
        Ok(match (self, state) {
            (PreparedCore::Lstm(l), None) => CoreState::Lstm(l.step(tape, params, x, None)?),
            (PreparedCore::Lstm(l), Some(CoreState::Lstm(s))) => {
                CoreState::Lstm(l.step(tape, params, x, Some(s))?)
            }
            (PreparedCore::Rmc(p), None) => {
                let m0 = tape.constant(p.initial_state(x.shape()?[0]));
                CoreState::Rmc(p.step(x, &m0)?)
            }
            (PreparedCore::Rmc(p), Some(CoreState::Rmc(m))) => CoreState::Rmc(p.step(x, &m)?),
            _ => unreachable!("a core is only given states it made"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rmc() -> (ParamStore<f32>, Core) {
        let mut params = ParamStore::new();
        let arch = GeneratorArch::Rmc {
            slots: 2,
            heads: 1,
            head_size: 3,
        };
        let core = Core::new(
            &mut params,
            "rmc",
            arch,
            4,
            &mut gumbel_autograd::init::seeded(0),
        )
        .unwrap();
        (params, core)
    }

    /// Teacher forcing over a sequence is the steps one by one; a row count that is not a
    /// multiple of the batch is an error naming both.
    #[test]
    fn rmc_sequence_is_its_steps_and_checks_its_rows() {
        let (params, core) = rmc();
        let tape = Tape::inference();
        let xs = tape.constant(Tensor::from_fn(&[6, 4], |i| (i as f32 * 0.37).sin()));
        let seq = core
            .forward_seq(&tape, &params, &xs, 2)
            .unwrap()
            .value()
            .unwrap();
        assert_eq!(seq.shape(), [6, 6]);
        let mut state = None;
        for t in 0..3 {
            let s = core
                .step(
                    &tape,
                    &params,
                    &xs.slice(0, 2 * t, 2 * t + 2).unwrap(),
                    state,
                )
                .unwrap();
            assert_eq!(
                s.output().value().unwrap().as_slice(),
                &seq.as_slice()[12 * t..12 * (t + 1)]
            );
            state = Some(s);
        }
        let msg = core
            .forward_seq(&tape, &params, &xs, 4)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("6 input rows") && msg.contains("batch size 4"),
            "{msg}"
        );
    }

    /// A state carried to another tape, a subset of its rows in another order, continues as
    /// those rows would have.
    #[test]
    fn a_carried_state_continues_its_rows() {
        let (params, core) = rmc();
        let tape = Tape::inference();
        let x = tape.constant(Tensor::from_fn(&[3, 4], |i| (i as f32 * 0.61).cos()));
        let s = core.step(&tape, &params, &x, None).unwrap();
        let next = core
            .step(&tape, &params, &x, Some(s))
            .unwrap()
            .output()
            .value()
            .unwrap();
        let other = Tape::inference();
        let kept = core.state_on(&other, s.values().unwrap().pick_rows(&[2, 0]).unwrap());
        let x2 = other.constant(Tensor::from_fn(&[2, 4], |i| {
            let (r, c) = (i / 4, i % 4);
            ((([2, 0][r] * 4 + c) as f32) * 0.61).cos()
        }));
        let got = core
            .step(&other, &params, &x2, Some(kept))
            .unwrap()
            .output()
            .value()
            .unwrap();
        // (within rounding: a product of 2 rows may take another gemm kernel than one of 3)
        for (g, w) in got
            .row(0)
            .iter()
            .chain(got.row(1))
            .zip(next.row(2).iter().chain(next.row(0)))
        {
            approx::assert_relative_eq!(g, w, epsilon = 1e-6, max_relative = 1e-5);
        }
    }
}
