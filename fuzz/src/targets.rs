//! The bodies of the fuzz targets, one function per target, shared by the libFuzzer
//! binaries (`fuzz_targets/*.rs`) and by the workspace test `tests/fuzz_corpus.rs`, which
//! runs them on the committed corpus and on mutations of it for a bounded time in CI. Each
//! takes the fuzzer's input bytes; any panic is a bug (a bad file must be an `Err`).
//!
//! This file uses only the workspace crates (no libFuzzer), so that the test can include it
//! with `#[path]`; it writes its inputs through `crate::scratch`.

use std::path::Path;

use gumbel_gan::autograd::Tape;
use gumbel_gan::data::oracle::Oracle;
use gumbel_gan::data::oracle::read_sample_file;
use gumbel_gan::data::text::{TextOptions, load, load_with};
use gumbel_gan::data::{Specials, Token, Vocab};
use gumbel_gan::io::safetensors::TensorFile;
use gumbel_gan::model::GeneratorArch;
use gumbel_gan::model::discriminator::{Discriminator, DiscriminatorConfig};
use gumbel_gan::model::generator::{Generator, GeneratorConfig};
use gumbel_gan::train::checkpoint::Checkpoint;
use gumbel_gan::train::data::{DataKind, render_tokens};
use gumbel_tensor::Element;

use crate::scratch::{scratch_subdir, write_input};

fn oracle_exercise<T: Element>(o: &Oracle<T>) {
    let _ = (o.vocab_size(), o.emb_dim(), o.hidden_dim());
    let _ = o.log_probs(&[]);
    let seqs = o.sample(2, 3, 7);
    let _ = o.nll_oracle(&seqs);
    let _ = o.parameters();
}

/// The SeqGAN oracle loader, `gumbel_gan::data::oracle::Oracle::load`, on arbitrary bytes
/// as a `.safetensors` file, in both element types; an oracle that loads is then used a
/// little (first-step log-probabilities, a short sample, its NLL_oracle, its parameters), as
/// `gumbel-lab train --data oracle` would. Any panic is a bug: a bad file must be an `Err`.
///
/// Work per input is bounded by the input: every tensor's bytes are in the file (a zero-sized
/// dimension gives an empty tensor), and the sample is 2 sequences of 3 tokens.
pub fn oracle(data: &[u8]) {
    let path = write_input("oracle.safetensors", data);
    if let Ok(o) = Oracle::<f32>::load(&path) {
        oracle_exercise(&o);
    }
    if let Ok(o) = Oracle::<f64>::load(&path) {
        oracle_exercise(&o);
    }
}

const CHECKPOINT_MAX_PARAMS: usize = 1 << 18;
const CHECKPOINT_SEQ_LEN: usize = 5;

fn checkpoint_dims(f: &TensorFile, name: &str) -> Option<Vec<usize>> {
    f.shape_of(name).map(<[usize]>::to_vec)
}

