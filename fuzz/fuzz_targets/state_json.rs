//! The checkpoint's `state.json` reader, `gumbel_gan::train::run::read_state(dir)`, on
//! arbitrary bytes as `<dir>/state.json`. A state that reads is then used as
//! `gumbel-lab sample` uses it (`train::inspect`): its vocabulary and special tokens make a
//! `Vocab`, its sizes a generator (small widths, random weights instead of a
//! `generator.safetensors`), which draws one sequence that is rendered with the state's
//! vocabulary. Any panic is a bug: a bad state.json must be an `Err`.
//!
//! The generator is built only for vocabularies of at most 4096 tokens and `seq_len` at
//! most 256 (a larger but valid state would only be slow here).

#![no_main]

use gumbel_gan::data::{Specials, Vocab};
use gumbel_gan::model::generator::{Generator, GeneratorConfig};
use gumbel_gan::train::data::{DataKind, render_tokens};
use gumbel_gan::train::run::read_state;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = gumbel_fuzz::scratch_subdir("checkpoint");
    std::fs::write(dir.join("state.json"), data).expect("write state.json");
    let Ok(state) = read_state(&dir) else {
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
        hidden: 2,
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
});
