//! Matrix multiply, `f32` (`matmul/f32`): gemm (`gemm`) on the text GAN's shapes, on 1 and
//! 2 threads, and the naive triple loop (`scalar`) on the tiny shape.
//!
//! Throughput is counted in floating-point operations (`2 m n k`), so criterion's
//! "elem/s" reads as FLOP/s. The shapes (batch 64 x 20 steps = 1280 rows, vocabulary
//! 5000, embedding 32):
//! - `1280x32 @ 32x5000`: logits from hidden states (the output projection);
//! - `1280x5000 @ 5000x32`: soft one-hot samples times the embedding (`y @ E`);
//! - `(1280x5000)^T @ 1280x32`: the embedding's weight gradient `y^T @ d(yE)`, a transposed
//!   left operand read through strides;
//! - `64x32 @ 32x5000`, `64x5000 @ 5000x32`, `(64x5000)^T @ 64x32`: the same three for one
//!   time step of the adversarial phase (20 of each per generator pass; the second one takes
//!   the split-k path);
//! - `1280x5000 @ 5000x64` and `(1280x5000)^T @ 1280x64`: the discriminator's embedding of
//!   soft one-hots and its weight gradient;
//! - `64x32 @ 32x128`: one LSTM step's gate projection (tiny; stays on one thread);
//! - RelGAN's discriminator highway over `B x 64 = 4096` representations of 1200 features
//!   (`docs/relgan.md`): the forward `x W^T` (`W` stored `[out, in]`, read transposed), the
//!   input gradient `dY W` and the weight gradient `dY^T x`, the bulk of a RelGAN round's
//!   arithmetic: their rate is the "gemm's rate on these shapes" that docs/performance.md
//!   measures the RelGAN steps against.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use gumbel_tensor::ops::matmul::{Dims, scalar};
use gumbel_tensor::{Tensor, ops};

const THREADS: [usize; 2] = [1, 2];

/// One operand: its stored shape and whether the product reads it transposed.
type Operand = ([usize; 2], bool);

/// (label, a, b)
const CASES: [(&str, Operand, Operand); 12] = [
    ("1280x32@32x5000", ([1280, 32], false), ([32, 5000], false)),
    (
        "1280x5000@5000x32",
        ([1280, 5000], false),
        ([5000, 32], false),
    ),
    (
        "(1280x5000)^T@1280x32",
        ([1280, 5000], true),
        ([1280, 32], false),
    ),
    ("64x32@32x5000", ([64, 32], false), ([32, 5000], false)),
    ("64x5000@5000x32", ([64, 5000], false), ([5000, 32], false)),
    ("(64x5000)^T@64x32", ([64, 5000], true), ([64, 32], false)),
    (
        "1280x5000@5000x64",
        ([1280, 5000], false),
        ([5000, 64], false),
    ),
    (
        "(1280x5000)^T@1280x64",
        ([1280, 5000], true),
        ([1280, 64], false),
    ),
    ("64x32@32x128", ([64, 32], false), ([32, 128], false)),
    (
        "4096x1200@(1200x1200)^T",
        ([4096, 1200], false),
        ([1200, 1200], true),
    ),
    (
        "4096x1200@1200x1200",
        ([4096, 1200], false),
        ([1200, 1200], false),
    ),
    (
        "(4096x1200)^T@4096x1200",
        ([4096, 1200], true),
        ([4096, 1200], false),
    ),
];

fn data(shape: [usize; 2], seed: u64) -> Tensor<f32> {
    Tensor::from_fn(shape, |i| {
        let h = (i as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        h as f32 / (1u64 << 24) as f32 - 0.5
    })
}

fn bench_matmul(c: &mut Criterion) {
    let mut g = c.benchmark_group("matmul/f32");
    for (label, (sa, trans_a), (sb, trans_b)) in CASES {
        let (a, b) = (data(sa, 1), data(sb, 2));
        let d = Dims::of("bench", &a, trans_a, &b, trans_b).unwrap();
        let mut out = Tensor::zeros([d.m, d.n]);
        g.throughput(Throughput::Elements((2 * d.m * d.n * d.k) as u64));
        for threads in THREADS {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            g.bench_function(
                BenchmarkId::new("gemm", format!("{label}/{threads}t")),
                |bch| {
                    pool.install(|| {
                        bch.iter(|| {
                            ops::matmul_acc(&mut out, black_box(&a), trans_a, &b, trans_b, 1.0, 0.0)
                                .unwrap()
                        })
                    })
                },
            );
        }
        if d.m * d.n * d.k <= 1 << 20 {
            g.bench_function(BenchmarkId::new("scalar", format!("{label}/1t")), |bch| {
                bch.iter(|| {
                    scalar::matmul(
                        d,
                        black_box(a.as_slice()),
                        b.as_slice(),
                        1.0,
                        0.0,
                        out.as_mut_slice(),
                    )
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench_matmul);
