//! Cross-checks of composite models against PyTorch (float64): an LSTM language-model loss,
//! a CNN discriminator on soft one-hot input, Gumbel-Softmax with a learned temperature,
//! the optimizers' trajectories, and RelGAN's relational memory unrolled over a few steps. Inputs and parameters are filled by the same formula on
//! both sides (`fill`), so only the outputs are pasted here.
//!
//! Tolerance: both sides compute in f64, in different summation orders and with different
//! `exp`/`tanh` implementations (each within a few ulp). Through a few hundred operations on
//! values of order 1 that is below 1e-13; we allow 1e-12 absolute or 1e-10 relative
//! (`relative_eq!`; for values below 1e8 in magnitude this is no looser than the sum
//! 1e-12 + 1e-10 |want| it replaced).
//!
//! The numbers below were produced by this script (PyTorch 2.x, CPU), run as
//! `python crosscheck.py`:
//!
// import math, torch
// import torch.nn.functional as F
// torch.set_default_dtype(torch.float64)
//
// def fill(shape, k):
//     n = math.prod(shape)
//     return torch.tensor([0.5 * math.sin(0.7 * i + 1.3 * k + 0.1) for i in range(n)]).reshape(shape)
//
// def emit(name, t):
//     vals = ", ".join(repr(float(v)) for v in t.detach().reshape(-1).tolist())
//     print(f"const {name}: &[f64] = &[{vals}];")
//
// # A) LSTM language model: nn.LSTM(3, 4) unrolled 5 steps (batch 2) from (h0, c0),
// #    Linear(4, 5) on every step, cross-entropy with ignore_index 0, plus mean(tanh(c_n)).
// L, B, I, H, V = 5, 2, 3, 4, 5
// lstm, out = torch.nn.LSTM(I, H), torch.nn.Linear(H, V)
// params = [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0, out.weight, out.bias]
// with torch.no_grad():
//     for k, p in enumerate(params):
//         p.copy_(fill(p.shape, k))
// x = fill([L, B, I], 6).requires_grad_()
// h0 = fill([1, B, H], 7).requires_grad_()
// c0 = fill([1, B, H], 8).requires_grad_()
// targets = torch.tensor([1, 2, 0, 4, 3, 3, 2, 0, 1, 4])
// hs, (hn, cn) = lstm(x, (h0, c0))
// loss = F.cross_entropy(out(hs.reshape(L * B, H)), targets, ignore_index=0) + torch.tanh(cn).mean()
// loss.backward()
// print(f"const LSTM_LOSS: f64 = {loss.item()!r};")
// for name, p in zip(["W_IH", "W_HH", "B_IH", "B_HH", "OUT_W", "OUT_B"], params):
//     emit("LSTM_D" + name, p.grad)
// emit("LSTM_DX", x.grad); emit("LSTM_DH0", h0.grad); emit("LSTM_DC0", c0.grad)
//
// # B) CNN discriminator on a soft one-hot input: softmax(logits) @ E, Conv1d widths 2 and 3,
// #    ReLU, max over time, highway, Linear(5, 1), BCE with logits against (1, 0).
// B, L, V, E = 2, 5, 6, 3
// emb = fill([V, E], 0).requires_grad_()
// c2, c3 = torch.nn.Conv1d(E, 3, 2), torch.nn.Conv1d(E, 2, 3)
// gate, proj, fc = torch.nn.Linear(5, 5), torch.nn.Linear(5, 5), torch.nn.Linear(5, 1)
// mods = [c2.weight, c2.bias, c3.weight, c3.bias, gate.weight, gate.bias, proj.weight, proj.bias, fc.weight, fc.bias]
// with torch.no_grad():
//     for k, p in enumerate(mods):
//         p.copy_(fill(p.shape, k + 1))
// logits = (4.0 * fill([B * L, V], 11)).requires_grad_()
// xe = (F.softmax(logits, dim=-1) @ emb).reshape(B, L, E).transpose(1, 2)
// feat = torch.cat([F.relu(c(xe)).max(dim=2).values for c in (c2, c3)], dim=1)
// t = torch.sigmoid(gate(feat))
// hw = t * F.relu(proj(feat)) + (1 - t) * feat
// loss = F.binary_cross_entropy_with_logits(fc(hw), torch.tensor([[1.0], [0.0]]))
// loss.backward()
// print(f"const CNN_LOSS: f64 = {loss.item()!r};")
// emit("CNN_DEMB", emb.grad); emit("CNN_DLOGITS", logits.grad)
// for name, p in zip(["C2_W", "C2_B", "C3_W", "C3_B", "GATE_W", "GATE_B", "PROJ_W", "PROJ_B", "FC_W", "FC_B"], mods):
//     emit("CNN_D" + name, p.grad)
//
// # C) Gumbel-Softmax with given noise g and a learned tau: y = softmax((l + g) / tau),
// #    loss = sum(y * w); and the straight-through version y_hard - y.detach() + y.
// l = fill([3, 4], 20).requires_grad_()
// g = fill([3, 4], 21) * 3.0
// w = fill([3, 4], 22)
// tau = torch.tensor(0.7, requires_grad=True)
// y = F.softmax((l + g) / tau, dim=-1)
// loss = (y * w).sum()
// loss.backward()
// print(f"const GUMBEL_LOSS: f64 = {loss.item()!r};")
// emit("GUMBEL_Y", y); emit("GUMBEL_DL", l.grad)
// print(f"const GUMBEL_DTAU: f64 = {tau.grad.item()!r};")
//
// # D) Optimizers: three steps on p0 with fixed gradients (the step-k gradient is g_k).
// p0 = torch.tensor([1.0, -2.0, 0.5])
// grads = [torch.tensor([0.3, -0.1, 2.0]), torch.tensor([-0.5, 0.4, 1.0]), torch.tensor([0.1, 0.1, -3.0])]
// def run(make):
//     p = p0.clone().requires_grad_()
//     opt = make([p])
//     traj = []
//     for gk in grads:
//         p.grad = gk.clone()
//         opt.step()
//         traj.append(p.detach().clone())
//     return torch.cat(traj)
// emit("SGD_TRAJ", run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)))
// emit("ADAM_TRAJ", run(lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)))
// emit("ADAMW_TRAJ", run(lambda ps: torch.optim.AdamW(ps, lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)))
//
// # E) RelGAN's relational memory (relgan_step_bench.py --variant official) at small sizes:
// #    input 3, 1 slot, 2 heads, head 2, key 3 (F = 4, a head's [q|k|v] row 8), unrolled 3
// #    steps (batch 2) from the identity memory, Linear(4, 5) on every step, cross-entropy,
// #    plus mean(tanh(m_last)).
// I, S, H, HS, KS, B, T, V = 3, 1, 2, 2, 3, 2, 3, 5
// FM, PH = H * HS, 2 * KS + HS
// N = S + 1
// names = ["input_proj.weight", "input_proj.bias", "qkv.weight", "qkv_ln_w", "qkv_ln_b", "ln1_w", "ln1_b",
//          "mlp.0.weight", "mlp.0.bias", "mlp.1.weight", "mlp.1.bias", "ln2_w", "ln2_b", "gate_in.weight",
//          "gate_mem.weight", "out.weight", "out.bias"]
// shapes = [[FM, I], [FM], [H * PH, FM], [H * PH], [H * PH], [FM], [FM], [FM, FM], [FM], [FM, FM], [FM],
//           [FM], [FM], [2 * FM, FM], [2 * FM, FM], [V, FM], [V]]
// P = {n: fill(s, k).requires_grad_() for k, (n, s) in enumerate(zip(names, shapes))}
// def lin(x, n, bias=True):
//     return F.linear(x, P[n + ".weight"], P[n + ".bias"] if bias else None)
// def ln(x, n):
//     return F.layer_norm(x, x.shape[1:], eps=1e-12) * P[n + "_w"] + P[n + "_b"]
// def step(x, mem):
//     u = lin(x, "input_proj").unsqueeze(1)
//     m = torch.cat([mem, u], dim=1)
//     qkv = ln(lin(m, "qkv", bias=False), "qkv_ln").view(B, N, H, PH).transpose(1, 2)
//     q, k, v = qkv.split([KS, KS, HS], dim=-1)
//     w = torch.softmax(torch.matmul(q * PH ** -0.5, k.transpose(-1, -2)), dim=-1)
//     att = torch.matmul(w, v).transpose(1, 2).reshape(B, N, FM)
//     m = ln(m + att, "ln1")
//     m = ln(m + lin(F.relu(lin(m, "mlp.0")), "mlp.1"), "ln2")
//     new = m[:, :S]
//     gates = lin(torch.tanh(mem), "gate_mem", bias=False) + lin(u, "gate_in", bias=False)
//     i_g, f_g = gates.chunk(2, dim=-1)
//     return torch.sigmoid(i_g + 0.0) * torch.tanh(new) + torch.sigmoid(f_g + 1.0) * mem
// x = fill([T * B, I], 30).requires_grad_()
// mem = torch.zeros(B, S, FM); mem[:, :, :S] = torch.eye(S)
// hs = []
// for t in range(T):
//     mem = step(x[t * B:(t + 1) * B], mem)
//     hs.append(mem.reshape(B, S * FM))
// targets = torch.tensor([1, 2, 0, 4, 3, 3])
// loss = F.cross_entropy(lin(torch.cat(hs), "out"), targets) + torch.tanh(mem).mean()
// loss.backward()
// print(f"const RMC_LOSS: f64 = {loss.item()!r};")
// emit("RMC_DX", x.grad)
// for n in names:
//     emit("RMC_D_" + n.upper().replace(".", "_"), P[n].grad)

