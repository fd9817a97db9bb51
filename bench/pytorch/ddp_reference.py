"""PyTorch DDP over gloo, the reference for Megalith's data-parallel scaling (bench/run-dp-scaling.sh).

The GPT of gpt_cpu_reference.py (nanoGPT's CPU Shakespeare shape) trained with a global batch of 12
sequences of 64 tokens split over --world processes (gloo on 127.0.0.1, 1 torch thread each), AdamW,
clipping at 1.0; median step time after warm-up, as tokens/s of the whole global batch.

    /usr/bin/python3 bench/pytorch/ddp_reference.py --world 2
"""
import argparse
import os
import statistics
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import gpt_cpu_reference as ref


def worker(rank, world, port, steps, warmup, q):
    torch.set_num_threads(1)
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    torch.manual_seed(1337)
    model = ref.Gpt()
    ddp = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99))
    per_rank = 12 // world
    times = []
    for i in range(warmup + steps):
        x = torch.randint(65, (per_rank, 64))
        y = torch.randint(65, (per_rank, 64))
        if world > 1:
            dist.barrier()
        t0 = time.perf_counter()
        loss = ddp(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    q.put((rank, statistics.median(times)))
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", type=int, default=2)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=15)
    ap.add_argument("--port", type=int, default=29533)
    a = ap.parse_args()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(r, a.world, a.port, a.steps, a.warmup, q)) for r in range(a.world)]
    for p in procs:
        p.start()
    res = [q.get() for _ in procs]
    for p in procs:
        p.join()
    med = max(t for _, t in res)
    print(f"pytorch_ddp world={a.world} median_step_ms={med * 1e3:.2f} tokens_per_sec={12 * 64 / med:.0f}")


if __name__ == "__main__":
    main()
