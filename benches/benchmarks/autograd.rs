//! Autograd benchmarks, `f32`, on 1 and 2 threads (the text GAN's shapes: batch 64,
//! length 20, vocabulary 5000):
//!
//! - `lstm_lm/f32`: an LSTM layer forward + backward as in MLE pretraining: embedding
//!   lookup (32), LSTM (hidden 32 or 256) unrolled over 20 steps, the output projection to
//!   5000 classes batched over time (one `[1280, H] x [H, 5000]` matmul), cross-entropy,
//!   backward. Parameter gradients are moved into the store; no optimizer step.
//! - `cnn_disc/f32`: a CNN discriminator forward + backward on a soft one-hot input
//!   `[64, 20, 5000]` (a leaf that requires grad, as a Gumbel-Softmax sample does): soft
//!   embedding (64), conv widths 2, 3, 4, 5 x 64 filters, ReLU, max over time, concat,
//!   linear, BCE with logits.
//! - `relgan_disc_layers/f32`: the two layers that hold most of a RelGAN discriminator
//!   pass outside gemm, forward + backward on RelGAN's shapes (batch 64, length 20, 64
//!   representations; `docs/relgan.md`): `conv` is `column_conv_max` with 300 filters of
//!   each width 2, 3, 4, 5 on an input `[64, 20, 64]` that requires grad; `highway` is the
//!   highway layer (two `1200 x 1200` products and `highway_combine`) on `[4096, 1200]`.
//!   Throughput: elements of the layer's input.
//! - `adam_step/f32`: one Adam update (with its finiteness check, folded into the update
//!   pass) of the `lstm_lm` model's parameters at hidden 256 (1.75 M elements), with the
//!   gradients of one real step (the step does not clear them, so every iteration updates
//!   the same amount of memory).
//! - `tape_overhead/f32`: a chain of 1000 `add_scalar` nodes on a one-element value,
//!   forward + backward: the engine's cost per node (recording, the reverse walk, the
//!   gradient slots) with kernels that do nothing. docs/autograd.md uses it to bound the
//!   share of the two steps above spent outside kernels.
//!
//! Throughput: `lstm_lm` and `cnn_disc` count the elements of the `[1280, 5000]`
//! logits / soft input; `adam_step` counts parameters; `tape_overhead` counts nodes.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use gumbel_autograd::layers::{Bias, Conv1dBank, Embedding, Highway, Linear, Lstm};
use gumbel_autograd::ops::column_conv_max::column_conv_max;
use gumbel_autograd::ops::embedding::soft_embedding;
use gumbel_autograd::optim::{Adam, Optimizer};
use gumbel_autograd::{ParamStore, Tape, init};
use gumbel_tensor::Tensor;

const THREADS: [usize; 2] = [1, 2];
const VOCAB: usize = 5000;
const LEN: usize = 20;
const BATCH: usize = 64;

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

/// The MLE model: embedding -> LSTM -> linear to the vocabulary.
struct LanguageModel {
    params: ParamStore<f32>,
    emb: Embedding,
    lstm: Lstm,
    out: Linear,
}

impl LanguageModel {
    fn new(hidden: usize) -> Self {
        let mut params = ParamStore::new();
        let mut rng = init::seeded(1);
        let emb = Embedding::new(&mut params, "emb", VOCAB, 32, &mut rng).unwrap();
        let lstm = Lstm::new(&mut params, "lstm", 32, hidden, &mut rng).unwrap();
        let out = Linear::new(&mut params, "out", hidden, VOCAB, Bias::Yes, &mut rng).unwrap();
        LanguageModel {
            params,
            emb,
            lstm,
            out,
        }
    }

    /// Forward + backward on time-major tokens (`inputs[t*B + b]`); returns the node count.
    fn step(&mut self, inputs: &[usize], targets: &[usize]) -> usize {
        let nodes = self.backward(inputs, targets);
        self.params.zero_grad();
        nodes
    }

