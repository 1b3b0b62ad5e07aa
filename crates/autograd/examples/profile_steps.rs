//! Runs the autograd benchmarks' two workloads for a fixed number of steps, for profilers:
//! an MLE step of an LSTM language model (batch 64, 20 steps, vocabulary 5000, hidden 32)
//! and a CNN discriminator step on a soft one-hot input (widths 2..5 x 64 filters).
//!
//! ```sh
//! RAYON_NUM_THREADS=1 perf stat -e task-clock \
//!     cargo run --release -p gumbel-autograd --example profile_steps -- lstm 200
//! RAYON_NUM_THREADS=1 perf record -g target/release/examples/profile_steps cnn 200
//! ```
//! Prints the wall time per step and the process's CPU time per step (from
//! `/proc/self/stat`, Linux), which is less disturbed by other processes on a shared machine.

use std::time::Instant;

use gumbel_autograd::layers::{Bias, Conv1dBank, Embedding, Linear, Lstm};
use gumbel_autograd::ops::embedding::soft_embedding;
use gumbel_autograd::{ParamStore, Tape, init};
use gumbel_tensor::Tensor;

const VOCAB: usize = 5000;
const LEN: usize = 20;
const BATCH: usize = 64;

/// User + system CPU time of this process in seconds (`/proc/self/stat` fields 14 and 15,
/// in clock ticks of 1/100 s), or `None` off Linux.
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// One training step's forward + backward on the store; returns the tape's node count.
type Step = Box<dyn FnMut(&mut ParamStore<f32>) -> usize>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("lstm");
    let steps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    let hidden: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(32);
    let mut p = ParamStore::<f32>::new();
    let mut rng = init::seeded(1);
    let tokens: Vec<usize> = (0..BATCH * LEN).map(|i| (i * 7919) % VOCAB).collect();
    let mut run: Step = match which {
        "lstm" => {
            let emb = Embedding::new(&mut p, "emb", VOCAB, 32, &mut rng).unwrap();
            let lstm = Lstm::new(&mut p, "lstm", 32, hidden, &mut rng).unwrap();
            let out = Linear::new(&mut p, "out", hidden, VOCAB, Bias::Yes, &mut rng).unwrap();
            Box::new(move |p| {
                let tape = Tape::new();
                let x = emb.forward(&tape, p, &tokens).unwrap();
                let (hs, _) = lstm.forward_seq(&tape, p, &x, BATCH, None).unwrap();
                let loss = out
                    .forward(&tape, p, &hs)
                    .unwrap()
                    .cross_entropy(&tokens, None)
                    .unwrap();
                let n = tape.len();
                p.accumulate(&mut tape.backward(loss).unwrap()).unwrap();
                p.zero_grad();
                n
            })
        }
        "cnn" => {
            let emb = Embedding::new(&mut p, "emb", VOCAB, 64, &mut rng).unwrap();
            let bank =
                Conv1dBank::new(&mut p, "cnn", 64, &[2, 3, 4, 5], &[64; 4], &mut rng).unwrap();
            let fc = Linear::new(&mut p, "fc", bank.out_dim, 1, Bias::Yes, &mut rng).unwrap();
            let soft = std::sync::Arc::new(Tensor::full([BATCH * LEN, VOCAB], 1.0 / VOCAB as f32));
            let labels = Tensor::ones([BATCH, 1]);
            Box::new(move |p| {
                let tape = Tape::new();
                let y = tape.leaf_shared(soft.clone(), true);
                let x = soft_embedding(&y, &p.var(&tape, emb.weight).unwrap()).unwrap();
                let x = x.reshape([BATCH, LEN, 64]).unwrap();
                let feat = bank.forward(&tape, p, &x).unwrap();
                let loss = fc
                    .forward(&tape, p, &feat)
                    .unwrap()
                    .bce_with_logits(&tape.constant(labels.clone()))
                    .unwrap();
                let n = tape.len();
                p.accumulate(&mut tape.backward(loss).unwrap()).unwrap();
                p.zero_grad();
                n
            })
        }
        other => panic!("unknown workload {other:?}: use lstm or cnn"),
    };
    let nodes = run(&mut p); // warm-up
    let (t0, c0) = (Instant::now(), cpu_seconds());
    for _ in 0..steps {
        run(&mut p);
    }
    let wall = t0.elapsed().as_secs_f64() / steps as f64;
    let cpu = cpu_seconds()
        .zip(c0)
        .map(|(c1, c0)| (c1 - c0) / steps as f64);
    println!(
        "{which}: {nodes} nodes per step, {:.2} ms wall per step{}",
        wall * 1e3,
        cpu.map(|c| format!(", {:.2} ms CPU per step", c * 1e3))
            .unwrap_or_default()
    );
}
