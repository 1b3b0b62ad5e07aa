//! INTERIM: the layers and ops the models need that the autograd crate does not have yet
//! (Embedding, Linear, LSTM, dropout, cross-entropy with an ignore index, Gumbel-Softmax as
//! one node). The autograd issue provides all of them, on the fused kernels; when they land
//! the models switch to them and this file is deleted. Until then each op here is written
//! out plainly, with its backward beside it and a gradcheck.
//!
//! Parameter names follow PyTorch (`<layer>.weight`, `lstm.weight_ih_l0`, ...), gates in
//! PyTorch's order i, f, g, o.

use gumbel_autograd::{ParamId, ParamStore, Tape, Var};
use gumbel_tensor::{Element, Error, Result, Tensor};
use rand::RngExt;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::train::rng::splitmix64;

/// A uniform in [lo, hi) from a stream.
fn uniform(r: &mut Xoshiro256PlusPlus, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * r.random::<f64>()
}

/// A standard normal by Box-Muller.
fn normal(r: &mut Xoshiro256PlusPlus) -> f64 {
    let u1 = 1.0 - r.random::<f64>(); // (0, 1]
    let u2 = r.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `nn.Embedding`: `weight [num, dim]`, initialised N(0, 1); forward looks rows up.
#[derive(Debug, Clone, Copy)]
pub struct Embedding {
    pub weight: ParamId,
    pub num: usize,
    pub dim: usize,
}

impl Embedding {
    pub fn new(
        params: &mut ParamStore<f32>,
        name: &str,
        num: usize,
        dim: usize,
        r: &mut Xoshiro256PlusPlus,
    ) -> Result<Embedding> {
        let w = Tensor::from_fn([num, dim], |_| normal(r) as f32);
        let weight = params.add(format!("{name}.weight"), w)?;
        Ok(Embedding { weight, num, dim })
    }

    /// Rows `ids` of the weight, `[ids.len(), dim]`.
    pub fn forward<'t>(
        &self,
        params: &ParamStore<f32>,
        tape: &'t Tape<f32>,
        ids: &[usize],
    ) -> Result<Var<'t, f32>> {
        embedding(&params.var(tape, self.weight)?, ids)
    }
}

/// Row lookup `y[i] = w[ids[i]]`; backward scatter-adds: `dw[ids[i]] += dy[i]`.
pub fn embedding<'t, T: Element>(w: &Var<'t, T>, ids: &[usize]) -> Result<Var<'t, T>> {
    const OP: &str = "embedding";
    let wv = w.value()?;
    if wv.rank() != 2 {
        return Err(Error::invalid_shape(
            OP,
            wv.shape(),
            "the weight must be [num, dim]",
        ));
    }
    let (num, dim) = (wv.rows(), wv.cols());
    if let Some((i, &id)) = ids.iter().enumerate().find(|(_, id)| **id >= num) {
        return Err(Error::invalid_argument(
            OP,
            format!("index {id} at position {i} is not below {num}"),
        ));
    }
    let mut y = Vec::with_capacity(ids.len() * dim);
    for &id in ids {
        y.extend_from_slice(wv.row(id));
    }
    let ids = ids.to_vec();
    let wid = w.id();
    w.tape().op(
        OP,
        Tensor::new([ids.len(), dim], y)?,
        &[*w],
        move |_y, dy, g| {
            if let Some(dw) = g.slot(wid) {
                for (i, &id) in ids.iter().enumerate() {
                    for (a, &b) in dw.row_mut(id).iter_mut().zip(dy.row(i)) {
                        *a += b;
                    }
                }
            }
            Ok(())
        },
    )
}

/// `nn.Linear`: `weight [out, in]`, `bias [out]`, both U(-1/sqrt(in), 1/sqrt(in)).
#[derive(Debug, Clone, Copy)]
pub struct Linear {
    pub weight: ParamId,
    pub bias: Option<ParamId>,
}

impl Linear {
    pub fn new(
        params: &mut ParamStore<f32>,
        name: &str,
        input: usize,
        output: usize,
        bias: bool,
        r: &mut Xoshiro256PlusPlus,
    ) -> Result<Linear> {
        let k = 1.0 / (input as f64).sqrt();
        let w = Tensor::from_fn([output, input], |_| uniform(r, -k, k) as f32);
        let weight = params.add(format!("{name}.weight"), w)?;
        let bias = if bias {
            let b = Tensor::from_fn([output], |_| uniform(r, -k, k) as f32);
            Some(params.add(format!("{name}.bias"), b)?)
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }

    /// `x W^T + b`.
    pub fn forward<'t>(
        &self,
        params: &ParamStore<f32>,
        tape: &'t Tape<f32>,
        x: &Var<'t, f32>,
    ) -> Result<Var<'t, f32>> {
        let w = params.var(tape, self.weight)?;
        let b = self.bias.map(|b| params.var(tape, b)).transpose()?;
        x.linear(&w, b.as_ref())
    }
}

