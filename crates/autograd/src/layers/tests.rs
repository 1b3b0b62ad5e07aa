//! Gradchecks of whole models built from the layers (an LSTM unrolled over 5 steps, a CNN
//! discriminator on soft one-hot input), parameter layouts, and bitwise determinism of a
//! generator + discriminator step across thread counts.

use gumbel_tensor::ops::gumbel::{GumbelRng, Output, Temperature};
use gumbel_tensor::{Element, Result, Tensor};

use super::*;
use crate::init::seeded;
use crate::ops::testutil::{rand, rand_in};
use crate::{GradcheckOptions, ParamStore, Tape, Var, gradcheck_params};

fn check_params<F>(params: &mut ParamStore<f64>, f: F)
where
    F: for<'t> Fn(&'t Tape<f64>, &ParamStore<f64>) -> Result<Var<'t, f64>>,
{
    if let Err(e) = gradcheck_params(params, f, &GradcheckOptions::default()) {
        panic!("{e}");
    }
}

#[test]
fn parameter_names_and_layouts_are_pytorchs() {
    let mut p = ParamStore::<f32>::new();
    let mut rng = seeded(0);
    Linear::new(&mut p, "fc", 3, 2, Bias::Yes, &mut rng).unwrap();
    Embedding::new(&mut p, "emb", 10, 4, &mut rng).unwrap();
    Lstm::new(&mut p, "lstm", 4, 5, &mut rng).unwrap();
    Conv1dBank::new(&mut p, "conv", 4, &[2, 3], &[6, 7], &mut rng).unwrap();
    Highway::new(&mut p, "hw", 13, &mut rng).unwrap();
    let got: Vec<(String, Vec<usize>)> = p
        .named_values()
        .map(|(n, v)| (n.to_owned(), v.shape().to_vec()))
        .collect();
    let want: Vec<(&str, Vec<usize>)> = vec![
        ("fc.weight", vec![2, 3]),
        ("fc.bias", vec![2]),
        ("emb.weight", vec![10, 4]),
        ("lstm.weight_ih_l0", vec![20, 4]),
        ("lstm.weight_hh_l0", vec![20, 5]),
        ("lstm.bias_ih_l0", vec![20]),
        ("lstm.bias_hh_l0", vec![20]),
        ("conv.convs.0.weight", vec![6, 4, 2]),
        ("conv.convs.0.bias", vec![6]),
        ("conv.convs.1.weight", vec![7, 4, 3]),
        ("conv.convs.1.bias", vec![7]),
        ("hw.gate.weight", vec![13, 13]),
        ("hw.gate.bias", vec![13]),
        ("hw.proj.weight", vec![13, 13]),
        ("hw.proj.bias", vec![13]),
    ];
    assert_eq!(got.len(), want.len());
    for ((gn, gs), (wn, ws)) in got.iter().zip(&want) {
        assert_eq!((gn.as_str(), gs), (*wn, ws));
    }
    // PyTorch's init bounds: Linear 1/sqrt(in), LSTM 1/sqrt(H)
    let fc = p.value(p.id("fc.weight").unwrap()).unwrap();
    assert!(fc.as_slice().iter().all(|x| x.abs() <= 1.0 / 3f32.sqrt()));
    let hh = p.value(p.id("lstm.weight_hh_l0").unwrap()).unwrap();
    assert!(hh.as_slice().iter().all(|x| x.abs() <= 1.0 / 5f32.sqrt()));
}