/// Generator sizes from `embedding.weight [V, E]` and `lstm.weight_hh_l0 [4H, H]`.
fn checkpoint_generator(path: &Path) {
    let Ok(mut f) = TensorFile::load(path) else {
        return;
    };
    let (Some(e), Some(hh)) = (
        checkpoint_dims(&f, "embedding.weight"),
        checkpoint_dims(&f, "lstm.weight_hh_l0"),
    ) else {
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
        .is_none_or(|n| n > CHECKPOINT_MAX_PARAMS)
    {
        return;
    }
    let cfg = GeneratorConfig {
        vocab,
        emb,
        arch: GeneratorArch::Lstm { hidden },
        seq_len: CHECKPOINT_SEQ_LEN,
        start: 0,
        pad: Some(0).filter(|_| vocab > 2),
        eos: Some(2).filter(|_| vocab > 2),
    };
    let Ok(mut g) = Generator::new(cfg, 1) else {
        return;
    };
    if g.load(&mut f).is_ok()
        && let Ok(tokens) = g.sample(2, 3)
    {
        let _ = g.nll(&tokens);
    }
}

/// Discriminator sizes from `embedding.weight [V, E]` and `convs.convs.{k}.weight [F, E, w]`.
fn checkpoint_discriminator(path: &Path) {
    let Ok(mut f) = TensorFile::load(path) else {
        return;
    };
    let Some(&[vocab, emb]) = checkpoint_dims(&f, "embedding.weight").as_deref() else {
        return;
    };
    let (mut widths, mut filters) = (Vec::new(), 0);
    while let Some(&[nf, _, w]) =
        checkpoint_dims(&f, &format!("convs.convs.{}.weight", widths.len())).as_deref()
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
    if widths.is_empty() || params > CHECKPOINT_MAX_PARAMS {
        return;
    }
    let seq_len = widths
        .iter()
        .copied()
        .max()
        .unwrap_or(1)
        .max(CHECKPOINT_SEQ_LEN);
    if seq_len > 64 {
        return;
    }
    let cfg = DiscriminatorConfig {
        arch: gumbel_gan::model::discriminator::DiscriminatorArch::Cnn,
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

/// The checkpoint tensor-file loader, `gumbel_gan::io::safetensors::TensorFile::load`, on
/// arbitrary bytes as a `.safetensors` file; then, as a resume or `gumbel-lab sample` does,
/// a generator and a discriminator are built with the sizes the file's tensors imply and
/// loaded from it (`Generator::load`, `Discriminator::load`), and a model that loads is run
/// once (a short sample and its NLL; the discriminator's logits). Any panic is a bug.
///
/// The models are built only when their parameter count stays below `CHECKPOINT_MAX_PARAMS` (the
/// sizes come from tensor shapes, and a model is allocated before its file is checked), so
/// an execution stays fast.
pub fn checkpoint(data: &[u8]) {
    let path = write_input("model.safetensors", data);
    if let Ok(f) = TensorFile::load(&path) {
        let _ = (f.path(), f.metadata().len(), f.expect_empty());
        for n in f.remaining() {
            let _ = f.shape_of(&n);
        }
    }
    checkpoint_generator(&path);
    checkpoint_discriminator(&path);
}

/// The checkpoint's `state.json` reader, `Checkpoint::read(dir)` then `.state()`, on
/// arbitrary bytes as `<dir>/state.json`. A state that reads is then used as
/// `gumbel-lab sample` uses it (`train::inspect`): its vocabulary and special tokens make a
/// `Vocab`, its sizes a generator (small widths, random weights instead of a
/// `generator.safetensors`), which draws one sequence that is rendered with the state's
/// vocabulary. Any panic is a bug: a bad state.json must be an `Err`.
///
/// The generator is built only for vocabularies of at most 4096 tokens and `seq_len` at
/// most 256 (a larger but valid state would only be slow here).
pub fn state_json(data: &[u8]) {
    let dir = scratch_subdir("checkpoint");
    std::fs::write(dir.join("state.json"), data).expect("write state.json");
    let Ok(state) = Checkpoint::read(&dir).and_then(|c| c.state()) else {
        return;
    };
    let specials = Specials {
        pad: state.pad,
        bos: state.bos,
        eos: state.eos,
        unk: state.unk,
    };
    let _ = Vocab::new(state.vocab.clone(), specials);
    if state.vocab.len() > 4096 || state.seq_len > 256 {
        return;
    }
    let cfg = GeneratorConfig {
        vocab: state.vocab.len(),
        emb: 2,
        arch: GeneratorArch::Lstm { hidden: 2 },
        seq_len: state.seq_len,
        start: state.start_token,
        pad: state.pad,
        eos: state.eos,
    };
    let Ok(g) = Generator::new(cfg, 0) else {
        return;
    };
    if let Ok(tokens) = g.sample(1, 0) {
        for kind in [DataKind::Grammar, DataKind::Oracle, DataKind::Text] {
            let _ = render_tokens(&state.vocab, specials, kind, &tokens);
        }
    }
}

/// The text-corpus loader, `gumbel_gan::data::text::load` / `load_with`, on arbitrary bytes
/// as a training and a test file: the input up to its first 0xFF byte is the training file,
/// the rest the test file (without a 0xFF byte both files hold the whole input; 0xFF is
/// never valid UTF-8, so the split loses no valid text). One load per input: the default
/// options (`load`) when the input length is 16 mod 17, else `load_with` and `max_len` =
/// length mod 17 (0 to 15). (Tokenizing is most of an execution's time, so one load per
/// input doubles the executions per second over loading with both.) Both files are also read as SeqGAN
/// sample files (`data::oracle::read_sample_file`, vocabulary 5000, length 20). A corpus
/// that loads is encoded, padded, stripped and decoded again. Any panic is a bug: a bad
/// file must be an `Err`.
pub fn text(data: &[u8]) {
    let (train, test) = match data.iter().position(|&b| b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let train = write_input("train.txt", train);
    let test = write_input("test.txt", test);
    let loaded = match data.len() % 17 {
        16 => load(&train, &test),
        n => load_with(&train, &test, &TextOptions { max_len: Some(n) }),
    };
    if let Ok(corpus) = loaded {
        let ds = &corpus.dataset;
        for seq in ds.train.iter().chain(&ds.test) {
            if let Ok(p) = ds.padded(seq) {
                let _ = ds.vocab.decode(ds.strip(&p));
            }
        }
        let _ = ds.padded_batch(&ds.test);
    }
    for p in [&train, &test] {
        let _ = read_sample_file(p, 5000, 20);
    }
}