    /// [`LanguageModel::step`] that leaves the parameter gradients in the store.
    fn backward(&mut self, inputs: &[usize], targets: &[usize]) -> usize {
        let p = &self.params;
        let tape = Tape::new();
        let x = self.emb.forward(&tape, p, inputs).unwrap();
        let (hs, _) = self.lstm.forward_seq(&tape, p, &x, BATCH, None).unwrap();
        let loss = self
            .out
            .forward(&tape, p, &hs)
            .unwrap()
            .cross_entropy(targets, None)
            .unwrap();
        let nodes = tape.len();
        let mut g = tape.backward(loss).unwrap();
        self.params.accumulate(&mut g).unwrap();
        nodes
    }
}

/// The discriminator: soft embedding -> conv bank + max over time -> linear.
struct Discriminator {
    params: ParamStore<f32>,
    emb: Embedding,
    bank: Conv1dBank,
    out: Linear,
}

impl Discriminator {
    fn new() -> Self {
        let mut params = ParamStore::new();
        let mut rng = init::seeded(2);
        let emb = Embedding::new(&mut params, "emb", VOCAB, 64, &mut rng).unwrap();
        let bank =
            Conv1dBank::new(&mut params, "cnn", 64, &[2, 3, 4, 5], &[64; 4], &mut rng).unwrap();
        let out = Linear::new(&mut params, "fc", bank.out_dim, 1, Bias::Yes, &mut rng).unwrap();
        Discriminator {
            params,
            emb,
            bank,
            out,
        }
    }

    /// Forward + backward on a soft one-hot batch `[B*L, V]` (batch-major rows).
    fn step(&mut self, soft: &std::sync::Arc<Tensor<f32>>, labels: &Tensor<f32>) -> usize {
        let p = &self.params;
        let tape = Tape::new();
        let y = tape.leaf_shared(soft.clone(), true);
        let x = soft_embedding(&y, &p.var(&tape, self.emb.weight).unwrap()).unwrap();
        let x = x.reshape([BATCH, LEN, 64]).unwrap();
        let feat = self.bank.forward(&tape, p, &x).unwrap();
        let logit = self.out.forward(&tape, p, &feat).unwrap();
        let loss = logit
            .bce_with_logits(&tape.constant(labels.clone()))
            .unwrap();
        let nodes = tape.len();
        let mut g = tape.backward(loss).unwrap();
        black_box(g.take(y));
        self.params.accumulate(&mut g).unwrap();
        self.params.zero_grad();
        nodes
    }
}

fn tokens(seed: usize) -> Vec<usize> {
    (0..BATCH * LEN)
        .map(|i| (i * 7919 + seed * 104_729) % VOCAB)
        .collect()
}

fn bench_lstm(c: &mut Criterion) {
    let mut g = c.benchmark_group("lstm_lm/f32");
    g.throughput(Throughput::Elements((BATCH * LEN * VOCAB) as u64));
    g.sample_size(20);
    let (inputs, targets) = (tokens(1), tokens(2));
    for hidden in [32, 256] {
        let mut model = LanguageModel::new(hidden);
        for threads in THREADS {
            let pool = pool(threads);
            g.bench_function(
                BenchmarkId::new("tape", format!("H{hidden}/{threads}t")),
                |b| pool.install(|| b.iter(|| model.step(black_box(&inputs), &targets))),
            );
        }
    }
    g.finish();
}

fn bench_cnn(c: &mut Criterion) {
    let mut g = c.benchmark_group("cnn_disc/f32");
    g.throughput(Throughput::Elements((BATCH * LEN * VOCAB) as u64));
    g.sample_size(20);
    // a soft one-hot input: each row a distribution peaked on one token
    let soft = std::sync::Arc::new(Tensor::from_fn([BATCH * LEN, VOCAB], |i| {
        let (r, v) = (i / VOCAB, i % VOCAB);
        if v == (r * 31) % VOCAB {
            0.5
        } else {
            0.5 / (VOCAB - 1) as f32
        }
    }));
    let labels = Tensor::ones([BATCH, 1]);
    let mut d = Discriminator::new();
    for threads in THREADS {
        let pool = pool(threads);
        g.bench_function(BenchmarkId::new("tape", format!("{threads}t")), |b| {
            pool.install(|| b.iter(|| d.step(black_box(&soft), &labels)))
        });
    }
    g.finish();
}

