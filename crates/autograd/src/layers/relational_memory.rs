//! [`RelationalMemory`]: the relational memory core of Santoro et al. (2018) as RelGAN's
//! generator uses it (Nie et al. 2019; the authors' TensorFlow code, `utils/models/
//! relational_memory.py`, which `../shared/peers/relgan_step_bench.py` follows as its
//! `official` variant).
//!
//! The memory is `S` slots of `F = heads * head` features; a step reads an input `x`
//! (`[B, in]`) and the memory `m` (`[B, S F]`) and returns the next memory, which is also the
//! step's output (RelGAN's output layer reads it). Per step:
//!
//! ```text
//! u    = x W_in^T + b_in                                      [B, F]    (input_proj)
//! M    = [m ; u]                                              [B, N, F] (N = S + 1 rows: attend over memory and input)
//! Q    = LN_{N,F}(M W_qkv^T) g_qkv + b_qkv                    [B, N, H (2K + V)] (qkv, qkv_ln_*)
//! A    = multi-head attention among the N rows of Q, scale (2K + V)^-1/2     [B, N, F]
//! M1   = LN_{N,F}(M + A) g_1 + b_1                                           (ln1_*)
//! M2   = LN_{N,F}(M1 + relu(M1 W_0^T + b_0) W_1^T + b_1') g_2 + b_2          (mlp.0, mlp.1, ln2_*)
//! [i, f] = tanh(m) W_mem^T + u W_gin^T                        [B, S, 2F] (gate_mem, gate_in: u added to every slot)
//! m'   = sigmoid(i + 0) * tanh(M2[:, :S]) + sigmoid(f + 1) * m
//! ```
//!
//! `LN_{N,F}` normalizes each sample's whole `N x F` block jointly (mean and variance over
//! all `N F` entries, `eps = 1e-12`), then applies a gain and a bias per feature (`[F]`,
//! shared by the rows): TensorFlow's `layer_norm` over the last two axes, as RelGAN has it.
//! The attention scale `(2K + V)^-1/2` (not `K^-1/2`) is RelGAN's too: its code scales the
//! queries by the size of a head's whole `[q | k | v]` row. The gate biases 0 (input) and 1
//! (forget) are constants. The initial memory holds slot `s`'s row `e_s` (a one in feature
//! `s`, zeros elsewhere).
//!
//! Parameters are named as the PyTorch module `RelationalMemory` of
//! `relgan_step_bench.py --variant official` names them (its buffers `input_bias` and
//! `forget_bias` are the constants 0 and 1 here), and initialised as RelGAN's TensorFlow
//! code does ([`Linear::new_truncated_normal`], gains 1, biases 0).

use rand::Rng;

use gumbel_tensor::{Element, Error, Result, Tensor};

use crate::layers::{Bias, Linear};
use crate::ops::matmul::PreparedLinear;
use crate::params::{ParamId, ParamStore};
use crate::tape::{Tape, Var};

/// The sizes of a [`RelationalMemory`]. RelGAN's generator: `in_dim` 32 (its embedding),
/// `slots` 1, `heads` 2, `head_size` 256 (keys of the same size), so `F = 512`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RmcSizes {
    pub in_dim: usize,
    pub slots: usize,
    pub heads: usize,
    pub head_size: usize,
    pub key_size: usize,
}

impl RmcSizes {
    /// RelGAN's relational memory for an input of `in_dim` features: 1 slot, 2 heads of 256.
    pub fn relgan(in_dim: usize) -> Self {
        RmcSizes {
            in_dim,
            slots: 1,
            heads: 2,
            head_size: 256,
            key_size: 256,
        }
    }

    /// Features per slot, `F = heads * head_size`.
    pub fn features(&self) -> usize {
        self.heads * self.head_size
    }

    /// The initial memory of a batch of `b`: `[B, S F]`, slot `s` holding `e_s` (a one in
    /// feature `s`; RelGAN's `initial_state`, an identity padded with zeros).
    pub fn initial_state<T: Element>(&self, b: usize) -> Tensor<T> {
        let (s, f) = (self.slots, self.features());
        Tensor::from_fn(&[b, s * f], |i| {
            let (slot, feat) = ((i / f) % s, i % f);
            if slot == feat { T::ONE } else { T::ZERO }
        })
    }

    /// One head's `[q | k | v]` row, `2 key_size + head_size`.
    fn qkv_per_head(&self) -> usize {
        2 * self.key_size + self.head_size
    }
}

/// The gain and bias of a layer norm (`[F]` each), named `{name}_w` and `{name}_b`.
#[derive(Clone, Copy, Debug)]
pub struct LayerNormAffine {
    pub gain: ParamId,
    pub bias: ParamId,
}

