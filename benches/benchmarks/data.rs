//! Data sets and metrics of `gumbel-gan`: the SeqGAN oracle's NLL_oracle and sampling of
//! 9,984 x 20 tokens (the evaluation SeqGAN runs every 5 epochs), and BLEU / self-BLEU on a
//! COCO-sized synthetic corpus. No benchmark data is needed: a random oracle of the SeqGAN
//! size costs exactly what the real one does.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use gumbel_gan::data::oracle::{EVAL_SEQUENCES, Oracle, SEQ_LEN};
use gumbel_gan::metrics::bleu::{
    References, TEXYGEN_FAST_REFERENCES, bleu_2_to_5, self_bleu_2_to_5,
};

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

fn oracle(c: &mut Criterion) {
    let o = Oracle::<f32>::random(1);
    let samples = o.sample(EVAL_SEQUENCES, SEQ_LEN, 2);
    let mut g = c.benchmark_group("oracle_nll/f32");
    g.sample_size(10);
    g.throughput(Throughput::Elements((EVAL_SEQUENCES * SEQ_LEN) as u64));
    for threads in [1, 2] {
        g.bench_function(BenchmarkId::new("simd", threads), |b| {
            pool(threads)
                .install(|| b.iter(|| black_box(o.nll_oracle(black_box(&samples)).unwrap())))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("oracle_sample/f32");
    g.sample_size(10);
    g.throughput(Throughput::Elements((EVAL_SEQUENCES * SEQ_LEN) as u64));
    for threads in [1, 2] {
        g.bench_function(BenchmarkId::new("inverse_cdf", threads), |b| {
            pool(threads).install(|| b.iter(|| black_box(o.sample(EVAL_SEQUENCES, SEQ_LEN, 3))))
        });
    }
    g.finish();
}

/// 10,000 sentences of 5..=16 words drawn from a Zipf-like law over 5,000 words (COCO has
/// 10,000 lines of mean length 11.4 over 4,681 types).
fn zipf_corpus(n: usize, seed: u64) -> Vec<Vec<u32>> {
    let mut s = seed;
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        gumbel_tensor::random::unit_f64(s)
    };
    (0..n)
        .map(|_| {
            let len = 5 + (next() * 12.0) as usize;
            (0..len)
                .map(|_| (5000f64.powf(next()) - 1.0) as u32)
                .collect()
        })
        .collect()
}

fn bleu(c: &mut Criterion) {
    let refs = zipf_corpus(10_000, 1);
    let hyps = zipf_corpus(10_000, 2);
    let mut g = c.benchmark_group("bleu_2_to_5/u32");
    g.sample_size(10);
    g.throughput(Throughput::Elements(hyps.len() as u64));
    for threads in [1, 2] {
        g.bench_function(BenchmarkId::new("all_10k_refs", threads), |b| {
            pool(threads).install(|| {
                b.iter(|| black_box(bleu_2_to_5(&hyps, &refs, References::All).unwrap()))
            })
        });
        g.bench_function(BenchmarkId::new("self_bleu_all_10k", threads), |b| {
            pool(threads)
                .install(|| b.iter(|| black_box(self_bleu_2_to_5(&hyps, References::All).unwrap())))
        });
        g.bench_function(BenchmarkId::new("self_bleu_fast_500", threads), |b| {
            pool(threads).install(|| {
                b.iter(|| {
                    black_box(
                        self_bleu_2_to_5(&hyps, References::First(TEXYGEN_FAST_REFERENCES))
                            .unwrap(),
                    )
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, oracle, bleu);