#[test]
fn linear_without_bias_has_only_a_weight_and_computes_x_w_t() {
    let mut p = ParamStore::<f64>::new();
    let fc = Linear::new(&mut p, "fc", 2, 3, Bias::No, &mut seeded(0)).unwrap();
    assert_eq!(fc.bias, None);
    let names: Vec<&str> = p.named_values().map(|(n, _)| n).collect();
    assert_eq!(names, ["fc.weight"]);
    // W = [[1, 2], [3, 4], [5, 6]], x = [1, -1]: x W^T = (1 - 2, 3 - 4, 5 - 6) = (-1, -1, -1)
    // (exact in floating point; a bias would move it).
    let w = Tensor::new([3, 2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    p.set(fc.weight, w).unwrap();
    let tape = Tape::new();
    let x = tape.constant(Tensor::new([1, 2], vec![1.0, -1.0]).unwrap());
    let y = fc.forward(&tape, &p, &x).unwrap();
    approx::assert_abs_diff_eq!(
        y.value().unwrap().as_slice(),
        &[-1.0, -1.0, -1.0][..],
        epsilon = 0.0
    );
}

/// An LSTM language-model loss: LSTM(3 -> 4) unrolled over 5 steps from a given state,
/// output projection to 5 classes batched over time, cross-entropy with a pad index.
/// Every weight, the inputs and the initial state are checked.
#[test]
fn lstm_unrolled_over_5_steps_gradcheck() {
    let (steps, batch, input, hidden, classes) = (5, 2, 3, 4, 5);
    let mut p = ParamStore::<f64>::new();
    let mut rng = seeded(1);
    let lstm = Lstm::new(&mut p, "lstm", input, hidden, &mut rng).unwrap();
    let out = Linear::new(&mut p, "out", hidden, classes, Bias::Yes, &mut rng).unwrap();
    let x = p.add("x", rand(&[steps * batch, input], 131)).unwrap();
    let h0 = p.add("h0", rand(&[batch, hidden], 132)).unwrap();
    let c0 = p.add("c0", rand(&[batch, hidden], 133)).unwrap();
    // targets, time-major; class 0 is the pad (ignored)
    let targets = [1usize, 2, 0, 4, 3, 3, 2, 0, 1, 4];
    check_params(&mut p, |tape, p| {
        let state = LstmState {
            h: p.var(tape, h0)?,
            c: p.var(tape, c0)?,
        };
        let (hs, last) = lstm.forward_seq(tape, p, &p.var(tape, x)?, batch, Some(state))?;
        let logits = out.forward(tape, p, &hs)?;
        // the final cell state enters the loss too, so dc flows out of the last step
        logits
            .cross_entropy(&targets, Some(0))?
            .add(&last.c.tanh()?.mean()?)
    });
}

#[test]
fn layer_input_errors_are_errors() {
    let mut p = ParamStore::<f32>::new();
    let lstm = Lstm::new(&mut p, "lstm", 3, 4, &mut seeded(0)).unwrap();
    let tape = Tape::new();
    let scalar = tape.constant(Tensor::scalar(1.0));
    let msg = lstm
        .forward_seq(&tape, &p, &scalar, 2, None)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("2-D"), "{msg}");
    let x = tape.constant(Tensor::zeros([5, 3]));
    assert!(
        lstm.forward_seq(&tape, &p, &x, 2, None)
            .unwrap_err()
            .to_string()
            .contains("batch size 2")
    );
    let wrong = tape.constant(Tensor::zeros([4, 2]));
    let msg = lstm
        .forward_seq(&tape, &p, &wrong, 2, None)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("[4, 2]") && msg.contains("[16, 3]"), "{msg}");
    assert!(scalar.reshape([usize::MAX, 2]).is_err());
}

/// `step` five times equals `forward_seq`, in value and gradient.
#[test]
fn lstm_step_loop_equals_forward_seq() {
    let mut p = ParamStore::<f64>::new();
    let lstm = Lstm::new(&mut p, "lstm", 3, 4, &mut seeded(2)).unwrap();
    let xs = rand(&[5 * 2, 3], 134);
    let run = |seq: bool, p: &mut ParamStore<f64>| {
        let tape = Tape::new();
        let x = tape.leaf(xs.clone());
        let hs = if seq {
            lstm.forward_seq(&tape, p, &x, 2, None).unwrap().0
        } else {
            let mut state = None;
            let mut hs = vec![];
            for t in 0..5 {
                let s = lstm
                    .step(&tape, p, &x.slice(0, 2 * t, 2 * t + 2).unwrap(), state)
                    .unwrap();
                hs.push(s.h);
                state = Some(s);
            }
            Var::concat(&hs, 0).unwrap()
        };
        let v = (*hs.value().unwrap()).clone();
        let l = crate::ops::testutil::weighted_sum(hs, 3).unwrap();
        let mut g = tape.backward(l).unwrap();
        p.zero_grad();
        p.accumulate(&mut g).unwrap();
        let gw = p.grad(lstm.weight_hh).unwrap().clone();
        (v, g.take(x).unwrap(), gw)
    };
    let (a, da, wa) = run(true, &mut p);
    let (b, db, wb) = run(false, &mut p);
    // the same products in a different grouping ((x W + b) vs (x W) + b): a few ulp
    assert!(
        a.max_abs_diff(&b) < 1e-14 && da.max_abs_diff(&db) < 1e-14 && wa.max_abs_diff(&wb) < 1e-14
    );
}

