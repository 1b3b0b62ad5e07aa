//! Softmax over the last dimension, `f32`: forward (`softmax/f32`) and forward + backward
//! (`softmax_fwd_bwd/f32`), SIMD kernels (`simd`) against their scalar twins (`scalar`), on
//! 1 and 2 threads.
//!
//! Shapes: a small vocabulary (64 x 5000), GPT-2's vocabulary (64 x 50257), a large batch
//! over a 32k vocabulary (1024 x 32000) and many short rows (4096 x 256). Both variants
//! write into preallocated outputs through the same row-parallel dispatch
//! (`parallel::for_each_row_mut`), so they differ only in the row kernel. The scalar twin
//! runs on the two smaller shapes only (on the large ones it takes seconds per sample).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use gumbel_tensor::ops::softmax::{scalar, simd};
use gumbel_tensor::{Tensor, parallel};

const SHAPES: [(usize, usize); 4] = [(64, 5000), (64, 50257), (1024, 32000), (4096, 256)];
const THREADS: [usize; 2] = [1, 2];

/// Deterministic values in `[lo, hi)` (a multiplicative hash of the index).
fn data(rows: usize, cols: usize, seed: u64, lo: f32, hi: f32) -> Tensor<f32> {
    Tensor::from_fn([rows, cols], |i| {
        let h = (i as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        lo + (hi - lo) * (h as f32 / (1u64 << 24) as f32)
    })
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

type Forward = fn(&[f32], &mut [f32]) -> Result<(), gumbel_tensor::ops::softmax::RowFault>;
type Backward = fn(&[f32], &[f32], &mut [f32]);

fn forward(x: &Tensor<f32>, y: &mut Tensor<f32>, kernel: Forward) {
    parallel::for_each_row_mut(y.as_mut_slice(), x.cols(), |i, row| {
        kernel(x.row(i), row).expect("finite logits")
    });
}

fn backward(y: &Tensor<f32>, dy: &Tensor<f32>, dx: &mut Tensor<f32>, kernel: Backward) {
    parallel::for_each_row_mut(dx.as_mut_slice(), y.cols(), |i, row| {
        kernel(y.row(i), dy.row(i), row)
    });
}

fn bench_softmax(c: &mut Criterion) {
    let pools: Vec<_> = THREADS.iter().map(|&t| (t, pool(t))).collect();
    for (rows, cols) in SHAPES {
        let x = data(rows, cols, 1, -10.0, 10.0);
        let dy = data(rows, cols, 2, -1.0, 1.0);
        let mut y = Tensor::zeros([rows, cols]);
        let mut dx = Tensor::zeros([rows, cols]);
        let small = rows * cols <= 1 << 20;
        let variants: Vec<(&str, Forward, Backward)> = if small {
            vec![
                ("simd", simd::softmax, simd::softmax_backward),
                ("scalar", scalar::softmax, scalar::softmax_backward),
            ]
        } else {
            vec![("simd", simd::softmax, simd::softmax_backward)]
        };
        for (name, fwd, bwd) in variants {
            for (threads, pool) in &pools {
                let param = format!("{rows}x{cols}/{threads}t");
                let mut g = c.benchmark_group("softmax/f32");
                g.throughput(Throughput::Elements((rows * cols) as u64));
                if !small {
                    g.sample_size(10);
                }
                g.bench_function(BenchmarkId::new(name, &param), |b| {
                    pool.install(|| b.iter(|| forward(black_box(&x), &mut y, fwd)))
                });
                g.finish();
                let mut g = c.benchmark_group("softmax_fwd_bwd/f32");
                g.throughput(Throughput::Elements((rows * cols) as u64));
                if !small {
                    g.sample_size(10);
                }
                g.bench_function(BenchmarkId::new(name, &param), |b| {
                    pool.install(|| {
                        b.iter(|| {
                            forward(black_box(&x), &mut y, fwd);
                            backward(&y, black_box(&dy), &mut dx, bwd);
                        })
                    })
                });
                g.finish();
            }
        }
    }
}

criterion_group!(benches, bench_softmax);
