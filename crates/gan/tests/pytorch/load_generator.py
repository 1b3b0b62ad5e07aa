#!/usr/bin/env python3
"""Loads a gumbel-lab generator checkpoint into a PyTorch nn.Module with load_state_dict
(strict) and checks that PyTorch computes the same NLL on the same sequences.

    python load_generator.py CHECKPOINT_DIR TOKENS_FILE START PAD EXPECTED_NLL

CHECKPOINT_DIR holds generator.safetensors. TOKENS_FILE has one sequence of token ids per
line (padded to the model's length). START is the first input token; PAD the ignored
target (-1: none). EXPECTED_NLL is gumbel-lab's mean per-token NLL of those sequences.
Exits 0 and prints "ok" if PyTorch agrees to 1e-4 relative (both compute in float32 with
different summation orders; the NLL is a mean of O(1) terms).

With the `safetensors` package installed, `safetensors.torch.load_file(path)` gives the
same dict as `read_safetensors` below; this script carries its own reader so that it needs
only torch and numpy.
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_safetensors(path):
    """The safetensors format: u64 little-endian header length, JSON header, raw data."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        start, end = info["data_offsets"]
        arr = np.frombuffer(data[base + start:base + end], dtype="<f4").reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, header.get("__metadata__", {})


class Generator(nn.Module):
    """gumbel-lab's generator: Embedding -> LSTM (batch_first) -> Linear."""

    def __init__(self, vocab, emb, hidden):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden, batch_first=True)
        self.linear = nn.Linear(hidden, vocab)

    def forward(self, tokens):  # (B, L) -> (B, L, V)
        out, _ = self.lstm(self.embedding(tokens))
        return self.linear(out)


def main():
    ckpt, tokens_file, start, pad, expected = sys.argv[1:6]
    start, pad, expected = int(start), int(pad), float(expected)
    state, meta = read_safetensors(f"{ckpt}/generator.safetensors")
    assert meta.get("format") == "pt", meta
    vocab, emb = state["embedding.weight"].shape
    hidden = state["lstm.weight_hh_l0"].shape[1]
    g = Generator(vocab, emb, hidden)
    g.load_state_dict(state, strict=True)  # every name and shape must match
    seqs = torch.tensor(np.loadtxt(tokens_file, dtype=np.int64, ndmin=2))
    inputs = torch.cat([torch.full((seqs.shape[0], 1), start), seqs[:, :-1]], dim=1)
    with torch.no_grad():
        logits = g(inputs)
        nll = F.cross_entropy(logits.reshape(-1, vocab), seqs.reshape(-1),
                              ignore_index=pad if pad >= 0 else -100).item()
    rel = abs(nll - expected) / max(abs(expected), 1e-12)
    print(f"pytorch NLL {nll:.7f}, gumbel-lab NLL {expected:.7f}, relative difference {rel:.2e}")
    if rel > 1e-4:
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
