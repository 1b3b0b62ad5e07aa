//! Higher-order gradients (`Tape::grad` with `CreateGraph::Yes`) through the public API:
//! closed forms (a cubic's Hessian-vector product and third derivative, softmax's Hessian
//! against the hand formula), a RELAX-shaped objective checked against finite differences,
//! the error for an op without a Var-level backward, and the tape after `grad` (still
//! usable, ordinary `backward` unchanged).
//!
//! Float comparisons: values here are O(1) and computed in f64 with a few roundings each
//! (the tensor crate's exp is a polynomial accurate to about 1 ulp), so a relative
//! tolerance of `1e-12` (with `1e-14` absolute near zero) leaves a margin of more than 1000x
//! over rounding while any wrong term of a formula would be off by O(0.1).

use approx::assert_relative_eq;
use gumbel_autograd::estimators::{
    Gap, gapped_straight_through_with_sample, reinmax_with_sample, straight_through_with_sample,
};
use gumbel_autograd::ops::gumbel::{GumbelTemp, Output, gumbel_softmax_with_noise};
use gumbel_autograd::tensor::Tensor;
use gumbel_autograd::tensor::ops::gumbel::{GumbelRng, Noise, Temperature, gumbel_noise};
use gumbel_autograd::{CreateGraph, GradcheckOptions, Tape, Var, gradcheck};

const REL: f64 = 1e-12;
const ABS: f64 = 1e-14;

fn t(shape: &[usize], v: &[f64]) -> Tensor<f64> {
    Tensor::new(shape, v.to_vec()).unwrap()
}

/// A deterministic tensor with entries in [lo, hi) (a fixed formula, no RNG needed).
fn fill(shape: &[usize], salt: u64, lo: f64, hi: f64) -> Tensor<f64> {
    let mut s = salt;
    Tensor::from_fn(shape, |_| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + (hi - lo) * ((s >> 11) as f64 / (1u64 << 53) as f64)
    })
}

fn close(a: &Tensor<f64>, b: &[f64]) {
    assert_eq!(a.numel(), b.len());
    for (x, y) in a.as_slice().iter().zip(b) {
        assert_relative_eq!(*x, *y, epsilon = ABS, max_relative = REL);
    }
}

/// f = sum(x^3): grad = 3 x^2, Hessian-vector product = 6 x v, and the third derivative
/// along u then v is 6 u v (each by one more `grad` on the same tape).
#[test]
fn cubic_hvp_and_third_derivative_closed_form() {
    let xt = fill(&[2, 3], 1, -1.5, 1.5);
    let (ut, vt) = (fill(&[2, 3], 2, -1.0, 1.0), fill(&[2, 3], 3, -1.0, 1.0));
    let tape = Tape::<f64>::new();
    let x = tape.leaf(xt.clone());
    let f = x.mul(&x).unwrap().mul(&x).unwrap().sum().unwrap();
    let g = tape.grad(f, &[x], CreateGraph::Yes).unwrap()[0].unwrap();
    let xs = xt.as_slice();
    let want_g: Vec<f64> = xs.iter().map(|x| 3.0 * x * x).collect();
    close(&g.value().unwrap(), &want_g);
    assert!(g.requires_grad());

    // H u = d/dx <u, g> = 6 x u
    let u = tape.constant(ut.clone());
    let gu = g.mul(&u).unwrap().sum().unwrap();
    let hu = tape.grad(gu, &[x], CreateGraph::Yes).unwrap()[0].unwrap();
    let want_hu: Vec<f64> = xs
        .iter()
        .zip(ut.as_slice())
        .map(|(x, u)| 6.0 * x * u)
        .collect();
    close(&hu.value().unwrap(), &want_hu);

    // d/dx <v, H u> = 6 u v (constant in x), by the ordinary backward (consumes the tape)
    let v = tape.constant(vt.clone());
    let huv = hu.mul(&v).unwrap().sum().unwrap();
    let grads = tape.backward(huv).unwrap();
    let want3: Vec<f64> = ut
        .as_slice()
        .iter()
        .zip(vt.as_slice())
        .map(|(u, v)| 6.0 * u * v)
        .collect();
    close(grads.get(x).unwrap(), &want3);
}

