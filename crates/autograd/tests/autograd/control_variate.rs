//! REBAR and RELAX (`gumbel_autograd::estimators::{rebar, ControlVariateDraw}`): unbiased
//! against enumeration (categorical and Bernoulli, one and two variables), biased when the
//! control variate's conditional sample is left out (the check must catch it), conditional
//! samples with the law they claim, the variance objective's gradient against central
//! differences, and a learned surrogate that lowers the variance below REBAR's.
//!
//! As in `estimators.rs`, each row of a batch is an independent sample of the same variable,
//! so one backward pass gives one estimate per row; their mean is compared with the exact
//! gradient in standard errors (4-SE band, fixed seeds).

use approx::assert_relative_eq;
use gumbel_autograd::estimators::{
    ControlVariateDraw, ControlVariateEstimate, Family, control_variate_draw,
    control_variate_draw_with_noise, rebar,
};
use gumbel_autograd::optim::{Adam, Optimizer};
use gumbel_autograd::tensor::Tensor;
use gumbel_autograd::tensor::ops::gumbel::{GumbelRng, uniform_noise};
use gumbel_autograd::{CreateGraph, ParamId, ParamStore, Result, Tape, Var};

use crate::estimators::{Coupled, Toy, mean_se, worst_z};

/// `sum_c w_c (y_c - t_c)^2` for each row of `y` (a one-hot sample or a relaxed one).
fn toy_objective<'t>(toy: &Toy, y: &Var<'t, f64>) -> Result<Var<'t, f64>> {
    let tape = y.tape();
    let w = tape.constant(Tensor::new([toy.k()], toy.w.clone())?);
    let t = tape.constant(Tensor::new([toy.k()], toy.t.clone())?);
    let d = y.sub(&t)?;
    d.mul(&d)?.mul(&w)?.sum_axis(1)
}

/// A fixed small network `tanh(y W1^T + b1) W2^T + b2` (`hidden` units), weights from a
/// formula: a RELAX surrogate that is not trained (unbiasedness holds for any `c`).
fn fixed_surrogate<'t>(y: &Var<'t, f64>, hidden: usize) -> Result<Var<'t, f64>> {
    let tape = y.tape();
    let inputs = y.shape()?[1];
    let h = |i: usize, m: usize| ((i * 7919 + m * 104_729) % 997) as f64 / 997.0 - 0.5;
    let w1 = tape.constant(Tensor::from_fn([hidden, inputs], |i| 2.0 * h(i, 1)));
    let b1 = tape.constant(Tensor::from_fn([hidden], |i| h(i, 2)));
    let w2 = tape.constant(Tensor::from_fn([1, hidden], |i| h(i, 3)));
    let b2 = tape.constant(Tensor::from_fn([1], |i| h(i, 4)));
    y.linear(&w1, Some(&b1))?
        .tanh()?
        .linear(&w2, Some(&b2))?
        .reshape([y.shape()?[0]])
}

/// Pins a closure's argument and result to one tape lifetime (closures do not infer it).
fn typed<'t, F: Fn(&Var<'t, f64>) -> Result<Var<'t, f64>>>(f: F) -> F {
    f
}

/// Which control variate an estimate uses.
#[derive(Clone, Copy, Debug)]
enum Control {
    /// REBAR, `c(z) = eta f(relaxed(z, lambda))`.
    Rebar { eta: f64, lambda: f64 },
    /// RELAX with REBAR's term plus a fixed network on the relaxation.
    Relax { lambda: f64 },
    /// REBAR's `c`, but `c(z)` where `c(z~)` belongs: a baseline that sees the sample.
    WrongRebar { eta: f64, lambda: f64 },
}

/// The estimate for `draw`, with objective `objective` (per group of rows) and control
/// `control`.
fn estimate<'t>(
    draw: &ControlVariateDraw<'t, f64>,
    f: &Var<'t, f64>,
    objective: &dyn Fn(&Var<'t, f64>) -> Result<Var<'t, f64>>,
    control: Control,
) -> Result<ControlVariateEstimate<'t, f64>> {
    let tape = draw.value.tape();
    let scalar = |x: f64| tape.constant(Tensor::new([1], vec![x]).unwrap());
    match control {
        Control::Rebar { eta, lambda } => rebar(draw, f, objective, &scalar(eta), &scalar(lambda)),
        Control::Relax { lambda } => {
            let lam = scalar(lambda);
            let c = |z: &Var<'t, f64>| -> Result<Var<'t, f64>> {
                let y = draw.relaxed(z, &lam)?;
                let groups = f.value()?.numel();
                let flat = y.reshape([groups, y.value()?.numel() / groups])?;
                objective(&y)?.add(&fixed_surrogate(&flat, 5)?)
            };
            draw.estimate(f, &c(&draw.z)?, &c(&draw.z_tilde)?)
        }
        Control::WrongRebar { eta, lambda } => {
            let (eta, lam) = (scalar(eta), scalar(lambda));
            let c = |z: &Var<'t, f64>| objective(&draw.relaxed(z, &lam)?)?.mul(&eta);
            let cz = c(&draw.z)?;
            draw.estimate(f, &cz, &cz)
        }
    }
}