use approx::relative_eq;
use gumbel_autograd::layers::{
    Bias, Conv1dBank, Embedding, Highway, Linear, Lstm, LstmState, RelationalMemory, RmcSizes,
};
use gumbel_autograd::ops::gumbel::{GumbelTemp, Output, gumbel_softmax_with_noise};
use gumbel_autograd::optim::{Adam, Optimizer, Sgd};
use gumbel_autograd::tensor::Tensor;
use gumbel_autograd::tensor::ops::gumbel::Noise;
use gumbel_autograd::{ParamId, ParamStore, Tape, Var, init};

/// `0.5 sin(0.7 i + 1.3 k + 0.1)` for flat index `i`: the script's `fill`.
fn fill(shape: &[usize], k: usize) -> Tensor<f64> {
    Tensor::from_fn(shape, |i| {
        0.5 * (0.7 * i as f64 + 1.3 * k as f64 + 0.1).sin()
    })
}

/// `got` against PyTorch's `want`, element by element with the tolerance of the module
/// docs, naming the tensor and the index of a failing element.
fn close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            relative_eq!(g, w, epsilon = 1e-12, max_relative = 1e-10),
            "{what}[{i}]: {g} vs PyTorch {w}"
        );
    }
}

fn grad(p: &ParamStore<f64>, id: ParamId) -> &[f64] {
    p.grad(id).expect("a gradient").as_slice()
}

