#!/usr/bin/env python3
"""estimators_bench.py: the PyTorch-CPU peer of `cargo bench --bench main -- estimator_step`.

One step of each gradient estimator on float32 logits [rows, vocab], as the Rust bench takes
it (benches/benchmarks/estimators.rs): logits that require grad, the estimator's sample and
forward value, the linear objective f = sum_c w_c value_c per sample, the loss, backward to
the logits. tau = 1. The estimators, in PyTorch:

  straight_through    D ~ Categorical(softmax(l)); value D - p.detach() + p, p = softmax(l / tau)
  gumbel_softmax      F.gumbel_softmax(l, tau, hard=False)
  st_gumbel_softmax   F.gumbel_softmax(l, tau, hard=True)
  reinmax             the authors' package (pip install reinmax==0.1.0), reinmax.reinmax(l, tau);
                      skipped with a message if it is not installed
  gumbel_rao_k10      D = argmax(l + g); 10 Gumbel vectors drawn given D (docs/math.md, section 6),
                      materialised as [10, rows, vocab]; value D - p.detach() + p with p the mean
                      of the 10 relaxed samples
  gapped_st           the logits moved so that D leads the others by 1 (docs/estimators.md),
                      value D - p.detach() + p, p = softmax(moved / tau)
  gapped_st_gap_p     the same with the adaptive gap -ln(1 - pi_D) / pi_D
  reinforce_loo_k4    4 samples per row (torch.multinomial), leave-one-out baseline, the
                      surrogate (f_k - b_k).detach() * log pi_{D_k}
  rebar               REBAR (docs/estimators.md): z = log_softmax(l) + g, D = argmax z, z~ given D,
                      c(z) = eta f(softmax(z / lambda)) with eta = 1, lambda = tau as leaves,
                      g_hat = (f - c(z~)) (D - pi) + grad_l c(z) - grad_l c(z~) (create_graph),
                      one backward of the surrogate (g_hat.detach() * l).sum() + (g_hat ** 2).sum(),
                      which trains eta and lambda as the Rust step does

These are written here from the formulas (not copied from the authors' code); each matches
the Rust estimator's gradient in distribution, which is what a user comparing costs needs.

Each step: warm-up, then at least --min-reps reps and --min-time seconds, every rep timed with
perf_counter_ns; prints the median and best (ms) per step with the CPU model and thread count.

Usage:  ~/.cache/gumbel-peers-venv/bin/python benches/peers/estimators_bench.py --threads 1
        (the venv of ../shared/peers/setup.sh)
"""
import argparse
import os
import platform
import statistics
import time

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--threads", type=int, required=True, choices=[1, 2])
ap.add_argument("--shapes", default="64x5000,64x50257")
ap.add_argument("--min-reps", type=int, default=10)
ap.add_argument("--min-time", type=float, default=2.0, help="seconds per estimator per shape")
args = ap.parse_args()

os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(0)
TAU = 1.0

try:
    import reinmax as reinmax_package  # noqa: E402
except ImportError:
    reinmax_package = None


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def logits_like_the_rust_bench(rows, cols, salt):
    i = torch.arange(rows * cols, dtype=torch.int64) ^ salt
    h = (i * -7046029254386353131) >> 40  # 0x9e3779b97f4a7c15 as a signed 64-bit product
    h = h & ((1 << 24) - 1)
    return (h.to(torch.float32) / float(1 << 24) * 8.0 - 6.0).reshape(rows, cols)


def one_hot(index, cols):
    return F.one_hot(index, cols).to(torch.float32)


def straight_through(l):
    d = one_hot(torch.multinomial(torch.softmax(l.detach(), -1), 1).squeeze(-1), l.shape[-1])
    p = torch.softmax(l / TAU, -1)
    return d - p.detach() + p


def gumbel_rao(l, k=10):
    ld = l.detach()
    g = -torch.empty_like(ld).exponential_().log()
    index = (ld + g).argmax(-1)
    d = one_hot(index, l.shape[-1])
    # Given D: the maximum T ~ Gumbel(logsumexp(l)), the others Gumbel(l_i) truncated below T.
    e = torch.empty((k,) + tuple(ld.shape)).exponential_()
    t = torch.logsumexp(ld, -1, keepdim=True) - e.gather(-1, index.expand(k, -1).unsqueeze(-1)).log()
    z = -torch.log(e * torch.exp(-ld) + torch.exp(-t))
    z = z.scatter(-1, index.expand(k, -1).unsqueeze(-1), t)
    shift = z - ld  # the noise, a constant
    p = torch.softmax((l + shift) / TAU, -1).mean(0)
    return d - p.detach() + p


