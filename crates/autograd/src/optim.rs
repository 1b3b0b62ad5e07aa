//! Optimizers (SGD with momentum, Adam, AdamW) and gradient clipping by global norm.
//!
//! Each optimizer implements PyTorch's update formula for one parameter `p` with gradient
//! `g` (the formulas are in each type's docs, written in the order PyTorch evaluates them),
//! keeps its per-parameter state by the parameter's index in the [`ParamStore`] it steps,
//! and skips parameters whose gradient is `None` (as PyTorch skips `grad is None`).
//! Hyper-parameters are `f64`; the update runs in the store's element type.
//!
//! ```
//! use gumbel_autograd::{optim::{Adam, Optimizer}, ParamStore, Tape, tensor::Tensor};
//! # fn main() -> gumbel_autograd::Result<()> {
//! let mut params = ParamStore::<f64>::new();
//! let w = params.add("w", Tensor::new([1], vec![1.0])?)?;
//! let mut opt = Adam::new(0.1);
//! let tape = Tape::new();
//! let x = params.var(&tape, w)?;
//! params.accumulate(&mut x.mul(&x)?.sum()?.backward()?)?; // grad = 2w = 2
//! opt.step(&mut params)?;
//! params.zero_grad();
//! // Adam's first step moves every coordinate by lr (m_hat / sqrt(v_hat) = g / |g|).
//! assert!((params.value(w)?.as_slice()[0] - 0.9).abs() < 1e-9);
//! # Ok(()) }
//! ```

use gumbel_tensor::{Element, Error, Result, Tensor};
use rayon::prelude::*;

use crate::params::ParamStore;

/// What every optimizer offers: a step over a store's gradients and a learning rate.
pub trait Optimizer<T: Element> {
    /// Updates every parameter of `params` that has a gradient.
    fn step(&mut self, params: &mut ParamStore<T>) -> Result<()>;
    /// The learning rate.
    fn lr(&self) -> f64;
    /// Sets the learning rate (for schedules).
    fn set_lr(&mut self, lr: f64);
    /// The per-parameter state as named tensors, for checkpoints: `"{param}.{buffer}"`
    /// (PyTorch's buffer names: `momentum_buffer`; `exp_avg`, `exp_avg_sq`, `step`).
    fn state_dict(&self, params: &ParamStore<T>) -> Result<Vec<(String, Tensor<T>)>>;
    /// Restores a state saved by [`Optimizer::state_dict`] for the parameters of `params`
    /// (matched by name; parameters without saved state start fresh) and binds the optimizer
    /// to `params`. `Err`, naming the tensor, if a buffer's size does not match its parameter.
    fn load_state_dict(
        &mut self,
        params: &ParamStore<T>,
        state: &[(String, Tensor<T>)],
    ) -> Result<()>;
}

/// Exports the buffers `bufs[i]` of every parameter `i` that has one as `"{name}.{what}"`.
fn export_buffers<T: Element>(
    params: &ParamStore<T>,
    bufs: &[Option<Vec<T>>],
    what: &str,
    out: &mut Vec<(String, Tensor<T>)>,
) -> Result<()> {
    for (id, buf) in params.ids().zip(bufs) {
        if let Some(b) = buf {
            let shape = params.value(id)?.shape().to_vec();
            out.push((
                format!("{}.{what}", params.name(id)?),
                Tensor::new(shape, b.clone())?,
            ));
        }
    }
    Ok(())
}

/// The inverse of [`export_buffers`]: one buffer per parameter, `None` where absent.
fn import_buffers<T: Element>(
    params: &ParamStore<T>,
    state: &[(String, Tensor<T>)],
    what: &str,
    op: &'static str,
) -> Result<Vec<Option<Vec<T>>>> {
    params
        .ids()
        .map(|id| {
            let key = format!("{}.{what}", params.name(id)?);
            match state.iter().find(|(n, _)| *n == key) {
                None => Ok(None),
                Some((_, t)) if t.numel() == params.value(id)?.numel() => {
                    Ok(Some(t.as_slice().to_vec()))
                }
                Some((_, t)) => Err(Error::shape_mismatch(
                    op,
                    params.value(id)?.shape(),
                    t.shape(),
                )),
            }
        })
        .collect()
}