/// `n` per-row estimates on the categorical toy, checking on the way that the gradient the
/// logits receive from `loss` is `gradient`'s value and that `loss` is `sum f`.
fn categorical_estimates(toy: &Toy, n: usize, control: Control, seed: u64) -> Vec<Vec<f64>> {
    let k = toy.k();
    let tape = Tape::<f64>::new();
    let logits = tape.leaf(Tensor::from_fn([n, k], |i| toy.l[i % k]));
    let draw =
        control_variate_draw(&logits, Family::Categorical, &mut GumbelRng::new(seed)).unwrap();
    let f = toy_objective(toy, &draw.value).unwrap();
    let est = estimate(&draw, &f, &|y| toy_objective(toy, y), control).unwrap();
    let sum_f: f64 = f.value().unwrap().as_slice().iter().sum();
    // the same sum in another order (the tensor crate's sum runs in SIMD lanes)
    assert_relative_eq!(est.loss.item().unwrap(), sum_f, max_relative = 1e-12);
    let g_hat = est.gradient.value().unwrap();
    let grads = tape.backward(est.loss).unwrap();
    let g = grads.get(logits).unwrap();
    assert_eq!(g.as_slice(), g_hat.as_slice());
    (0..n).map(|r| g.row(r).to_vec()).collect()
}

#[test]
fn rebar_and_relax_match_enumeration_on_categorical_toys() {
    for (k, salt) in [(3, 1), (5, 2), (10, 3)] {
        let toy = Toy::new(k, salt);
        let exact = toy.exact();
        for control in [
            Control::Rebar {
                eta: 1.0,
                lambda: 0.5,
            },
            Control::Rebar {
                eta: 0.7,
                lambda: 2.0,
            },
            Control::Relax { lambda: 1.0 },
        ] {
            let rows = categorical_estimates(&toy, 20_000, control, 40 + k as u64);
            let z = worst_z(&rows, &exact);
            assert!(z < 4.0, "k = {k}, {control:?}: {z:.2} SE");
        }
    }
}

/// The same draws with `c(z)` in place of `c(z~)`: the weight of the score term then depends
/// on the sample, and the estimate is off by many standard errors; REBAR on the same draws
/// passes.
#[test]
fn a_control_variate_without_the_conditional_sample_fails_the_check() {
    let toy = Toy::new(5, 2);
    let exact = toy.exact();
    let (eta, lambda) = (1.0, 0.5);
    let good = categorical_estimates(&toy, 20_000, Control::Rebar { eta, lambda }, 9);
    let wrong = categorical_estimates(&toy, 20_000, Control::WrongRebar { eta, lambda }, 9);
    let (zg, zw) = (worst_z(&good, &exact), worst_z(&wrong, &exact));
    assert!(zg < 4.0, "REBAR: {zg:.2} SE");
    assert!(zw > 10.0, "c(z) for c(z~) was not caught: {zw:.2} SE");
}

/// Two categorical variables scored together, `f(D1, D2) = f1(D1) + f2(D2) + D1^T A D2`:
/// rows `2i` and `2i + 1` form one group (one `f`, one `c` per pair), and REBAR's `c` is `f`
/// on the two relaxations.
#[test]
fn rebar_on_two_coupled_categorical_variables_matches_enumeration() {
    for k in [3, 4] {
        let toys = Coupled::new(k);
        let (a, b) = (&toys.a, &toys.b);
        let pairs = 20_000;
        let tape = Tape::<f64>::new();
        let logits = tape.leaf(toys.logits(pairs));
        let matrix = tape.constant(Tensor::from_fn([k, k], |i| Coupled::coupling(i / k, i % k)));
        // f on [2 pairs, k] points (one-hot or relaxed): rows 2i and 2i + 1 are D1 and D2
        let objective = typed(|y| {
            let both = y.reshape([pairs, 2 * k])?;
            let (y1, y2) = (both.slice(1, 0, k)?, both.slice(1, k, 2 * k)?);
            toy_objective(a, &y1)?
                .add(&toy_objective(b, &y2)?)?
                .add(&y1.matmul(&matrix)?.mul(&y2)?.sum_axis(1)?)
        });
        let draw =
            control_variate_draw(&logits, Family::Categorical, &mut GumbelRng::new(3)).unwrap();
        let fv = objective(&draw.value).unwrap();
        let eta = tape.constant(Tensor::new([1], vec![1.0]).unwrap());
        let lambda = tape.constant(Tensor::new([1], vec![0.5]).unwrap());
        let est = rebar(&draw, &fv, objective, &eta, &lambda).unwrap();
        let grads = tape.backward(est.loss).unwrap();
        let (za, zb) = toys.worst_z(grads.get(logits).unwrap());
        assert!(za < 4.0 && zb < 4.0, "k = {k}: {za:.2}, {zb:.2} SE");
    }
}

