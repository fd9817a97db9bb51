"""PyTorch eager reference for bench/TrainThroughput: the same GPT and the same training step.

A GPT with nanoGPT's architecture (written here from its description, not copied): token +
learned position embeddings, pre-LayerNorm blocks without biases, causal self-attention computed
the way nanoGPT does without flash attention (q k^T / sqrt(hs), masked_fill, softmax, @ v), a 4x
GELU MLP, final LayerNorm, head tied to the token embedding; AdamW (lr 1e-3, betas (0.9, 0.99),
weight decay 0.1 on 2-D weights), global-norm clipping at 1.0. nanoGPT CPU Shakespeare shape:
4 layers, 4 heads, 128 wide, context 64, batch 12, vocab 65.

    OMP_NUM_THREADS=1 /usr/bin/python3 bench/pytorch/gpt_cpu_reference.py --threads 1

Prints the median step time and tokens/s, and which BLAS torch links.
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm(nn.Module):
    """LayerNorm with a weight and no bias (torch 1.13's nn.LayerNorm cannot drop only the bias)."""

    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, None, 1e-5)


class Attention(nn.Module):
    def __init__(self, c, h, t):
        super().__init__()
        self.h = h
        self.qkv = nn.Linear(c, 3 * c, bias=False)
        self.proj = nn.Linear(c, c, bias=False)
        self.register_buffer("mask", torch.tril(torch.ones(t, t)).view(1, 1, t, t))

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q = q.view(b, t, self.h, c // self.h).transpose(1, 2)
        k = k.view(b, t, self.h, c // self.h).transpose(1, 2)
        v = v.view(b, t, self.h, c // self.h).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.mask[:, :, :t, :t] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
        return self.proj(y)


class Block(nn.Module):
    def __init__(self, c, h, t):
        super().__init__()
        self.ln1 = LayerNorm(c)
        self.attn = Attention(c, h, t)
        self.ln2 = LayerNorm(c)
        self.fc = nn.Linear(c, 4 * c, bias=False)
        self.proj = nn.Linear(4 * c, c, bias=False)
        self.gelu = nn.GELU()

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.proj(self.gelu(self.fc(self.ln2(x))))


class Gpt(nn.Module):
    def __init__(self, vocab=65, t=64, layers=4, h=4, c=128):
        super().__init__()
        self.wte = nn.Embedding(vocab, c)
        self.wpe = nn.Embedding(t, c)
        self.blocks = nn.ModuleList(Block(c, h, t) for _ in range(layers))
        self.ln_f = LayerNorm(c)
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, idx, targets):
        b, t = idx.shape
        x = self.wte(idx) + self.wpe(torch.arange(t))
        for blk in self.blocks:
            x = blk(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--steps", type=int, default=100)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1337)
    model = Gpt()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99))
    times = []
    for i in range(a.warmup + a.steps):
        x = torch.randint(65, (12, 64))
        y = torch.randint(65, (12, 64))
        t0 = time.perf_counter()
        loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    blas = [l.strip() for l in torch.__config__.show().splitlines() if "BLAS" in l]
    print(f"pytorch={torch.__version__} threads={torch.get_num_threads()} median_step_ms={med * 1e3:.2f} "
          f"tokens_per_sec={12 * 64 / med:.0f} blas={blas}")


if __name__ == "__main__":
    main()