/// f = sum(exp(x)): every derivative is exp(x); three nested `grad`s and a `backward`.
#[test]
fn exp_derivatives_of_every_order() {
    let xt = fill(&[5], 4, -1.0, 1.0);
    let want: Vec<f64> = xt.as_slice().iter().map(|x| x.exp()).collect();
    let tape = Tape::<f64>::new();
    let x = tape.leaf(xt);
    let mut f = x.exp().unwrap().sum().unwrap();
    for _ in 0..3 {
        let g = tape.grad(f, &[x], CreateGraph::Yes).unwrap()[0].unwrap();
        close(&g.value().unwrap(), &want);
        f = g.sum().unwrap();
    }
    close(tape.backward(f).unwrap().get(x).unwrap(), &want);
}

/// The Hessian of f = <w, softmax(x)> on one 3-class row, against the hand formula
///
/// ```text
/// d^2 y_i / dx_j dx_k = y_i (delta_ik - y_k)(delta_ij - y_j) - y_i y_j (delta_jk - y_k)
/// H_jk = sum_i w_i d^2 y_i / dx_j dx_k
/// ```
/// Row j of H is `grad(<e_j, grad f>)`, three `grad` calls on one tape.
#[test]
fn softmax_hessian_matches_the_hand_formula() {
    let xv = [0.2, -0.5, 1.0];
    let wv = [0.3, -1.2, 0.7];
    let e: Vec<f64> = xv.iter().map(|x: &f64| x.exp()).collect();
    let z: f64 = e.iter().sum();
    let y: Vec<f64> = e.iter().map(|v| v / z).collect();
    let d = |a: usize, b: usize| if a == b { 1.0 } else { 0.0 };
    let h = |j: usize, k: usize| -> f64 {
        (0..3)
            .map(|i| {
                wv[i]
                    * (y[i] * (d(i, k) - y[k]) * (d(i, j) - y[j]) - y[i] * y[j] * (d(j, k) - y[k]))
            })
            .sum()
    };

    let tape = Tape::<f64>::new();
    let x = tape.leaf(t(&[1, 3], &xv));
    let w = tape.constant(t(&[3], &wv));
    let f = x.softmax().unwrap().mul(&w).unwrap().sum().unwrap();
    let g = tape.grad(f, &[x], CreateGraph::Yes).unwrap()[0].unwrap();
    for j in 0..3 {
        let ej = tape.constant(Tensor::from_fn([1, 3], |k| d(j, k)));
        let gj = g.mul(&ej).unwrap().sum().unwrap();
        let row = tape.grad(gj, &[x], CreateGraph::No).unwrap()[0].unwrap();
        assert!(!row.requires_grad(), "CreateGraph::No gives constants");
        let want: Vec<f64> = (0..3).map(|k| h(j, k)).collect();
        close(&row.value().unwrap(), &want);
    }
}

/// The RELAX-shaped objective: a surrogate `c_phi(y)`, `y = softmax((l + g) / tau)` with
/// fixed noise `g`, `c_phi` an MLP (`linear -> tanh -> linear`). Take `g_l = d c / d l`
/// with `CreateGraph::Yes`, form `L = sum(g_l^2)` (the single-sample variance objective's
/// shape), and check `dL / d(phi, tau)` by `backward` against central differences.
#[test]
fn relax_shaped_variance_objective_gradcheck_in_phi_and_tau() {
    let lt = fill(&[2, 4], 5, -0.5, 0.5);
    let noise = gumbel_noise::<f64>(&[2, 4], &mut GumbelRng::new(11));
    let phi = [
        fill(&[5, 4], 6, -0.8, 0.8), // W1
        fill(&[5], 7, -0.5, 0.5),    // b1
        fill(&[1, 5], 8, -0.8, 0.8), // W2
        t(&[1], &[2.0]),             // tau (high enough that y is not near one-hot)
    ];
    gradcheck(|tape, v| relax_objective(tape, v, &lt, &noise), &phi).unwrap();
    // The check is not vacuous: every part of phi, and tau, gets a non-zero gradient.
    let tape = Tape::<f64>::new();
    let vars: Vec<Var<'_, f64>> = phi.iter().map(|p| tape.leaf(p.clone())).collect();
    let loss = relax_objective(&tape, &vars, &lt, &noise).unwrap();
    let grads = tape.backward(loss).unwrap();
    for v in &vars {
        let g = grads.get(*v).unwrap();
        assert!(g.as_slice().iter().any(|x| x.abs() > 1e-3), "{g:?}");
    }
}

