//! RelGAN's networks are RelGAN's: at the oracle's full sizes (vocabulary 5,000, length 20),
//! a fresh generator and discriminator are exported, loaded into the PyTorch modules of
//! `../shared/peers/relgan_step_bench.py` (`--variant official`, which follows the authors'
//! TensorFlow code), and PyTorch recomputes what gumbel-lab computed on fixed inputs and
//! fixed Gumbel noise: the MLE loss and its gradients, the free-running relaxed samples
//! `softmax(beta (o + g))` with the sampled tokens fed back, the discriminator's logits for
//! real and generated sequences, the RSGAN generator loss, and its gradients in both networks
//! (dropout off on both sides), the adversarial backward checked in two halves that meet at
//! the samples (the script's docstring says why). `tests/pytorch/relgan_same_model.py` does
//! the comparing.

use std::fs;
use std::path::Path;
use std::process::Command;

use gumbel_gan::autograd::{Tape, Var};
use gumbel_gan::data::Token;
use gumbel_gan::io::safetensors;
use gumbel_gan::model::discriminator::{Discriminator, DiscriminatorArch, DiscriminatorConfig};
use gumbel_gan::model::generator::{DrawSettings, Generator, GeneratorConfig};
use gumbel_gan::model::{Estimator, Feedback, GeneratorArch, LossKind, TemperatureForm, loss};
use gumbel_tensor::Tensor;
use gumbel_tensor::ops::gumbel::{GumbelRng, gumbel_noise};

use crate::common;

const V: usize = 5000;
const L: usize = 20;
const B: usize = 8;
const BETA: f64 = 2.0;
const KEY: u64 = 77;

/// `B x L` token ids spread over the vocabulary (a fixed formula, not a draw).
fn tokens(k: usize) -> Vec<Token> {
    (0..B * L)
        .map(|i| ((i * 7919 + k * 104_729) % V) as Token)
        .collect()
}