/// A single-layer `nn.LSTM(input, hidden)`: `weight_ih_l0 [4H, in]`, `weight_hh_l0 [4H, H]`,
/// `bias_ih_l0 [4H]`, `bias_hh_l0 [4H]`, gates i, f, g, o; all U(-1/sqrt(H), 1/sqrt(H)).
#[derive(Debug, Clone, Copy)]
pub struct Lstm {
    pub w_ih: ParamId,
    pub w_hh: ParamId,
    pub b_ih: ParamId,
    pub b_hh: ParamId,
    pub hidden: usize,
}

/// The state `(h, c)` after a step.
#[derive(Clone, Copy)]
pub struct LstmState<'t, T: Element> {
    pub h: Var<'t, T>,
    pub c: Var<'t, T>,
}

impl Lstm {
    pub fn new(
        params: &mut ParamStore<f32>,
        name: &str,
        input: usize,
        hidden: usize,
        r: &mut Xoshiro256PlusPlus,
    ) -> Result<Lstm> {
        let k = 1.0 / (hidden as f64).sqrt();
        let mut u = |shape: Vec<usize>| Tensor::from_fn(shape, |_| uniform(r, -k, k) as f32);
        let w_ih = params.add(format!("{name}.weight_ih_l0"), u(vec![4 * hidden, input]))?;
        let w_hh = params.add(format!("{name}.weight_hh_l0"), u(vec![4 * hidden, hidden]))?;
        let b_ih = params.add(format!("{name}.bias_ih_l0"), u(vec![4 * hidden]))?;
        let b_hh = params.add(format!("{name}.bias_hh_l0"), u(vec![4 * hidden]))?;
        Ok(Lstm {
            w_ih,
            w_hh,
            b_ih,
            b_hh,
            hidden,
        })
    }

    /// One step from the projected input `xp = x W_ih^T + b_ih` (`[B, 4H]`).
    fn cell<'t>(
        &self,
        params: &ParamStore<f32>,
        tape: &'t Tape<f32>,
        xp: Var<'t, f32>,
        state: Option<&LstmState<'t, f32>>,
    ) -> Result<LstmState<'t, f32>> {
        let hsz = self.hidden;
        let gates = match state {
            Some(s) => {
                let w = params.var(tape, self.w_hh)?;
                let b = params.var(tape, self.b_hh)?;
                xp.add(&s.h.linear(&w, Some(&b))?)?
            }
            None => xp.add(&params.var(tape, self.b_hh)?)?,
        };
        let i = gates.slice(1, 0, hsz)?.sigmoid()?;
        let f = gates.slice(1, hsz, 2 * hsz)?.sigmoid()?;
        let g = gates.slice(1, 2 * hsz, 3 * hsz)?.tanh()?;
        let o = gates.slice(1, 3 * hsz, 4 * hsz)?.sigmoid()?;
        let c = match state {
            Some(s) => f.mul(&s.c)?.add(&i.mul(&g)?)?,
            None => i.mul(&g)?,
        };
        let h = o.mul(&c.tanh()?)?;
        Ok(LstmState { h, c })
    }

    /// One step on input `x [B, in]` from `state` (zeros if `None`).
    pub fn step<'t>(
        &self,
        params: &ParamStore<f32>,
        tape: &'t Tape<f32>,
        x: &Var<'t, f32>,
        state: Option<&LstmState<'t, f32>>,
    ) -> Result<LstmState<'t, f32>> {
        let xp = x.linear(
            &params.var(tape, self.w_ih)?,
            Some(&params.var(tape, self.b_ih)?),
        )?;
        self.cell(params, tape, xp, state)
    }

    /// The hidden states `[L*B, H]` (time-major) for a time-major input `[L*B, in]`, from
    /// zero state. The input projection of all steps is one matmul.
    pub fn forward_sequence<'t>(
        &self,
        params: &ParamStore<f32>,
        tape: &'t Tape<f32>,
        x: &Var<'t, f32>,
        batch: usize,
    ) -> Result<Var<'t, f32>> {
        let rows = x.value()?.rows();
        if batch == 0 || rows % batch != 0 {
            return Err(Error::invalid_argument(
                "Lstm::forward_sequence",
                format!("{rows} rows are not a multiple of batch {batch}"),
            ));
        }
        let xp = x.linear(
            &params.var(tape, self.w_ih)?,
            Some(&params.var(tape, self.b_ih)?),
        )?;
        let mut state: Option<LstmState<'t, f32>> = None;
        let mut hs = Vec::with_capacity(rows / batch);
        for t in 0..rows / batch {
            let s = self.cell(
                params,
                tape,
                xp.slice(0, t * batch, (t + 1) * batch)?,
                state.as_ref(),
            )?;
            hs.push(s.h);
            state = Some(s);
        }
        Var::concat(&hs, 0)
    }
}

