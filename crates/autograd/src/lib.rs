//! # gumbel-autograd
//!
//! A small reverse-mode automatic differentiation engine over `gumbel-tensor`, written to be
//! read: a tape of nodes in creation order (backward is a reverse walk), a parameter store
//! with stable names outside the tape, one module per op family with forward and backward
//! side by side, a public [`gradcheck()`] by central differences in f64, and the optimizers.
//!
//! ## Map
//! - `tape.rs`: [`Tape`], [`Var`], [`Gradients`]; `backward`, `no_grad`, `detach`; `grad`
//!   with [`CreateGraph`] (higher-order gradients through the ops' Var-level backwards).
//! - `params.rs`: [`ParamStore`] (named parameters and their gradients).
//! - `ops/`: the ops, one module per family (see its header for the folder/file rule).
//! - `distributions.rs`: `RelaxedOneHotCategorical` and `RelaxedBernoulli` (rsample,
//!   differentiable log_prob).
//! - `estimators/`: gradient estimators for categorical samples (REINFORCE with baselines,
//!   straight-through, Gumbel-Softmax and its straight-through form, ReinMax), one API.
//! - `gradcheck.rs`: [`gradcheck()`] (analytic vs central differences) and
//!   [`gradcheck_second_order()`] (Hessian-vector products vs differences of the gradient).
//! - `optim.rs`: SGD (momentum), Adam, AdamW, `clip_grad_norm`.
//! - `layers/`: Linear, Embedding, LSTM (cell and unrolled), Conv1d bank + max-pool,
//!   Highway, with PyTorch's parameter names and layouts; `init.rs`: their initialisation.
//!
//! ## A training step
//! ```
//! use gumbel_autograd::{optim::{Optimizer, Sgd}, ParamStore, Tape, tensor::Tensor};
//! # fn main() -> gumbel_autograd::Result<()> {
//! let mut params = ParamStore::<f64>::new();
//! let w = params.add("w", Tensor::new([1], vec![3.0])?)?;
//! let mut opt = Sgd::new(0.25);
//! for _ in 0..2 {
//!     let tape = Tape::new();                       // a fresh tape per step
//!     let x = params.var(&tape, w)?;                // the parameter as a leaf
//!     let loss = x.mul(&x)?.sum()?;                 // L = w^2
//!     params.accumulate(&mut tape.backward(loss)?)?; // dL/dw = 2w into the store
//!     opt.step(&mut params)?;                       // w -= 0.25 * 2w
//!     params.zero_grad();
//! }
//! assert_eq!(params.value(w)?.as_slice(), &[0.75]); // 3 -> 1.5 -> 0.75
//! # Ok(()) }
//! ```

pub mod distributions;
pub mod estimators;
pub mod gradcheck;
pub mod init;
pub mod layers;
pub mod ops;
pub mod optim;
pub mod params;
pub mod tape;

pub use gradcheck::{
    GradcheckError, GradcheckOptions, GradcheckReport, Mismatch, gradcheck, gradcheck_params,
    gradcheck_second_order, gradcheck_second_order_with, gradcheck_with,
};
pub use gumbel_tensor as tensor;
pub use gumbel_tensor::{Error, Result};
pub use params::{ParamId, ParamStore};
pub use tape::{CreateGraph, Gradients, Grads, NodeId, Tape, Var, VarBackwardFn, VarGrads};