/// The Bernoulli toy: three latents with logits `l`, `f(b) = (a . b - t)^2` (not separable),
/// exact gradient `sum_b P(b) f(b) (b_d - sigmoid(l_d))` over the 8 configurations.
pub(crate) struct BernoulliToy {
    pub(crate) l: [f64; 3],
    a: [f64; 3],
    t: f64,
}

impl BernoulliToy {
    pub(crate) const TOY: BernoulliToy = BernoulliToy {
        l: [0.3, -0.8, 1.1],
        a: [1.0, -0.6, 0.8],
        t: 0.45,
    };

    fn f(&self, b: [f64; 3]) -> f64 {
        (b.iter().zip(&self.a).map(|(x, a)| x * a).sum::<f64>() - self.t).powi(2)
    }

    pub(crate) fn exact(&self) -> Vec<f64> {
        let s: Vec<f64> = self.l.iter().map(|x| 1.0 / (1.0 + (-x).exp())).collect();
        let mut g = vec![0.0; 3];
        for m in 0..8 {
            let b = [0, 1, 2].map(|d| ((m >> d) & 1) as f64);
            let p: f64 = (0..3)
                .map(|d| if b[d] > 0.5 { s[d] } else { 1.0 - s[d] })
                .product();
            for d in 0..3 {
                g[d] += p * self.f(b) * (b[d] - s[d]);
            }
        }
        g
    }

    /// `f` on `[n, 3]` points, one value per row.
    pub(crate) fn objective<'t>(&self, y: &Var<'t, f64>) -> Result<Var<'t, f64>> {
        let a = y.tape().constant(Tensor::new([3], self.a.to_vec())?);
        let s = y.mul(&a)?.sum_axis(1)?.add_scalar(-self.t)?;
        s.mul(&s)
    }
}

fn bernoulli_estimates(n: usize, control: Control, seed: u64) -> Vec<Vec<f64>> {
    let toy = BernoulliToy::TOY;
    let tape = Tape::<f64>::new();
    let logits = tape.leaf(Tensor::from_fn([n, 3], |i| toy.l[i % 3]));
    let draw = control_variate_draw(&logits, Family::Bernoulli, &mut GumbelRng::new(seed)).unwrap();
    let f = toy.objective(&draw.value).unwrap();
    let est = estimate(&draw, &f, &|y| toy.objective(y), control).unwrap();
    let grads = tape.backward(est.loss).unwrap();
    let g = grads.get(logits).unwrap();
    (0..n).map(|r| g.row(r).to_vec()).collect()
}

#[test]
fn rebar_and_relax_match_enumeration_on_a_bernoulli_toy() {
    let exact = BernoulliToy::TOY.exact();
    for control in [
        Control::Rebar {
            eta: 1.0,
            lambda: 0.5,
        },
        Control::Rebar {
            eta: 1.3,
            lambda: 1.65,
        },
        Control::Relax { lambda: 0.8 },
    ] {
        let rows = bernoulli_estimates(20_000, control, 21);
        let z = worst_z(&rows, &exact);
        assert!(z < 4.0, "{control:?}: {z:.2} SE");
    }
    let wrong = bernoulli_estimates(
        20_000,
        Control::WrongRebar {
            eta: 1.0,
            lambda: 0.5,
        },
        21,
    );
    let z = worst_z(&wrong, &exact);
    assert!(z > 10.0, "c(z) for c(z~) was not caught: {z:.2} SE");
}

