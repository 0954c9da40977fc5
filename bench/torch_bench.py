#!/usr/bin/python3
"""PyTorch peer of `cope bench`: training throughput of tests/reference/cope_ref.py's model class in
float32 (tied embeddings, AdamW lr 1e-3, loss on every token of random sequences), with the same size
options as `cope bench`. Prints one line of key=value fields, for bench/run.sh:
  torch pe=cope threads=1 blas_threads=1 tokens/s=... step_ms=... blas=openblas core=... lib=...
torch.set_num_threads sets PyTorch's own (OpenMP) pool only; OpenBLAS keeps its own pool, sized by
OPENBLAS_NUM_THREADS, which has to be in the environment before torch is imported (run.sh sets it).
--blas-only prints the BLAS fields and exits.
"""
import argparse
import ctypes
import os
import re
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))  # make_cfg, init_weights
from cope_ref import CopeModel, init_weights, make_cfg  # noqa: E402


def blas_info():
    """Which BLAS this process really uses: the BLAS shared objects mapped into it after a matmul
    (libblas.so.3 is an update-alternatives link, so the mapped file is the truth), and for OpenBLAS
    the kernel set it picked for this CPU ("core") and its thread count."""
    a = torch.ones(64, 64)
    a @ a
    libs = sorted({line.split()[-1] for line in open("/proc/self/maps")
                   if re.search(r"blas|mkl|blis|atlas", line.split()[-1])})
    info = {"blas": "unknown", "core": "-", "blas_threads": "-", "lib": ",".join(libs) or "-"}
    openblas = [p for p in libs if "libopenblas" in os.path.basename(p)]
    if openblas:
        lib = ctypes.CDLL(openblas[0])
        lib.openblas_get_corename.restype = ctypes.c_char_p
        lib.openblas_get_config.restype = ctypes.c_char_p
        info.update(blas="openblas", core=lib.openblas_get_corename().decode(),
                    blas_threads=str(lib.openblas_get_num_threads()), lib=openblas[0],
                    version=lib.openblas_get_config().decode().split()[1])
    elif any("mkl" in p for p in libs):
        info["blas"] = "mkl"
    elif any(re.search(r"/blas/libblas\.so", p) for p in libs):
        info["blas"] = "reference"   # Debian's netlib libblas3: unblocked Fortran loops
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--pe", choices=["cope", "none"], default="cope")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ff", type=int, default=None, help="default 4 x dim, as in cope bench")
    ap.add_argument("--npos", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=64)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--blas-only", action="store_true", help="print the BLAS fields and exit")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    info = blas_info()
    fields = " ".join("%s=%s" % kv for kv in info.items())
    if args.blas_only:
        print(fields)
        return

    B, T, V = args.batch, args.seq, args.vocab
    F = args.ff if args.ff is not None else 4 * args.dim
    cfg = make_cfg("bench", args.pe, True, L=args.layers, D=args.dim, H=args.heads, F=F, V=V, n_ctx=T,
                   npos=args.npos if args.pe == "cope" else None)
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
    print("torch pe=%s threads=%d tokens/s=%.0f step_ms=%.2f %s (median of %d steps, B=%d T=%d L=%d D=%d H=%d F=%d)"
          % (args.pe, args.threads, B * T / med, med * 1e3, fields, len(times), B, T, args.layers, args.dim,
             args.heads, F))


if __name__ == "__main__":
    main()
