#!/usr/bin/python3
"""Independent PyTorch reference for the CoPE transformer (arXiv 2405.18719, as the paper's appendix
code listing; the formulas are in README.md, "The model"). Writes tiny random models and golden files (loss, every gradient,
a per-layer trace of sequence 0) that the C test suite compares against; the suite itself needs no
PyTorch. Usage: /usr/bin/python3 tests/reference/cope_ref.py --out tests/golden
"""
import argparse
import json
import math
import os
import struct
import zlib

import sys

import numpy as np
import torch

# the model and the safetensors reader/writer are the PyTorch package's (python/cope_torch): one
# implementation, independent of the C core, that the golden files check the core against
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from cope_torch.model import CopeModel, has_cope, has_rel  # noqa: E402
from cope_torch.safetensors_io import read_safetensors, write_safetensors  # noqa: E402

SOURCE = "tests/reference/cope_ref.py"
WORDS = ["<unk>", "a", "the", "cat", "dog", "sat", "on", "mat", "ran", "and", "big",
         "red", "sun", "hat", "cup", "box"]

def init_weights(model, gen, qk_std=0.3):
    """Random, non-trivial weights drawn as float32 (the stored dtype) from a seeded generator.
    q/k/kg are large enough that gates spread over (0.05, 0.95); position tables are non-zero."""
    D = model.cfg["d_model"]
    F_ = model.cfg["d_ff"]

    def randn(shape, std, mean=0.0):
        return torch.randn(shape, generator=gen, dtype=torch.float32) * std + mean

    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.split(".")[-2:]
            if name.startswith(("tok_emb", "pos_emb")):
                t = randn(p.shape, 1.0)
            elif leaf[0] in ("ln1", "ln2", "ln_f"):
                t = randn(p.shape, 0.1, 1.0) if leaf[1] == "weight" else randn(p.shape, 0.1)
            elif leaf[1] == "bias":
                t = randn(p.shape, 0.05)
            elif leaf[0] in ("q", "k", "kg"):
                t = randn(p.shape, qk_std)
            elif leaf[0] in ("v", "o", "fc1", "lm_head"):
                t = randn(p.shape, 1.0 / math.sqrt(D))
            elif leaf[0] == "fc2":
                t = randn(p.shape, 1.0 / math.sqrt(F_))
            elif leaf[0] in ("cope", "rel"):
                t = randn(p.shape, 0.5)
            else:
                raise ValueError("no init rule for " + name)
            p.copy_(t.to(p.dtype))   # float32 values, held in the model's dtype

# ============================================================================================
# Golden configs
# ============================================================================================

def make_cfg(name, pe, tied, L=2, D=16, H=2, F=40, V=11, n_ctx=16, npos=None, keys="shared",
             table="per-layer", R=None):
    cfg = {"format": "cope", "version": 1, "vocab_size": V, "n_ctx": n_ctx, "n_layer": L,
           "n_head": H, "d_model": D, "d_ff": F, "pe": pe}
    if pe.startswith("cope"):
        cfg.update({"npos": npos, "cope_gate_keys": keys, "cope_table": table})
    if pe in ("rel", "cope+rel"):
        cfg["rel_max"] = R
    cfg["tied"] = tied
    cfg["tokenizer"] = {"type": "words", "vocab": WORDS[:V]}
    cfg["provenance"] = {"source": SOURCE, "config": name}
    return cfg


# name -> (cfg, T, all-ones mask)
CONFIGS = [
    ("none", make_cfg("none", "none", True), 13, False),
    ("abs", make_cfg("abs", "abs", False), 13, False),
    ("rel", make_cfg("rel", "rel", True, R=4), 13, False),
    ("rope", make_cfg("rope", "rope", False), 13, False),
    ("cope", make_cfg("cope", "cope", True, npos=16), 13, False),
    ("cope_sep_head", make_cfg("cope_sep_head", "cope", False, npos=16, keys="sep",
                               table="per-head"), 13, False),
    ("cope_clamp", make_cfg("cope_clamp", "cope", True, npos=4, table="per-head"), 13, False),
    ("cope_rel", make_cfg("cope_rel", "cope+rel", False, npos=8, R=5), 13, False),
    ("cope_rope_sep", make_cfg("cope_rope_sep", "cope+rope", True, npos=6, keys="sep"), 13, False),
    ("cope_h4", make_cfg("cope_h4", "cope", True, H=4, n_ctx=8, npos=8, table="per-head"), 7, True),
]
B = 2
NEAR_INT = 1e-3   # positions closer than this to an integer would make floor/ceil ambiguous