/// The conditional samples: `H(z~) = b` always, and since `b ~ p(b)` and `z~ ~ p(z | b)`,
/// `z~` has the law of `z` (categorical: `ln p_i` plus a standard Gumbel, mean
/// `ln p_i + 0.5772..`, variance `pi^2/6`; Bernoulli: logistic of location `l`, mean `l`,
/// variance `pi^2/3`): each mean within 4 SE, each variance within 5%.
#[test]
fn conditional_samples_keep_the_sample_and_have_the_marginal_law() {
    let n = 40_000;
    let euler = 0.577_215_664_901_532_9;
    let pi2 = std::f64::consts::PI.powi(2);
    // categorical
    let toy = Toy::new(4, 5);
    let log_p: Vec<f64> = toy.pi().iter().map(|p| p.ln()).collect();
    let tape = Tape::<f64>::new();
    let logits = tape.leaf(Tensor::from_fn([n, 4], |i| toy.l[i % 4]));
    let draw = control_variate_draw(&logits, Family::Categorical, &mut GumbelRng::new(8)).unwrap();
    let (b, zt) = (draw.value.value().unwrap(), draw.z_tilde.value().unwrap());
    for r in 0..n {
        let row = zt.row(r);
        let arg = (0..4).fold(0, |m, c| if row[c] > row[m] { c } else { m });
        assert_eq!(
            b.row(r)[arg],
            1.0,
            "row {r}: z~ = {row:?}, b = {:?}",
            b.row(r)
        );
    }
    let rows: Vec<Vec<f64>> = (0..n).map(|r| zt.row(r).to_vec()).collect();
    let (mean, se) = mean_se(&rows);
    for c in 0..4 {
        let want = log_p[c] + euler;
        assert!(
            (mean[c] - want).abs() < 4.0 * se[c],
            "class {c}: {} vs {want}",
            mean[c]
        );
        let var = se[c].powi(2) * n as f64;
        assert_relative_eq!(var, pi2 / 6.0, max_relative = 0.05);
    }
    // Bernoulli
    let l = [0.7, -1.5];
    let logits = tape.leaf(Tensor::from_fn([n, 2], |i| l[i % 2]));
    let draw = control_variate_draw(&logits, Family::Bernoulli, &mut GumbelRng::new(9)).unwrap();
    let (b, zt) = (draw.value.value().unwrap(), draw.z_tilde.value().unwrap());
    for (i, (&bi, &z)) in b.as_slice().iter().zip(zt.as_slice()).enumerate() {
        assert_eq!(bi, if z > 0.0 { 1.0 } else { 0.0 }, "element {i}: z~ = {z}");
    }
    let rows: Vec<Vec<f64>> = (0..n).map(|r| zt.row(r).to_vec()).collect();
    let (mean, se) = mean_se(&rows);
    for d in 0..2 {
        assert!(
            (mean[d] - l[d]).abs() < 4.0 * se[d],
            "latent {d}: {}",
            mean[d]
        );
        let var = se[d].powi(2) * n as f64;
        assert_relative_eq!(var, pi2 / 3.0, max_relative = 0.05);
    }
}

/// REBAR on fixed noise with `eta` and `lambda` as leaves: the gradient of `variance` in
/// them (a derivative of a derivative) against central differences of `variance` itself.
#[test]
fn the_variance_gradient_matches_central_differences() {
    let toy = Toy::new(4, 7);
    let n = 6;
    let u = uniform_noise::<f64>(&[n, 4], &mut GumbelRng::new(1));
    let v = uniform_noise::<f64>(&[n, 4], &mut GumbelRng::new(2));
    let ub = uniform_noise::<f64>(&[n, 3], &mut GumbelRng::new(3));
    let vb = uniform_noise::<f64>(&[n, 3], &mut GumbelRng::new(4));
    let btoy = BernoulliToy::TOY;
    // (variance, d variance / d eta, d variance / d lambda) at (eta, lambda)
    let run = |family: Family, eta: f64, lambda: f64| -> (f64, f64, f64) {
        let tape = Tape::<f64>::new();
        let (logits, u, v) = match family {
            Family::Categorical => (tape.leaf(Tensor::from_fn([n, 4], |i| toy.l[i % 4])), &u, &v),
            Family::Bernoulli => (
                tape.leaf(Tensor::from_fn([n, 3], |i| btoy.l[i % 3])),
                &ub,
                &vb,
            ),
        };
        let draw = control_variate_draw_with_noise(&logits, family, u, v).unwrap();
        let objective = typed(|y| match family {
            Family::Categorical => toy_objective(&toy, y),
            Family::Bernoulli => btoy.objective(y),
        });
        let f = objective(&draw.value).unwrap();
        let e = tape.leaf(Tensor::new([1], vec![eta]).unwrap());
        let lam = tape.leaf(Tensor::new([1], vec![lambda]).unwrap());
        let est = rebar(&draw, &f, objective, &e, &lam).unwrap();
        let d = tape.grad(est.variance, &[e, lam], CreateGraph::No).unwrap();
        let item = |x: Option<Var<'_, f64>>| x.unwrap().item().unwrap();
        (est.variance.item().unwrap(), item(d[0]), item(d[1]))
    };
    for family in [Family::Categorical, Family::Bernoulli] {
        let (eta, lambda, h) = (0.8, 0.6, 1e-5);
        let (_, de, dl) = run(family, eta, lambda);
        let fd_e = (run(family, eta + h, lambda).0 - run(family, eta - h, lambda).0) / (2.0 * h);
        let fd_l = (run(family, eta, lambda + h).0 - run(family, eta, lambda - h).0) / (2.0 * h);
        assert_relative_eq!(de, fd_e, max_relative = 1e-6);
        assert_relative_eq!(dl, fd_l, max_relative = 1e-6);
        assert!(de.abs() > 1e-4 && dl.abs() > 1e-4, "{family:?}: {de}, {dl}");
    }
}