/// `sum(d c_phi / d l)^2` for the RELAX test (see there).
fn relax_objective<'t>(
    tape: &'t Tape<f64>,
    v: &[Var<'t, f64>],
    lt: &Tensor<f64>,
    noise: &Tensor<f64>,
) -> gumbel_autograd::Result<Var<'t, f64>> {
    let l = tape.leaf(lt.clone());
    let y = gumbel_softmax_with_noise(
        &l,
        Noise::Gumbel(noise),
        GumbelTemp::Tau(v[3]),
        Output::Soft,
    )?
    .y;
    let c = y
        .linear(&v[0], Some(&v[1]))?
        .tanh()?
        .linear(&v[2], None)?
        .sum()?;
    let gl = tape.grad(c, &[l], CreateGraph::Yes)?[0].expect("c depends on l");
    gl.mul(&gl)?.sum()
}

/// An op without a Var-level backward on the walk is an error naming it and the supported
/// ops, never a wrong answer; the tape stays usable. An op without one that is *not*
/// between `wrt` and the root does not matter.
#[test]
fn an_op_without_a_var_level_backward_is_a_named_error() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(fill(&[2, 3], 9, -1.0, 1.0));
    // cross_entropy: Tensor-level backward only
    let f = x.tanh().unwrap().cross_entropy(&[1, 2], None).unwrap();
    let msg = tape
        .grad(f, &[x], CreateGraph::Yes)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(
            "cross_entropy has no differentiable backward; higher-order gradients support: \
             add, sub,"
        ),
        "{msg}"
    );
    // also without creating a graph (the same Var-level backwards run, unrecorded)
    assert!(tape.grad(f, &[x], CreateGraph::No).is_err());

    // A custom op without one, beside the path from `w` to the root: not needed, no error.
    let w = tape.leaf(fill(&[3], 10, -1.0, 1.0));
    let xv = x.value().unwrap();
    let ix = x.id();
    let custom = tape
        .op(
            "custom_square",
            Tensor::from_fn([2, 3], |i| xv.as_slice()[i].powi(2)),
            &[x],
            move |_, dy, g| {
                let dx = Tensor::from_fn(dy.shape(), |i| 2.0 * xv.as_slice()[i] * dy.as_slice()[i]);
                g.add(ix, dx)
            },
        )
        .unwrap();
    let root = custom.mul(&w).unwrap().sum().unwrap();
    let gw = tape.grad(root, &[w], CreateGraph::Yes).unwrap()[0].unwrap();
    let want = custom.value().unwrap().as_slice()[..3]
        .iter()
        .zip(&custom.value().unwrap().as_slice()[3..])
        .map(|(a, b)| a + b)
        .collect::<Vec<_>>();
    close(&gw.value().unwrap(), &want);
    // ... but with respect to x the walk must cross it
    let msg = tape
        .grad(root, &[x], CreateGraph::Yes)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("custom_square has no differentiable backward"),
        "{msg}"
    );

    // the tape is still usable: the ordinary backward through all of it
    let grads = tape.backward(f.add(&root).unwrap()).unwrap();
    assert!(grads.get(x).is_some() && grads.get(w).is_some());
}

/// A small MLP loss, for the "tape after grad" tests.
fn mlp_loss<'t>(
    x: Var<'t, f64>,
    w1: Var<'t, f64>,
    b1: Var<'t, f64>,
    w2: Var<'t, f64>,
) -> Var<'t, f64> {
    x.linear(&w1, Some(&b1))
        .unwrap()
        .sigmoid()
        .unwrap()
        .matmul_t(&w2)
        .unwrap()
        .log_softmax()
        .unwrap()
        .mean()
        .unwrap()
}