#[test]
fn lstm_language_model_matches_pytorch() {
    let (steps, batch, input, hidden, classes) = (5, 2, 3, 4, 5);
    let mut p = ParamStore::<f64>::new();
    let mut rng = init::seeded(0);
    let lstm = Lstm::new(&mut p, "lstm", input, hidden, &mut rng).unwrap();
    let out = Linear::new(&mut p, "out", hidden, classes, Bias::Yes, &mut rng).unwrap();
    let ids: Vec<ParamId> = p.ids().collect();
    for (k, &id) in ids.iter().enumerate() {
        let shape = p.value(id).unwrap().shape().to_vec();
        p.set(id, fill(&shape, k)).unwrap();
    }
    let tape = Tape::new();
    let x = tape.leaf(fill(&[steps * batch, input], 6));
    let h0 = tape.leaf(fill(&[batch, hidden], 7));
    let c0 = tape.leaf(fill(&[batch, hidden], 8));
    let targets = [1usize, 2, 0, 4, 3, 3, 2, 0, 1, 4];
    let (hs, last) = lstm
        .forward_seq(&tape, &p, &x, batch, Some(LstmState { h: h0, c: c0 }))
        .unwrap();
    let loss = out
        .forward(&tape, &p, &hs)
        .unwrap()
        .cross_entropy(&targets, Some(0))
        .unwrap()
        .add(&last.c.tanh().unwrap().mean().unwrap())
        .unwrap();
    close("loss", &[loss.item().unwrap()], &[LSTM_LOSS]);
    let mut g = tape.backward(loss).unwrap();
    close("dx", g.get(x).unwrap().as_slice(), LSTM_DX);
    close("dh0", g.get(h0).unwrap().as_slice(), LSTM_DH0);
    close("dc0", g.get(c0).unwrap().as_slice(), LSTM_DC0);
    p.accumulate(&mut g).unwrap();
    close("weight_ih_l0", grad(&p, lstm.weight_ih), LSTM_DW_IH);
    close("weight_hh_l0", grad(&p, lstm.weight_hh), LSTM_DW_HH);
    close("bias_ih_l0", grad(&p, lstm.bias_ih), LSTM_DB_IH);
    close("bias_hh_l0", grad(&p, lstm.bias_hh), LSTM_DB_HH);
    close("out.weight", grad(&p, out.weight), LSTM_DOUT_W);
    close("out.bias", grad(&p, out.bias.unwrap()), LSTM_DOUT_B);
}

#[test]
fn cnn_discriminator_on_soft_one_hot_matches_pytorch() {
    let (batch, len, vocab, emb) = (2, 5, 6, 3);
    let mut p = ParamStore::<f64>::new();
    let mut rng = init::seeded(0);
    let e = Embedding::new(&mut p, "emb", vocab, emb, &mut rng).unwrap();
    let bank = Conv1dBank::new(&mut p, "cnn", emb, &[2, 3], &[3, 2], &mut rng).unwrap();
    let hw = Highway::new(&mut p, "hw", 5, &mut rng).unwrap();
    let fc = Linear::new(&mut p, "fc", 5, 1, Bias::Yes, &mut rng).unwrap();
    // the script fills emb with k = 0 and the following parameters with k = 1, 2, ...
    let ids: Vec<ParamId> = p.ids().collect();
    for (k, &id) in ids.iter().enumerate() {
        let shape = p.value(id).unwrap().shape().to_vec();
        p.set(id, fill(&shape, k)).unwrap();
    }
    let tape = Tape::new();
    let logits = tape.leaf(Tensor::from_fn([batch * len, vocab], |i| {
        4.0 * fill(&[batch * len * vocab], 11).as_slice()[i]
    }));
    let x = e
        .forward_soft(&tape, &p, &logits.softmax().unwrap())
        .unwrap()
        .reshape([batch, len, emb])
        .unwrap();
    let feat = bank.forward(&tape, &p, &x).unwrap();
    let h = hw.forward(&tape, &p, &feat).unwrap();
    let labels = tape.constant(Tensor::new([2, 1], vec![1.0, 0.0]).unwrap());
    let loss = fc
        .forward(&tape, &p, &h)
        .unwrap()
        .bce_with_logits(&labels)
        .unwrap();
    close("loss", &[loss.item().unwrap()], &[CNN_LOSS]);
    let mut g = tape.backward(loss).unwrap();
    close("dlogits", g.get(logits).unwrap().as_slice(), CNN_DLOGITS);
    p.accumulate(&mut g).unwrap();
    close("emb.weight", grad(&p, e.weight), CNN_DEMB);
    let want = [CNN_DC2_W, CNN_DC2_B, CNN_DC3_W, CNN_DC3_B];
    for (k, &(_, w, b)) in bank.convs.iter().enumerate() {
        close("conv weight", grad(&p, w), want[2 * k]);
        close("conv bias", grad(&p, b), want[2 * k + 1]);
    }
    close("hw.gate.weight", grad(&p, hw.gate.weight), CNN_DGATE_W);
    close("hw.gate.bias", grad(&p, hw.gate.bias.unwrap()), CNN_DGATE_B);
    close("hw.proj.weight", grad(&p, hw.proj.weight), CNN_DPROJ_W);
    close("hw.proj.bias", grad(&p, hw.proj.bias.unwrap()), CNN_DPROJ_B);
    close("fc.weight", grad(&p, fc.weight), CNN_DFC_W);
    close("fc.bias", grad(&p, fc.bias.unwrap()), CNN_DFC_B);
}