#[test]
fn bad_inputs_are_named() {
    let tape = Tape::<f64>::new();
    let mut rng = GumbelRng::new(1);
    let logits = tape.leaf(Tensor::new([2, 2], vec![0.0, f64::NAN, 1.0, 0.0]).unwrap());
    let err = control_variate_draw(&logits, Family::Categorical, &mut rng).unwrap_err();
    assert!(err.to_string().contains("finite logits"), "{err}");
    let masked = tape.leaf(Tensor::new([1, 2], vec![0.0, f64::NEG_INFINITY]).unwrap());
    let err = control_variate_draw(&masked, Family::Categorical, &mut rng).unwrap_err();
    assert!(err.to_string().contains("finite logits"), "{err}");
    let vector = tape.leaf(Tensor::new([3], vec![0.0, 1.0, 2.0]).unwrap());
    let err = control_variate_draw(&vector, Family::Categorical, &mut rng).unwrap_err();
    assert!(err.to_string().contains("[rows, classes]"), "{err}");
    assert!(control_variate_draw(&vector, Family::Bernoulli, &mut rng).is_ok());

    let logits = tape.leaf(Tensor::new([2, 2], vec![0.0, 1.0, 1.0, 0.0]).unwrap());
    let half = Tensor::full([2, 2], 0.5);
    let err = control_variate_draw_with_noise(
        &logits,
        Family::Bernoulli,
        &half,
        &Tensor::full([2, 2], 1.0),
    )
    .unwrap_err();
    assert!(err.to_string().contains("strictly inside (0, 1)"), "{err}");
    let err =
        control_variate_draw_with_noise(&logits, Family::Bernoulli, &Tensor::full([4], 0.5), &half)
            .unwrap_err();
    assert!(err.to_string().contains("[2, 2]"), "{err}");
    // a conditional sample that overflows f32
    let big = Tape::<f32>::new();
    let huge = big.leaf(Tensor::new([1, 1], vec![100.0f32]).unwrap());
    let (u, v) = (Tensor::full([1, 1], 0.5f32), Tensor::full([1, 1], 0.5f32));
    let err = control_variate_draw_with_noise(&huge, Family::Bernoulli, &u, &v).unwrap_err();
    assert!(err.to_string().contains("too large"), "{err}");

    // f and c with a count that does not fit the rows, and a NaN objective
    let draw = control_variate_draw(&logits, Family::Categorical, &mut rng).unwrap();
    let three = tape.constant(Tensor::new([3], vec![1.0, 2.0, 3.0]).unwrap());
    let two = tape.constant(Tensor::new([2], vec![1.0, 2.0]).unwrap());
    let err = draw.estimate(&three, &three, &three).unwrap_err();
    assert!(err.to_string().contains("one value per group"), "{err}");
    let err = draw.estimate(&two, &three, &two).unwrap_err();
    assert!(err.to_string().contains("c(z) 3"), "{err}");
    let nan = tape.constant(Tensor::new([2], vec![1.0, f64::NAN]).unwrap());
    let err = draw.estimate(&nan, &two, &two).unwrap_err();
    assert!(err.to_string().contains("objective of sample 1"), "{err}");
    let wide = tape.constant(Tensor::new([2], vec![1.0, 1.0]).unwrap());
    let err = draw.relaxed(&draw.z, &wide).unwrap_err();
    assert!(err.to_string().contains("one element"), "{err}");
}

/// The parameters of the toy's control variates.
struct ToyParams {
    store: ParamStore<f64>,
    w1: ParamId,
    b1: ParamId,
    w2: ParamId,
    b2: ParamId,
    log_lambda: ParamId,
    eta: ParamId,
}

/// The authors' `QFunc` (`pytorch_toy.py`) at relaxed points `y` (`[n, latents]`):
/// `W2 tanh(W1 (2y - 1) + b1) + b2`, one value per row; `[W1, b1, W2, b2]` in PyTorch's
/// `nn.Linear` layout.
fn qfunc<'t>(y: &Var<'t, f64>, [w1, b1, w2, b2]: [&Var<'t, f64>; 4]) -> Result<Var<'t, f64>> {
    y.scale(2.0)?
        .add_scalar(-1.0)?
        .linear(w1, Some(b1))?
        .tanh()?
        .linear(w2, Some(b2))?
        .reshape([y.shape()?[0]])
}

/// REBAR's `eta f(y)` or RELAX's network ([`qfunc`]) at a relaxed point `y` (`[n, 1]`), one
/// value per row.
#[derive(Clone, Copy)]
enum ToyControl {
    Rebar,
    Relax,
}

fn toy_control<'t>(kind: ToyControl, p: &ToyParams, y: &Var<'t, f64>) -> Result<Var<'t, f64>> {
    let tape = y.tape();
    let var = |id| p.store.var(tape, id);
    match kind {
        ToyControl::Rebar => relax_toy_objective(y)?.mul(&var(p.eta)?),
        ToyControl::Relax => qfunc(y, [&var(p.w1)?, &var(p.b1)?, &var(p.w2)?, &var(p.b2)?]),
    }
}