def gapped(l, adaptive):
    ld = l.detach()
    pi = torch.softmax(ld, -1)
    index = torch.multinomial(pi, 1)
    d = one_hot(index.squeeze(-1), l.shape[-1])
    top = ld.max(-1, keepdim=True).values
    if adaptive:
        pd = pi.gather(-1, index)
        gap = -torch.log1p(-pd) / pd
    else:
        gap = 1.0
    moved = torch.minimum(ld, top - gap).scatter(-1, index, top)
    p = torch.softmax((l + (moved - ld)) / TAU, -1)
    return d - p.detach() + p


def reinforce_loo_loss(l, w, k=4):
    logp = torch.log_softmax(l, -1)
    samples = torch.multinomial(logp.detach().exp(), k, replacement=True)  # [rows, k]
    f = w[samples]  # the linear objective of a one-hot: w at the sample
    b = (f.sum(-1, keepdim=True) - f) / (k - 1)
    surrogate = ((f - b).detach() * logp.gather(-1, samples)).sum() / k
    return f.sum() / k + surrogate - surrogate.detach()


def rebar_loss(l, w):
    eta = torch.ones(1, requires_grad=True)
    lam = torch.full((1,), TAU, requires_grad=True)
    x = l.detach().requires_grad_(True)  # z and z~ hang off a copy, as in the Rust code
    logp = torch.log_softmax(x, -1)
    g = -torch.empty_like(logp).exponential_().log()
    z = logp + g
    index = z.detach().argmax(-1, keepdim=True)
    e = torch.empty_like(logp).exponential_()
    eb = e.gather(-1, index)
    e0 = e.scatter(-1, index, 0.0)
    z_tilde = logp - torch.log(e0 + eb * logp.exp())
    d = one_hot(index.squeeze(-1), l.shape[-1])

    def c(v):
        return eta * (torch.softmax(v / lam, -1) * w).sum(-1)

    f = (d * w).sum(-1)
    cz, czt = c(z), c(z_tilde)
    grad = torch.autograd.grad((cz - czt).sum(), x, create_graph=True)[0]
    g_hat = (f - czt).unsqueeze(-1) * (d - logp.detach().exp()) + grad
    return (g_hat.detach() * l).sum() + (g_hat ** 2).sum()


def value_loss(value_fn):
    return lambda l, w: (value_fn(l) * w).sum()


STEPS = {
    "straight_through": value_loss(straight_through),
    "gumbel_softmax": value_loss(lambda l: F.gumbel_softmax(l, tau=TAU, hard=False)),
    "st_gumbel_softmax": value_loss(lambda l: F.gumbel_softmax(l, tau=TAU, hard=True)),
    "reinmax": value_loss(lambda l: reinmax_package.reinmax(l, TAU)[0]) if reinmax_package else None,
    "gumbel_rao_k10": value_loss(gumbel_rao),
    "gapped_st": value_loss(lambda l: gapped(l, False)),
    "gapped_st_gap_p": value_loss(lambda l: gapped(l, True)),
    "reinforce_loo_k4": reinforce_loo_loss,
    "rebar": rebar_loss,
}


def time_step(loss_fn, l0, w):
    def once():
        l = l0.detach().requires_grad_(True)
        loss_fn(l, w).backward()
        return l.grad

    t0 = time.perf_counter()
    n = 0
    while n < 3 or time.perf_counter() - t0 < 0.3:
        once()
        n += 1
    times = []
    start = time.perf_counter()
    while len(times) < args.min_reps or time.perf_counter() - start < args.min_time:
        a = time.perf_counter_ns()
        once()
        times.append((time.perf_counter_ns() - a) / 1e6)
    return statistics.median(times), min(times), len(times)


print(f"# PyTorch {torch.__version__}, {cpu_model()}, {args.threads} thread(s), float32, tau = {TAU}")
print(f"{'estimator':<20} {'shape':<10} {'median ms':>10} {'best ms':>10} {'reps':>6}")
for shape in args.shapes.split(","):
    rows, cols = (int(x) for x in shape.split("x"))
    l0 = logits_like_the_rust_bench(rows, cols, 0)
    w = logits_like_the_rust_bench(1, cols, 1).reshape(cols)
    for name, fn in STEPS.items():
        if fn is None:
            print(f"{name:<20} {shape:<10} skipped: pip install reinmax==0.1.0 in this venv")
            continue
        med, best, reps = time_step(fn, l0, w)
        print(f"{name:<20} {shape:<10} {med:>10.3f} {best:>10.3f} {reps:>6}")