def ambiguous_positions(trace, npos):
    """Number of causal pairs whose raw position is within NEAR_INT of an integer and not clearly
    clamped (a raw sum near npos-1 is ambiguous too: clamped or not)."""
    bad = 0
    for lt in trace:
        raw = lt["all_raw"]
        T = raw.shape[-1]
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        r = raw[..., causal]
        near = (r - r.round()).abs() < NEAR_INT
        bad += int((near & (r < npos - 1 + NEAR_INT)).sum())
    return bad


def build(name, cfg, T, ones_mask):
    """Draw weights and data (re-drawing the seed until no position is ambiguous)."""
    base = zlib.crc32(name.encode()) % 100000
    for attempt in range(100):
        gen = torch.Generator().manual_seed(base * 100 + attempt)
        model = CopeModel(cfg, dtype=torch.float64)
        init_weights(model, gen)
        seq = torch.randint(0, cfg["vocab_size"], (B, T + 1), generator=gen)
        ids, targets = seq[:, :-1].contiguous(), seq[:, 1:].contiguous()
        if ones_mask:
            mask = torch.ones(B, T)
        else:
            mask = (torch.rand(B, T, generator=gen) < 0.6).float()
            mask[:, -1] = torch.where(mask.sum(1) == 0, 1.0, mask[:, -1])   # >= one 1 per row
        if not has_cope(cfg):
            return model, ids, targets, mask, attempt
        trace = []
        with torch.no_grad():
            model(ids, trace)
        if ambiguous_positions(trace, cfg["npos"]) == 0:
            return model, ids, targets, mask, attempt
    raise RuntimeError(name + ": no unambiguous seed found")


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def run_config(name, cfg, T, ones_mask, out_dir):
    model, ids, targets, mask, attempt = build(name, cfg, T, ones_mask)
    causal = torch.ones(T, T, dtype=torch.bool).tril()

    model.zero_grad()
    trace = []
    loss, logits = model.loss(ids, targets, mask, trace)
    loss.backward()
    params = list(model.named_parameters())

    # (b) attention rows sum to 1, nothing above the diagonal
    for lt in trace:
        check(torch.allclose(lt["attn"].sum(-1), torch.ones(1, dtype=torch.float64), atol=1e-12),
              name + ": attention rows do not sum to 1")
        for key in ("gates", "positions", "content_logits", "cope_logits", "attn", "pos_attn"):
            check(bool((lt[key][..., ~causal] == 0).all()), name + ": nonzero above diagonal")

    # (c) directional finite difference of the loss vs autograd (float64, central, eps 1e-6)
    gen = torch.Generator().manual_seed(7)
    dirs = [torch.randn(p.shape, generator=gen, dtype=torch.float64) for _, p in params]
    with torch.no_grad():
        gdot = sum(float((p.grad * u).sum()) for (_, p), u in zip(params, dirs))
        eps, lv = 1e-6, []
        for sgn in (1, -1):
            for (_, p), u in zip(params, dirs):
                p.add_(sgn * eps * u)
            lv.append(float(model.loss(ids, targets, mask)[0]))
            for (_, p), u in zip(params, dirs):
                p.sub_(sgn * eps * u)
        fd = (lv[0] - lv[1]) / (2 * eps)
    check(abs(fd - gdot) <= 1e-6 * max(1.0, abs(gdot)),
          "%s: finite difference %.9g vs autograd %.9g" % (name, fd, gdot))

    summary = "%-14s pe=%-9s loss=%.6f seed_redraws=%d fd_check=%.1e" % (
        name, cfg["pe"], float(loss), attempt, abs(fd - gdot))
    if has_cope(cfg):
        npos = cfg["npos"]
        g = torch.cat([lt["all_gates"][..., causal].flatten() for lt in trace])
        r = torch.cat([lt["all_raw"][..., causal].flatten() for lt in trace])
        clamped = float((r >= npos - 1).double().mean())
        summary += " gates[min=%.4f p5=%.3f p95=%.3f max=%.4f] clamped=%.3f" % (
            float(g.min()), float(g.quantile(0.05)), float(g.quantile(0.95)), float(g.max()),
            clamped)
        if name == "cope_clamp":
            check(clamped > 0.3, name + ": clamp at npos-1 not active enough")
        # (a) with all gates forced to 1, positions (before clamp) are i-j+1
        model.set_debug_gates_one(True)
        dtrace = []
        with torch.no_grad():
            model(ids, dtrace)
        model.set_debug_gates_one(False)
        i = torch.arange(T, dtype=torch.float64)
        expect = (i[:, None] - i[None, :] + 1).masked_fill(~causal, 0.0)
        for lt in dtrace:
            check(bool((lt["raw_positions"] == expect).all()), name + ": gates=1 positions")
            check(bool((lt["positions"] == expect.clamp(max=npos - 1)).all()),
                  name + ": gates=1 clamped positions")
    if has_rel(cfg):
        summary += " rel_clamped=%.3f" % float(
            ((torch.arange(T)[:, None] - torch.arange(T)[None, :]) >= cfg["rel_max"] - 1)[causal]
            .double().mean())

    forced = []
    if has_cope(cfg):
        # interventions (cope trace --force-gate): the trace of sequence 0 with gates overridden;
        # the same (layer, head, key) twice (the later wins), one key in every head of the last
        # layer with one head then set apart, a fractional value
        L, H = cfg["n_layer"], cfg["n_head"]
        forced = [(0, H - 1, 3, 0.0), (L - 1, -1, 5, 1.0), (0, 0, 0, 0.25), (0, H - 1, 3, 1.0),
                  (L - 1, 0, 5, 0.5), (0, 0, T - 1, 0.0)]
        model.set_forced_gates(forced)
        ftrace = []
        with torch.no_grad():
            flogits = model(ids, ftrace)
        model.set_forced_gates([])
        check(bool((ftrace[0]["gates"][H - 1, 3:, 3] == 1.0).all()), name + ": forced gate")
        check(not torch.allclose(flogits[0], logits[0]), name + ": interventions change the logits")

    # float32 run of the same weights: how far a float32 implementation can be expected to drift
    m32 = CopeModel(cfg, dtype=torch.float32)
    m32.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    with torch.no_grad():
        loss32, logits32 = m32.loss(ids, targets, mask)
    summary += " f32_dlogits=%.1e" % float((logits32.double() - logits).abs().max())
    print(summary)

    # ---- write files
    f32 = lambda t: t.detach().to(torch.float32).numpy()
    meta_model = {"cope_config": json.dumps(cfg, separators=(",", ":"))}
    model_tensors = [(n, f32(p)) for n, p in params]
    gold = [("ids", ids.to(torch.int32).numpy()), ("targets", targets.to(torch.int32).numpy()),
            ("mask", f32(mask)), ("loss", f32(loss.reshape(1)))]
    gold += [("grad." + n, f32(p.grad)) for n, p in params]
    gold.append(("trace.logits", f32(logits[0])))
    for l, lt in enumerate(trace):
        for key in ("gates", "positions", "content_logits", "cope_logits", "attn", "pos_attn"):
            gold.append(("trace.layers.%d.%s" % (l, key), f32(lt[key])))
    if forced:
        gold.append(("forced.spec", np.array(forced, dtype=np.float32)))
        gold.append(("forced.trace.logits", f32(flogits[0])))
        for l, lt in enumerate(ftrace):
            for key in ("gates", "positions", "content_logits", "cope_logits", "attn", "pos_attn"):
                gold.append(("forced.trace.layers.%d.%s" % (l, key), f32(lt[key])))
    meta_gold = {"config": name, "source": SOURCE}
    for fname, tensors, meta in ((name + ".model.safetensors", model_tensors, meta_model),
                                 (name + ".golden.safetensors", gold, meta_gold)):
        path = os.path.join(out_dir, fname)
        write_safetensors(path, tensors, meta)
        back, bmeta = read_safetensors(path)   # round trip of our own writer
        check(bmeta == meta and list(back) == [n for n, _ in tensors], path + ": header")
        for n, arr in tensors:
            check(back[n].shape == arr.shape and np.array_equal(back[n], arr), path + ": " + n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/golden")
    args = ap.parse_args()
    torch.set_num_threads(1)   # deterministic reductions
    os.makedirs(args.out, exist_ok=True)
    for name, cfg, T, ones_mask in CONFIGS:
        run_config(name, cfg, T, ones_mask, args.out)
    with open(os.path.join(args.out, "MANIFEST"), "w") as f:
        f.write("".join(name + "\n" for name, _, _, _ in CONFIGS))


if __name__ == "__main__":
    main()