/// Binds an optimizer to the first store it steps; a different store later is an error
/// (its state is indexed by that store's parameters).
fn check_store<T: Element>(
    bound: &mut Option<u32>,
    params: &ParamStore<T>,
    op: &'static str,
) -> Result<()> {
    match *bound {
        None => {
            *bound = Some(params.store_id());
            Ok(())
        }
        Some(id) if id == params.store_id() => Ok(()),
        Some(_) => Err(Error::invalid_argument(
            op,
            "this optimizer was created for another ParamStore (its state is per parameter)",
        )),
    }
}

/// A state buffer per parameter, created on first use with the parameter's length.
fn state_for<T: Element>(state: &mut Vec<Option<Vec<T>>>, i: usize) -> &mut Option<Vec<T>> {
    if state.len() <= i {
        state.resize_with(i + 1, || None);
    }
    &mut state[i]
}

/// Stochastic gradient descent with momentum, weight decay and Nesterov momentum
/// (`torch.optim.SGD`):
///
/// ```text
/// d = g + weight_decay * p
/// if momentum != 0:
///     buf = d                                     (first step)
///     buf = momentum * buf + (1 - dampening) * d  (later steps)
///     d = d + momentum * buf  if nesterov  else  buf
/// p = p - lr * d
/// ```
#[derive(Clone, Debug)]
pub struct Sgd<T: Element> {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    bufs: Vec<Option<Vec<T>>>,
    store: Option<u32>,
}

impl<T: Element> Sgd<T> {
    /// Plain SGD (`p -= lr * g`).
    pub fn new(lr: f64) -> Self {
        Sgd {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            bufs: Vec::new(),
            store: None,
        }
    }

    /// With momentum (`dampening = 0`).
    pub fn with_momentum(lr: f64, momentum: f64) -> Self {
        Sgd {
            momentum,
            ..Self::new(lr)
        }
    }
}

impl<T: Element> Optimizer<T> for Sgd<T> {
    fn step(&mut self, params: &mut ParamStore<T>) -> Result<()> {
        check_store(&mut self.store, params, "Sgd::step")?;
        let lr = T::from_f64(self.lr);
        let mom = T::from_f64(self.momentum);
        let damp = T::ONE - T::from_f64(self.dampening);
        let wd = T::from_f64(self.weight_decay);
        for (i, p, g) in params.values_and_grads_mut() {
            let Some(g) = g else { continue };
            let buf = state_for(&mut self.bufs, i);
            let p = p.as_mut_slice();
            let g = g.as_slice();
            if self.momentum == 0.0 {
                for (p, &g) in p.iter_mut().zip(g) {
                    let d = g + wd * *p;
                    *p -= lr * d;
                }
                continue;
            }
            let first = buf.is_none();
            let buf = buf.get_or_insert_with(|| vec![T::ZERO; p.len()]);
            for ((p, &g), b) in p.iter_mut().zip(g).zip(buf.iter_mut()) {
                let d = g + wd * *p;
                *b = if first { d } else { mom * *b + damp * d };
                let d = if self.nesterov { d + mom * *b } else { *b };
                *p -= lr * d;
            }
        }
        Ok(())
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn state_dict(&self, params: &ParamStore<T>) -> Result<Vec<(String, Tensor<T>)>> {
        let mut out = Vec::new();
        export_buffers(params, &self.bufs, "momentum_buffer", &mut out)?;
        Ok(out)
    }
    fn load_state_dict(
        &mut self,
        params: &ParamStore<T>,
        state: &[(String, Tensor<T>)],
    ) -> Result<()> {
        self.bufs = import_buffers(params, state, "momentum_buffer", "Sgd::load_state_dict")?;
        self.store = Some(params.store_id());
        Ok(())
    }
}

/// Adam and AdamW (`torch.optim.Adam`, `torch.optim.AdamW`), step `t = 1, 2, ...`:
///
/// ```text
/// Adam:   g = g + weight_decay * p            (L2 penalty folded into the gradient)
/// AdamW:  p = p * (1 - lr * weight_decay)     (decoupled weight decay)
/// m = m + (1 - beta1) * (g - m)               (torch: exp_avg.lerp_(g, 1 - beta1))
/// v = beta2 * v + (1 - beta2) * g * g
/// step_size = lr / (1 - beta1^t)
/// denom = sqrt(v) / sqrt(1 - beta2^t) + eps
/// p = p - step_size * m / denom
/// ```
///
/// `step` returns [`Error::NonFinite`] naming the first parameter whose new value or moments
/// came out NaN or infinite (a learning rate too large for `T`, parameters near overflow);
/// the update has then been applied, so the store holds those values and should not be
/// saved. `load_state_dict` refuses non-finite moments and a negative second moment.
#[derive(Clone, Debug)]
pub struct Adam<T: Element> {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// `true` for AdamW (decoupled weight decay).
    pub decoupled: bool,
    m: Vec<Option<Vec<T>>>,
    v: Vec<Option<Vec<T>>>,
    t: Vec<u64>,
    store: Option<u32>,
}

/// AdamW is [`Adam`] with decoupled weight decay; see [`Adam::adamw`].
pub type AdamW<T> = Adam<T>;

impl<T: Element> Adam<T> {
    /// Adam with PyTorch's defaults: betas (0.9, 0.999), eps 1e-8, no weight decay.
    pub fn new(lr: f64) -> Self {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            m: Vec::new(),
            v: Vec::new(),
            t: Vec::new(),
            store: None,
        }
    }