/// Inverted dropout with keep mask drawn from `key`: `y = x * m / (1 - p)`, `m_i ~
/// Bernoulli(1 - p)`; the identity in no-grad or eval mode, or when `p = 0`.
pub fn dropout<'t, T: Element>(x: &Var<'t, T>, p: f64, key: u64) -> Result<Var<'t, T>> {
    if p == 0.0 || !x.tape().is_grad_enabled() || !x.tape().is_training() {
        return Ok(*x);
    }
    if !(0.0..1.0).contains(&p) {
        return Err(Error::invalid_argument(
            "dropout",
            format!("p must be in [0, 1), got {p}"),
        ));
    }
    let xv = x.value()?;
    let scale = T::from_f64(1.0 / (1.0 - p));
    let mut s = key;
    let mask: Vec<T> = (0..xv.numel())
        .map(|_| {
            s = splitmix64(s);
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            if u >= p { scale } else { T::ZERO }
        })
        .collect();
    let m = x.tape().constant(Tensor::new(xv.shape(), mask)?);
    x.mul(&m)
}

/// Mean cross-entropy of `logits [N, V]` against `targets`, over the rows whose target is
/// not `ignore`:
///
/// ```text
/// L = (1/n) sum_{r counted} (lse(z_r) - z_r[t_r])      dz_r = (softmax(z_r) - e_{t_r}) / n
/// ```
pub fn cross_entropy<'t, T: Element>(
    logits: &Var<'t, T>,
    targets: &[usize],
    ignore: Option<usize>,
) -> Result<Var<'t, T>> {
    const OP: &str = "cross_entropy";
    let z = logits.value()?;
    let (rows, v) = (z.rows(), z.cols());
    if targets.len() != rows {
        return Err(Error::invalid_argument(
            OP,
            format!("{} targets for {rows} rows", targets.len()),
        ));
    }
    if let Some((r, &t)) = targets
        .iter()
        .enumerate()
        .find(|(_, t)| **t >= v && Some(**t) != ignore)
    {
        return Err(Error::invalid_argument(
            OP,
            format!("target {t} in row {r} is not below {v}"),
        ));
    }
    let mut lse = vec![0.0f64; rows];
    let (mut sum, mut n) = (0.0f64, 0usize);
    for (r, row) in z.as_slice().chunks(v).enumerate() {
        let m = row
            .iter()
            .fold(f64::NEG_INFINITY, |a, &b| a.max(b.to_f64()));
        lse[r] = m + row
            .iter()
            .map(|&x| (x.to_f64() - m).exp())
            .sum::<f64>()
            .ln();
        if Some(targets[r]) != ignore {
            sum += lse[r] - row[targets[r]].to_f64();
            n += 1;
        }
    }
    let n = n.max(1);
    let targets = targets.to_vec();
    let zid = logits.id();
    logits.tape().op(
        OP,
        Tensor::scalar(T::from_f64(sum / n as f64)),
        &[*logits],
        move |_y, dy, g| {
            let d = dy.as_slice()[0].to_f64() / n as f64;
            let z = g.value(zid).clone();
            let mut dz = Tensor::zeros(z.shape());
            for (r, (zr, dr)) in z
                .as_slice()
                .chunks(v)
                .zip(dz.as_mut_slice().chunks_mut(v))
                .enumerate()
            {
                if Some(targets[r]) == ignore {
                    continue;
                }
                for (o, &x) in dr.iter_mut().zip(zr) {
                    *o = T::from_f64(d * (x.to_f64() - lse[r]).exp());
                }
                dr[targets[r]] -= T::from_f64(d);
            }
            g.add(zid, dz)
        },
    )
}

