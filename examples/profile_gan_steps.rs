//! Runs the GAN benchmark's workloads (`benches/benchmarks/gan.rs`: vocabulary 5000,
//! length 20, batch 64, the PyTorch peer's model sizes, RSGAN, Adam 1e-4, clip 5: `adv` and
//! `mle`; and `reinforce-captions`, one REINFORCE generator update with 16 rollouts on the
//! caption workload, `peer::caption_models`; `relgan-round` and `relgan-mle`, RelGAN's
//! adversarial round and MLE step, `peer::relgan_models`) for a fixed number of steps, for
//! profilers and for CPU-time comparisons on a shared machine.
//!
//! ```sh
//! cargo build --release --example profile_gan_steps
//! RAYON_NUM_THREADS=1 target/release/examples/profile_gan_steps adv 50
//! RAYON_NUM_THREADS=1 perf record -g target/release/examples/profile_gan_steps mle 200
//! valgrind --tool=callgrind target/release/examples/profile_gan_steps adv 2
//! RAYON_NUM_THREADS=1 target/release/examples/profile_gan_steps reinforce-captions 3
//! ```
//! Prints the wall time and the process's CPU time per step (from `/proc/self/stat`,
//! Linux), which is less disturbed by other processes than wall time, and a checksum of
//! the parameters (to compare builds and thread counts: it must not change).

use std::time::Instant;

use gumbel_gan::autograd::optim::Adam;
use gumbel_gan::model::Estimator;
use gumbel_gan::model::reinforce::RolloutPolicy;
use gumbel_gan::train::peer::{
    adversarial_step, caption_models, estimator_generator_step, mle_batch_step, models,
    random_tokens, relgan_models, relgan_round,
};

// The CLI's allocator policy, as the CLI and the benchmark use it.
#[path = "../src/malloc.rs"]
mod malloc;

/// User + system CPU time of this process in seconds (`/proc/self/stat` fields 14 and 15,
/// in clock ticks of 1/100 s), or `None` off Linux.
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// A fingerprint of the trained weights' bits (FNV-1a over every parameter): equal for two
/// runs exactly when every weight is bitwise equal (up to hash collisions).
fn checksum(stores: &[&gumbel_gan::autograd::ParamStore<f32>]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for x in stores
        .iter()
        .flat_map(|s| s.named_values())
        .flat_map(|(_, t)| t.as_slice().iter())
    {
        h = (h ^ x.to_bits() as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn main() {
    malloc::keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("adv");
    let steps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    let (mut gen_model, mut disc) = models();
    let real = random_tokens(7);
    let tokens = random_tokens(9);
    let mut g_opt = Adam::new(1e-4);
    let mut d_opt = Adam::new(1e-4);
    let mut caption = caption_models();
    let policy = RolloutPolicy::new(&caption.0).expect("a copy of the generator");
    let mut relgan = relgan_models();
    let mut mle_opt = Adam::new(1e-2);
    let mut step = |k: u64| match which {
        "adv" => {
            adversarial_step(&mut gen_model, &mut disc, &mut g_opt, &mut d_opt, &real, k).unwrap();
        }
        "mle" => {
            mle_batch_step(&mut gen_model, &mut g_opt, &tokens).unwrap();
        }
        "reinforce-captions" => {
            estimator_generator_step(
                Estimator::Reinforce { rollouts: 16 },
                &mut caption.0,
                &mut caption.1,
                &policy,
                &mut g_opt,
                &[],
                k,
            )
            .unwrap();
        }
        "relgan-round" => {
            relgan_round(
                &mut relgan.0,
                &mut relgan.1,
                &mut g_opt,
                &mut d_opt,
                &real,
                k,
            )
            .unwrap();
        }
        "relgan-mle" => {
            mle_batch_step(&mut relgan.0, &mut mle_opt, &tokens).unwrap();
        }
        other => panic!(
            "unknown workload {other:?} (adv, mle, reinforce-captions, relgan-round or relgan-mle)"
        ),
    };
    // As the benchmark does: the steps run inside a pool of `RAYON_NUM_THREADS` threads
    // (rayon's default: one per core), so that kernels run on the calling thread when they
    // do not split.
    // RAYON_NUM_THREADS if set and positive, else one thread per CPU (rayon's own default).
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    gumbel_tensor::parallel::with_threads(threads, || run(&mut step, which, steps))
        .expect("starting the thread pool");
    println!(
        "checksum {:016x}",
        match which {
            "reinforce-captions" => checksum(&[&caption.0.params, &caption.1.params]),
            "relgan-round" | "relgan-mle" => checksum(&[&relgan.0.params, &relgan.1.params]),
            _ => checksum(&[&gen_model.params, &disc.params]),
        }
    );
}

/// Runs `steps` steps after one warm-up step and prints the time per step.
fn run(step: &mut impl FnMut(u64), which: &str, steps: usize) {
    step(0); // warm-up: allocator, page faults, rayon's threads
    let (t0, c0) = (Instant::now(), cpu_seconds());
    for k in 1..=steps as u64 {
        step(k);
    }
    let wall = t0.elapsed().as_secs_f64() / steps as f64;
    let cpu = cpu_seconds()
        .zip(c0)
        .map(|(c1, c0)| (c1 - c0) / steps as f64);
    println!(
        "{which}: {steps} steps, {} threads: {:.2} ms wall per step, {} CPU per step",
        rayon::current_num_threads(),
        wall * 1e3,
        cpu.map_or("?".into(), |c| format!("{:.2} ms", c * 1e3)),
    );
}