    /// AdamW with PyTorch's defaults: betas (0.9, 0.999), eps 1e-8, weight decay 0.01.
    pub fn adamw(lr: f64) -> Self {
        Adam {
            weight_decay: 0.01,
            decoupled: true,
            ..Self::new(lr)
        }
    }

    /// Sets `(beta1, beta2)`.
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }

    /// Sets the weight decay (L2 for Adam, decoupled for AdamW).
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }

    /// Sets `eps`.
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
}

/// Parameters with at least this many elements are updated (and their gradients clipped)
/// in parallel, in chunks of [`OPTIM_CHUNK`]: the rows-parallel threshold of the kernels.
const PAR_MIN_ELEMS: usize = gumbel_tensor::parallel::PAR_MIN_ELEMS;

/// The chunk of elements one rayon task updates, and the block of the sum of squares.
const OPTIM_CHUNK: usize = 8192;

/// Adam's constants for one parameter at one step (the names of [`Adam`]'s formula).
#[derive(Clone, Copy)]
struct AdamConsts<T> {
    decoupled: bool,
    decay: T,
    wd: T,
    one_minus_b1: T,
    b2: T,
    one_minus_b2: T,
    eps: T,
    step_size: T,
    bc2_sqrt: T,
}

impl<T: Element> AdamConsts<T> {
    /// Adam's update of a slice of one parameter `p` with its gradient `g` and state `m`,
    /// `v` (the formula in [`Adam`]'s docs, in PyTorch's order), element by element.
    /// Returns whether every updated `p`, `m` and `v` is finite (folded in the same pass,
    /// so the check reads no memory of its own).
    fn update(&self, p: &mut [T], g: &[T], m: &mut [T], v: &mut [T]) -> bool {
        let mut finite = true;
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let g = if self.decoupled {
                *p *= self.decay;
                g
            } else {
                g + self.wd * *p
            };
            *m += self.one_minus_b1 * (g - *m);
            *v = self.b2 * *v + self.one_minus_b2 * g * g;
            let denom = v.sqrt() / self.bc2_sqrt + self.eps;
            *p -= self.step_size * (*m / denom);
            // `&` on bools: no branch, so the loop still vectorizes.
            finite &= p.is_finite() & m.is_finite() & v.is_finite();
        }
        finite
    }
}

