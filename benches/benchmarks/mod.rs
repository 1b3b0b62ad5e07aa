//! One module per kernel family; each exports a criterion group named `benches`, listed in
//! `benches/main.rs`.

pub mod autograd;
pub mod binary_concrete;
pub mod data;
pub mod elementwise;
pub mod estimators;
pub mod gan;
pub mod gumbel;
pub mod gumbel_rao;
pub mod matmul;
pub mod softmax;
