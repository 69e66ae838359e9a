#!/usr/bin/env python3
"""The PyTorch peer of `ligo bench`: the same GPT-2 training step, timed the same way, printed as one JSON line.

Model (as src/model/gpt2.ts): learned token and position embeddings, pre-LayerNorm blocks (LN -> causal
self-attention with separate q/k/v projections -> residual; LN -> Linear(C, 4C) -> GELU (tanh) -> Linear(4C, C)
-> residual), final LayerNorm, readout tied to the token embedding, mean cross-entropy. Init N(0, 0.02), position
table N(0, 0.01), residual output projections N(0, 0.02/sqrt(2L)). Step: forward + backward, global-norm clip at 1.0,
torch.optim.AdamW(lr 1e-3, betas (0.9, 0.95), eps 1e-8, weight decay 0.1 on matrices and embeddings only) -- what
`ligo train` does per step. With --accum K a step is K micro-batches (each loss / K, gradients summed by backward),
as `ligo train --accum`. Random token batches (vocab V, B x T). Median of the timed steps after warm-ups.

  LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 bench/peer_torch.py \
      --layers 4 --d-model 128 --heads 4 --vocab 256 --seq 128 --batch 16 --steps 10 --warmup 3 --threads 2
  ... bench/peer_torch.py --gemm 1024        # only the 1024^3 float32 matmul GFLOP/s (torch.mm)

Peak RSS is ru_maxrss of this process (it includes importing torch, ~200+ MiB): run one config per process.
"""
import argparse
import json
import math
import os
import resource
import sys
import time


def loaded_blas():
    """The BLAS/LAPACK/OpenMP shared objects this process has mapped, leaving out numpy's private copy of OpenBLAS
    (numpy.libs/, loaded when torch imports numpy; torch's matmuls do not call it)."""
    libs = set()
    try:
        with open('/proc/self/maps') as f:
            for line in f:
                parts = line.split()
                path = parts[-1] if len(parts) >= 6 else ''
                base = os.path.basename(path)
                if 'numpy.libs' in path or 'scipy_openblas' in base:
                    continue
                if any(k in base for k in ('blas', 'mkl', 'lapack', 'blis', 'gomp', 'iomp')):
                    libs.add(path)
    except OSError:
        pass
    return sorted(libs)


def describe_blas(libs, built=''):
    """Which BLAS torch's matmuls call: a shared BLAS it has mapped, else the one linked into it at build time."""
    joined = ' '.join(libs)
    if 'mkl' in joined:
        return 'MKL'
    if 'openblas' in joined:
        kind = 'OpenMP' if 'openblas-openmp' in joined else ('pthread' if 'openblas-pthread' in joined else 'unknown threading')
        return f'OpenBLAS ({kind})'
    if 'blis' in joined:
        return 'BLIS'
    if 'libblas' in joined:
        return 'reference BLAS (slow: install libopenblas0-openmp)'
    if built and built != 'unknown':
        return f'{built} (linked into torch)'
    return 'unknown'


