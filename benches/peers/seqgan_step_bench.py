#!/usr/bin/env python3
"""seqgan_step_bench.py: PyTorch-CPU peer of one REINFORCE generator update (SeqGAN,
Yu et al. 2017) at the sizes of `cargo bench --bench main -- gan_generator_step`
(id `reinforce:16`).

Sizes: vocabulary 5000, length 20, batch 64, float32. Generator: Embedding(5000, 32) ->
LSTM cell (32 -> 32) -> Linear(32, 5000). Discriminator: Embedding(5000, 64) on token ids,
Conv1d widths 2, 3, 4, 5 x 64 filters, ReLU, max over time, highway, Linear(256, 1), no
dropout (SeqGAN scores rollouts with dropout off).

One update, as gumbel-lab's `reinforce_step`: sample a batch (64 x 20) from the generator at
temperature 1; for every prefix length t = 1..19 complete the prefix 16 times with the
rollout policy (a copy of the generator; the 16 x 64 completions of one prefix length are one
batch of 1024 rows, as gumbel-lab batches them and as TextGAN-PyTorch's rollout does per
rollout), score every completion with sigmoid(D), average; the reward of the last token is
sigmoid(D(x)); loss = -(1/(B L)) sum Q ln p(x); backward; clip the gradient norm at 5; Adam.
Everything but the loss runs under no_grad. Median of --reps updates after one warm-up.

Usage: $PEERS_VENV/bin/python benches/peers/seqgan_step_bench.py --threads 1   (or 2)
"""
import argparse
import os
import statistics
import time

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--threads", type=int, required=True)
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--rollouts", type=int, default=16)
args = ap.parse_args()
os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(0)
V, L, B, N = 5000, 20, 64, args.rollouts


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 32)
        self.cell = nn.LSTMCell(32, 32)
        self.out = nn.Linear(32, V)

    def complete(self, prefix, t, hc):
        """Fill positions t.. of `prefix` (rows x L) by sampling; `hc`: state before reading
        token t (None at t = 0: read the start token 0 from the zero state)."""
        x = prefix.clone()
        inp = torch.zeros(x.shape[0], dtype=torch.long) if t == 0 else x[:, t - 1]
        for j in range(t, L):
            hc = self.cell(self.emb(inp), hc)
            p = F.softmax(self.out(hc[0]), dim=-1)
            x[:, j] = torch.multinomial(p, 1).squeeze(1)
            inp = x[:, j]
        return x

    def prefix_states(self, x):
        hc, out = None, []
        for t in range(L - 1):
            inp = torch.zeros(B, dtype=torch.long) if t == 0 else x[:, t - 1]
            hc = self.cell(self.emb(inp), hc)
            out.append(hc)
        return out

    def log_probs(self, x):
        inp = torch.cat([torch.zeros(B, 1, dtype=torch.long), x[:, :-1]], dim=1)
        hc, hs = None, []
        for t in range(L):
            hc = self.cell(self.emb(inp[:, t]), hc)
            hs.append(hc[0])
        logits = self.out(torch.stack(hs, dim=1))  # B, L, V
        return torch.gather(F.log_softmax(logits, -1), 2, x.unsqueeze(2)).squeeze(2)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 64)
        self.convs = nn.ModuleList([nn.Conv1d(64, 64, k) for k in (2, 3, 4, 5)])
        self.gate, self.proj = nn.Linear(256, 256), nn.Linear(256, 256)
        self.fc = nn.Linear(256, 1)

    def forward(self, ids):
        x = self.emb(ids).transpose(1, 2)
        f = torch.cat([F.relu(c(x)).amax(dim=2) for c in self.convs], dim=1)
        g = torch.sigmoid(self.gate(f))
        return self.fc(g * F.relu(self.proj(f)) + (1 - g) * f).squeeze(1)


G, D = Generator(), Discriminator()
policy = Generator()
policy.load_state_dict(G.state_dict())
opt = torch.optim.Adam(G.parameters(), lr=0.01)


def step():
    with torch.no_grad():
        x = G.complete(torch.zeros(B, L, dtype=torch.long), 0, None)
        states = policy.prefix_states(x)
        q = torch.zeros(B, L)
        for t in range(1, L):
            h, c = states[t - 1]
            done = policy.complete(x.repeat(N, 1), t, (h.repeat(N, 1), c.repeat(N, 1)))
            q[:, t - 1] = torch.sigmoid(D(done)).view(N, B).mean(0)
        q[:, L - 1] = torch.sigmoid(D(x))
    loss = -(q * G.log_probs(x)).mean()
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(G.parameters(), 5.0)
    opt.step()


step()
times = []
for _ in range(args.reps):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
print(f"torch {torch.__version__}, {args.threads} thread(s): REINFORCE update (B {B}, L {L}, V {V}, "
      f"{N} rollouts) median {statistics.median(times):.3f} s over {args.reps} (min {min(times):.3f})")