impl<T: Element> Optimizer<T> for Adam<T> {
    fn step(&mut self, params: &mut ParamStore<T>) -> Result<()> {
        check_store(&mut self.store, params, "Adam::step")?;
        let b2 = T::from_f64(self.beta2);
        let one_minus_b1 = T::from_f64(1.0 - self.beta1);
        let one_minus_b2 = T::from_f64(1.0 - self.beta2);
        let eps = T::from_f64(self.eps);
        let wd = T::from_f64(self.weight_decay);
        let decay = T::from_f64(1.0 - self.lr * self.weight_decay);
        let mut first_fault = None;
        for (i, p, g) in params.values_and_grads_mut() {
            let Some(g) = g else { continue };
            if self.t.len() <= i {
                self.t.resize(i + 1, 0);
            }
            self.t[i] += 1;
            let t = self.t[i] as i32;
            let c = AdamConsts {
                decoupled: self.decoupled,
                decay,
                wd,
                one_minus_b1,
                b2,
                one_minus_b2,
                eps,
                // Bias corrections in f64, as PyTorch computes them on Python floats.
                step_size: T::from_f64(self.lr / (1.0 - self.beta1.powi(t))),
                bc2_sqrt: T::from_f64((1.0 - self.beta2.powi(t)).sqrt()),
            };
            let n = p.numel();
            let m = state_for(&mut self.m, i);
            let m = m.get_or_insert_with(|| vec![T::ZERO; n]);
            let v = state_for(&mut self.v, i);
            let v = v.get_or_insert_with(|| vec![T::ZERO; n]);
            let (p, g) = (p.as_mut_slice(), g.as_slice());
            let finite = if n < PAR_MIN_ELEMS {
                c.update(p, g, m, v)
            } else {
                // Elementwise, so the chunks (and the threads) do not change any result.
                p.par_chunks_mut(OPTIM_CHUNK)
                    .zip(g.par_chunks(OPTIM_CHUNK))
                    .zip(m.par_chunks_mut(OPTIM_CHUNK))
                    .zip(v.par_chunks_mut(OPTIM_CHUNK))
                    .map(|(((p, g), m), v)| c.update(p, g, m, v))
                    .reduce(|| true, |a, b| a && b)
            };
            if !finite && first_fault.is_none() {
                first_fault = Some(i);
            }
        }
        match first_fault {
            None => Ok(()),
            Some(i) => {
                let id = params.ids().nth(i).expect("index of a stored parameter");
                let (p, m, v) = (
                    params.value(id)?,
                    self.m[i].as_deref().unwrap_or(&[]),
                    self.v[i].as_deref().unwrap_or(&[]),
                );
                let bad = p
                    .as_slice()
                    .iter()
                    .chain(m)
                    .chain(v)
                    .find(|x| !x.is_finite());
                Err(Error::non_finite(
                    "Adam::step",
                    format!(
                        "parameter '{}' or its moments after the update (learning rate {:e})",
                        params.name(id)?,
                        self.lr
                    ),
                    bad.map_or(f64::NAN, |x| x.to_f64()),
                ))
            }
        }
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn state_dict(&self, params: &ParamStore<T>) -> Result<Vec<(String, Tensor<T>)>> {
        let mut out = Vec::new();
        export_buffers(params, &self.m, "exp_avg", &mut out)?;
        export_buffers(params, &self.v, "exp_avg_sq", &mut out)?;
        for (id, &t) in params.ids().zip(&self.t) {
            if t > 0 {
                // the step count as a one-element tensor (exact in f32 below 2^24 steps)
                out.push((
                    format!("{}.step", params.name(id)?),
                    Tensor::scalar(T::from_f64(t as f64)),
                ));
            }
        }
        Ok(out)
    }
    fn load_state_dict(
        &mut self,
        params: &ParamStore<T>,
        state: &[(String, Tensor<T>)],
    ) -> Result<()> {
        const OP: &str = "Adam::load_state_dict";
        let m = import_buffers(params, state, "exp_avg", OP)?;
        let v = import_buffers(params, state, "exp_avg_sq", OP)?;
        // A second moment is a running mean of squares: negative or non-finite values (a
        // corrupt or hand-edited file) would turn every later update into NaN.
        for (id, (m, v)) in params.ids().zip(m.iter().zip(&v)) {
            if let Some(x) = m.iter().flatten().find(|x| !x.is_finite()) {
                return Err(Error::invalid_argument(
                    OP,
                    format!(
                        "'{}.exp_avg' holds {x}; it must be finite",
                        params.name(id)?
                    ),
                ));
            }
            if let Some(x) = v
                .iter()
                .flatten()
                .find(|x| !(x.is_finite() && **x >= T::ZERO))
            {
                return Err(Error::invalid_argument(
                    OP,
                    format!(
                        "'{}.exp_avg_sq' holds {x}; a second moment must be finite and >= 0",
                        params.name(id)?
                    ),
                ));
            }
        }
        self.m = m;
        self.v = v;
        self.t = params
            .ids()
            .map(|id| {
                let key = format!("{}.step", params.name(id)?);
                match state.iter().find(|(n, _)| *n == key) {
                    None => Ok(0),
                    Some((_, t)) => {
                        let s = t.item()?.to_f64();
                        if !(s >= 0.0 && s.fract() == 0.0 && s < 1e15) {
                            return Err(Error::invalid_argument(
                                OP,
                                format!("'{key}' is {s}; a step count is a whole number >= 0"),
                            ));
                        }
                        Ok(s as u64)
                    }
                }
            })
            .collect::<Result<_>>()?;
        self.store = Some(params.store_id());
        Ok(())
    }
}

/// Scales all gradients of `params` so that their global L2 norm is at most `max_norm`
/// (`torch.nn.utils.clip_grad_norm_`), and returns the norm before clipping:
///
/// ```text
/// total = sqrt(sum over all gradient entries of g^2)
/// g = g * min(1, max_norm / (total + 1e-6))
/// ```
///
/// The sum of squares is accumulated in f64. `Err` if the norm is NaN or infinite (a NaN
/// or inf gradient), leaving the gradients untouched, or if `max_norm` is not positive.
///
/// ```
/// use gumbel_autograd::{optim::clip_grad_norm, ParamStore, Tape, tensor::Tensor};
/// # fn main() -> gumbel_autograd::Result<()> {
/// let mut params = ParamStore::<f64>::new();
/// let w = params.add("w", Tensor::new([2], vec![1.5, 2.0])?)?;
/// let tape = Tape::new();
/// let x = params.var(&tape, w)?;
/// params.accumulate(&mut x.mul(&x)?.sum()?.backward()?)?;   // grad = (3, 4), norm 5
/// let norm = clip_grad_norm(&mut params, 1.0)?;
/// assert_eq!(norm, 5.0);
/// let g = params.grad(w).unwrap().as_slice();
/// assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
/// # Ok(()) }
/// ```
pub fn clip_grad_norm<T: Element>(params: &mut ParamStore<T>, max_norm: f64) -> Result<f64> {
    if !(max_norm > 0.0 && max_norm.is_finite()) {
        return Err(Error::invalid_argument(
            "clip_grad_norm",
            format!("max_norm must be finite and > 0, got {max_norm}"),
        ));
    }
    let mut sq = 0.0f64;
    for g in params.grads_mut() {
        sq += sum_of_squares(g.as_slice());
    }
    let total = sq.sqrt();
    if !total.is_finite() {
        return Err(Error::non_finite(
            "clip_grad_norm",
            "the gradients' global norm (a NaN or inf gradient)",
            total,
        ));
    }
    let coef = max_norm / (total + 1e-6);
    if coef < 1.0 {
        let c = T::from_f64(coef);
        for g in params.grads_mut() {
            let g = g.as_mut_slice();
            if g.len() < PAR_MIN_ELEMS {
                g.iter_mut().for_each(|x| *x *= c);
            } else {
                g.par_chunks_mut(OPTIM_CHUNK)
                    .for_each(|g| g.iter_mut().for_each(|x| *x *= c));
            }
        }
    }
    Ok(total)
}

/// `sum x_i^2` in f64, in a fixed order whatever the thread count: blocks of
/// [`OPTIM_CHUNK`] elements (in parallel for long slices), each summed over eight
/// interleaved accumulators (element `i` into accumulator `i % 8`, which the compiler
/// vectorizes) that are then added in order; the block sums are added in block order.
fn sum_of_squares<T: Element>(x: &[T]) -> f64 {
    fn block<T: Element>(x: &[T]) -> f64 {
        let mut acc = [0.0f64; 8];
        let mut it = x.chunks_exact(8);
        for c in &mut it {
            for (a, &v) in acc.iter_mut().zip(c) {
                let v = v.to_f64();
                *a += v * v;
            }
        }
        // tail
        for (a, &v) in acc.iter_mut().zip(it.remainder()) {
            let v = v.to_f64();
            *a += v * v;
        }
        acc.iter().sum()
    }
    let blocks: Vec<f64> = if x.len() < PAR_MIN_ELEMS {
        x.chunks(OPTIM_CHUNK).map(block).collect()
    } else {
        x.par_chunks(OPTIM_CHUNK).map(block).collect()
    };
    blocks.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tape;
    use approx::assert_abs_diff_eq;
    use gumbel_tensor::Tensor;

    /// Sets every gradient of `params` to `g` (test helper).
    fn set_grad(params: &mut ParamStore<f64>, id: crate::ParamId, g: &[f64]) {
        // A gradient can only enter a store through backward: L = sum(p * g) has dL/dp = g.
        let tape = Tape::new();
        let p = params.var(&tape, id).unwrap();
        let gv = tape.constant(Tensor::new(params.value(id).unwrap().shape(), g.to_vec()).unwrap());
        let l = p.mul(&gv).unwrap().sum().unwrap();
        params.zero_grad();
        params.accumulate(&mut l.backward().unwrap()).unwrap();
    }

    fn store(p: &[f64]) -> (ParamStore<f64>, crate::ParamId) {
        let mut s = ParamStore::new();
        let id = s
            .add("p", Tensor::new([p.len()], p.to_vec()).unwrap())
            .unwrap();
        (s, id)
    }

    #[test]
    fn sgd_momentum_by_hand() {
        // p0 = 1, lr = 0.1, momentum = 0.9, gradients 1, 2, 3:
        // step 1: buf = 1,               p = 1 - 0.1*1     = 0.9
        // step 2: buf = 0.9*1 + 2 = 2.9, p = 0.9 - 0.29    = 0.61
        // step 3: buf = 0.9*2.9+3 = 5.61, p = 0.61 - 0.561 = 0.049
        let (mut s, id) = store(&[1.0]);
        let mut opt = Sgd::with_momentum(0.1, 0.9);
        let mut got = vec![];
        for g in [1.0, 2.0, 3.0] {
            set_grad(&mut s, id, &[g]);
            opt.step(&mut s).unwrap();
            got.push(s.value(id).unwrap().as_slice()[0]);
        }
        // tolerance: three steps of f64 rounding on values of order 1: well below 1e-15
        assert_abs_diff_eq!(
            got.as_slice(),
            [0.9, 0.61, 0.049].as_slice(),
            epsilon = 1e-15
        );
    }

    #[test]
    fn sgd_nesterov_and_weight_decay_by_hand() {
        // p0 = 2, lr = 0.5, momentum 0.5, wd 0.1, nesterov, gradient 1 both steps:
        // step 1: d = 1 + 0.2 = 1.2, buf = 1.2, d = 1.2 + 0.5*1.2 = 1.8, p = 2 - 0.9 = 1.1
        // step 2: d = 1 + 0.11 = 1.11, buf = 0.6 + 1.11 = 1.71, d = 1.11 + 0.855 = 1.965,
        //         p = 1.1 - 0.9825 = 0.1175
        let (mut s, id) = store(&[2.0]);
        let mut opt = Sgd::with_momentum(0.5, 0.5);
        opt.weight_decay = 0.1;
        opt.nesterov = true;
        let mut got = vec![];
        for _ in 0..2 {
            set_grad(&mut s, id, &[1.0]);
            opt.step(&mut s).unwrap();
            got.push(s.value(id).unwrap().as_slice()[0]);
        }
        assert_abs_diff_eq!(got.as_slice(), [1.1, 0.1175].as_slice(), epsilon = 1e-15);
    }

    #[test]
    fn state_dict_round_trip_resumes_bitwise() {
        // 5 steps uninterrupted vs 3 steps, export, a fresh optimizer and store, 2 steps
        let grads = [
            [0.3, -0.1],
            [-0.5, 0.4],
            [0.1, 0.1],
            [2.0, -1.0],
            [0.7, 0.2],
        ];
        type Make = fn() -> Box<dyn Optimizer<f64>>;
        let opts: [Make; 2] = [
            || Box::new(Adam::new(0.01).weight_decay(0.1)),
            || Box::new(Sgd::with_momentum(0.1, 0.9)),
        ];
        for make in opts {
            let (mut a, ia) = store(&[1.0, -2.0]);
            let mut oa = make();
            for g in &grads {
                set_grad(&mut a, ia, g);
                oa.step(&mut a).unwrap();
            }
            let (mut b, ib) = store(&[1.0, -2.0]);
            let mut ob = make();
            for g in &grads[..3] {
                set_grad(&mut b, ib, g);
                ob.step(&mut b).unwrap();
            }
            let saved = ob.state_dict(&b).unwrap();
            assert!(!saved.is_empty() && saved.iter().all(|(n, _)| n.starts_with("p.")));
            let (mut c, ic) = store(b.value(ib).unwrap().as_slice());
            let mut oc = make();
            oc.load_state_dict(&c, &saved).unwrap();
            for g in &grads[3..] {
                set_grad(&mut c, ic, g);
                oc.step(&mut c).unwrap();
            }
            assert_eq!(a.value(ia).unwrap(), c.value(ic).unwrap());
            // a buffer of the wrong size is named
            let bad = vec![(saved[0].0.clone(), Tensor::zeros([3]))];
            let msg = oc.load_state_dict(&c, &bad).unwrap_err().to_string();
            assert!(msg.contains("[2]") && msg.contains("[3]"), "{msg}");
        }
    }

    #[test]
    fn adam_by_hand() {
        // p0 = 1, lr = 0.1, betas (0.9, 0.999), eps 1e-8, gradients 1 then -1.
        // step 1: m = 0.1, v = 0.001, step_size = 0.1/0.1 = 1, denom = sqrt(0.001)/sqrt(0.001)
        //         + 1e-8 = 1 + 1e-8, p = 1 - 0.1/(1+1e-8) = 0.900000001 (to 1e-9)
        // step 2: m = 0.09 - 0.1 = -0.01, v = 0.000999 + 0.001 = 0.001999,
        //         step_size = 0.1/0.19, denom = sqrt(0.001999/0.001999999) + 1e-8,
        //         p = p + (0.1/0.19) * 0.01 / denom
        let (mut s, id) = store(&[1.0]);
        let mut opt = Adam::new(0.1);
        set_grad(&mut s, id, &[1.0]);
        opt.step(&mut s).unwrap();
        let p1 = 1.0 - 0.1 / (1.0 + 1e-8);
        assert_abs_diff_eq!(
            s.value(id).unwrap().as_slice(),
            [p1].as_slice(),
            epsilon = 1e-15
        );
        set_grad(&mut s, id, &[-1.0]);
        opt.step(&mut s).unwrap();
        let denom = (0.001999f64 / (1.0 - 0.999f64 * 0.999)).sqrt() + 1e-8;
        let p2 = p1 + (0.1 / 0.19) * 0.01 / denom;
        assert_abs_diff_eq!(
            s.value(id).unwrap().as_slice(),
            [p2].as_slice(),
            epsilon = 1e-14
        );
    }

    #[test]
    fn adam_reports_an_update_that_overflows_and_names_the_parameter() {
        // lr 1e300 in f32 is +inf: p = 1 - inf * (m / denom) = -inf after one step.
        let mut s = ParamStore::<f32>::new();
        let ok = s
            .add("ok", Tensor::new([2], vec![1.0f32, 2.0]).unwrap())
            .unwrap();
        let bad = s
            .add("w", Tensor::new([3], vec![1.0f32; 3]).unwrap())
            .unwrap();
        let tape = Tape::new();
        let l = s
            .var(&tape, ok)
            .unwrap()
            .sum()
            .unwrap()
            .add(&s.var(&tape, bad).unwrap().sum().unwrap())
            .unwrap();
        s.accumulate(&mut l.backward().unwrap()).unwrap();
        let e = Adam::new(1e300).step(&mut s).unwrap_err();
        assert!(
            matches!(
                e,
                Error::NonFinite {
                    op: "Adam::step",
                    ..
                }
            ),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(msg.contains("'ok'") && msg.contains("inf"), "{msg}");
        // A finite learning rate on the same gradients is fine.
        assert!(
            Adam::new(1e-3).step(&mut s).is_err(),
            "the store now holds -inf"
        );
    }

    #[test]
    fn adam_refuses_a_negative_second_moment_on_load() {
        let (mut s, id) = store(&[1.0, 2.0]);
        let mut opt = Adam::new(0.1);
        set_grad(&mut s, id, &[1.0, -1.0]);
        opt.step(&mut s).unwrap();
        let mut saved = opt.state_dict(&s).unwrap();
        for (name, t) in saved.iter_mut() {
            if name.ends_with("exp_avg_sq") {
                t.as_mut_slice()[1] = -1e-3;
            }
        }
        let msg = Adam::<f64>::new(0.1)
            .load_state_dict(&s, &saved)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("p.exp_avg_sq") && msg.contains(">= 0"),
            "{msg}"
        );
        for (name, t) in saved.iter_mut() {
            if name.ends_with(".step") {
                *t = Tensor::scalar(-3.0);
            }
            if name.ends_with("exp_avg_sq") {
                t.as_mut_slice()[1] = 1e-3;
            }
        }
        let msg = Adam::<f64>::new(0.1)
            .load_state_dict(&s, &saved)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("p.step") && msg.contains("-3"), "{msg}");
    }