/// `(b - 0.45)^2` per row of `[n, 1]`.
fn relax_toy_objective<'t>(y: &Var<'t, f64>) -> Result<Var<'t, f64>> {
    let d = y.add_scalar(-0.45)?;
    d.mul(&d)?.reshape([y.shape()?[0]])
}

/// One estimate per row of `[n, 1]` zero logits on RELAX's Bernoulli toy (`f(b) = (b -
/// 0.45)^2`) with the control variate `kind`.
fn toy_estimate<'t>(
    tape: &'t Tape<f64>,
    kind: ToyControl,
    p: &ToyParams,
    n: usize,
    rng: &mut GumbelRng,
) -> ControlVariateEstimate<'t, f64> {
    let logits = tape.leaf(Tensor::zeros([n, 1]));
    let draw = control_variate_draw(&logits, Family::Bernoulli, rng).unwrap();
    let f = relax_toy_objective(&draw.value).unwrap();
    let lambda = p.store.var(tape, p.log_lambda).unwrap().exp().unwrap();
    let c = |z| toy_control(kind, p, &draw.relaxed(z, &lambda).unwrap()).unwrap();
    draw.estimate(&f, &c(&draw.z), &c(&draw.z_tilde)).unwrap()
}

/// The variance of the estimate over `n` fresh rows.
fn toy_variance(kind: ToyControl, p: &ToyParams, n: usize, seed: u64) -> f64 {
    let tape = Tape::<f64>::new();
    let est = toy_estimate(&tape, kind, p, n, &mut GumbelRng::new(seed));
    let g = est.gradient.value().unwrap();
    let rows: Vec<Vec<f64>> = g.as_slice().iter().map(|&x| vec![x]).collect();
    let (_, se) = mean_se(&rows);
    se[0].powi(2) * n as f64
}

/// 1,500 Adam steps (learning rate 0.01, 32 rows each) on the variance objective `sum g^2`.
fn train_toy_control(kind: ToyControl, p: &mut ToyParams) {
    let mut adam = Adam::new(0.01);
    let mut rng = GumbelRng::new(77);
    for _ in 0..1500 {
        let tape = Tape::<f64>::new();
        let est = toy_estimate(&tape, kind, p, 32, &mut rng);
        let mut grads = tape.backward(est.variance).unwrap();
        p.store.accumulate(&mut grads).unwrap();
        adam.step(&mut p.store).unwrap();
        p.store.zero_grad();
    }
}

/// RELAX's toy (Grathwohl et al. 2018, section 6.1; the authors' `pytorch_toy.py`): a
/// surrogate network on the relaxation `y = sigmoid(z / lambda)`, trained with Adam on the
/// estimator's variance at a fixed logit, ends with a variance below a tenth of that of REBAR's
/// control variate with `eta` and `lambda` trained the same way, which is itself below
/// REBAR's at the authors' initial `eta = 1, lambda = e^0.5`.
#[test]
fn a_learned_relax_surrogate_lowers_the_variance_below_rebars() {
    let mut store = ParamStore::<f64>::new();
    let h = |i: usize, m: usize| ((i * 7919 + m * 104_729) % 997) as f64 / 997.0 - 0.5;
    let mut p = ToyParams {
        w1: store
            .add("w1", Tensor::from_fn([10, 1], |i| h(i, 1)))
            .unwrap(),
        b1: store.add("b1", Tensor::from_fn([10], |i| h(i, 2))).unwrap(),
        w2: store
            .add("w2", Tensor::from_fn([1, 10], |i| 0.3 * h(i, 3)))
            .unwrap(),
        b2: store.add("b2", Tensor::zeros([1])).unwrap(),
        log_lambda: store.add("log_lambda", Tensor::full([1], 0.5)).unwrap(),
        eta: store.add("eta", Tensor::full([1], 1.0)).unwrap(),
        store,
    };
    let n = 40_000;
    let rebar_fixed = toy_variance(ToyControl::Rebar, &p, n, 5);
    // REBAR's eta and lambda first (the network gets no gradient), then lambda back to its
    // start and the network with lambda for RELAX
    train_toy_control(ToyControl::Rebar, &mut p);
    let rebar_tuned = toy_variance(ToyControl::Rebar, &p, n, 5);
    p.store.set(p.log_lambda, Tensor::full([1], 0.5)).unwrap();
    train_toy_control(ToyControl::Relax, &mut p);
    let relax = toy_variance(ToyControl::Relax, &p, n, 5);
    eprintln!(
        "variance: REBAR fixed {rebar_fixed:.3e}, REBAR tuned {rebar_tuned:.3e}, RELAX {relax:.3e}"
    );
    assert!(
        relax < 0.1 * rebar_tuned && rebar_tuned < rebar_fixed,
        "RELAX {relax}, REBAR tuned {rebar_tuned}, fixed {rebar_fixed}"
    );
}

