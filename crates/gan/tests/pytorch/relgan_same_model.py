#!/usr/bin/env python3
"""Loads gumbel-lab's RelGAN generator and discriminator into the PyTorch modules of
relgan_step_bench.py (--variant official) and recomputes what gumbel-lab computed.

    python relgan_same_model.py PEERS_DIR RUN_DIR BETA

RUN_DIR holds generator.safetensors, discriminator.safetensors and expected.safetensors
(written by crates/gan/tests/gan/relgan.rs): the fixed inputs (MLE tokens, real tokens, the
Gumbel noise of each step) and gumbel-lab's results (MLE loss and gradients, relaxed samples,
discriminator logits, RSGAN generator loss and gradients). Prints one line per comparison and
"ok" if all agree.

Each half is checked at the same point on both sides: the discriminator (and its gradient in
the samples, u_t = dL/dy_t) on gumbel-lab's samples, the generator's backward from
gumbel-lab's u_t. Chained end to end instead, the two float32 computations drift apart: the
samples differ by up to 1e-5 after 20 recurrent steps, which moves a few of the 600,000
maxima over time that are within 1e-5 of a tie to another position (a different subgradient
of the max), and 20 recurrent steps amplify rounding (PyTorch in float32 against itself in
float64: 1.5e-4 on the generator's adversarial gradients). Checked half by half, the worst
difference was 6e-5 (Intel Xeon, PyTorch 2.x).

Tolerance: both sides compute in float32 with different summation orders (gemm blockings,
the layer norm's and softmax's sums) through 20 recurrent steps and the discriminator's
1200-wide layers. Values are compared as max |a - b| / max |b| per tensor (relative to the
tensor's scale: single elements near zero carry only absolute rounding), at most 1e-4 for the
losses, logits and samples and 3e-4 for gradients (sums over a batch of terms of both signs).
"""
import os
import sys

peers, run_dir, beta = sys.argv[1], sys.argv[2], float(sys.argv[3])
sys.path.insert(0, peers)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.argv = ["relgan_step_bench.py", "--threads", "1"]  # the module parses its flags on import
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import relgan_step_bench as rb  # noqa: E402
from load_generator import read_safetensors  # noqa: E402

torch.set_num_threads(1)
worst = {}


def check(name, got, want, tol):
    got, want = got.detach().float().reshape(-1), want.float().reshape(-1)
    assert got.shape == want.shape, (name, got.shape, want.shape)
    err = ((got - want).abs().max() / want.abs().max().clamp_min(1e-30)).item()
    worst[name] = err
    print(f"{name:48s} max|diff|/max|x| = {err:.2e}")
    if not err <= tol:
        raise SystemExit(f"{name}: {err:.3e} > {tol}")


gen_sd, _ = read_safetensors(os.path.join(run_dir, "generator.safetensors"))
dis_sd, _ = read_safetensors(os.path.join(run_dir, "discriminator.safetensors"))
exp, _ = read_safetensors(os.path.join(run_dir, "expected.safetensors"))
G, D = rb.Generator(True), rb.Discriminator(True)
missing, unexpected = G.load_state_dict(gen_sd, strict=False)
# RelGAN's gate biases are constants (buffers in the PyTorch module, not in the checkpoint)
assert set(missing) == {"rmc.input_bias", "rmc.forget_bias"} and not unexpected, (missing, unexpected)
D.load_state_dict(dis_sd, strict=True)
D.eval()  # dropout off, as the Rust side ran it
B, L = exp["mle_tokens"].shape
mle_tokens = exp["mle_tokens"].long()
real_tokens = exp["real_tokens"].long()

# MLE: teacher forcing from the start token.
inp = torch.cat([torch.full((B, 1), rb.START, dtype=torch.long), mle_tokens[:, :-1]], dim=1)
loss = F.cross_entropy(G.mle_logits(inp).reshape(-1, rb.V), mle_tokens.reshape(-1))
check("mle_loss", loss, exp["mle_loss"], 1e-4)
G.zero_grad()
loss.backward()
for name, p in G.named_parameters():
    check(f"mle_grad.{name}", p.grad, exp[f"mle_grad.{name}"], 3e-4)

# The discriminator on real sequences and on gumbel-lab's relaxed samples; the RSGAN
# generator loss; its gradients in the discriminator and in the samples.
fake = torch.stack([exp[f"sample.{t}"] for t in range(L)], dim=1).requires_grad_()
real = F.one_hot(real_tokens, rb.V).float()
d_fake, d_real = D(fake), D(real)
check("d_fake", d_fake, exp["d_fake"], 1e-4)
check("d_real", d_real, exp["d_real"], 1e-4)
g_loss = F.binary_cross_entropy_with_logits(d_fake - d_real, torch.ones_like(d_fake))
check("g_loss", g_loss, exp["g_loss"], 1e-4)
D.zero_grad()
g_loss.backward()
for name, p in D.named_parameters():
    check(f"adv_grad.d.{name}", p.grad, exp[f"adv_grad.d.{name}"], 3e-4)
for t in range(L):
    check(f"sample_grad.{t}", fake.grad[:, t], exp[f"sample_grad.{t}"], 3e-4)

# The generator's free-running relaxed samples with gumbel-lab's noise (the sampled token fed
# back), and the gradients of sum_t <y_t, u_t> with gumbel-lab's u_t = dL/dy_t.
G.zero_grad()
mem = G.rmc.initial_state(B)
x = G.emb(torch.full((B,), rb.START, dtype=torch.long))
total = 0.0
for t in range(L):
    h, mem = G.rmc(x, mem)
    gt = G.out(h) + exp[f"noise.{t}"]
    y = torch.softmax(beta * gt, dim=-1)
    check(f"sample.{t}", y, exp[f"sample.{t}"], 1e-4)
    tok = gt.detach().argmax(dim=-1)
    assert torch.equal(tok, exp[f"sample.{t}"].argmax(dim=-1)), f"step {t}: another token was drawn"
    total = total + (y * exp[f"sample_grad.{t}"]).sum()
    x = G.emb(tok)
total.backward()
for name, p in G.named_parameters():
    key = f"adv_grad.g.{name}"
    if p.grad is None:
        assert key not in exp, f"{key}: gumbel-lab has a gradient PyTorch has not"
        continue
    check(key, p.grad, exp[key], 3e-4)
print(f"worst: {max(worst, key=worst.get)} {max(worst.values()):.2e}")
print("ok")
