//! Writes the programmatic seeds of the fuzz corpus, `corpus/<target>/seed-*`, with the
//! crate's own writers (so every seed is a valid file the loaders accept):
//!
//! ```text
//! cd fuzz && cargo run --release --example make_corpus
//! ```
//!
//! The seeds named `seed-run-*` are not made here: they are files of a real tiny training
//! run (see README.md, "Seed corpus").

use std::fs;
use std::path::Path;

use gumbel_gan::data::oracle::{Oracle, tensor_specs, write_sample_file};
use gumbel_gan::io::safetensors;
use gumbel_gan::model::GeneratorArch;
use gumbel_gan::model::discriminator::{Discriminator, DiscriminatorConfig};
use gumbel_gan::model::generator::{Generator, GeneratorConfig};
use gumbel_gan::train::state::{CHECKPOINT_VERSION, Stage, TrainState};
use gumbel_tensor::Tensor;

fn put(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    fs::create_dir_all(&d).unwrap();
    let p = d.join(format!("seed-{name}"));
    fs::write(&p, bytes).unwrap();
    println!("{:>6} bytes  {}", bytes.len(), p.display());
}

fn main() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let tmp = std::env::temp_dir().join(format!("gumbel-make-corpus-{}", std::process::id()));
    fs::create_dir_all(&tmp).unwrap();

    // oracle: small random oracles saved by `Oracle::save`, f32 and f64.
    for (name, vocab, emb, hidden) in [("f32-v8-e4-h4", 8, 4, 4), ("f32-v1-e1-h1", 1, 1, 1)] {
        let p = tmp.join("o.safetensors");
        Oracle::<f32>::random_with_dims(vocab, emb, hidden, 1)
            .unwrap()
            .save(&p)
            .unwrap();
        put(&corpus, "oracle", name, &fs::read(&p).unwrap());
    }
    let p = tmp.join("o.safetensors");
    Oracle::<f64>::random_with_dims(5, 2, 3, 2)
        .unwrap()
        .save(&p)
        .unwrap();
    put(&corpus, "oracle", "f64-v5-e2-h3", &fs::read(&p).unwrap());

    // Oracles with a zero-sized embedding or hidden width (valid files that `Oracle::load`
    // accepts; `Oracle::random_with_dims` refuses zero sizes, so they are written directly).
    for (name, vocab, emb, hidden) in [("f32-v4-e0-h4", 4, 0, 4), ("f32-v4-e4-h0", 4, 4, 0)] {
        let tensors: Vec<(String, Tensor<f32>)> = tensor_specs(vocab, emb, hidden)
            .into_iter()
            .map(|(n, shape)| {
                let k: usize = shape.iter().product();
                let data = (0..k).map(|i| (i as f32 * 0.37).sin()).collect();
                (n, Tensor::new(shape, data).unwrap())
            })
            .collect();
        let refs: Vec<(String, &Tensor<f32>)> =
            tensors.iter().map(|(n, t)| (n.clone(), t)).collect();
        put(
            &corpus,
            "oracle",
            name,
            &safetensors::to_bytes(&refs, &[("format", "pt")]).unwrap(),
        );
    }

    // checkpoint: a generator and a discriminator file as a checkpoint holds them.
    let g = Generator::new(
        GeneratorConfig {
            vocab: 6,
            emb: 2,
            arch: GeneratorArch::Lstm { hidden: 2 },
            seq_len: 4,
            start: 1,
            pad: Some(0),
            eos: Some(2),
        },
        1,
    )
    .unwrap();
    put(
        &corpus,
        "checkpoint",
        "generator-v6-e2-h2",
        &g.safetensors_bytes().unwrap(),
    );
    let d = Discriminator::new(
        DiscriminatorConfig {
            arch: gumbel_gan::model::discriminator::DiscriminatorArch::Cnn,
            vocab: 6,
            seq_len: 5,
            emb: 2,
            widths: vec![2, 3],
            filters: 2,
            dropout: 0.0,
        },
        2,
    )
    .unwrap();
    put(
        &corpus,
        "checkpoint",
        "discriminator-v6-e2-w23-f2",
        &d.safetensors_bytes().unwrap(),
    );

    // state_json: a state at the start of MLE (no evaluation yet).
    let state = TrainState {
        version: CHECKPOINT_VERSION,
        stage: Stage::Mle,
        mle_step: 3,
        adv_step: 0,
        vocab: ["<pad>", "<bos>", "<eos>", "<unk>", "a", "b"]
            .map(String::from)
            .to_vec(),
        pad: Some(0),
        bos: Some(1),
        eos: Some(2),
        unk: Some(3),
        start_token: 1,
        seq_len: 4,
        after_mle: None,
        samples_mle: vec![],
        last_eval: None,
        temperature: Some(1.0),
        seconds: 0.5,
    };
    let json = serde_json::to_string_pretty(&state).unwrap();
    put(&corpus, "state_json", "mle", json.as_bytes());

    // text: a training and a test file (split at 0xFF), one file for both, and a SeqGAN
    // sample file.
    let mut both = b"A man rides a horse.\nThe cat, on the mat, isn't \"sleeping\"!\n\nI can't go (today).\r\n".to_vec();
    both.push(0xFF);
    both.extend_from_slice(b"a cat rides a horse.\nthe dog's ball -- red?\n");
    put(&corpus, "text", "train-test", &both);
    put(
        &corpus,
        "text",
        "one-file",
        "Héllo wörld ... it's $3.50, ok?\n\ttabs  and   spaces\n".as_bytes(),
    );
    let p = tmp.join("s.txt");
    let seqs: Vec<Vec<u32>> = (0..3)
        .map(|i| (0..20).map(|t| (i * 37 + t * 11) % 5000).collect())
        .collect();
    write_sample_file(&p, &seqs).unwrap();
    put(&corpus, "text", "sample-file", &fs::read(&p).unwrap());

    fs::remove_dir_all(&tmp).unwrap();
}
