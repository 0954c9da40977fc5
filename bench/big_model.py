#!/usr/bin/env python3
"""Writes a model file of the paper's language-model size (GPT-2 small: 12 layers, d 768, 12 heads,
d_ff 3072, context 1024, 50,257 pieces; CoPE with sep-keys and npos 64 as the paper's Wikitext
model) with seeded random weights, through the PyTorch package, as a torchrun run on a GPU would
write it. bench/big_bench.mjs measures what the wasm module and the page do with it.

    /usr/bin/python3 bench/big_model.py OUT.safetensors [--layers 12 --dim 768 ...]
"""
import argparse
import itertools
import os
import string
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from cope_torch import CopeModel  # noqa: E402


def vocabulary(n):
    """n pieces of the "text" tokenizer: its specials, punctuation, then every lower-case word of
    1, 2, 3, ... letters in order (so any short word of a text is in it)"""
    out = ["<unk>", "<pad>", "\n"] + list(".,;:!?()[]'\"=-/")
    for k in itertools.count(1):
        for w in itertools.product(string.ascii_lowercase, repeat=k):
            if len(out) == n:
                return out
            out.append("".join(w))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--ff", type=int, default=3072)
    ap.add_argument("--ctx", type=int, default=1024)
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--npos", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    cfg = {"format": "cope", "version": 1, "vocab_size": a.vocab, "n_ctx": a.ctx, "n_layer": a.layers,
           "n_head": a.heads, "d_model": a.dim, "d_ff": a.ff, "pe": "cope", "npos": a.npos,
           "cope_gate_keys": "sep", "cope_table": "per-layer", "tied": True,
           "tokenizer": {"type": "text", "vocab": vocabulary(a.vocab)}}
    model = CopeModel(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.02)
    n = sum(p.numel() for p in model.parameters())
    model.save(a.out, provenance={"note": "random weights of the paper's language-model size (bench/big_model.py)",
                                  "seed": a.seed})
    print("%s: %d parameters, %.1f MB" % (a.out, n, os.path.getsize(a.out) / 1e6))


if __name__ == "__main__":
    main()