/// `grad` does not consume the tape and leaves the ordinary `backward` unchanged: the same
/// bits as on a fresh tape, before and after `grad` calls (with and without a graph) and
/// further ops; earlier values stay readable; a second `grad` gives the same bits.
#[test]
fn the_tape_after_grad_and_backward_unchanged() {
    let inputs = [
        fill(&[4, 3], 12, -1.0, 1.0),
        fill(&[5, 3], 13, -1.0, 1.0),
        fill(&[5], 14, -1.0, 1.0),
        fill(&[2, 5], 15, -1.0, 1.0),
    ];
    let reference = {
        let tape = Tape::<f64>::new();
        let v: Vec<_> = inputs.iter().map(|x| tape.leaf(x.clone())).collect();
        let mut g = tape.backward(mlp_loss(v[0], v[1], v[2], v[3])).unwrap();
        v.iter().map(|&x| g.take(x).unwrap()).collect::<Vec<_>>()
    };
    let tape = Tape::<f64>::new();
    let v: Vec<_> = inputs.iter().map(|x| tape.leaf(x.clone())).collect();
    let loss = mlp_loss(v[0], v[1], v[2], v[3]);
    let value = loss.item().unwrap();
    let n = tape.len();
    let first = tape.grad(loss, &v, CreateGraph::Yes).unwrap();
    let again = tape.grad(loss, &v, CreateGraph::No).unwrap();
    assert!(tape.len() > n && !tape.is_consumed());
    for ((a, b), r) in first.iter().zip(&again).zip(&reference) {
        let (a, b) = (a.unwrap().value().unwrap(), b.unwrap().value().unwrap());
        assert_eq!(*a, *b, "CreateGraph::Yes and ::No compute the same values");
        assert!(a.max_abs_diff(r) <= 1e-15, "{a:?} vs {r:?}");
    }
    assert_eq!(loss.item().unwrap(), value);
    // more ops after grad, then the ordinary backward of the first loss: the same bits
    let _more = first[1].unwrap().tanh().unwrap().sum().unwrap();
    let mut g = tape.backward(loss).unwrap();
    for (x, r) in v.iter().zip(&reference) {
        assert_eq!(g.take(*x).unwrap(), *r);
    }
}

/// `wrt` may hold intermediate values and leaves together (each gets its total
/// derivative), values the root does not depend on or constants (`None`); a seed gives
/// vector-Jacobian products; `CreateGraph::Yes` records even inside `no_grad`.
#[test]
fn grad_wrt_intermediates_constants_and_seeds() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(t(&[2], &[0.5, -1.0]));
    let c = tape.constant(t(&[2], &[2.0, 3.0]));
    let unused = tape.leaf(t(&[1], &[1.0]));
    let h = x.mul(&c).unwrap(); // h = c x
    let f = h.mul(&h).unwrap().sum().unwrap(); // f = sum(c^2 x^2)
    let g = tape.grad(f, &[x, h, c, unused], CreateGraph::Yes).unwrap();
    // df/dx = 2 c^2 x, df/dh = 2 h = 2 c x
    close(&g[0].unwrap().value().unwrap(), &[4.0, -18.0]);
    close(&g[1].unwrap().value().unwrap(), &[2.0, -6.0]);
    assert!(g[2].is_none() && g[3].is_none());

    // vector-Jacobian product of the non-scalar h = c x with seed s: s * c
    let s = tape.leaf(t(&[2], &[10.0, 20.0]));
    let vjp = tape.grad_with_seed(h, s, &[x], CreateGraph::Yes).unwrap()[0].unwrap();
    close(&vjp.value().unwrap(), &[20.0, 60.0]);
    assert!(vjp.requires_grad(), "differentiable in the seed");
    assert!(
        tape.grad(h, &[x], CreateGraph::Yes)
            .unwrap_err()
            .to_string()
            .contains("grad_with_seed")
    );

    let _ng = tape.no_grad();
    let g2 = tape.grad(f, &[x], CreateGraph::Yes).unwrap()[0].unwrap();
    assert!(g2.requires_grad());
    let g3 = tape.grad(f, &[x], CreateGraph::No).unwrap()[0].unwrap();
    assert!(!g3.requires_grad());
    drop(_ng);
    let other = Tape::<f64>::new();
    let y = other.leaf(t(&[1], &[1.0]));
    assert!(
        tape.grad(f, &[y], CreateGraph::Yes).is_err(),
        "Vars of another tape"
    );
}

