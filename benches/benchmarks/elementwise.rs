//! Elementwise ops at 1024 x 32000 `f32` (a batch of logits over a 32k vocabulary): `exp`
//! (`exp/f32`, compute-bound: wide's polynomial against std's) and `add` with a row vector
//! broadcast over every row (`add_row/f32`, memory-bound: the bias add), SIMD kernels
//! (`simd`) against their scalar twins (`scalar`), on 1 and 2 threads, into preallocated
//! outputs through the same dispatch the tensor-level ops use.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use gumbel_tensor::ops::elementwise::{CHUNK, scalar, simd};
use gumbel_tensor::{Tensor, parallel};

const THREADS: [usize; 2] = [1, 2];
const ROWS: usize = 1024;
const COLS: usize = 32000;

fn data(shape: &[usize], seed: u64, lo: f32, hi: f32) -> Tensor<f32> {
    Tensor::from_fn(shape.to_vec(), |i| {
        let h = (i as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        lo + (hi - lo) * (h as f32 / (1u64 << 24) as f32)
    })
}

type Unary = fn(&[f32], &mut [f32]);
type Binary = fn(&[f32], &[f32], &mut [f32]);

fn bench_elementwise(c: &mut Criterion) {
    let x = data(&[ROWS, COLS], 1, -10.0, 10.0);
    let bias = data(&[COLS], 2, -1.0, 1.0);
    let mut out = Tensor::zeros([ROWS, COLS]);
    let param = |threads: usize| format!("{ROWS}x{COLS}/{threads}t");
    for threads in THREADS {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut g = c.benchmark_group("exp/f32");
        g.throughput(Throughput::Elements((ROWS * COLS) as u64))
            .sample_size(10);
        let exps: [(&str, Unary); 2] = [("simd", simd::exp), ("scalar", scalar::exp)];
        for (name, kernel) in exps {
            g.bench_function(BenchmarkId::new(name, param(threads)), |b| {
                pool.install(|| {
                    b.iter(|| {
                        let xs = black_box(x.as_slice());
                        parallel::for_each_chunk_mut(out.as_mut_slice(), CHUNK, 1, |s, o| {
                            kernel(&xs[s..s + o.len()], o)
                        })
                    })
                })
            });
        }
        g.finish();
        let mut g = c.benchmark_group("add_row/f32");
        g.throughput(Throughput::Elements((ROWS * COLS) as u64))
            .sample_size(10);
        let adds: [(&str, Binary); 2] = [("simd", simd::add), ("scalar", scalar::add)];
        for (name, kernel) in adds {
            g.bench_function(BenchmarkId::new(name, param(threads)), |b| {
                pool.install(|| {
                    b.iter(|| {
                        let (xt, bs) = (black_box(&x), bias.as_slice());
                        parallel::for_each_row_mut(out.as_mut_slice(), COLS, |i, o| {
                            kernel(xt.row(i), bs, o)
                        })
                    })
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench_elementwise);
