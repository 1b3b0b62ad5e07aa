//! Benchmarks of the binary Concrete (RelaxedBernoulli) kernels (f32, tau = 0.5), on the
//! shapes of the Gumbel-Softmax benchmarks (`gumbel.rs`), with 1 and 2 threads, each beside
//! its scalar reference. Run them in the same process as the categorical forward to compare
//! elements per second, e.g.
//! `cargo bench --bench main -- 'binary_concrete|gumbel_softmax_fwd/f32/fused_simd'`.
//!
//! Groups `binary_concrete_fwd/f32`, `binary_concrete_bwd/f32`; ids `fused_simd`,
//! `fused_simd_hard` (forward with the 0/1 sample), `fused_simd_dtau` (backward with the
//! temperature gradient), `scalar`, with parameter `{rows}x{cols}/t{threads}`; throughput in
//! elements (`rows * cols`).

use std::hint::black_box;

use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, measurement::WallTime,
};
use gumbel_tensor::Tensor;
use gumbel_tensor::ops::gumbel::{
    GumbelRng, Output, TempGrad, Temperature, binary_concrete, binary_concrete_backward, scalar,
};

/// The Gumbel-Softmax benchmarks' shapes (`gumbel.rs`).
const SHAPES: [(usize, usize); 4] = [(64, 5000), (64, 50257), (1024, 32000), (4096, 256)];
const THREADS: [usize; 2] = [1, 2];
const TAU: f32 = 0.5;

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

/// The logits of `gumbel.rs` (spread like a trained LM's), fixed.
fn logits(rows: usize, cols: usize) -> Tensor<f32> {
    Tensor::from_fn([rows, cols], |i| {
        let h = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
        (h as f32 / (1u64 << 24) as f32) * 8.0 - 6.0
    })
}

/// Skip the scalar references where one call takes seconds.
fn scalar_ok(rows: usize, cols: usize) -> bool {
    rows * cols <= 4_000_000
}

fn for_each_shape(
    c: &mut Criterion,
    name: &str,
    mut f: impl FnMut(&mut BenchmarkGroup<'_, WallTime>, usize, usize),
) {
    let mut group = c.benchmark_group(name);
    for &(rows, cols) in &SHAPES {
        group.throughput(Throughput::Elements((rows * cols) as u64));
        group.sample_size(if rows * cols > 10_000_000 { 10 } else { 30 });
        f(&mut group, rows, cols);
    }
    group.finish();
}

fn forward(c: &mut Criterion) {
    for_each_shape(c, "binary_concrete_fwd/f32", |group, rows, cols| {
        let l = logits(rows, cols);
        let temp = Temperature::Tau(TAU);
        for &t in &THREADS {
            let (pool, param) = (pool(t), format!("{rows}x{cols}/t{t}"));
            let mut rng = GumbelRng::new(1);
            group.bench_function(BenchmarkId::new("fused_simd", &param), |b| {
                pool.install(|| {
                    b.iter(|| black_box(binary_concrete(&l, temp, &mut rng, Output::Soft).unwrap()))
                })
            });
            group.bench_function(BenchmarkId::new("fused_simd_hard", &param), |b| {
                pool.install(|| {
                    b.iter(|| black_box(binary_concrete(&l, temp, &mut rng, Output::Hard).unwrap()))
                })
            });
            if scalar_ok(rows, cols) {
                group.bench_function(BenchmarkId::new("scalar", &param), |b| {
                    pool.install(|| {
                        b.iter(|| {
                            black_box(
                                scalar::binary_concrete(&l, temp, &mut rng, Output::Soft).unwrap(),
                            )
                        })
                    })
                });
            }
        }
    });
}

fn backward(c: &mut Criterion) {
    for_each_shape(c, "binary_concrete_bwd/f32", |group, rows, cols| {
        let l = logits(rows, cols);
        let temp = Temperature::Tau(TAU);
        let y = binary_concrete(&l, temp, &mut GumbelRng::new(1), Output::Soft)
            .unwrap()
            .y;
        let dy = logits(rows, cols);
        for &t in &THREADS {
            let (pool, param) = (pool(t), format!("{rows}x{cols}/t{t}"));
            group.bench_function(BenchmarkId::new("fused_simd", &param), |b| {
                pool.install(|| {
                    b.iter(|| {
                        black_box(binary_concrete_backward(&y, &dy, temp, TempGrad::Skip).unwrap())
                    })
                })
            });
            group.bench_function(BenchmarkId::new("fused_simd_dtau", &param), |b| {
                pool.install(|| {
                    b.iter(|| {
                        black_box(
                            binary_concrete_backward(&y, &dy, temp, TempGrad::Compute).unwrap(),
                        )
                    })
                })
            });
            if scalar_ok(rows, cols) {
                group.bench_function(BenchmarkId::new("scalar", &param), |b| {
                    pool.install(|| {
                        b.iter(|| {
                            black_box(
                                scalar::binary_concrete_backward(&y, &dy, temp, TempGrad::Skip)
                                    .unwrap(),
                            )
                        })
                    })
                });
            }
        }
    });
}

criterion_group!(benches, forward, backward);
