//! Benchmarks of the Gumbel-Softmax kernels (f32, tau = 0.5 as in the PyTorch peer):
//! fused forward, fused backward, forward + backward and Gumbel-max, each beside the
//! unfused composed version (noise, add, scale, softmax as separate passes) and the scalar
//! reference, on the shapes of the PyTorch peer (../shared/peers), with 1 and 2 threads.
//!
//! Groups `gumbel_softmax_fwd/f32`, `gumbel_softmax_bwd/f32`, `gumbel_softmax_fwd_bwd/f32`,
//! `gumbel_max/f32`; ids `fused_simd`, `unfused`, `scalar` with parameter
//! `{rows}x{cols}/t{threads}`; throughput in elements (`rows * cols`).
//! The forward group adds `fused_simd_tau1` (`tau = 1`: the exponential race, one `ln`
//! per element instead of two). The backward group adds `fused_simd_dtau` (with the temperature gradient) and
//! `fused_simd_into` (into a reused output buffer).

use std::hint::black_box;

use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, measurement::WallTime,
};
use gumbel_tensor::Tensor;
use gumbel_tensor::ops::gumbel::{
    GumbelRng, Output, TempGrad, Temperature, composed, gumbel_max, gumbel_softmax,
    gumbel_softmax_backward, gumbel_softmax_backward_into, scalar,
};

/// The PyTorch peer's shapes: GAN vocab, GPT-2 vocab, a large batch, many short rows.
const SHAPES: [(usize, usize); 4] = [(64, 5000), (64, 50257), (1024, 32000), (4096, 256)];
const THREADS: [usize; 2] = [1, 2];
const TAU: f32 = 0.5;

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

/// Logits spread like a trained LM's (a few large, most small), fixed.
fn logits(rows: usize, cols: usize) -> Tensor<f32> {
    Tensor::from_fn([rows, cols], |i| {
        let h = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
        (h as f32 / (1u64 << 24) as f32) * 8.0 - 6.0
    })
}

/// The scalar reference runs at ~50 M elements/s: skip it where one call takes seconds.
fn scalar_ok(rows: usize, cols: usize) -> bool {
    rows * cols <= 4_000_000
}

/// One group per op: sets throughput and a short sample count for the big shapes.
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
    for_each_shape(c, "gumbel_softmax_fwd/f32", |group, rows, cols| {
        let l = logits(rows, cols);
        for &t in &THREADS {
            let (pool, param) = (pool(t), format!("{rows}x{cols}/t{t}"));
            let mut rng = GumbelRng::new(1);
            group.bench_function(BenchmarkId::new("fused_simd", &param), |b| {
                pool.install(|| {
                    b.iter(|| {
                        black_box(
                            gumbel_softmax(&l, Temperature::Tau(TAU), &mut rng, Output::Soft)
                                .unwrap(),
                        )
                    })
                })
            });
            group.bench_function(BenchmarkId::new("fused_simd_tau1", &param), |b| {
                pool.install(|| {
                    b.iter(|| {
                        black_box(
                            gumbel_softmax(&l, Temperature::Tau(1.0), &mut rng, Output::Soft)
                                .unwrap(),
                        )
                    })
                })
            });
            group.bench_function(BenchmarkId::new("unfused", &param), |b| {
                pool.install(|| {
                    b.iter(|| {
                        black_box(composed::forward(&l, Temperature::Tau(TAU), &mut rng).unwrap())
                    })
                })
            });
            if scalar_ok(rows, cols) {
                group.bench_function(BenchmarkId::new("scalar", &param), |b| {
                    pool.install(|| {
                        b.iter(|| {
                            black_box(
                                scalar::gumbel_softmax(
                                    &l,
                                    Temperature::Tau(TAU),
                                    &mut rng,
                                    Output::Soft,
                                )
                                .unwrap(),
                            )
                        })
                    })
                });
            }
        }
    });
}

