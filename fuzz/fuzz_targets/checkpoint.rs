//! The checkpoint tensor-file loader, `gumbel_gan::io::safetensors::TensorFile::load`, on
//! arbitrary bytes as a `.safetensors` file; then, as a resume or `gumbel-lab sample` does,
//! a generator and a discriminator are built with the sizes the file's tensors imply and
//! loaded from it (`Generator::load`, `Discriminator::load`), and a model that loads is run
//! once (a short sample and its NLL; the discriminator's logits). Any panic is a bug.
//!
//! The models are built only when their parameter count stays below `MAX_PARAMS` (the
//! sizes come from tensor shapes, and a model is allocated before its file is checked), so
//! an execution stays fast.

#![no_main]

use std::path::Path;

use gumbel_autograd::Tape;
use gumbel_gan::data::Token;
use gumbel_gan::model::discriminator::{Discriminator, DiscriminatorConfig};
use gumbel_gan::model::generator::{Generator, GeneratorConfig};
use gumbel_gan::io::safetensors::TensorFile;
use libfuzzer_sys::fuzz_target;

const MAX_PARAMS: usize = 1 << 18;
const SEQ_LEN: usize = 5;

fn dims(f: &TensorFile, name: &str) -> Option<Vec<usize>> {
    f.shape_of(name).map(<[usize]>::to_vec)
}

/// Generator sizes from `embedding.weight [V, E]` and `lstm.weight_hh_l0 [4H, H]`.
fn generator(path: &Path) {
    let Ok(mut f) = TensorFile::load(path) else {
        return;
    };
    let (Some(e), Some(hh)) = (dims(&f, "embedding.weight"), dims(&f, "lstm.weight_hh_l0")) else {
        return;
    };
    let (&[vocab, emb], &[_, hidden]) = (e.as_slice(), hh.as_slice()) else {
        return;
    };
    let params = [
        vocab * emb,
        4 * hidden * (emb + hidden + 2),
        vocab * (hidden + 1),
    ];
    if params
        .iter()
        .try_fold(0usize, |a, &p| a.checked_add(p))
        .is_none_or(|n| n > MAX_PARAMS)
    {
        return;
    }
    let cfg = GeneratorConfig {
        vocab,
        emb,
        hidden,
        seq_len: SEQ_LEN,
        start: 0,
        pad: Some(0).filter(|_| vocab > 2),
        eos: Some(2).filter(|_| vocab > 2),
    };
    let Ok(mut g) = Generator::new(cfg, 1) else {
        return;
    };
    if g.load(&mut f).is_ok() {
        if let Ok(tokens) = g.sample(2, 3) {
            let _ = g.nll(&tokens);
        }
    }
}

/// Discriminator sizes from `embedding.weight [V, E]` and `convs.convs.{k}.weight [F, E, w]`.
fn discriminator(path: &Path) {
    let Ok(mut f) = TensorFile::load(path) else {
        return;
    };
    let Some(&[vocab, emb]) = dims(&f, "embedding.weight").as_deref() else {
        return;
    };
    let (mut widths, mut filters) = (Vec::new(), 0);
    while let Some(&[nf, _, w]) =
        dims(&f, &format!("convs.convs.{}.weight", widths.len())).as_deref()
    {
        filters = nf;
        widths.push(w);
        if widths.len() > 8 {
            return;
        }
    }
    let d = filters.saturating_mul(widths.len());
    let weights: usize = widths.iter().map(|w| w.saturating_mul(filters)).sum();
    let params = vocab
        .saturating_mul(emb)
        .saturating_add(weights.saturating_mul(emb))
        .saturating_add(d.saturating_mul(d).saturating_mul(2));
    if widths.is_empty() || params > MAX_PARAMS {
        return;
    }
    let seq_len = widths.iter().copied().max().unwrap_or(1).max(SEQ_LEN);
    if seq_len > 64 {
        return;
    }
    let cfg = DiscriminatorConfig {
        vocab,
        seq_len,
        emb,
        widths,
        filters,
        dropout: 0.0,
    };
    let Ok(mut disc) = Discriminator::new(cfg, 2) else {
        return;
    };
    if disc.load(&mut f).is_ok() && vocab > 0 {
        let tokens: Vec<Token> = (0..2 * seq_len).map(|i| (i % vocab) as Token).collect();
        let tape = Tape::inference();
        if let Ok(logits) = disc.forward_tokens(&tape, &tokens, 2, 0) {
            let _ = logits.value();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let path = gumbel_fuzz::write_input("model.safetensors", data);
    if let Ok(f) = TensorFile::load(&path) {
        let _ = (f.path(), f.metadata().len(), f.expect_empty());
        for n in f.remaining() {
            let _ = f.shape_of(&n);
        }
    }
    generator(&path);
    discriminator(&path);
});
