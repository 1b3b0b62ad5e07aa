//! The SeqGAN oracle loader, `gumbel_gan::data::oracle::Oracle::load`, on arbitrary bytes
//! as a `.safetensors` file, in both element types; an oracle that loads is then used a
//! little (first-step log-probabilities, a short sample, its NLL_oracle, its parameters), as
//! `gumbel-lab train --data oracle` would. Any panic is a bug: a bad file must be an `Err`.
//!
//! Work per input is bounded by the input: every tensor's bytes are in the file (a zero-sized
//! dimension gives an empty tensor), and the sample is 2 sequences of 3 tokens.

#![no_main]

use gumbel_gan::data::oracle::Oracle;
use gumbel_tensor::Element;
use libfuzzer_sys::fuzz_target;

fn exercise<T: Element>(o: &Oracle<T>) {
    let _ = (o.vocab_size(), o.emb_dim(), o.hidden_dim());
    let _ = o.log_probs(&[]);
    let seqs = o.sample(2, 3, 7);
    let _ = o.nll_oracle(&seqs);
    let _ = o.parameters();
}

fuzz_target!(|data: &[u8]| {
    let path = gumbel_fuzz::write_input("oracle.safetensors", data);
    if let Ok(o) = Oracle::<f32>::load(&path) {
        exercise(&o);
    }
    if let Ok(o) = Oracle::<f64>::load(&path) {
        exercise(&o);
    }
});