impl LayerNormAffine {
    fn new<T: Element>(params: &mut ParamStore<T>, name: &str, f: usize) -> Result<Self> {
        Ok(LayerNormAffine {
            gain: params.add(format!("{name}_w"), Tensor::full([f], T::ONE))?,
            bias: params.add(format!("{name}_b"), Tensor::zeros([f]))?,
        })
    }

    /// The gain and bias on `tape`, for [`affine_block`].
    fn vars<'t, T: Element>(
        &self,
        tape: &'t Tape<T>,
        params: &ParamStore<T>,
    ) -> Result<(Var<'t, T>, Var<'t, T>)> {
        Ok((params.var(tape, self.gain)?, params.var(tape, self.bias)?))
    }
}

/// `LN_{N,F}(x) g + b` of `x: [B, N, F]`: each sample's `N x F` block normalized jointly,
/// then the per-feature gain and bias.
fn affine_block<'t, T: Element>(
    x: &Var<'t, T>,
    (gain, bias): &(Var<'t, T>, Var<'t, T>),
) -> Result<Var<'t, T>> {
    let shape = x.shape()?;
    let y = x
        .reshape([shape[0], shape[1] * shape[2]])?
        .layer_norm(T::from_f64(RelationalMemory::LN_EPS))?
        .reshape(shape)?;
    y.mul(gain)?.add(bias)
}

/// A relational memory core with RelGAN's layout; see the module docs.
#[derive(Clone, Debug)]
pub struct RelationalMemory {
    pub sizes: RmcSizes,
    pub input_proj: Linear,
    pub qkv: Linear,
    pub qkv_ln: LayerNormAffine,
    pub ln1: LayerNormAffine,
    pub mlp: [Linear; 2],
    pub ln2: LayerNormAffine,
    pub gate_in: Linear,
    pub gate_mem: Linear,
}

impl RelationalMemory {
    /// The layer norms' `eps` (TensorFlow's `layer_norm`, as RelGAN uses it).
    pub const LN_EPS: f64 = 1e-12;
    /// The constant bias of the input gate.
    pub const INPUT_BIAS: f64 = 0.0;
    /// The constant bias of the forget gate.
    pub const FORGET_BIAS: f64 = 1.0;

    /// Registers the parameters under `{name}.` (the names of the module docs). `Err` if a
    /// size is zero or a name is taken.
    pub fn new<T: Element>(
        params: &mut ParamStore<T>,
        name: &str,
        sizes: RmcSizes,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let RmcSizes {
            in_dim,
            slots,
            heads,
            head_size,
            key_size,
        } = sizes;
        if [in_dim, slots, heads, head_size, key_size].contains(&0) {
            return Err(Error::invalid_argument(
                "RelationalMemory::new",
                format!("every size must be > 0, got {sizes:?}"),
            ));
        }
        let f = sizes.features();
        let qkv = heads * sizes.qkv_per_head();
        let lin = |params: &mut ParamStore<T>, n: &str, i, o, b, rng: &mut _| {
            Linear::new_truncated_normal(params, &format!("{name}.{n}"), i, o, b, rng)
        };
        Ok(RelationalMemory {
            sizes,
            input_proj: lin(params, "input_proj", in_dim, f, Bias::Yes, rng)?,
            qkv: lin(params, "qkv", f, qkv, Bias::No, rng)?,
            qkv_ln: LayerNormAffine::new(params, &format!("{name}.qkv_ln"), qkv)?,
            ln1: LayerNormAffine::new(params, &format!("{name}.ln1"), f)?,
            mlp: [
                lin(params, "mlp.0", f, f, Bias::Yes, rng)?,
                lin(params, "mlp.1", f, f, Bias::Yes, rng)?,
            ],
            ln2: LayerNormAffine::new(params, &format!("{name}.ln2"), f)?,
            gate_in: lin(params, "gate_in", f, 2 * f, Bias::No, rng)?,
            gate_mem: lin(params, "gate_mem", f, 2 * f, Bias::No, rng)?,
        })
    }

    /// The initial memory of a batch of `b` ([`RmcSizes::initial_state`]).
    pub fn initial_state<T: Element>(&self, b: usize) -> Tensor<T> {
        self.sizes.initial_state(b)
    }