/// The second-order gradcheck on a whole model-shaped function (every op of the MLP), and
/// with explicit options.
#[test]
fn second_order_gradcheck_of_an_mlp() {
    let inputs = [
        fill(&[4, 3], 16, -1.0, 1.0),
        fill(&[5, 3], 17, -1.0, 1.0),
        fill(&[5], 18, -1.0, 1.0),
        fill(&[2, 5], 19, -1.0, 1.0),
    ];
    gumbel_autograd::gradcheck_second_order(|_, v| Ok(mlp_loss(v[0], v[1], v[2], v[3])), &inputs)
        .unwrap();
    let opts = GradcheckOptions::default();
    let dirs: Vec<Tensor<f64>> = inputs.iter().map(|x| Tensor::ones(x.shape())).collect();
    gumbel_autograd::gradcheck_second_order_with(
        |_, v| Ok(mlp_loss(v[0], v[1], v[2], v[3])),
        &inputs,
        &dirs,
        &opts,
    )
    .unwrap();
}

/// The straight-through and ReinMax estimator nodes, differentiated twice in the logits
/// (their surrogate gradients `J(p_tau) dy / tau` and `2 J(p_half) dy - J(pi) dy / 2` are
/// smooth in `l` for a fixed sample). The downstream is linear in the one-hot, so the
/// finite differences of the first gradient see the same surrogate (see the straight-through
/// note in docs/autograd.md).
#[test]
fn straight_through_estimators_second_order() {
    let l = fill(&[3, 4], 20, -1.0, 1.0);
    let w = fill(&[3, 4], 21, -1.0, 1.0);
    let index = [1, 3, 0];
    for temp in [Temperature::Tau(1.5), Temperature::Beta(0.8)] {
        gumbel_autograd::gradcheck_second_order(
            |tape, v| {
                let d = straight_through_with_sample(&v[0], &index, temp)?;
                d.mul(&tape.constant(w.clone()))?.sum()
            },
            std::slice::from_ref(&l),
        )
        .unwrap();
        gumbel_autograd::gradcheck_second_order(
            |tape, v| {
                let d = reinmax_with_sample(&v[0], &index, temp)?;
                d.mul(&tape.constant(w.clone()))?.sum()
            },
            std::slice::from_ref(&l),
        )
        .unwrap();
    }
}

/// Gapped straight-through's Var-level backward. Its move `gapped(l, D) - l` is a constant
/// of the graph (the authors' `detach=True`), so central differences of the first gradient,
/// which see the move change with `l`, check the second order only where nothing moves: rows
/// whose sample leads every other class by more than the gap. Elsewhere the create-graph
/// first gradient must still be the ordinary backward's, for both gaps.
#[test]
fn gapped_straight_through_second_order() {
    let w = fill(&[3, 4], 23, -1.0, 1.0);
    let index = [1, 3, 0];
    // the sampled classes lead by 2 > the gap of 1, and stay ahead under the steps
    let mut lead = fill(&[3, 4], 22, -1.0, 0.0);
    for (r, &d) in index.iter().enumerate() {
        lead.row_mut(r)[d] = 2.0;
    }
    for temp in [Temperature::Tau(1.5), Temperature::Beta(0.8)] {
        gumbel_autograd::gradcheck_second_order(
            |tape, v| {
                let d = gapped_straight_through_with_sample(&v[0], &index, temp, Gap::Fixed(1.0))?;
                d.mul(&tape.constant(w.clone()))?.sum()
            },
            std::slice::from_ref(&lead),
        )
        .unwrap();
    }
    let l = fill(&[3, 4], 24, -1.0, 1.0);
    for gap in [Gap::Fixed(1.0), Gap::Adaptive] {
        let tape = Tape::<f64>::new();
        let x = tape.leaf(l.clone());
        let d =
            gapped_straight_through_with_sample(&x, &index, Temperature::Tau(0.7), gap).unwrap();
        let loss = d.mul(&tape.constant(w.clone())).unwrap().sum().unwrap();
        let g = tape.grad(loss, &[x], CreateGraph::Yes).unwrap()[0].unwrap();
        let from_graph = g.value().unwrap();
        let ordinary = tape.backward(loss).unwrap();
        for (a, b) in from_graph
            .as_slice()
            .iter()
            .zip(ordinary.get(x).unwrap().as_slice())
        {
            assert_relative_eq!(*a, *b, epsilon = 1e-15, max_relative = 1e-12);
        }
    }
}
