//! One adversarial step (one generator update + one discriminator update) and one MLE
//! step of the text GAN, at the configuration of `../shared/peers/gan_step_bench.py`:
//! vocabulary 5000, length 20, batch 64; generator embedding 32, LSTM 32, soft feedback;
//! discriminator embedding 64, widths 2, 3, 4, 5 x 64 filters, no dropout; RSGAN; Adam
//! (lr 1e-4); tau 1; f32; 1 and 2 threads.
//!
//! As in the PyTorch script, real data are fixed random tokens made outside the timed
//! region, the generator update freezes the discriminator, and the discriminator update
//! samples without gradient. Differences: the discriminator reads real sequences as rows
//! of its embedding (the same value as `one_hot @ E`, by design cheaper), and both updates
//! clip the gradient norm at 5 as training does (the script does not clip; clipping is one
//! pass over the parameters). glibc's allocator is told to keep freed memory and to use one
//! arena (`src/malloc.rs`, included below), as the CLI does; this matters (about 2x on the MLE
//! step, which runs on a pool thread here). `examples/profile_gan_steps.rs` runs the same two
//! steps in a loop for profilers. `relgan_steps` times RelGAN's steps beside
//! `../shared/peers/relgan_step_bench.py`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group};
use gumbel_gan::autograd::optim::Adam;
use gumbel_gan::model::Estimator;
use gumbel_gan::model::reinforce::RolloutPolicy;
use gumbel_gan::train::peer::{
    BATCH as B, LEN as L, VOCAB as V, adversarial_step, caption_models, estimator_generator_step,
    mle_batch_step, models, one_hot_discriminator_step, random_tokens,
};

// The CLI's allocator policy (a property of the process, so it lives in the binary's source).
#[path = "../../src/malloc.rs"]
mod malloc;

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

fn gan_steps(c: &mut Criterion) {
    // As the CLI does: keep freed tensor memory in the process.
    malloc::keep_freed_memory();
    let real = random_tokens(7);
    let mut g = c.benchmark_group("gan_adv_step/f32");
    g.sample_size(10);
    g.throughput(Throughput::Elements((B * L * V) as u64));
    for threads in [1, 2] {
        let (mut gen_model, mut disc) = models();
        let mut g_opt = Adam::new(1e-4);
        let mut d_opt = Adam::new(1e-4);
        let mut k = 0u64;
        g.bench_function(BenchmarkId::new("adv_step", threads), |b| {
            pool(threads).install(|| {
                b.iter(|| {
                    k += 1;
                    black_box(
                        adversarial_step(
                            &mut gen_model,
                            &mut disc,
                            &mut g_opt,
                            &mut d_opt,
                            &real,
                            k,
                        )
                        .unwrap(),
                    )
                })
            })
        });
    }
    g.finish();

    let tokens = random_tokens(9);
    let mut g = c.benchmark_group("gan_mle_step/f32");
    g.sample_size(20);
    g.throughput(Throughput::Elements((B * L * V) as u64));
    for threads in [1, 2] {
        let (mut gen_model, _) = models();
        let mut opt = Adam::new(1e-4);
        g.bench_function(BenchmarkId::new("mle_step", threads), |b| {
            pool(threads).install(|| {
                b.iter(|| black_box(mle_batch_step(&mut gen_model, &mut opt, &tokens).unwrap()))
            })
        });
    }
    g.finish();
}