/// A CNN discriminator on a soft one-hot input, as the GAN feeds it a Gumbel-Softmax
/// sample: softmax(logits) @ E -> conv widths 2, 3 -> relu -> max over time -> highway ->
/// dropout (fixed seed) -> linear -> BCE with logits. Checks every parameter including the
/// logits that make the soft input.
#[test]
fn cnn_discriminator_on_soft_one_hot_gradcheck() {
    let (batch, len, vocab, emb) = (2, 5, 6, 3);
    let mut p = ParamStore::<f64>::new();
    let mut rng = seeded(3);
    let e = Embedding::new(&mut p, "emb", vocab, emb, &mut rng).unwrap();
    let bank = Conv1dBank::new(&mut p, "cnn", emb, &[2, 3], &[3, 2], &mut rng).unwrap();
    let hw = Highway::new(&mut p, "hw", bank.out_dim, &mut rng).unwrap();
    let fc = Linear::new(&mut p, "fc", bank.out_dim, 1, Bias::Yes, &mut rng).unwrap();
    let logits = p
        .add("logits", rand_in(&[batch * len, vocab], 135, -2.0, 2.0))
        .unwrap();
    let labels = Tensor::new([batch, 1], vec![1.0, 0.0]).unwrap();
    check_params(&mut p, |tape, p| {
        let soft = p.var(tape, logits)?.softmax()?;
        let x = e.forward_soft(tape, p, &soft)?.reshape([batch, len, emb])?;
        let feat = bank.forward(tape, p, &x)?;
        let h = hw.forward(tape, p, &feat)?.dropout(0.25, 99)?;
        fc.forward(tape, p, &h)?
            .bce_with_logits(&tape.constant(labels.clone()))
    });
}