#[test]
fn relgan_networks_compute_what_the_pytorch_reference_computes() {
    const TEST: &str = "relgan_networks_compute_what_the_pytorch_reference_computes";
    let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/peers");
    if !peers.join("relgan_step_bench.py").is_file() {
        let why = format!("{} has no relgan_step_bench.py", peers.display());
        common::record_optional(TEST, Some(&why));
        return;
    }
    let Some(python) = common::peers_python(TEST) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("gumbel-relgan-torch-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();

    let g = Generator::new(
        GeneratorConfig {
            vocab: V,
            emb: 32,
            arch: GeneratorArch::RELGAN,
            seq_len: L,
            start: 0,
            pad: None,
            eos: None,
        },
        3,
    )
    .unwrap();
    let d = Discriminator::new(
        DiscriminatorConfig {
            arch: DiscriminatorArch::RelGan { hidden: 100 },
            vocab: V,
            seq_len: L,
            emb: 64,
            widths: vec![2, 3, 4, 5],
            filters: 300,
            dropout: 0.25,
        },
        4,
    )
    .unwrap();
    fs::write(
        dir.join("generator.safetensors"),
        g.safetensors_bytes().unwrap(),
    )
    .unwrap();
    fs::write(
        dir.join("discriminator.safetensors"),
        d.safetensors_bytes().unwrap(),
    )
    .unwrap();

    let mut out: Vec<(String, Tensor<f32>)> = Vec::new();
    let ids = |t: &[Token]| Tensor::new([B, L], t.iter().map(|&x| x as f32).collect()).unwrap();
    let (mle_tokens, real) = (tokens(1), tokens(2));
    out.push(("mle_tokens".into(), ids(&mle_tokens)));
    out.push(("real_tokens".into(), ids(&real)));

    // MLE: teacher forcing from the start token 0.
    let tape = Tape::new();
    let mle = g.mle_loss(&tape, &mle_tokens, B).unwrap();
    out.push(("mle_loss".into(), Tensor::scalar(mle.item().unwrap())));
    let grads = tape.backward(mle).unwrap();
    for (name, value) in g.params.named_values() {
        let id = g.params.id(name).unwrap();
        if let Some(gr) = grads.param(id) {
            assert_eq!(gr.shape(), value.shape());
            out.push((format!("mle_grad.{name}"), gr.clone()));
        }
    }

    // The noise of each time step: the fused kernel draws it from the same stream, one
    // counter value per step.
    let mut rng = GumbelRng::new(KEY);
    for t in 0..L {
        out.push((format!("noise.{t}"), gumbel_noise(&[B, V], &mut rng)));
    }

    // Adversarial, in two halves whose gradients meet at the samples: (1) the
    // discriminator on the real sequences and on the generator's relaxed samples (as given
    // tensors), the RSGAN generator loss, and its gradients in the discriminator and in the
    // samples `u_t = dL/dy_t`; (2) the generator's free-running relaxed samples
    // `softmax(beta (o + g))` with the sampled tokens fed back, and the gradients of
    // `sum_t <y_t, u_t>` in the generator (= the generator's gradient of the loss). Dropout off.
    let draw = DrawSettings {
        batch: B,
        feedback: Feedback::Hard,
        estimator: Estimator::Gumbel,
    };
    let samples = |tape: &Tape<f32>| -> Vec<Tensor<f32>> {
        let mut ys = Vec::new();
        g.relaxed_each(
            tape,
            draw,
            TemperatureForm::Beta.fixed(BETA),
            KEY,
            &mut |y| {
                ys.push((*y.value()?).clone());
                Ok(())
            },
        )
        .unwrap();
        ys
    };
    let ys = samples(&Tape::inference());
    for (t, y) in ys.iter().enumerate() {
        out.push((format!("sample.{t}"), y.clone()));
    }
    let tape = Tape::new();
    tape.set_training(false);
    let fake: Vec<Var<'_, f32>> = ys.iter().map(|y| tape.leaf(y.clone())).collect();
    let d_fake = d.forward_onehot(&tape, &fake, B, 0).unwrap();
    let d_real = d.forward_tokens(&tape, &real, B, 0).unwrap();
    assert_eq!(d_fake.shape().unwrap(), [B * 64, 1]);
    out.push(("d_fake".into(), (*d_fake.value().unwrap()).clone()));
    out.push(("d_real".into(), (*d_real.value().unwrap()).clone()));
    let g_loss = loss::generator_loss(LossKind::Rsgan, d_real, d_fake).unwrap();
    out.push(("g_loss".into(), Tensor::scalar(g_loss.item().unwrap())));
    let mut grads = tape.backward(g_loss).unwrap();
    for (name, _) in d.params.named_values() {
        if let Some(gr) = grads.param(d.params.id(name).unwrap()) {
            out.push((format!("adv_grad.d.{name}"), gr.clone()));
        }
    }
    let us: Vec<Tensor<f32>> = fake.iter().map(|y| grads.take(*y).unwrap()).collect();
    for (t, u) in us.iter().enumerate() {
        out.push((format!("sample_grad.{t}"), u.clone()));
    }
    let tape = Tape::new();
    let mut terms = Vec::new();
    let mut t = 0;
    g.relaxed_each(
        &tape,
        draw,
        TemperatureForm::Beta.fixed(BETA),
        KEY,
        &mut |y| {
            terms.push(y.mul(&tape.constant(us[t].clone()))?.sum()?);
            t += 1;
            Ok(())
        },
    )
    .unwrap();
    let total = terms
        .iter()
        .skip(1)
        .try_fold(terms[0], |a, b| a.add(b))
        .unwrap();
    let grads = tape.backward(total).unwrap();
    for (name, _) in g.params.named_values() {
        if let Some(gr) = grads.param(g.params.id(name).unwrap()) {
            out.push((format!("adv_grad.g.{name}"), gr.clone()));
        }
    }
    let refs: Vec<(String, &Tensor<f32>)> = out.iter().map(|(n, t)| (n.clone(), t)).collect();
    fs::write(
        dir.join("expected.safetensors"),
        safetensors::to_bytes(&refs, &[]).unwrap(),
    )
    .unwrap();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pytorch/relgan_same_model.py");
    let run = Command::new(&python)
        .arg(&script)
        .arg(&peers)
        .arg(&dir)
        .arg(BETA.to_string())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success() && text.contains("ok"), "{text}");
    eprintln!("{}", text.trim());
    fs::remove_dir_all(&dir).unwrap();
}
