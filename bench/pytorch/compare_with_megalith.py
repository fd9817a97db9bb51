"""Replays a Megalith training trace in PyTorch and compares losses, gradient norms and weights.

    java -cp ... io.megalith.bench.ReferenceTrace /tmp/trace 50
    /usr/bin/python3 bench/pytorch/compare_with_megalith.py /tmp/trace

The PyTorch model is gpt_cpu_reference.Gpt (nanoGPT's architecture), loaded with Megalith's initial
weights and trained on Megalith's batches with torch.optim.AdamW, nanoGPT's parameter groups except
that embeddings are not decayed (as Megalith), clip_grad_norm_ and nanoGPT's learning-rate schedule.
"""
import json
import math
import struct
import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import gpt_cpu_reference as ref  # noqa: E402

DTYPES = {"F32": torch.float32, "I64": torch.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=DTYPES[meta["dtype"]]) if b > a else torch.empty(0)
        out[name] = t.reshape(meta["shape"]).clone()
    return out


NAMES = {  # ours -> gpt_cpu_reference
    "wte.weight": "wte.weight", "wpe.weight": "wpe.weight", "ln_f.weight": "ln_f.weight",
    "ln1.weight": "ln1.weight", "ln2.weight": "ln2.weight", "attn.qkv.weight": "attn.qkv.weight",
    "attn.proj.weight": "attn.proj.weight", "mlp.fc.weight": "fc.weight", "mlp.proj.weight": "proj.weight",
}


def to_ref(name):
    if name.startswith("blocks."):
        _, i, rest = name.split(".", 2)
        return f"blocks.{i}.{NAMES[rest]}"
    return NAMES[name]


def lr_at(it, lr=1e-3, min_lr=1e-4, warmup=10, decay_end=50):
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    if it > decay_end:
        return min_lr
    ratio = (it - warmup) / (decay_end - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


def main():
    d = sys.argv[1]
    torch.set_num_threads(1)
    trace = json.load(open(f"{d}/megalith.json"))
    init = read_safetensors(f"{d}/init.safetensors")
    batches = read_safetensors(f"{d}/batches.safetensors")
    final = read_safetensors(f"{d}/final.safetensors")
    model = ref.Gpt(vocab=trace["vocab"])
    state = model.state_dict()
    for k, v in init.items():
        state[to_ref(k)].copy_(v)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith(("wte", "wpe"))]
    other = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and not n.startswith(("wte", "wpe")))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99), eps=1e-8)
    worst = 0.0
    for s, ours in enumerate(trace["steps"]):
        for g in opt.param_groups:
            g["lr"] = lr_at(s)
        loss = model(batches[f"x.{s}"], batches[f"y.{s}"])
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0).item()
        opt.step()
        opt.zero_grad(set_to_none=True)
        rel = abs(loss.item() - ours["loss"]) / abs(loss.item())
        worst = max(worst, rel)
        if s < 3 or s % 10 == 9:
            print(f"step {s + 1:3d}: pytorch loss {loss.item():.6f} megalith {ours['loss']:.6f} (rel {rel:.1e}); "
                  f"grad norm {norm:.5f} vs {ours['grad_norm']:.5f}")
    state = model.state_dict()
    wdiff = max((state[to_ref(k)] - v).abs().max().item() / (v.abs().max().item() + 1e-12) for k, v in final.items())
    print(f"worst loss rel diff {worst:.2e}; worst final weight rel diff {wdiff:.2e} after {len(trace['steps'])} steps")


if __name__ == "__main__":
    main()