def build_blas(torch):
    """The BLAS torch was built against (torch.__config__.show()'s BLAS_INFO), e.g. 'mkl' or 'open'."""
    import re
    try:
        m = re.search(r'BLAS_INFO=([A-Za-z0-9_]+)', torch.__config__.show())
        if m:
            return m.group(1)
    except Exception:
        pass
    return 'unknown'


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--layers', type=int, default=4)
    ap.add_argument('--d-model', type=int, default=128)
    ap.add_argument('--heads', type=int, default=4)
    ap.add_argument('--vocab', type=int, default=256)
    ap.add_argument('--seq', type=int, default=128)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--accum', type=int, default=1, help='micro-batches per step (gradient accumulation)')
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--gemm', type=int, default=0, help='only time an n^3 float32 matmul and exit')
    a = ap.parse_args()

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    info = {'torch': torch.__version__, 'threads': torch.get_num_threads(), 'python': sys.version.split()[0],
            'build_blas': build_blas(torch)}

    if a.gemm:
        n = a.gemm
        x = torch.rand(n, n)
        y = torch.rand(n, n)
        torch.mm(x, y)
        ts = []
        t0 = time.perf_counter()
        while len(ts) < 5 or time.perf_counter() - t0 < 1.0:
            s = time.perf_counter()
            torch.mm(x, y)
            ts.append(time.perf_counter() - s)
            if len(ts) > 200:
                break
        libs = loaded_blas()
        print(json.dumps({**info, 'n': n, 'gflops': 2.0 * n ** 3 / median(ts) / 1e9,
                          'gflops_best': 2.0 * n ** 3 / min(ts) / 1e9, 'blas': describe_blas(libs, info['build_blas']), 'blas_libs': libs}))
        return

    L, C, NH, V, T, B, K = a.layers, a.d_model, a.heads, a.vocab, a.seq, a.batch, a.accum
    HS = C // NH
    if HS * NH != C:
        sys.exit(f'--heads {NH} must divide --d-model {C}')

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(C, eps=1e-5)
            self.q = nn.Linear(C, C)
            self.k = nn.Linear(C, C)
            self.v = nn.Linear(C, C)
            self.c_proj = nn.Linear(C, C)
            self.ln_2 = nn.LayerNorm(C, eps=1e-5)
            self.c_fc = nn.Linear(C, 4 * C)
            self.mlp_proj = nn.Linear(4 * C, C)
            self.register_buffer('mask', torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1), persistent=False)

        def forward(self, x):
            h = self.ln_1(x)
            heads = lambda t: t.view(B, T, NH, HS).transpose(1, 2)  # [B,NH,T,HS]
            q, k, v = heads(self.q(h)), heads(self.k(h)), heads(self.v(h))
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(HS))
            att = att.masked_fill(self.mask, float('-inf')).softmax(dim=-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, C)
            x = x + self.c_proj(y)
            x = x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate='tanh'))
            return x

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(V, C)
            self.wpe = nn.Embedding(T, C)
            self.h = nn.ModuleList([Block() for _ in range(L)])
            self.ln_f = nn.LayerNorm(C, eps=1e-5)
            for name, p in self.named_parameters():
                if name.endswith('bias'):
                    nn.init.zeros_(p)
                elif 'ln' in name:
                    nn.init.ones_(p)
                elif name == 'wpe.weight':
                    nn.init.normal_(p, std=0.01)
                elif name.endswith('c_proj.weight') or name.endswith('mlp_proj.weight'):
                    nn.init.normal_(p, std=0.02 / math.sqrt(2 * L))
                else:
                    nn.init.normal_(p, std=0.02)

        def forward(self, ids, targets):
            x = self.wte(ids) + self.wpe(torch.arange(T))
            for blk in self.h:
                x = blk(x)
            logits = self.ln_f(x) @ self.wte.weight.t()  # tied head
            return F.cross_entropy(logits.view(-1, V), targets.view(-1))

    model = GPT()
    params = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.1}, {'params': no_decay, 'weight_decay': 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(a.seed + 1)

    def step():
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(K):
            ids = torch.randint(0, V, (B, T), generator=gen)
            targets = torch.randint(0, V, (B, T), generator=gen)
            loss = model(ids, targets) / K
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return total

    for _ in range(a.warmup):
        step()
    times = []
    loss = float('nan')
    for _ in range(a.steps):
        t0 = time.perf_counter()
        loss = step()
        times.append((time.perf_counter() - t0) * 1000.0)
    ms = median(times)
    libs = loaded_blas()
    print(json.dumps({**info, 'layers': L, 'd_model': C, 'heads': NH, 'vocab': V, 'seq': T, 'batch': B, 'accum': K,
                      'params': params, 'steps': a.steps, 'warmup': a.warmup, 'ms_per_step': ms,
                      'ms_per_step_all': times, 'tokens_per_s': B * K * T / (ms / 1000.0), 'loss': loss,
                      'peak_rss_mib': peak_rss_mib(), 'blas': describe_blas(libs, info['build_blas']), 'blas_libs': libs}))


if __name__ == '__main__':
    main()