/// One generator update per estimator (`train --estimator NAME`) at the same sizes, hard
/// feedback, tau 1: what each estimator's update costs, REINFORCE's 16 rollouts per prefix
/// included (group `gan_generator_step/f32`, ids `NAME/THREADS`), REINFORCE on the caption
/// workload (`reinforce:16-captions/THREADS`: COCO's vocabulary and length, sequences that
/// end after 11.5 tokens on average; `peer::caption_models`), and the discriminator
/// update every estimator's adversarial step adds (id `discriminator/THREADS`, on one-hot
/// samples as the one-hot estimators and REINFORCE train it). Run:
/// `cargo bench --bench main -- gan_generator_step`.
fn estimator_generator_steps(c: &mut Criterion) {
    malloc::keep_freed_memory();
    let real = random_tokens(7);
    let mut g = c.benchmark_group("gan_generator_step/f32");
    g.sample_size(10);
    g.throughput(Throughput::Elements((B * L * V) as u64));
    // (benchmark id, estimator, workload): every estimator at SeqGAN's sizes, and REINFORCE
    // on caption-like data, where most sequences and rollouts end early
    let workloads = [
        "gumbel",
        "st-gumbel",
        "st",
        "reinmax",
        "gapped-st:1",
        "gumbel-rao:10",
        "reinforce:16",
    ]
    .map(|name| (name, name, models as fn() -> _))
    .into_iter()
    .chain([(
        "reinforce:16-captions",
        "reinforce:16",
        caption_models as fn() -> _,
    )]);
    for (id, name, make) in workloads {
        let estimator: Estimator = name.parse().unwrap();
        for threads in [1, 2] {
            let (mut gen_model, mut disc) = make();
            let policy = RolloutPolicy::new(&gen_model).unwrap();
            let mut opt = Adam::new(1e-4);
            let mut k = 0u64;
            g.bench_function(BenchmarkId::new(id, threads), |b| {
                pool(threads).install(|| {
                    b.iter(|| {
                        k += 1;
                        black_box(
                            estimator_generator_step(
                                estimator,
                                &mut gen_model,
                                &mut disc,
                                &policy,
                                &mut opt,
                                &real,
                                k,
                            )
                            .unwrap(),
                        )
                    })
                })
            });
        }
    }
    for threads in [1, 2] {
        let (gen_model, mut disc) = models();
        let mut opt = Adam::new(1e-4);
        let mut k = 0u64;
        g.bench_function(BenchmarkId::new("discriminator", threads), |b| {
            pool(threads).install(|| {
                b.iter(|| {
                    k += 1;
                    black_box(
                        one_hot_discriminator_step(&gen_model, &mut disc, &mut opt, &real, k)
                            .unwrap(),
                    )
                })
            })
        });
    }
    g.finish();
}

/// RelGAN's steps at the sizes of `../shared/peers/relgan_step_bench.py --variant official`
/// (`peer::relgan_models`: vocabulary 5,000, length 20, batch 64; relational-memory
/// generator, multi-representation discriminator with dropout 0.25; RSGAN, beta 1, Adam 1e-4,
/// MLE Adam 1e-2, clip 5), group `relgan_step/f32`, ids as the script's ops: `adv_round` (1
/// generator + 5 discriminator updates), `g_step`, `d_step`, `mle_step`, each on 1 and 2
/// threads. Run: `cargo bench --bench main -- relgan_step`.
fn relgan_steps(c: &mut Criterion) {
    use gumbel_gan::train::peer::{
        relgan_discriminator_step, relgan_generator_step, relgan_models, relgan_round,
    };
    malloc::keep_freed_memory();
    let real = random_tokens(7);
    let tokens = random_tokens(9);
    let mut g = c.benchmark_group("relgan_step/f32");
    // Ten samples of one call each (a round takes seconds; criterion's default linear
    // sampling would make 55 calls).
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    for threads in [1, 2] {
        let (mut gen_model, mut disc) = relgan_models();
        let (mut g_opt, mut d_opt, mut mle_opt) =
            (Adam::new(1e-4), Adam::new(1e-4), Adam::new(1e-2));
        let mut k = 0u64;
        let p = pool(threads);
        g.bench_function(BenchmarkId::new("adv_round", threads), |b| {
            p.install(|| {
                b.iter(|| {
                    k += 1;
                    black_box(
                        relgan_round(&mut gen_model, &mut disc, &mut g_opt, &mut d_opt, &real, k)
                            .unwrap(),
                    )
                })
            })
        });
        g.bench_function(BenchmarkId::new("g_step", threads), |b| {
            p.install(|| {
                b.iter(|| {
                    k += 1;
                    black_box(
                        relgan_generator_step(&mut gen_model, &mut disc, &mut g_opt, &real, k)
                            .unwrap(),
                    )
                })
            })
        });
        g.bench_function(BenchmarkId::new("d_step", threads), |b| {
            p.install(|| {
                b.iter(|| {
                    k += 1;
                    black_box(
                        relgan_discriminator_step(&gen_model, &mut disc, &mut d_opt, &real, k)
                            .unwrap(),
                    )
                })
            })
        });
        g.bench_function(BenchmarkId::new("mle_step", threads), |b| {
            p.install(|| {
                b.iter(|| black_box(mle_batch_step(&mut gen_model, &mut mle_opt, &tokens).unwrap()))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, gan_steps, estimator_generator_steps, relgan_steps);