/// The temperature of [`gumbel_softmax`].
#[derive(Clone, Copy)]
pub enum Temp<'t, T: Element> {
    /// `y = softmax((o + g) / tau)`.
    Tau(f64),
    /// `y = softmax(beta (o + g))`.
    Beta(f64),
    /// A learnable `tau` (a `[1]` value).
    LearnedTau(Var<'t, T>),
    /// A learnable `beta`.
    LearnedBeta(Var<'t, T>),
}

/// What [`gumbel_softmax`] returns.
pub struct GumbelOut<'t, T: Element> {
    /// The soft sample.
    pub soft: Var<'t, T>,
    /// `soft`, or the straight-through one-hot (`e_k + soft - stop_grad(soft)`) if `hard`.
    pub y: Var<'t, T>,
    /// `argmax(o + g)` per row: a sample of `softmax(o)`.
    pub index: Vec<usize>,
}

/// Gumbel-Softmax over the rows of `logits [B, V]` with noise from `(key, call)`:
/// `g = -ln(-ln u)`, `z = (o + g) * beta` (beta = 1/tau), `y = softmax(z)`.
///
/// ```text
/// do = beta * y * (dy - <dy, y>)
/// dbeta = sum_i y_i (dy_i - <dy, y>) (o_i + g_i)           dtau = -dbeta / tau^2
/// ```
pub fn gumbel_softmax<'t, T: Element>(
    logits: &Var<'t, T>,
    temp: Temp<'t, T>,
    hard: bool,
    key: u64,
    call: u64,
) -> Result<GumbelOut<'t, T>> {
    const OP: &str = "gumbel_softmax";
    let o = logits.value()?;
    let (rows, v) = (o.rows(), o.cols());
    let (beta, learned, is_tau) = match temp {
        Temp::Tau(t) => (1.0 / t, None, true),
        Temp::Beta(b) => (b, None, false),
        Temp::LearnedTau(t) => (1.0 / t.item()?.to_f64(), Some(t), true),
        Temp::LearnedBeta(b) => (b.item()?.to_f64(), Some(b), false),
    };
    if !(beta.is_finite() && beta > 0.0) {
        return Err(Error::InvalidTemperature {
            op: OP,
            name: if is_tau { "tau" } else { "beta" },
            value: if is_tau { 1.0 / beta } else { beta },
        });
    }
    let mut y = vec![T::ZERO; rows * v];
    let mut og = vec![0.0f64; rows * v];
    let mut index = vec![0usize; rows];
    for r in 0..rows {
        let mut s =
            splitmix64(splitmix64(key ^ call.wrapping_mul(0x9E37_79B9_7F4A_7C15)) ^ r as u64);
        let row = o.row(r);
        let mut best = f64::NEG_INFINITY;
        for (i, &x) in row.iter().enumerate() {
            s = splitmix64(s);
            let u = ((s >> 40) as f64 + 0.5) / (1u64 << 24) as f64; // (k + 1/2) 2^-24: inside (0, 1)
            let val = x.to_f64() - (-u.ln()).ln();
            if !val.is_finite() && val != f64::NEG_INFINITY {
                return Err(Error::NonFiniteLogit {
                    op: OP,
                    row: r,
                    col: i,
                    value: x.to_f64(),
                });
            }
            og[r * v + i] = val;
            if val > best {
                best = val;
                index[r] = i;
            }
        }
        let zsum: f64 = (0..v).map(|i| ((og[r * v + i] - best) * beta).exp()).sum();
        for i in 0..v {
            y[r * v + i] = T::from_f64(((og[r * v + i] - best) * beta).exp() / zsum);
        }
    }
    let lid = logits.id();
    let mut inputs = vec![*logits];
    if let Some(t) = learned {
        inputs.push(t);
    }
    let tid = learned.map(|t| t.id());
    let soft = logits
        .tape()
        .op(OP, Tensor::new(o.shape(), y)?, &inputs, move |y, dy, g| {
            let mut dlog = Tensor::zeros(y.shape());
            let mut dbeta = 0.0f64;
            for r in 0..rows {
                let (yr, dyr) = (y.row(r), dy.row(r));
                let dot: f64 = yr
                    .iter()
                    .zip(dyr)
                    .map(|(&a, &b)| a.to_f64() * b.to_f64())
                    .sum();
                let out = dlog.row_mut(r);
                for i in 0..v {
                    let w = yr[i].to_f64() * (dyr[i].to_f64() - dot);
                    out[i] = T::from_f64(beta * w);
                    if og[r * v + i].is_finite() {
                        dbeta += w * og[r * v + i];
                    }
                }
            }
            g.add(lid, dlog)?;
            if let Some(tid) = tid {
                let d = if is_tau { -dbeta * beta * beta } else { dbeta };
                g.add(tid, Tensor::new([1], vec![T::from_f64(d)])?)?;
            }
            Ok(())
        })?;
    let y = if hard {
        let onehot = Tensor::from_fn([rows, v], |i| {
            if index[i / v] == i % v {
                T::ONE
            } else {
                T::ZERO
            }
        });
        // e_k + y - stop_grad(y): forward the one-hot, backward through y.
        logits
            .tape()
            .constant(onehot)
            .add(&soft.sub(&soft.detach()?)?)?
    } else {
        soft
    };
    Ok(GumbelOut { soft, y, index })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gumbel_autograd::gradcheck;

    fn rand(shape: &[usize], seed: u64) -> Tensor<f64> {
        let mut s = seed;
        Tensor::from_fn(shape.to_vec(), |_| {
            s = splitmix64(s);
            (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
    }

    #[test]
    fn embedding_and_cross_entropy_gradients() {
        gradcheck(
            |_t, v| embedding(&v[0], &[2, 0, 2])?.mul(&v[1])?.sum(),
            &[rand(&[3, 4], 1), rand(&[3, 4], 2)],
        )
        .unwrap();
        gradcheck(
            |_t, v| cross_entropy(&v[0], &[1, 3, 0, 2], Some(0)),
            &[rand(&[4, 5], 3)],
        )
        .unwrap();
        // Hand value: logits [0, ln 3] target 1 -> -ln(3/4).
        let tape = Tape::<f64>::new();
        let z = tape.leaf(Tensor::new([1, 2], vec![0.0, 3f64.ln()]).unwrap());
        let l = cross_entropy(&z, &[1], None).unwrap().item().unwrap();
        assert!((l + (0.75f64).ln()).abs() < 1e-12);
    }

    #[test]
    fn gumbel_softmax_gradients_for_fixed_and_learned_temperatures() {
        for temp_case in 0..4 {
            gradcheck(
                |t, v| {
                    let temp = match temp_case {
                        0 => Temp::Tau(0.7),
                        1 => Temp::Beta(1.3),
                        2 => Temp::LearnedTau(v[2].add_scalar(1.5)?),
                        _ => Temp::LearnedBeta(v[2].add_scalar(1.5)?),
                    };
                    let _ = t;
                    gumbel_softmax(&v[0], temp, false, 7, 0)?
                        .y
                        .mul(&v[1])?
                        .sum()
                },
                &[rand(&[3, 5], 4), rand(&[3, 5], 5), rand(&[1], 6)],
            )
            .unwrap();
        }
    }

    #[test]
    fn straight_through_forwards_the_argmax_one_hot() {
        let tape = Tape::<f64>::new();
        let z = tape.leaf(rand(&[4, 6], 8));
        let out = gumbel_softmax(&z, Temp::Tau(0.5), true, 3, 1).unwrap();
        let y = out.y.value().unwrap();
        for r in 0..4 {
            let soft = out.soft.value().unwrap();
            let argmax = (0..6)
                .max_by(|&a, &b| soft.row(r)[a].total_cmp(&soft.row(r)[b]))
                .unwrap();
            assert_eq!(out.index[r], argmax);
            for c in 0..6 {
                assert_eq!(y.row(r)[c], if c == argmax { 1.0 } else { 0.0 });
            }
        }
    }

    #[test]
    fn lstm_sequence_matches_step_by_step() {
        // The LSTM is composed of gradchecked autograd ops; check that the sequence form
        // (one input matmul for all steps) equals stepping one step at a time.
        let mut params = ParamStore::<f32>::new();
        let mut r = crate::train::rng::stream(1, crate::train::rng::Purpose::Init, 0);
        let lstm = Lstm::new(&mut params, "lstm", 3, 4, &mut r).unwrap();
        let tape = Tape::<f32>::new();
        let x = tape.constant(Tensor::from_fn([3 * 2, 3], |i| (i as f32 * 0.37).sin()));
        let seq = lstm
            .forward_sequence(&params, &tape, &x, 2)
            .unwrap()
            .value()
            .unwrap();
        let mut state = None;
        for t in 0..3 {
            let s = lstm
                .step(
                    &params,
                    &tape,
                    &x.slice(0, 2 * t, 2 * t + 2).unwrap(),
                    state.as_ref(),
                )
                .unwrap();
            let h = s.h.value().unwrap();
            for (a, b) in h.as_slice().iter().zip(&seq.as_slice()[t * 8..(t + 1) * 8]) {
                assert!((a - b).abs() < 1e-6);
            }
            state = Some(s);
        }
    }
}