    #[test]
    fn large_parameters_update_in_parallel_with_the_same_bits_for_any_thread_count() {
        // 50,000 + 1,000 elements: the first takes the parallel chunks, the second not.
        // Three Adam steps (the second AdamW) with clipping, compared across 1, 2 and 7
        // threads, and against the formula in Adam's docs written out per element.
        let n = 50_000;
        let vals = |len: usize, seed: u64| -> Vec<f64> {
            (0..len)
                .map(|i| (((i as u64 + 1) * (seed * 2 + 1)) % 1009) as f64 / 1009.0 - 0.5)
                .collect()
        };
        let run = |threads: usize| {
            gumbel_tensor::parallel::with_threads(threads, || {
                let mut s = ParamStore::<f64>::new();
                let a = s.add("a", Tensor::new([n], vals(n, 1)).unwrap()).unwrap();
                let b = s
                    .add("b", Tensor::new([1000], vals(1000, 2)).unwrap())
                    .unwrap();
                let mut opt = Adam::new(0.01);
                let mut norms = vec![];
                for step in 0..3u64 {
                    opt.decoupled = step == 1;
                    opt.weight_decay = 0.1;
                    set_grad(&mut s, a, &vals(n, 3 + step));
                    let tape = Tape::new();
                    let l = s
                        .var(&tape, b)
                        .unwrap()
                        .mul(&tape.constant(Tensor::new([1000], vals(1000, 7 + step)).unwrap()));
                    let mut g = l.unwrap().sum().unwrap().backward().unwrap();
                    s.accumulate(&mut g).unwrap();
                    norms.push(clip_grad_norm(&mut s, 20.0).unwrap());
                    opt.step(&mut s).unwrap();
                    s.zero_grad();
                }
                let v = |id| s.value(id).unwrap().as_slice().to_vec();
                (v(a), v(b), norms)
            })
            .unwrap()
        };
        let one = run(1);
        for threads in [2, 7] {
            let other = run(threads);
            assert!(
                one.0
                    .iter()
                    .zip(&other.0)
                    .all(|(x, y)| x.to_bits() == y.to_bits())
            );
            assert!(
                one.1
                    .iter()
                    .zip(&other.1)
                    .all(|(x, y)| x.to_bits() == y.to_bits())
            );
            assert_eq!(one.2, other.2, "{threads} threads");
        }
        // The large parameter by hand: clip (g * coef), then Adam / AdamW per element.
        let mut p = vals(n, 1);
        let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
        for step in 0..3u64 {
            let t = step as i32 + 1;
            let coef = (20.0 / (one.2[step as usize] + 1e-6)).min(1.0);
            let g = vals(n, 3 + step);
            for i in 0..n {
                let mut gi = if coef < 1.0 { g[i] * coef } else { g[i] };
                if step == 1 {
                    p[i] *= 1.0 - 0.01 * 0.1;
                } else {
                    gi += 0.1 * p[i];
                }
                m[i] += (1.0 - 0.9) * (gi - m[i]);
                v[i] = 0.999 * v[i] + (1.0 - 0.999) * gi * gi;
                let denom = v[i].sqrt() / (1.0 - 0.999f64.powi(t)).sqrt() + 1e-8;
                p[i] -= 0.01 / (1.0 - 0.9f64.powi(t)) * (m[i] / denom);
            }
        }
        assert!(
            p.iter()
                .zip(&one.0)
                .all(|(x, y)| x.to_bits() == y.to_bits())
        );
        // The norm: within the f64 summation bound n u sum g^2 of the plain sum.
        let g = vals(n, 3);
        let plain: f64 =
            g.iter().map(|x| x * x).sum::<f64>() + vals(1000, 7).iter().map(|x| x * x).sum::<f64>();
        assert!((one.2[0] * one.2[0] - plain).abs() <= 51_000.0 * f64::EPSILON * plain);
    }
}