/// REBAR and RELAX against the authors' PyTorch code (`pytorch_toy.py` of
/// github.com/duvenaud/relax at 4f3932e, its `rebar` and `relax` functions run unchanged in
/// float64, PyTorch 2.15) on fixed logits, noise and parameters: one sample (batch 1) of 3
/// Bernoulli latents, `f(b) = mean_d (b_d - 0.45)^2`, `eta = 0.9`, `lambda = e^-0.3`, and a
/// `QFunc` (3 -> 10 -> 1, tanh, input `2y - 1`) with weights from the formula `h` below.
/// The authors give every latent its own `eta` and temperature (set equal here), so the
/// derivative in our one shared value is the sum of theirs; their variance objective is the
/// mean of `g^2` over the 3 latents, ours the sum (a factor 3). The script:
///
/// ```python
/// import sys, torch
/// sys.path.insert(0, "<folder of pytorch_toy.py>")
/// import pytorch_toy as pt
/// torch.set_default_dtype(torch.float64)
/// D = 3
/// cases = [
///     ([0.3, -0.8, 1.1], [0.62, 0.15, 0.47], [0.33, 0.81, 0.09]),
///     ([-0.4, 0.9, 0.0], [0.05, 0.55, 0.93], [0.71, 0.28, 0.5]),
/// ]
/// h = lambda i, m: ((i * 7919 + m * 104729) % 997) / 997.0 - 0.5
/// for logits0, u0, v0 in cases:
///     target = torch.full((1, D), 0.45)
///     u = torch.tensor([u0]); v = torch.tensor([v0])
///     for est in ["rebar", "relax"]:
///         logits = torch.tensor(logits0, requires_grad=True)
///         eta = torch.full((D,), 0.9, requires_grad=True)
///         log_temp = torch.full((D,), -0.3, requires_grad=True)
///         q = pt.QFunc(D)
///         with torch.no_grad():
///             q.h1.weight.copy_(torch.tensor([[h(r * D + c, 1) for c in range(D)] for r in range(10)]))
///             q.h1.bias.copy_(torch.tensor([h(r, 2) for r in range(10)]))
///             q.out.weight.copy_(torch.tensor([[h(c, 3) for c in range(10)]]))
///             q.out.bias.copy_(torch.tensor([h(0, 4)]))
///         z = logits + torch.log(u) - torch.log1p(-u)
///         b = z.gt(0.).type_as(z)
///         f_b = pt.loss_func(b, target)
///         fn = pt.rebar if est == "rebar" else pt.relax
///         d = fn(f_b=f_b, b=b, u=u, v=v, z=z, target=target, logits=logits,
///                log_temp=log_temp, eta=eta, q_func=q)
///         print(est, "d_logits", [repr(x) for x in d[0].tolist()])
///         print(est, "dvar/dlog_temp", [repr(x) for x in log_temp.grad.tolist()])
///         if est == "rebar":
///             print(est, "dvar/deta", [repr(x) for x in eta.grad.tolist()])
///         else:
///             print(est, "dvar/dh1.weight", [repr(x) for x in q.h1.weight.grad.flatten().tolist()][:6])
///             print(est, "dvar/dout.bias", [repr(x) for x in q.out.bias.grad.tolist()])
/// ```
#[test]
fn rebar_and_relax_match_the_authors_pytorch_toy() {
    struct Case {
        logits: [f64; 3],
        u: [f64; 3],
        v: [f64; 3],
        rebar_g: [f64; 3],
        rebar_dtemp: [f64; 3],
        rebar_deta: [f64; 3],
        relax_g: [f64; 3],
        relax_dtemp: [f64; 3],
        relax_dw1: [f64; 6],
        relax_db2: f64,
    }
    let cases = [
        Case {
            logits: [0.3, -0.8, 1.1],
            u: [0.62, 0.15, 0.47],
            v: [0.33, 0.81, 0.09],
            rebar_g: [
                0.12985881186679865,
                -0.07521180763002272,
                0.09686500202180409,
            ],
            rebar_dtemp: [
                -0.0007777542005638245,
                0.0025911264829940345,
                -0.0012253418587260664,
            ],
            rebar_deta: [
                0.0014729762522149028,
                -0.00045888829021715447,
                0.002126965094707573,
            ],
            relax_g: [
                -0.1022185614039279,
                0.027255662630486534,
                -0.09430729178736716,
            ],
            relax_dtemp: [
                0.0014813114020411212,
                -0.0057277841794052715,
                0.0027097129799601794,
            ],
            relax_dw1: [
                -0.0014523446040350515,
                0.005502656599819401,
                0.00040232421535642184,
                0.0013933808438108403,
                0.002658420922216834,
                0.005570954825195578,
            ],
            relax_db2: 0.050334745178668844,
        },
        Case {
            logits: [-0.4, 0.9, 0.0],
            u: [0.05, 0.55, 0.93],
            v: [0.71, 0.28, 0.5],
            rebar_g: [
                -0.07233912430373537,
                0.0812796909552189,
                0.09307969140155865,
            ],
            rebar_dtemp: [
                0.0025863120260342497,
                0.002043635031856216,
                0.005428944051239893,
            ],
            rebar_deta: [
                -0.0019119380866673746,
                0.00020933627022861473,
                -0.0028615897652225024,
            ],
            relax_g: [
                -0.0922002941706299,
                0.009179100211496038,
                0.17410177073603156,
            ],
            relax_dtemp: [
                0.00808856205579443,
                -0.015308571766984864,
                -0.0270044084229965,
            ],
            relax_dw1: [
                -0.015954429932219988,
                0.014281646977129353,
                0.021058160899520523,
                -0.017106415089394027,
                0.01621264395718263,
                0.02288946664586519,
            ],
            relax_db2: -0.08447014976102625,
        },
    ];
    let h = |i: usize, m: usize| ((i * 7919 + m * 104_729) % 997) as f64 / 997.0 - 0.5;
    let close = |ours: f64, theirs: f64| {
        assert_relative_eq!(ours, theirs, max_relative = 1e-10);
    };
    for case in &cases {
        for relax in [false, true] {
            let tape = Tape::<f64>::new();
            let logits = tape.leaf(Tensor::new([1, 3], case.logits.to_vec()).unwrap());
            let (u, v) = (
                Tensor::new([1, 3], case.u.to_vec()).unwrap(),
                Tensor::new([1, 3], case.v.to_vec()).unwrap(),
            );
            let draw = control_variate_draw_with_noise(&logits, Family::Bernoulli, &u, &v).unwrap();
            // f = mean_d (y_d - 0.45)^2 per row
            let objective = typed(|y| {
                let d = y.add_scalar(-0.45)?;
                d.mul(&d)?.mean_axis(1)
            });
            let f = objective(&draw.value).unwrap();
            let log_temp = tape.leaf(Tensor::new([1], vec![-0.3]).unwrap());
            let lambda = log_temp.exp().unwrap();
            let eta = tape.leaf(Tensor::new([1], vec![0.9]).unwrap());
            let w1 = tape.leaf(Tensor::from_fn([10, 3], |i| h(i, 1)));
            let b1 = tape.leaf(Tensor::from_fn([10], |i| h(i, 2)));
            let w2 = tape.leaf(Tensor::from_fn([1, 10], |i| h(i, 3)));
            let b2 = tape.leaf(Tensor::new([1], vec![h(0, 4)]).unwrap());
            let est = if relax {
                let q = |z| qfunc(&draw.relaxed(z, &lambda)?, [&w1, &b1, &w2, &b2]);
                draw.estimate(&f, &q(&draw.z).unwrap(), &q(&draw.z_tilde).unwrap())
                    .unwrap()
            } else {
                rebar(&draw, &f, objective, &eta, &lambda).unwrap()
            };
            let g = est.gradient.value().unwrap();
            let d = tape
                .grad(est.variance, &[log_temp, eta, w1, b2], CreateGraph::No)
                .unwrap();
            let item = |i: usize| d[i].unwrap().item().unwrap();
            let (want_g, want_dtemp) = if relax {
                (case.relax_g, case.relax_dtemp)
            } else {
                (case.rebar_g, case.rebar_dtemp)
            };
            for (ours, theirs) in g.as_slice().iter().zip(want_g) {
                close(*ours, theirs);
            }
            close(item(0), 3.0 * want_dtemp.iter().sum::<f64>());
            if relax {
                let dw1 = d[2].unwrap().value().unwrap();
                for (ours, theirs) in dw1.as_slice().iter().zip(case.relax_dw1) {
                    close(*ours, 3.0 * theirs);
                }
                close(item(3), 3.0 * case.relax_db2);
            } else {
                close(item(1), 3.0 * case.rebar_deta.iter().sum::<f64>());
            }
        }
    }
}
