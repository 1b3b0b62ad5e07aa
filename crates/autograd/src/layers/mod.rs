//! Layers: parameter layouts and forward passes built from the ops.
//!
//! A layer is a plain struct of [`ParamId`](crate::ParamId)s, created by registering its
//! parameters in a [`ParamStore`](crate::ParamStore) under `"{name}.{param}"` with
//! PyTorch's names, shapes and default initialisation, so that a state dict saved from the
//! store loads into the matching PyTorch module with `load_state_dict`. Its `forward`
//! takes the tape and the store and returns a `Var`.
//!
//! | layer | parameters (PyTorch layout) |
//! |---|---|
//! | [`Linear`] | `weight [out, in]`, `bias [out]` |
//! | [`Embedding`] | `weight [num, dim]` |
//! | [`Lstm`] | `weight_ih_l0 [4H, in]`, `weight_hh_l0 [4H, H]`, `bias_ih_l0 [4H]`, `bias_hh_l0 [4H]` (gates i, f, g, o) |
//! | [`Conv1dBank`] | `convs.{k}.weight [F_k, C, w_k]`, `convs.{k}.bias [F_k]` |
//! | [`RelationalMemory`] | RelGAN's relational memory core: `input_proj.*`, `qkv.weight`, `qkv_ln_w/b`, `ln1_w/b`, `mlp.{0,1}.*`, `ln2_w/b`, `gate_in.weight`, `gate_mem.weight` |
//! | [`ColumnConvBank`] | `{k}.weight [F_k, 1, w_k, 1]`, `{k}.bias [F_k]` (`nn.Conv2d(1, F_k, (w_k, 1))`: RelGAN's convolutions, shared by the representations) |
//! | [`Highway`] | `gate.weight`, `gate.bias`, `proj.weight`, `proj.bias` (two `Linear(d, d)`) |

mod conv;
mod embedding;
mod highway;
mod linear;
mod lstm;
mod relational_memory;

pub use conv::{ColumnConvBank, Conv1dBank};
pub use embedding::Embedding;
pub use highway::Highway;
pub use linear::{Bias, Linear};
pub use lstm::{Lstm, LstmState};
pub use relational_memory::{
    LayerNormAffine, PreparedRelationalMemory, RelationalMemory, RmcSizes,
};

#[cfg(test)]
mod tests;