fn bench_relgan_disc_layers(c: &mut Criterion) {
    const REPS: usize = 64;
    const FILTERS: usize = 300;
    let mut g = c.benchmark_group("relgan_disc_layers/f32");
    g.sample_size(10);
    let mut rng = init::seeded(3);
    let x = Tensor::from_fn([BATCH, LEN, REPS], |i| ((i * 37) % 101) as f32 / 50.0 - 1.0);
    let convs: Vec<(Tensor<f32>, Tensor<f32>)> = [2, 3, 4, 5]
        .iter()
        .map(|&w| {
            let wt = Tensor::from_fn([FILTERS, w], |i| ((i * 13) % 29) as f32 / 14.0 - 1.0);
            (wt, Tensor::full([FILTERS], 0.1))
        })
        .collect();
    let conv_step = || {
        let tape = Tape::<f32>::new();
        let xv = tape.leaf(x.clone());
        let mut loss = None;
        for (w, b) in &convs {
            let (w, b) = (tape.leaf(w.clone()), tape.leaf(b.clone()));
            let s = column_conv_max(&xv, &w, Some(&b)).unwrap().sum().unwrap();
            loss = Some(match loss {
                None => s,
                Some(l) => s.add(&l).unwrap(),
            });
        }
        tape.backward(loss.unwrap()).unwrap().take(xv)
    };
    let d = 4 * FILTERS;
    let mut params = ParamStore::new();
    let hw = Highway::new(&mut params, "hw", d, &mut rng).unwrap();
    let hx = Tensor::from_fn([BATCH * REPS, d], |i| ((i * 7) % 23) as f32 / 23.0);
    let highway_step = || {
        let tape = Tape::<f32>::new();
        let xv = tape.leaf(hx.clone());
        let y = hw.forward(&tape, &params, &xv).unwrap().sum().unwrap();
        tape.backward(y).unwrap().take(xv)
    };
    for threads in THREADS {
        let pool = pool(threads);
        g.throughput(Throughput::Elements(x.numel() as u64));
        g.bench_function(BenchmarkId::new("conv", format!("{threads}t")), |b| {
            pool.install(|| b.iter(conv_step))
        });
        g.throughput(Throughput::Elements(hx.numel() as u64));
        g.bench_function(BenchmarkId::new("highway", format!("{threads}t")), |b| {
            pool.install(|| b.iter(highway_step))
        });
    }
    g.finish();
}

fn bench_adam(c: &mut Criterion) {
    let mut model = LanguageModel::new(256);
    model.backward(&tokens(1), &tokens(2));
    let mut g = c.benchmark_group("adam_step/f32");
    g.throughput(Throughput::Elements(model.params.numel() as u64));
    for threads in THREADS {
        let pool = pool(threads);
        let mut opt = Adam::new(1e-4);
        g.bench_function(BenchmarkId::new("adam", format!("{threads}t")), |b| {
            pool.install(|| b.iter(|| opt.step(&mut model.params).unwrap()))
        });
    }
    g.finish();
}

fn bench_tape_overhead(c: &mut Criterion) {
    const NODES: usize = 1000;
    let mut g = c.benchmark_group("tape_overhead/f32");
    g.throughput(Throughput::Elements(NODES as u64));
    g.bench_function(BenchmarkId::new("chain", NODES), |b| {
        b.iter(|| {
            let tape = Tape::<f32>::new();
            let mut x = tape.leaf(Tensor::scalar(1.0));
            let x0 = x;
            for _ in 0..NODES - 1 {
                x = x.add_scalar(black_box(1e-3)).unwrap();
            }
            tape.backward(x).unwrap().take(x0)
        })
    });
    g.finish();
}

/// Prints the node counts once (for docs/autograd.md).
fn report_node_counts(_: &mut Criterion) {
    let (inputs, targets) = (tokens(1), tokens(2));
    let n_lstm = LanguageModel::new(32).step(&inputs, &targets);
    let soft = std::sync::Arc::new(Tensor::full([BATCH * LEN, VOCAB], 1.0 / VOCAB as f32));
    let n_cnn = Discriminator::new().step(&soft, &Tensor::ones([BATCH, 1]));
    eprintln!("autograd: nodes per step: lstm_lm {n_lstm}, cnn_disc {n_cnn}");
}

criterion_group!(
    benches,
    report_node_counts,
    bench_lstm,
    bench_cnn,
    bench_relgan_disc_layers,
    bench_adam,
    bench_tape_overhead
);