/// One generator + discriminator step (LSTM, output projection, Gumbel-Softmax, soft
/// embedding, CNN, BCE) in f32, large enough for the kernels to go parallel: every
/// parameter gradient is bitwise identical on 1, 2 and 7 threads.
#[test]
fn gan_like_step_is_bitwise_deterministic_across_thread_counts() {
    fn step<T: Element>(
        p: &ParamStore<T>,
        layers: &(Embedding, Lstm, Linear, Embedding, Conv1dBank, Linear),
    ) -> Vec<Tensor<T>> {
        let (g_emb, lstm, g_out, d_emb, bank, d_out) = layers;
        let (batch, len) = (16, 6);
        let tape = Tape::new();
        let tokens: Vec<usize> = (0..batch).map(|i| (i * 7) % g_emb.num).collect();
        let mut x = g_emb.forward(&tape, p, &tokens).unwrap();
        let mut state = None;
        let mut rng = GumbelRng::new(11);
        let mut ys = vec![];
        for _ in 0..len {
            let s = lstm.step(&tape, p, &x, state).unwrap();
            let logits = g_out.forward(&tape, p, &s.h).unwrap();
            let y = logits
                .gumbel_softmax(
                    Temperature::Tau(T::from_f64(0.7)).into(),
                    &mut rng,
                    Output::Soft,
                )
                .unwrap()
                .y;
            x = g_emb.forward_soft(&tape, p, &y).unwrap();
            ys.push(y);
            state = Some(s);
        }
        // batch-major [B, L, V] for the discriminator
        let y = Var::stack(&ys, 1).unwrap();
        let v = g_emb.num;
        let de = d_emb
            .forward_soft(&tape, p, &y.reshape([batch * len, v]).unwrap())
            .unwrap();
        let feat = bank
            .forward(&tape, p, &de.reshape([batch, len, d_emb.dim]).unwrap())
            .unwrap();
        let d = d_out.forward(&tape, p, &feat).unwrap();
        let loss = d
            .bce_with_logits(&tape.constant(Tensor::ones([batch, 1])))
            .unwrap();
        let g = tape.backward(loss).unwrap();
        p.ids().map(|id| g.param(id).unwrap().clone()).collect()
    }
    let mut p = ParamStore::<f32>::new();
    let mut rng = seeded(4);
    let vocab = 3000; // [16, 3000] per step: above the kernels' parallel threshold
    let layers = (
        Embedding::new(&mut p, "g.emb", vocab, 16, &mut rng).unwrap(),
        Lstm::new(&mut p, "g.lstm", 16, 32, &mut rng).unwrap(),
        Linear::new(&mut p, "g.out", 32, vocab, Bias::Yes, &mut rng).unwrap(),
        Embedding::new(&mut p, "d.emb", vocab, 64, &mut rng).unwrap(),
        Conv1dBank::new(&mut p, "d.cnn", 64, &[2, 3], &[64, 64], &mut rng).unwrap(),
        Linear::new(&mut p, "d.out", 128, 1, Bias::Yes, &mut rng).unwrap(),
    );
    let run = |n: usize| gumbel_tensor::parallel::with_threads(n, || step(&p, &layers)).unwrap();
    let one = run(1);
    assert!(
        one.iter()
            .all(|g| g.as_slice().iter().all(|x| x.is_finite()))
    );
    for n in [2, 7] {
        let other = run(n);
        for (a, b) in one.iter().zip(&other) {
            let same = a
                .as_slice()
                .iter()
                .zip(b.as_slice())
                .all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "{n} threads differ from 1");
        }
    }
}

/// Every parameter of a relational memory set to random values (the gains away from 1, the
/// biases away from 0), so that no derivative is checked at a special point.
fn randomize(p: &mut ParamStore<f64>, seed: u64) {
    let ids: Vec<_> = p.ids().collect();
    for (k, id) in ids.into_iter().enumerate() {
        let shape = p.value(id).unwrap().shape().to_vec();
        p.set(id, rand_in(&shape, seed + k as u64, -0.8, 0.8))
            .unwrap();
    }
}

/// RelGAN's relational memory unrolled over 3 steps, with 1 and with 2 memory slots (the
/// input gate's part spread over the slots), key size != head size (the `[q | k | v]`
/// layout): every parameter, the inputs and the initial memory are checked.
#[test]
fn relational_memory_unrolled_over_3_steps_gradcheck() {
    for slots in [1, 2] {
        let sizes = RmcSizes {
            in_dim: 3,
            slots,
            heads: 2,
            head_size: 2,
            key_size: 3,
        };
        let (steps, batch, classes) = (3, 2, 4);
        let mut p = ParamStore::<f64>::new();
        let mut rng = seeded(7);
        let rmc = RelationalMemory::new(&mut p, "rmc", sizes, &mut rng).unwrap();
        let out = Linear::new(&mut p, "out", slots * 4, classes, Bias::Yes, &mut rng).unwrap();
        randomize(&mut p, 140);
        let x = p.add("x", rand(&[steps * batch, 3], 150)).unwrap();
        let m0 = p.add("m0", rand(&[batch, slots * 4], 151)).unwrap();
        let targets = [1usize, 2, 0, 3, 3, 1];
        check_params(&mut p, |tape, p| {
            let xs = p.var(tape, x)?;
            let mut m = p.var(tape, m0)?;
            let mut hs = Vec::new();
            for t in 0..steps {
                m = rmc.step(tape, p, &xs.slice(0, t * batch, (t + 1) * batch)?, &m)?;
                hs.push(m);
            }
            let logits = out.forward(tape, p, &Var::concat(&hs, 0)?)?;
            logits
                .cross_entropy(&targets, None)?
                .add(&m.tanh()?.mean()?)
        });
    }
}

