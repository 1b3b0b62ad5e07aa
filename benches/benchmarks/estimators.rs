//! Benchmarks of the gradient estimators (`gumbel_autograd::estimators`), `f32`: one step of
//! each on a batch of logits, as a model would take it: a fresh tape, the logits as a leaf,
//! `Estimator::draw` (sampling and the forward value), a linear objective
//! `f = sum_c w_c value_c` per sample, `Estimator::loss`, and the backward pass to the
//! logits. The objective is the cheapest possible, so the figures are the estimators' own
//! cost: what choosing one over another costs per step.
//!
//! Group `estimator_step/f32`; ids are the estimator names of `Estimator::from_str`
//! (`:` written as `_k`/`_gap`, criterion ids being paths), with parameter
//! `{rows}x{cols}/t{threads}` on the text GAN's vocabulary (64 x 5000) and GPT-2's
//! (64 x 50257), 1 and 2 threads; throughput in logits (`rows * cols`) per step.
//! `benches/peers/estimators_bench.py` times the same steps in PyTorch
//! (`F.gumbel_softmax`, the `reinmax` package, and the others written in PyTorch ops).
//! `rebar` is the control-variate family's step: `control_variate_draw` (categorical), the
//! objective at the sample and REBAR's `c = eta f(softmax(z / lambda))` at `z` and `z~`
//! (`eta = 1`, `lambda = tau`, both leaves), and one backward pass of `loss + variance`,
//! which trains `eta` and `lambda` through a second derivative as a real step does.
//! Run: `cargo bench --bench main -- estimator_step`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use gumbel_autograd::Tape;
use gumbel_autograd::estimators::{Estimator, Family, control_variate_draw, rebar};
use gumbel_tensor::Tensor;
use gumbel_tensor::ops::gumbel::{GumbelRng, Temperature};

const SHAPES: [(usize, usize); 2] = [(64, 5000), (64, 50257)];
const THREADS: [usize; 2] = [1, 2];
/// `tau = 1`: the one temperature every estimator accepts (ReinMax needs `tau >= 1`).
const TAU: f32 = 1.0;
/// Every estimator, by name; `reinforce_loo:4` draws 4 samples per row.
const ESTIMATORS: [&str; 8] = [
    "straight_through",
    "gumbel_softmax",
    "st_gumbel_softmax",
    "reinmax",
    "gumbel_rao:10",
    "gapped_st",
    "gapped_st:p",
    "reinforce_loo:4",
];

/// Logits spread like a trained LM's (a few large, most small), fixed (as in gumbel.rs).
fn logits(rows: usize, cols: usize, salt: u64) -> Tensor<f32> {
    Tensor::from_fn([rows, cols], |i| {
        let h = (i as u64 ^ salt).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
        (h as f32 / (1u64 << 24) as f32) * 8.0 - 6.0
    })
}

/// One step: draw, objective, loss, backward; returns the logits' gradient.
fn step(
    est: &mut Estimator,
    l: &Arc<Tensor<f32>>,
    w: &Arc<Tensor<f32>>,
    rng: &mut GumbelRng,
) -> Tensor<f32> {
    let tape = Tape::<f32>::new();
    let logits = tape.leaf_shared(Arc::clone(l), true);
    let w = tape.leaf_shared(Arc::clone(w), false);
    let draw = est.draw(&logits, Temperature::Tau(TAU), rng).unwrap();
    let f = draw.value.mul(&w).unwrap().sum_axis(1).unwrap();
    let loss = est.loss(&draw, &f).unwrap();
    let mut g = tape.backward(loss).unwrap();
    g.take(logits).unwrap()
}

/// One REBAR step (see the module docs); returns the logits' gradient.
fn rebar_step(l: &Arc<Tensor<f32>>, w: &Arc<Tensor<f32>>, rng: &mut GumbelRng) -> Tensor<f32> {
    let tape = Tape::<f32>::new();
    let logits = tape.leaf_shared(Arc::clone(l), true);
    let w = tape.leaf_shared(Arc::clone(w), false);
    let eta = tape.leaf(Tensor::full([1], 1.0));
    let lambda = tape.leaf(Tensor::full([1], TAU));
    let draw = control_variate_draw(&logits, Family::Categorical, rng).unwrap();
    let f = draw.value.mul(&w).unwrap().sum_axis(1).unwrap();
    let est = rebar(&draw, &f, |y| y.mul(&w)?.sum_axis(1), &eta, &lambda).unwrap();
    let mut g = tape.backward(est.loss.add(&est.variance).unwrap()).unwrap();
    g.take(logits).unwrap()
}

fn estimator_steps(c: &mut Criterion) {
    let mut group = c.benchmark_group("estimator_step/f32");
    for threads in THREADS {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        for &(rows, cols) in &SHAPES {
            let l = Arc::new(logits(rows, cols, 0));
            let w = Arc::new(logits(1, cols, 1).reshape([cols]).unwrap());
            let param = format!("{rows}x{cols}/t{threads}");
            group.throughput(Throughput::Elements((rows * cols) as u64));
            group.sample_size(if cols > 10_000 { 10 } else { 30 });
            for name in ESTIMATORS {
                let mut est: Estimator = name.parse().unwrap();
                let id = name.replace(":p", "_gap_p").replace(':', "_k");
                let mut rng = GumbelRng::new(1);
                group.bench_function(BenchmarkId::new(id, &param), |b| {
                    pool.install(|| b.iter(|| black_box(step(&mut est, &l, &w, &mut rng))))
                });
            }
            let mut rng = GumbelRng::new(1);
            group.bench_function(BenchmarkId::new("rebar", &param), |b| {
                pool.install(|| b.iter(|| black_box(rebar_step(&l, &w, &mut rng))))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, estimator_steps);
