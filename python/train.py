#!/usr/bin/python3
"""train.py — train a CoPE model with PyTorch, on one process or many (torchrun, DDP), and write our
model file. The examples come from the C core's generators (python/cope_torch/libcope.py over
build/libcope.so) and the initial weights from the core's seeded initialization, so a run starts
as `cope train` with the same seed does; the schedule (linear warmup, cosine decay to 10 %) and
AdamW with gradient clipping are `cope train`'s. Every process draws the same global batch from the
seeded generator and trains on its slice of it, so N processes of batch B equal one of batch N x B.

  /usr/bin/python3 python/train.py --task counting3 --pe cope --out model.safetensors
  torchrun --standalone --nproc_per_node 2 --redirects 1 --tee 1 python/train.py --task counting3 --batch 64 \
      --out model.safetensors
  (Debian's torchrun 1.13 under Python 3.11 needs --redirects/--tee other than 0: its default
  trips on an IntFlag change in Python 3.11)
  (GPUs: NCCL, one process per GPU, bfloat16 autocast; CPU: gloo)
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cope_torch import CopeModel, masked_ce  # noqa: E402
from cope_torch.libcope import Batches, LibCope  # noqa: E402


def args_parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="toy")
    ap.add_argument("--pe", default="cope")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ff", type=int, default=None, help="default 4 x dim")
    ap.add_argument("--npos", type=int, default=16)
    ap.add_argument("--rel-max", type=int, default=64)
    ap.add_argument("--sep-keys", action="store_true")
    ap.add_argument("--per-head", action="store_true")
    ap.add_argument("--untied", action="store_true")
    ap.add_argument("--ctx", type=int, default=None, help="default: the task's longest split")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=32, help="the global batch, split over the processes")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=None, help="default steps / 20")
    ap.add_argument("--wd", type=float, default=0.0)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="torch threads per process")
    ap.add_argument("--checkpoint-every", type=int, default=0)
    ap.add_argument("--resume", action="store_true", help="continue from OUT.ckpt")
    ap.add_argument("--lib", default=os.path.join(HERE, "..", "build", "libcope.so"))
    ap.add_argument("--out", required=True)
    return ap


def lr_at(a, step):
    if a.warmup and step <= a.warmup:
        return a.lr * step / a.warmup
    prog = min(1.0, (step - a.warmup) / max(1, a.steps - a.warmup))
    return a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))


def main():
    a = args_parser().parse_args()
    a.ff = a.ff or 4 * a.dim
    a.warmup = a.steps // 20 if a.warmup is None else a.warmup
    world, rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
    cuda = torch.cuda.is_available()
    if world > 1:
        dist.init_process_group("nccl" if cuda else "gloo")
    if a.batch % world:
        sys.exit("train.py: --batch %d does not split over %d processes" % (a.batch, world))
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if a.threads:
        torch.set_num_threads(a.threads)
    lib = LibCope(a.lib)
    batches = Batches(lib, a.task, a.seed * 7919 + 17)
    ctx = a.ctx or max(lib.lib.cope_task_max_len(lib.task(a.task), s) - 1 for s in (b"train", b"ood", b"long")
                       if not lib.lib.cope_task_split_check(lib.task(a.task), s, None))
    init = lib.new_model_file(a.task, {"n_ctx": ctx, "n_layer": a.layers, "n_head": a.heads, "d_model": a.dim,
                                       "d_ff": a.ff, "pe": a.pe, "npos": a.npos, "sep_keys": a.sep_keys,
                                       "per_head_table": a.per_head, "rel_max": a.rel_max, "tied": not a.untied},
                              a.seed)
    model = CopeModel.from_file(init).to(device)
    os.unlink(init)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    rest = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd}, {"params": rest, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    start, ckpt = 0, a.out + ".ckpt"
    if a.resume:
        st = torch.load(ckpt, map_location=device)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        start, batches.state = st["step"], st["rng"]
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    B = a.batch // world
    t0, tokens, ema = time.time(), 0, None
    for step in range(start + 1, a.steps + 1):
        ids, tg, mask = batches.next(a.batch)          # every process draws the global batch ...
        sl = slice(rank * B, (rank + 1) * B)            # ... and trains on its slice
        ids, tg, mask = (torch.from_numpy(np.ascontiguousarray(x[sl])).to(device) for x in (ids, tg, mask))
        for g in opt.param_groups:
            g["lr"] = lr_at(a, step)
        if cuda:  # mixed precision on the GPU: bfloat16 matmuls, the loss in float32
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss, _ = model_loss(net, ids, tg, mask)
        else:
            loss, _ = model_loss(net, ids, tg, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip if a.clip > 0 else float("inf"))
        if not torch.isfinite(loss):
            sys.exit("train.py: loss is %s at step %d; stopping" % (float(loss), step))
        opt.step()
        lv = float(loss)
        ema = lv if ema is None else 0.95 * ema + 0.05 * lv
        tokens += a.batch * ids.shape[1]
        if rank == 0 and (step % max(1, a.steps // 10) == 0 or step == a.steps):
            dt = time.time() - t0
            print("step %6d/%d  loss %.4f (avg %.4f)  |g| %.3f  lr %.2e  %.0f tok/s  ETA %.0fs" % (
                step, a.steps, lv, ema, float(gnorm), lr_at(a, step), tokens / dt, dt / (step - start) * (a.steps - step)),
                flush=True)
        if a.checkpoint_every and step % a.checkpoint_every == 0 and step < a.steps and rank == 0:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "rng": batches.state}, ckpt)
    if rank == 0:
        model.save(a.out, provenance={
            "task": a.task, "seed": a.seed, "steps": a.steps, "batch": a.batch, "lr": a.lr, "warmup": a.warmup,
            "weight_decay": a.wd, "clip": a.clip, "final_loss_avg": ema, "train_seconds": round(time.time() - t0, 1),
            "trainer": "python/train.py (PyTorch %s, %d process%s, %s)" % (
                torch.__version__, world, "es" if world > 1 else "", "CUDA bf16" if cuda else "CPU")})
        print("done: wrote %s" % a.out, flush=True)
    if world > 1:
        dist.destroy_process_group()


def model_loss(net, ids, tg, mask):
    """The loss through net's forward (a DDP wrapper's, so that its gradient hooks run)."""
    logits = net(ids.long())
    return masked_ce(logits, tg, mask), logits


if __name__ == "__main__":
    main()