#[test]
fn gumbel_softmax_with_learned_tau_matches_pytorch() {
    for output in [Output::Soft, Output::Hard] {
        let tape = Tape::new();
        let l = tape.leaf(fill(&[3, 4], 20));
        let g = Tensor::from_fn([3, 4], |i| 3.0 * fill(&[12], 21).as_slice()[i]);
        let w = tape.constant(fill(&[3, 4], 22));
        let tau = tape.leaf(Tensor::scalar(0.7));
        let s =
            gumbel_softmax_with_noise(&l, Noise::Gumbel(&g), GumbelTemp::Tau(tau), output).unwrap();
        if output == Output::Soft {
            close("y", s.y.value().unwrap().as_slice(), GUMBEL_Y);
            close(
                "loss",
                &[s.y.mul(&w).unwrap().sum().unwrap().item().unwrap()],
                &[GUMBEL_LOSS],
            );
        }
        // straight-through: the same gradients as the soft sample (downstream is linear)
        let loss: Var<'_, f64> = s.y.mul(&w).unwrap().sum().unwrap();
        let gr = tape.backward(loss).unwrap();
        close("dl", gr.get(l).unwrap().as_slice(), GUMBEL_DL);
        close("dtau", gr.get(tau).unwrap().as_slice(), &[GUMBEL_DTAU]);
    }
}

/// RelGAN's relational memory (the `official` variant of `relgan_step_bench.py`) at small
/// sizes, unrolled over 3 steps from its initial memory: the loss and the gradient of the
/// input and of every parameter, in the order the layer registers them (the script's
/// `names`).
#[test]
fn relational_memory_matches_pytorch() {
    let sizes = RmcSizes {
        in_dim: 3,
        slots: 1,
        heads: 2,
        head_size: 2,
        key_size: 3,
    };
    let (steps, batch) = (3, 2);
    let mut p = ParamStore::<f64>::new();
    let mut rng = init::seeded(0);
    let rmc = RelationalMemory::new(&mut p, "rmc", sizes, &mut rng).unwrap();
    let out = Linear::new(&mut p, "out", 4, 5, Bias::Yes, &mut rng).unwrap();
    let ids: Vec<ParamId> = p.ids().collect();
    for (k, &id) in ids.iter().enumerate() {
        let shape = p.value(id).unwrap().shape().to_vec();
        p.set(id, fill(&shape, k)).unwrap();
    }
    let tape = Tape::new();
    let x = tape.leaf(fill(&[steps * batch, 3], 30));
    let mut m = tape.constant(rmc.initial_state(batch));
    let mut hs = Vec::new();
    for t in 0..steps {
        let xt = x.slice(0, t * batch, (t + 1) * batch).unwrap();
        m = rmc.step(&tape, &p, &xt, &m).unwrap();
        hs.push(m);
    }
    let logits = out
        .forward(&tape, &p, &Var::concat(&hs, 0).unwrap())
        .unwrap();
    let loss = logits
        .cross_entropy(&[1, 2, 0, 4, 3, 3], None)
        .unwrap()
        .add(&m.tanh().unwrap().mean().unwrap())
        .unwrap();
    close("loss", &[loss.item().unwrap()], &[RMC_LOSS]);
    let mut g = tape.backward(loss).unwrap();
    close("dx", g.get(x).unwrap().as_slice(), RMC_DX);
    p.accumulate(&mut g).unwrap();
    let want: [&[f64]; 17] = [
        RMC_D_INPUT_PROJ_WEIGHT,
        RMC_D_INPUT_PROJ_BIAS,
        RMC_D_QKV_WEIGHT,
        RMC_D_QKV_LN_W,
        RMC_D_QKV_LN_B,
        RMC_D_LN1_W,
        RMC_D_LN1_B,
        RMC_D_MLP_0_WEIGHT,
        RMC_D_MLP_0_BIAS,
        RMC_D_MLP_1_WEIGHT,
        RMC_D_MLP_1_BIAS,
        RMC_D_LN2_W,
        RMC_D_LN2_B,
        RMC_D_GATE_IN_WEIGHT,
        RMC_D_GATE_MEM_WEIGHT,
        RMC_D_OUT_WEIGHT,
        RMC_D_OUT_BIAS,
    ];
    assert_eq!(ids.len(), want.len());
    for (&id, w) in ids.iter().zip(want) {
        close(p.name(id).unwrap(), grad(&p, id), w);
    }
}

/// Runs three steps from p0 with the script's gradients, returning the trajectory.
fn trajectory(opt: &mut dyn Optimizer<f64>) -> Vec<f64> {
    let grads = [[0.3, -0.1, 2.0], [-0.5, 0.4, 1.0], [0.1, 0.1, -3.0]];
    let mut p = ParamStore::<f64>::new();
    let id = p
        .add("p", Tensor::new([3], vec![1.0, -2.0, 0.5]).unwrap())
        .unwrap();
    let mut traj = vec![];
    for gk in grads {
        // a gradient enters the store through backward: L = sum(p * g) has dL/dp = g
        let tape = Tape::new();
        let l = p
            .var(&tape, id)
            .unwrap()
            .mul(&tape.constant(Tensor::new([3], gk.to_vec()).unwrap()))
            .unwrap();
        p.zero_grad();
        p.accumulate(&mut l.sum().unwrap().backward().unwrap())
            .unwrap();
        opt.step(&mut p).unwrap();
        traj.extend_from_slice(p.value(id).unwrap().as_slice());
    }
    traj
}

#[test]
fn optimizers_match_pytorch_trajectories() {
    let mut sgd = Sgd::with_momentum(0.1, 0.9);
    sgd.weight_decay = 0.01;
    sgd.nesterov = true;
    close("SGD", &trajectory(&mut sgd), SGD_TRAJ);
    let mut adam = Adam::new(0.01).betas(0.8, 0.95).eps(1e-6).weight_decay(0.1);
    close("Adam", &trajectory(&mut adam), ADAM_TRAJ);
    let mut adamw = Adam::adamw(0.01)
        .betas(0.8, 0.95)
        .eps(1e-6)
        .weight_decay(0.1);
    close("AdamW", &trajectory(&mut adamw), ADAMW_TRAJ);
}