#[test]
fn relational_memory_names_shapes_and_initial_state() {
    let mut p = ParamStore::<f32>::new();
    let sizes = RmcSizes {
        in_dim: 3,
        slots: 2,
        heads: 2,
        head_size: 4,
        key_size: 5,
    };
    let rmc = RelationalMemory::new(&mut p, "rmc", sizes, &mut seeded(0)).unwrap();
    let got: Vec<(String, Vec<usize>)> = p
        .named_values()
        .map(|(n, v)| (n.to_owned(), v.shape().to_vec()))
        .collect();
    // F = 8, qkv row 2 x (2 x 5 + 4) = 28
    let want: Vec<(&str, Vec<usize>)> = vec![
        ("rmc.input_proj.weight", vec![8, 3]),
        ("rmc.input_proj.bias", vec![8]),
        ("rmc.qkv.weight", vec![28, 8]),
        ("rmc.qkv_ln_w", vec![28]),
        ("rmc.qkv_ln_b", vec![28]),
        ("rmc.ln1_w", vec![8]),
        ("rmc.ln1_b", vec![8]),
        ("rmc.mlp.0.weight", vec![8, 8]),
        ("rmc.mlp.0.bias", vec![8]),
        ("rmc.mlp.1.weight", vec![8, 8]),
        ("rmc.mlp.1.bias", vec![8]),
        ("rmc.ln2_w", vec![8]),
        ("rmc.ln2_b", vec![8]),
        ("rmc.gate_in.weight", vec![16, 8]),
        ("rmc.gate_mem.weight", vec![16, 8]),
    ];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for ((gn, gs), (wn, ws)) in got.iter().zip(&want) {
        assert_eq!((gn.as_str(), gs), (*wn, ws));
    }
    // RelGAN's sizes give its parameter count: the RMC part of 5,107,336 (official
    // generator at vocabulary 5,000) minus the embedding and the output layer.
    let mut full = ParamStore::<f32>::new();
    RelationalMemory::new(&mut full, "rmc", RmcSizes::relgan(32), &mut seeded(0)).unwrap();
    assert_eq!(full.numel(), 5_107_336 - 5000 * 32 - (512 * 5000 + 5000));
    // Truncated normal, 2 sd of 1/sqrt(in); biases 0, gains 1.
    let w = p.value(p.id("rmc.qkv.weight").unwrap()).unwrap();
    assert!(w.as_slice().iter().all(|x| x.abs() <= 2.0 / 8f32.sqrt()));
    assert!(
        p.value(p.id("rmc.mlp.0.bias").unwrap())
            .unwrap()
            .as_slice()
            .iter()
            .all(|&x| x == 0.0)
    );
    assert!(
        p.value(p.id("rmc.ln1_w").unwrap())
            .unwrap()
            .as_slice()
            .iter()
            .all(|&x| x == 1.0)
    );
    // Slot s starts as e_s.
    let m0: Tensor<f32> = rmc.initial_state(2);
    let mut want = [0.0f32; 2 * 16];
    for b in 0..2 {
        want[b * 16] = 1.0; // slot 0, feature 0
        want[b * 16 + 8 + 1] = 1.0; // slot 1, feature 1
    }
    assert_eq!(m0.as_slice(), &want[..]);
    // A step keeps the memory's shape; a wrong memory shape is an error naming both shapes.
    let tape = Tape::new();
    let x = tape.constant(Tensor::zeros([2, 3]));
    let m = tape.constant(m0);
    assert_eq!(
        rmc.step(&tape, &p, &x, &m).unwrap().shape().unwrap(),
        [2, 16]
    );
    let bad = tape.constant(Tensor::zeros([2, 8]));
    let msg = rmc.step(&tape, &p, &x, &bad).unwrap_err().to_string();
    assert!(msg.contains("[2, 8]") && msg.contains("[B, 16]"), "{msg}");
}