fn backward(c: &mut Criterion) {
    for_each_shape(c, "gumbel_softmax_bwd/f32", |group, rows, cols| {
        let l = logits(rows, cols);
        let fwd = composed::forward(&l, Temperature::Tau(TAU), &mut GumbelRng::new(1)).unwrap();
        let dy = logits(rows, cols);
        for &t in &THREADS {
            let (pool, param) = (pool(t), format!("{rows}x{cols}/t{t}"));
            group.bench_function(BenchmarkId::new("fused_simd", &param), |b| {
                pool.install(|| {
                    b.iter(|| {
                        black_box(
                            gumbel_softmax_backward(
                                &fwd.y,
                                &dy,
                                Temperature::Tau(TAU),
                                TempGrad::Skip,
                            )
                            .unwrap(),
                        )
                    })
                })
            });
            // The same kernel into a reused buffer: no fresh output to page-fault and zero.
            let mut dx = Tensor::zeros([rows, cols]);
            group.bench_function(BenchmarkId::new("fused_simd_into", &param), |b| {
                pool.install(|| {
                    b.iter(|| {
                        black_box(
                            gumbel_softmax_backward_into(
                                &fwd.y,
                                &dy,
                                Temperature::Tau(TAU),
                                TempGrad::Skip,
                                &mut dx,
                            )
                            .unwrap(),
                        )
                    })
                })
            });
            group.bench_function(BenchmarkId::new("fused_simd_dtau", &param), |b| {
                pool.install(|| {
                    b.iter(|| {
                        black_box(
                            gumbel_softmax_backward(
                                &fwd.y,
                                &dy,
                                Temperature::Tau(TAU),
                                TempGrad::Compute,
                            )
                            .unwrap(),
                        )
                    })
                })
            });
            group.bench_function(BenchmarkId::new("unfused", &param), |b| {
                pool.install(|| {
                    b.iter(|| {
                        black_box(
                            composed::backward(&fwd, &dy, Temperature::Tau(TAU), TempGrad::Skip)
                                .unwrap(),
                        )
                    })
                })
            });
            if scalar_ok(rows, cols) {
                group.bench_function(BenchmarkId::new("scalar", &param), |b| {
                    pool.install(|| {
                        b.iter(|| {
                            black_box(
                                scalar::gumbel_softmax_backward(
                                    &fwd.y,
                                    &dy,
                                    Temperature::Tau(TAU),
                                    TempGrad::Skip,
                                )
                                .unwrap(),
                            )
                        })
                    })
                });
            }
        }
    });
}

fn forward_backward(c: &mut Criterion) {
    for_each_shape(c, "gumbel_softmax_fwd_bwd/f32", |group, rows, cols| {
        let l = logits(rows, cols);
        let dy = logits(rows, cols);
        let temp = Temperature::Tau(TAU);
        for &t in &THREADS {
            let (pool, param) = (pool(t), format!("{rows}x{cols}/t{t}"));
            let mut rng = GumbelRng::new(1);
            group.bench_function(BenchmarkId::new("fused_simd", &param), |b| {
                pool.install(|| {
                    b.iter(|| {
                        let s = gumbel_softmax(&l, temp, &mut rng, Output::Soft).unwrap();
                        black_box(gumbel_softmax_backward(&s.y, &dy, temp, TempGrad::Skip).unwrap())
                    })
                })
            });
            group.bench_function(BenchmarkId::new("unfused", &param), |b| {
                pool.install(|| {
                    b.iter(|| {
                        let f = composed::forward(&l, temp, &mut rng).unwrap();
                        black_box(composed::backward(&f, &dy, temp, TempGrad::Skip).unwrap())
                    })
                })
            });
            if scalar_ok(rows, cols) {
                group.bench_function(BenchmarkId::new("scalar", &param), |b| {
                    pool.install(|| {
                        b.iter(|| {
                            let s =
                                scalar::gumbel_softmax(&l, temp, &mut rng, Output::Soft).unwrap();
                            black_box(
                                scalar::gumbel_softmax_backward(&s.y, &dy, temp, TempGrad::Skip)
                                    .unwrap(),
                            )
                        })
                    })
                });
            }
        }
    });
}

fn sampler(c: &mut Criterion) {
    for_each_shape(c, "gumbel_max/f32", |group, rows, cols| {
        let l = logits(rows, cols);
        for &t in &THREADS {
            let (pool, param) = (pool(t), format!("{rows}x{cols}/t{t}"));
            let mut rng = GumbelRng::new(1);
            group.bench_function(BenchmarkId::new("fused_simd", &param), |b| {
                pool.install(|| b.iter(|| black_box(gumbel_max(&l, &mut rng).unwrap())))
            });
            group.bench_function(BenchmarkId::new("unfused", &param), |b| {
                pool.install(|| b.iter(|| black_box(composed::gumbel_max(&l, &mut rng).unwrap())))
            });
            if scalar_ok(rows, cols) {
                group.bench_function(BenchmarkId::new("scalar", &param), |b| {
                    pool.install(|| b.iter(|| black_box(scalar::gumbel_max(&l, &mut rng).unwrap())))
                });
            }
        }
    });
}

criterion_group!(benches, forward, backward, forward_backward, sampler);
