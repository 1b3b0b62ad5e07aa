//! Benchmarks of the Gumbel-Rao backward (f32, tau = 0.5): the fused kernel with K = 1 and
//! K = 10 conditional draws per row, on the GAN-vocabulary and GPT-2-vocabulary shapes,
//! and the scalar reference on the smaller shape, 1 thread; and the kernel at tau = 1, where
//! a draw is an exponential race (`w / (E r + w)`: one ln and a division per class instead
//! of two ln and an exp), `fused_simd_k{K}_tau1`.
//!
//! Group `gumbel_rao_bwd/f32`; ids `fused_simd_k{K}`, `fused_simd_k{K}_tau1` and `scalar_k{K}` with parameter
//! `{rows}x{cols}/t{threads}`; throughput in elements counted K times
//! (`K * rows * cols`: every draw is a pass over the row), so the figures compare
//! directly with `gumbel_softmax_fwd/f32/fused_simd` (one draw per element). Run both in
//! the same command to compare them:
//! `cargo bench --bench main -- 'gumbel_rao|gumbel_softmax_fwd/f32/fused_simd/64x'`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use gumbel_tensor::Tensor;
use gumbel_tensor::ops::gumbel::{GumbelRng, Temperature, gumbel_max, gumbel_rao_backward, scalar};

const SHAPES: [(usize, usize); 2] = [(64, 5000), (64, 50257)];
const KS: [usize; 2] = [1, 10];
const THREADS: usize = 1;
const TAU: f32 = 0.5;

/// Logits spread like a trained LM's (a few large, most small), fixed (as in gumbel.rs).
fn logits(rows: usize, cols: usize) -> Tensor<f32> {
    Tensor::from_fn([rows, cols], |i| {
        let h = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
        (h as f32 / (1u64 << 24) as f32) * 8.0 - 6.0
    })
}

fn backward(c: &mut Criterion) {
    let mut group = c.benchmark_group("gumbel_rao_bwd/f32");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(THREADS)
        .build()
        .unwrap();
    for &(rows, cols) in &SHAPES {
        let l = logits(rows, cols);
        let index = gumbel_max(&l, &mut GumbelRng::new(2)).unwrap();
        let dy = logits(rows, cols);
        let param = format!("{rows}x{cols}/t{THREADS}");
        for &k in &KS {
            group.throughput(Throughput::Elements((k * rows * cols) as u64));
            group.sample_size(if k * rows * cols > 10_000_000 { 10 } else { 30 });
            let mut rng = GumbelRng::new(1);
            // the general kernel at TAU, and the exponential race at tau = 1
            for (suffix, tau) in [("", TAU), ("_tau1", 1.0)] {
                let id = BenchmarkId::new(format!("fused_simd_k{k}{suffix}"), &param);
                group.bench_function(id, |b| {
                    pool.install(|| {
                        b.iter(|| {
                            black_box(
                                gumbel_rao_backward(
                                    &l,
                                    &index,
                                    &dy,
                                    Temperature::Tau(tau),
                                    k,
                                    &mut rng,
                                )
                                .unwrap(),
                            )
                        })
                    })
                });
            }
            if cols == 5000 {
                group.bench_function(BenchmarkId::new(format!("scalar_k{k}"), &param), |b| {
                    pool.install(|| {
                        b.iter(|| {
                            black_box(
                                scalar::gumbel_rao_backward(
                                    &l,
                                    &index,
                                    &dy,
                                    Temperature::Tau(TAU),
                                    k,
                                    &mut rng,
                                )
                                .unwrap(),
                            )
                        })
                    })
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, backward);