// ---- values printed by the script ----

const LSTM_LOSS: f64 = 1.326563359677255;
const LSTM_DW_IH: &[f64] = &[
    -0.008042528100054144,
    -0.008546028010960065,
    -0.0050301974129402715,
    0.007007597956073698,
    0.012230535011705394,
    0.01170126034395084,
    0.00350426380117544,
    0.004300728801717661,
    0.003074493846070843,
    -0.014178293185186548,
    -0.015122565281100491,
    -0.008954458628712173,
    0.008283527331272219,
    0.004766966065318346,
    -0.000991573827054184,
    -0.005764238954423153,
    -0.007884176712252125,
    -0.006296062968649524,
    -0.006383569110004007,
    -0.005706121665587334,
    -0.002344996041234434,
    0.0018238697172004732,
    -0.0006641009345608702,
    -0.002839734539934877,
    0.03047359475573698,
    0.030658151318562685,
    0.016423700269439602,
    0.04002539103169292,
    0.03255975600742417,
    0.009780758972642193,
    0.006260633960131875,
    -0.0027537792581934784,
    -0.010473047062402601,
    -0.003934266971651042,
    -0.0033962976453533016,
    -0.0012609964678313259,
    0.004616761994208998,
    0.0021671051607408533,
    -0.0013017750917759224,
    -0.0006510175489368739,
    -0.0023082162040434042,
    -0.0028798247115152404,
    -0.004018544445743049,
    -0.0026663655413834393,
    -6.01532598003504e-05,
    0.00019591876714485622,
    -0.0007846601635769308,
    -0.001396201158715211,
];
const LSTM_DW_HH: &[f64] = &[
    -0.000879395317604264,
    0.00029680340656645167,
    0.0005771815146887173,
    -0.0018529825084947016,
    0.0021388719636937182,
    -0.000868024954026393,
    -0.002170759894414948,
    -0.0020313747597771664,
    -0.0008397856262142307,
    0.0012214570713669692,
    0.0070674799089196095,
    0.013761984180485772,
    -0.004517995185292518,
    0.004892669372159048,
    0.016628233962708197,
    0.022926744878519548,
    0.0014867074158949538,
    -0.0012182834629701359,
    -0.005188264720723922,
    -0.004961890797669681,
    -0.0024037813912360373,
    0.002486148760142502,
    0.006873064233117959,
    0.009232210261772029,
    -0.003448744748552215,
    0.0026162499718221702,
    0.010681089166331497,
    0.014771146064046338,
    -0.0017043375202223348,
    0.002212106903209959,
    0.008240011974343667,
    0.014646422310173738,
    0.00854191091783633,
    -0.005922632965599171,
    -0.0315142218570563,
    -0.04459967864352321,
    0.009389389406504122,
    -0.008916586165326734,
    -0.037928067555506054,
    -0.051171089618740735,
    0.0024535137666393814,
    -0.003339757884711697,
    -0.016446229311996387,
    -0.025147439702655323,
    0.0029061863445257767,
    -0.00226711449108804,
    -0.012219984942744485,
    -0.022061095696121635,
    -0.0007340612173369384,
    -0.0005075351860944444,
    0.0003516284090086025,
    0.0024639722775780257,
    -4.560755122653897e-05,
    -0.0006357025907216844,
    -0.001059587883702594,
    -0.001905811738999612,
    -0.00043179830326579263,
    0.0002945185033967277,
    0.001397962218457528,
    0.0007030642266370184,
    -0.00086753287066569,
    0.0014891084581266248,
    0.004125761084219542,
    0.006973107310727918,
];
const LSTM_DB_IH: &[f64] = &[
    0.011121309594079379,
    -0.014840418707667294,
    -0.06460869693912821,
    -0.08255463089848981,
    0.024733004988340877,
    -0.0073412776330024025,
    -0.03419757347572065,
    -0.04083690763418336,
    0.16807321213162899,
    0.23050378419363265,
    0.1303606255217255,
    0.08450363799873355,
    0.0051362797427870486,
    0.006750621067104669,
    -0.004446314339088195,
    -0.01790515283548109,
];
const LSTM_DB_HH: &[f64] = &[
    0.011121309594079375,
    -0.014840418707667294,
    -0.06460869693912821,
    -0.08255463089848981,
    0.024733004988340877,
    -0.007341277633002403,
    -0.034197573475720645,
    -0.04083690763418336,
    0.16807321213162899,
    0.23050378419363265,
    0.1303606255217255,
    0.08450363799873353,
    0.005136279742787049,
    0.006750621067104669,
    -0.004446314339088196,
    -0.017905152835481088,
];
const LSTM_DOUT_W: &[f64] = &[
    0.004444074200440269,
    -0.004211794598367252,
    -0.021178262437691935,
    -0.04216503182331754,
    0.021774539015839155,
    0.01090686105035884,
    0.00835235939815266,
    0.017459227963903493,
    -0.0067491430823596755,
    -0.0036458015386324383,
    -0.01495710887781948,
    -0.015255507514543038,
    -0.011292418970792055,
    0.006223207948612153,
    0.02514113782131546,
    0.014760810304681722,
    -0.008177051163127693,
    -0.009272472861971307,
    0.002641874096043287,
    0.02520050106927535,
];
const LSTM_DOUT_B: &[f64] = &[
    0.14562332983179477,
    0.005215666455289272,
    -0.018101667001461746,
    -0.04937455903467934,
    -0.08336277025094295,
];
const LSTM_DX: &[f64] = &[
    0.008425125705063426,
    0.0033017370761551715,
    -0.003374510090733792,
    0.002593948546213044,
    0.00689954016817983,
    0.007960170240762666,
    -0.000781271422762662,
    5.445157528498814e-05,
    0.0008645651466467891,
    0.0015428563039360586,
    0.0018801550737386915,
    0.0013331875341286244,
    -0.0014487788109838905,
    -0.003816892670305418,
    -0.004389862266189142,
    -0.004713363061247838,
    -0.005254367964849091,
    -0.00332416151281759,
    -0.0017813044517287968,
    0.001773711263446155,
    0.004494522856419409,
    -0.0035239534813345736,
    -0.0024234426385208426,
    -0.0001831488554749328,
    -0.016212314760456276,
    -0.0157671841706315,
    -0.007906500496309997,
    -0.016025069910777772,
    -0.017052806842924678,
    -0.01006034225938696,
];
const LSTM_DH0: &[f64] = &[
    0.010600746784443551,
    0.00939350168141318,
    0.0037683459601016017,
    -0.0036291217482756592,
    0.0019454461030943917,
    -0.0008741094365481274,
    -0.0032825576498453466,
    -0.004147167709042175,
];
const LSTM_DC0: &[f64] = &[
    -0.012183492535040757,
    0.0013348772258781724,
    0.011684722488921063,
    0.03336621178992209,
    0.012589403428324085,
    0.03885399670291337,
    0.03522884189179685,
    0.01099052982266399,
];
const CNN_LOSS: f64 = 0.7032445892212789;
const CNN_DEMB: &[f64] = &[
    -0.00035020275329254903,
    4.2403414877200486e-05,
    0.00036461712784433144,
    -0.0009097316861761237,
    -0.00019907036081332247,
    0.0008420608452490022,
    -0.001838610918734256,
    -0.00047247656623482324,
    0.001677999934633757,
    -0.0016555468393115666,
    -0.0002513107750631813,
    0.0015701176904764989,
    -0.0016091376329819018,
    0.00037949254560397773,
    0.001738140160438397,
    -0.0024552408964109325,
    0.0009362053500503102,
    0.0027734891934428733,
];
const CNN_DLOGITS: &[f64] = &[
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    -9.134754989714758e-05,
    0.001167492927096217,
    -0.0014010496830623126,
    -0.0009760987789057424,
    0.0014875236992954557,
    -0.0001865206145264703,
    -0.00022866344513086854,
    8.005544015975667e-05,
    -1.9119642899917006e-05,
    -0.0006085620291612691,
    0.0014714031946732667,
    -0.0006951135176409689,
    -0.00015801486507444794,
    0.00012351345426028852,
    2.712102150046745e-05,
    -5.350017872955497e-06,
    5.727400758375693e-06,
    7.003006428271757e-06,
    -1.2142188081642684e-05,
    -4.858348407818167e-06,
    0.00013232748507436054,
    -0.00012641510186409084,
    -4.412140616866885e-06,
    1.5500293896058037e-05,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.000204379773123982,
    -0.00015878479163247903,
    -3.460846119437629e-05,
    6.755082479718148e-06,
    -7.779451183056957e-06,
    -9.962151593787867e-06,
    0.00015411023940375913,
    -0.001749714898210682,
    0.0017716851199552788,
    0.00139400548028641,
    -0.0017670483649614812,
    0.00019696242352671502,
    0.00026197574179647885,
    -9.786190737493784e-05,
    2.7915613812417692e-05,
    0.0008700127738743358,
    -0.002031995072342862,
    0.000969952850234567,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
];
const CNN_DC2_W: &[f64] = &[
    0.0005176035583424438,
    0.001412015534816912,
    0.0003489333065392173,
    0.002074031038118938,
    1.615426843728314e-05,
    0.001760597336564705,
    4.244419843410055e-05,
    -2.022921634815578e-05,
    9.969811211461084e-05,
    -1.089292023793365e-05,
    0.00011006244584164579,
    3.566486466762502e-06,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
];
const CNN_DC2_B: &[f64] = &[-0.009394507929871166, 0.0004389253955857475, 0.0];
const CNN_DC3_W: &[f64] = &[
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
];
const CNN_DC3_B: &[f64] = &[0.0, 0.0];
const CNN_DGATE_W: &[f64] = &[
    0.000348286221258768,
    1.6801793269408532e-05,
    0.0,
    0.0,
    0.0,
    1.6934673531954575e-06,
    7.962747931735071e-08,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.00023619487675570136,
    1.1385220366707941e-05,
    0.0,
    0.0,
    0.0,
    0.00040558452742879905,
    1.967380823932339e-05,
    0.0,
    0.0,
    0.0,
];
const CNN_DGATE_B: &[f64] = &[
    0.0014106417841167748,
    6.8809691362794045e-06,
    0.0,
    0.0009567425815530982,
    0.001641564492205187,
];
const CNN_DPROJ_W: &[f64] = &[
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0034161895963653616,
    0.00016537009813131544,
    0.0,
    0.0,
    0.0,
    0.0032309794856796754,
    0.00015630915906670836,
    0.0,
    0.0,
    0.0,
];
const CNN_DPROJ_B: &[f64] = &[0.0, 0.0, 0.0, 0.013830321784273722, 0.01308152073668152];
const CNN_DFC_W: &[f64] = &[
    0.00643158096069266,
    0.00036360806052284126,
    0.0,
    0.0032899650365713386,
    0.006247138505383991,
];
const CNN_DFC_B: &[f64] = &[0.07085634373974309];
const GUMBEL_LOSS: f64 = 0.04389770277413885;
const GUMBEL_Y: &[f64] = &[
    0.7182482018481153,
    0.2275904411511024,
    0.04334077230929316,
    0.010820584691489065,
    0.017752352897017785,
    0.03495557438899888,
    0.15676273584378148,
    0.7905293368702019,
    0.45341232015407246,
    0.39911327583324835,
    0.12393992067076266,
    0.02353448334191655,
];
const GUMBEL_DL: &[f64] = &[
    0.07041994426517123,
    -0.0572821446157151,
    -0.012925052570994792,
    -0.00021274707846131272,
    -0.009444792841694933,
    -0.0030622998531157956,
    0.018747121253137815,
    -0.006240028558327129,
    0.1442870941923525,
    -0.06766399139855817,
    -0.06363731811012344,
    -0.012985784683670896,
];
const GUMBEL_DTAU: f64 = -0.2476722925424127;
const SGD_TRAJ: &[f64] = &[
    0.9411,
    -1.9772,
    0.11904999999999999,
    1.00920191,
    -2.0397233200000002,
    -0.23358119500000005,
    1.0054231353710001,
    -2.0768983136920003,
    0.10960167877050002,
];
const ADAM_TRAJ: &[f64] = &[
    0.9900000249999374,
    -1.9900000333332222,
    0.4900000048780464,
    0.9911235808276645,
    -1.9891473394490964,
    0.48075604510738,
    0.9895216366842791,
    -1.9866435548224097,
    0.4822616265295751,
];
const ADAMW_TRAJ: &[f64] = &[
    0.9890000333332222,
    -1.988000099999,
    0.4895000049999975,
    0.9914933706367213,
    -1.992041976916726,
    0.4798039478523957,
    0.9918057317034196,
    -1.9960084964234357,
    0.4810534854841067,
];
const RMC_LOSS: f64 = 1.5876668175858968;
const RMC_DX: &[f64] = &[
    -0.00027385858912220776,
    0.0021424677414813398,
    0.0035511580162842986,
    0.0007596052938323167,
    0.0003928151698847854,
    -0.00015872206636590277,
    -0.0004543105728356772,
    0.0007273515638309739,
    0.0015669288948462277,
    0.00013208577404843122,
    0.0008073853332811788,
    0.001102958954527954,
    -0.0013032421896987934,
    -0.00017255783492085315,
    0.0010392831659109126,
    -0.0016990458846941237,
    0.006134985298112468,
    0.011083637033427162,
];
const RMC_D_INPUT_PROJ_WEIGHT: &[f64] = &[
    -0.0032155074262038594,
    0.0024491356678324697,
    0.006961911988486758,
    -0.001188309329160943,
    0.0014497996316959853,
    0.003406045172022226,
    -0.0032784810056764513,
    0.001569157305295124,
    0.005678796416827236,
    -0.0026951174099066138,
    0.002706455257804562,
    0.0068351397282403244,
];
const RMC_D_INPUT_PROJ_BIAS: &[f64] = &[
    -0.009729351850819912,
    -0.07483156058869135,
    -0.06371950951435311,
    -0.022160720860302432,
];
const RMC_D_QKV_WEIGHT: &[f64] = &[
    0.0012660864094586523,
    -0.0007746703709816269,
    -0.0003087881562909887,
    -0.0003885245817727647,
    0.0003726754932604837,
    0.0011460700689120075,
    -2.558512462705448e-05,
    9.959511543847249e-05,
    0.001776989352979823,
    -0.0007466120333050418,
    0.0003106132909218579,
    -0.0006392256303487242,
    0.0014827315636034182,
    0.0013120718801366321,
    -0.00010408321671867506,
    -0.00011896791379795678,
    -0.00013258077001279266,
    -3.718518628029627e-05,
    0.0007865084725981236,
    -0.00041582248435959696,
    0.0022116531842907277,
    -4.942897937716261e-05,
    -0.0009664309368628046,
    -0.00010173088845413921,
    0.04556758706357989,
    -0.0013008533107345037,
    0.001534769566592038,
    -0.011299260156172193,
    0.02186429100781259,
    0.0023301721048612544,
    -0.0001605081194491404,
    -0.005288339998078269,
    0.00032374893409504166,
    0.000788508376498992,
    0.00043209129571833167,
    -8.822237167690087e-05,
    0.0015964982863737177,
    -0.0008792792019084894,
    -0.0004033680753758863,
    -0.0004315517825550634,
    0.0026601853516871514,
    -0.00016684813544601328,
    -0.0005653399049273299,
    -0.00034119717735749496,
    0.0018649996678014443,
    -0.003005367361339235,
    -0.0018849294637397881,
    0.0002058344923299671,
    0.0021426516341810893,
    -0.00011348124798665836,
    -0.001295361027149005,
    0.0002270909290175223,
    0.001142066209757653,
    -0.0026038954093296524,
    -0.0013478771586989315,
    0.00015299230914358537,
    -0.011555142351136206,
    -0.009585017639806792,
    0.0016845722575299705,
    0.000274423308677438,
    -0.06983947366836665,
    0.008053118224104896,
    -0.0025297301663710185,
    0.01942910128907529,
];
const RMC_D_QKV_LN_W: &[f64] = &[
    4.477914781045871e-05,
    -0.00047399772487576703,
    -0.001523937800029073,
    0.0006663304659396509,
    0.0006396719451893484,
    0.0006166360632389603,
    0.022820260178459163,
    -0.011857321684573749,
    0.0005842280360354889,
    -0.00026464877078580544,
    0.0019400275233680644,
    -0.000506275915202461,
    -0.0021453026995133556,
    -0.003091015483687796,
    0.02207119225185536,
    -0.03484725883705234,
];
const RMC_D_QKV_LN_B: &[f64] = &[
    0.00010512420780735595,
    0.0005650756729194743,
    -0.0014801544216617216,
    -3.1848438816761693e-19,
    1.7618285302889447e-19,
    -1.2705494208814505e-19,
    0.04910605119280178,
    0.042071764814867546,
    -0.0004898561085358312,
    -0.0001848549985578629,
    -0.0013969743531682607,
    5.285485590866834e-19,
    1.6263032587282567e-18,
    -5.89534931288993e-19,
    -0.015344398203827376,
    -0.07583341780384191,
];
const RMC_D_LN1_W: &[f64] = &[
    -0.020483934053648276,
    -0.2452583931374201,
    -0.02417020553062216,
    -0.0037636678334744007,
];
const RMC_D_LN1_B: &[f64] = &[
    -0.027830711656701295,
    0.1407957032350466,
    0.01703572373271639,
    -0.0991206997778322,
];
const RMC_D_MLP_0_WEIGHT: &[f64] = &[
    -0.014884872418930961,
    0.007569501379904451,
    0.006676921263373543,
    0.005934778940394189,
    0.0,
    0.0,
    0.0,
    0.0,
    -0.03489801128021204,
    0.015065752303855718,
    0.017369645040208596,
    0.012531000469937485,
    0.0,
    0.0,
    0.0,
    0.0,
];
const RMC_D_MLP_0_BIAS: &[f64] = &[-0.020156704619628676, 0.0, -0.0471954209148759, 0.0];
const RMC_D_MLP_1_WEIGHT: &[f64] = &[
    2.6407573763946653e-05,
    0.0,
    -0.0007200293488475163,
    0.0,
    0.001221964022423549,
    0.0,
    0.021119546177493235,
    0.0,
    0.000239280265823219,
    0.0,
    -0.0006363083282267775,
    0.0,
    -0.0017523669422009154,
    0.0,
    -0.022552307435797937,
    0.0,
];
const RMC_D_MLP_1_BIAS: &[f64] = &[
    -0.006983404522695142,
    0.1410566551608376,
    -0.0034124093178937026,
    -0.1306608413202488,
];
const RMC_D_LN2_W: &[f64] = &[
    0.09631615711600564,
    -0.1201642967540763,
    -0.10864522568445782,
    -0.24192110051111562,
];
const RMC_D_LN2_B: &[f64] = &[
    0.06633486832744051,
    0.21639037193565566,
    0.15762237117346609,
    0.23496054975078848,
];
const RMC_D_GATE_IN_WEIGHT: &[f64] = &[
    0.020253125398817094,
    0.021227834857363265,
    0.006704252182233975,
    -0.009217847692729386,
    -0.018437417092359024,
    -0.016637295363549076,
    -0.006370860748183327,
    0.0069234230346404265,
    -0.029194345986789882,
    -0.023283536414196903,
    -0.007710661925304512,
    0.007623813602261993,
    -0.0031169119118041916,
    -0.0024421553100888276,
    -0.001384665265369324,
    0.001136381096084221,
    0.0300206581110682,
    0.03222765187702427,
    0.009234072218886825,
    -0.01368963095454911,
    -0.010918303415036527,
    -0.009671463594393099,
    -0.007423663327300604,
    0.006259448744195797,
    -0.007141163802163319,
    -0.005875649484749925,
    -0.00540759627182397,
    0.0041635435361903105,
    -0.004169813908265592,
    -0.003146728483228084,
    -0.0044524762867697,
    0.0030632863192904054,
];
const RMC_D_GATE_MEM_WEIGHT: &[f64] = &[
    0.031064525821256978,
    -0.009768967573877994,
    -0.0052228306520237435,
    -0.00307052408742712,
    -0.025683332442910416,
    0.012309534928255834,
    0.0066080534119036406,
    0.0034533061183634277,
    -0.03714489572830683,
    0.01817253237875114,
    0.009797723928008567,
    0.0050949603174718534,
    -0.004006282128893817,
    0.00317494801599774,
    0.001707760624862285,
    0.0007894968073014339,
    0.04636373431652206,
    -0.013467657503941816,
    -0.007189957663176618,
    -0.004289682558464259,
    -0.016695635923143173,
    0.010807177513901272,
    0.005806910768326272,
    0.002952265908827667,
    -0.010975890965730874,
    0.0070414194065311474,
    0.0037963664631894527,
    0.0019105470305016664,
    -0.0069249028348607146,
    0.004792985356849849,
    0.0025927866396777293,
    0.001228098963876306,
];
const RMC_D_OUT_WEIGHT: &[f64] = &[
    0.09871221487472127,
    -0.049787310111867586,
    -0.026526585247290617,
    -0.014045247917203739,
    0.09369504597257149,
    -0.11203867841239536,
    -0.05526882585111588,
    -0.019299251040176286,
    -0.04236742364784163,
    -0.014321809742691009,
    -0.007207845507156013,
    0.004727607695390761,
    -0.08864205285466367,
    0.13520790462677024,
    0.06756337871874071,
    0.017301309476870724,
    -0.06139778434478745,
    0.040939893640183744,
    0.02143987788682181,
    0.011315581785118543,
];
const RMC_D_OUT_BIAS: &[f64] = &[
    0.12394384313243634,
    0.13846755252223159,
    -0.03809971947201028,
    -0.14157310216106822,
    -0.08273857402158945,
];