    /// One step: input `x: [B, in]`, memory `m: [B, S F]` -> the next memory `[B, S F]` (the
    /// step's output). `Err` on shapes that do not match the sizes. A loop over time steps
    /// should [`prepare`](RelationalMemory::prepare) once and step the prepared core.
    pub fn step<'t, T: Element>(
        &self,
        tape: &'t Tape<T>,
        params: &ParamStore<T>,
        x: &Var<'t, T>,
        m: &Var<'t, T>,
    ) -> Result<Var<'t, T>> {
        self.prepare(tape, params)?.step(x, m)
    }

    /// The core prepared for many steps on one tape: every linear layer as a
    /// [`PreparedLinear`] (its `W^T` made once, so that the step's products on `B` rows read
    /// the weights as stored instead of packing them at every step) and the layer norms'
    /// gains and biases on the tape. The same values and gradients as [`step`](Self::step).
    pub fn prepare<'t, T: Element>(
        &self,
        tape: &'t Tape<T>,
        params: &ParamStore<T>,
    ) -> Result<PreparedRelationalMemory<'t, T>> {
        let lin = |l: &Linear| l.prepare(tape, params);
        Ok(PreparedRelationalMemory {
            sizes: self.sizes,
            input_proj: lin(&self.input_proj)?,
            qkv: lin(&self.qkv)?,
            qkv_ln: self.qkv_ln.vars(tape, params)?,
            ln1: self.ln1.vars(tape, params)?,
            mlp: [lin(&self.mlp[0])?, lin(&self.mlp[1])?],
            ln2: self.ln2.vars(tape, params)?,
            gate_in: lin(&self.gate_in)?,
            gate_mem: lin(&self.gate_mem)?,
        })
    }
}

/// A [`RelationalMemory`] prepared on one tape ([`RelationalMemory::prepare`]).
pub struct PreparedRelationalMemory<'t, T: Element> {
    sizes: RmcSizes,
    input_proj: PreparedLinear<'t, T>,
    qkv: PreparedLinear<'t, T>,
    qkv_ln: (Var<'t, T>, Var<'t, T>),
    ln1: (Var<'t, T>, Var<'t, T>),
    mlp: [PreparedLinear<'t, T>; 2],
    ln2: (Var<'t, T>, Var<'t, T>),
    gate_in: PreparedLinear<'t, T>,
    gate_mem: PreparedLinear<'t, T>,
}

impl<'t, T: Element> PreparedRelationalMemory<'t, T> {
    /// The initial memory of a batch of `b` ([`RmcSizes::initial_state`]).
    pub fn initial_state(&self, b: usize) -> Tensor<T> {
        self.sizes.initial_state(b)
    }

    /// One step, as [`RelationalMemory::step`] (the module docs have the math).
    pub fn step(&self, x: &Var<'t, T>, m: &Var<'t, T>) -> Result<Var<'t, T>> {
        let sz = self.sizes;
        let (s, f) = (sz.slots, sz.features());
        let (xs, ms) = (x.shape()?, m.shape()?);
        let b = xs.first().copied().unwrap_or(0);
        if xs != [b, sz.in_dim] || ms != [b, s * f] {
            return Err(Error::invalid_argument(
                "RelationalMemory::step",
                format!(
                    "input {xs:?} and memory {ms:?} must be [B, {}] and [B, {}]",
                    sz.in_dim,
                    s * f
                ),
            ));
        }
        let n = s + 1;
        let u = self.input_proj.apply(x)?; // [B, F]
        let mem = Var::concat(&[m.reshape([b, s, f])?, u.reshape([b, 1, f])?], 1)?; // [B, N, F]

        // Attention over memory and input.
        let q = self.qkv.apply(&mem.reshape([b * n, f])?)?;
        let q = affine_block(
            &q.reshape([b, n, sz.heads * sz.qkv_per_head()])?,
            &self.qkv_ln,
        )?;
        let scale = T::from_f64((sz.qkv_per_head() as f64).powf(-0.5));
        let att = q.multi_head_attention(sz.heads, sz.key_size, sz.head_size, scale)?;
        let m1 = affine_block(&mem.add(&att)?, &self.ln1)?;

        // The two-layer MLP.
        let h = self.mlp[0].apply(&m1.reshape([b * n, f])?)?.relu()?;
        let h = self.mlp[1].apply(&h)?.reshape([b, n, f])?;
        let m2 = affine_block(&m1.add(&h)?, &self.ln2)?;
        let next = m2.slice(1, 0, s)?.reshape([b * s, f])?; // drop the input row

        // Input and forget gates, from the memory and the input (the input's part shared by
        // every slot).
        let from_mem = self.gate_mem.apply(&m.reshape([b * s, f])?.tanh()?)?; // [B S, 2F]
        let from_in = self.gate_in.apply(&u)?; // [B, 2F]
        let from_in = if s == 1 {
            from_in
        } else {
            from_in.broadcast_axis(1, s)?.reshape([b * s, 2 * f])?
        };
        let gates = from_mem.add(&from_in)?;
        let input = gates
            .slice(1, 0, f)?
            .add_scalar(T::from_f64(RelationalMemory::INPUT_BIAS))?
            .sigmoid()?;
        let forget = gates
            .slice(1, f, 2 * f)?
            .add_scalar(T::from_f64(RelationalMemory::FORGET_BIAS))?
            .sigmoid()?;
        let kept = forget.mul(&m.reshape([b * s, f])?)?;
        input.mul(&next.tanh()?)?.add(&kept)?.reshape([b, s * f])
    }
}
