#!/usr/bin/python3
"""PyTorch training-throughput baseline for the reference config (4 layers, D=64, H=4, d_ff=256,
T=128, batch 32, V=64, tied, AdamW lr 1e-3), using the model class of tests/reference/cope_ref.py
in float32. Prints: torch pe=cope threads=1 tokens/s=XXXX (median of N steps)
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from cope_ref import CopeModel, init_weights, make_cfg  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--pe", choices=["cope", "none"], default="cope")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    B, T, V = 32, 128, 64
    cfg = make_cfg("bench", args.pe, True, L=4, D=64, H=4, F=256, V=V, n_ctx=T,
                   npos=64 if args.pe == "cope" else None)
    cfg["tokenizer"]["vocab"] = ["w%d" % i for i in range(V)]   # unused here
    gen = torch.Generator().manual_seed(1234)
    model = CopeModel(cfg, dtype=torch.float32)
    init_weights(model, gen)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    mask = torch.ones(B, T)

    times = []
    for step in range(args.warmup + args.steps):
        seq = torch.randint(0, V, (B, T + 1), generator=gen)
        ids, targets = seq[:, :-1], seq[:, 1:]
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss, _ = model.loss(ids, targets, mask)
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        if step >= args.warmup:
            times.append(dt)
    med = statistics.median(times)
    print("torch pe=%s threads=%d tokens/s=%.0f (median of %d steps)"
          % (args.pe, args.threads, B * T / med, len(times)))


if __name__ == "__main__":
    main()
