"""cope_torch.model — the CoPE transformer in PyTorch (arXiv 2405.18719), written from the paper's
appendix code listing and vectorized: every position encoding of our format (none, abs, rel, rope,
cope, cope+rel, cope+rope), shared or separate gate keys, per-layer or per-head CoPE tables, tied or
untied output. Parameter names are exactly the tensor names of our safetensors files, and the
config is the file's cope_config dict, so `CopeModel.from_file(path)` / `model.save(path)` move
models between PyTorch, the `cope` command line and the page. The formulas are in the top-level
README ("The model"). It is also the independent reference the C core is tested against
(tests/reference/cope_ref.py runs it in float64 to write tests/golden/).
"""
import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .safetensors_io import read_safetensors, write_safetensors

def has_cope(cfg):
    return cfg["pe"].startswith("cope")


def has_rel(cfg):
    return cfg["pe"] in ("rel", "cope+rel")


def has_rope(cfg):
    return cfg["pe"] in ("rope", "cope+rope")


class Table(nn.Module):
    """A bare learned tensor, so that its state-dict name is `<module>.weight`."""

    def __init__(self, shape, dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(shape, dtype=dtype))


def rope_rotate(x):
    """Rotate-half RoPE on x [B,H,T,d] at token index i = 0..T-1:
    theta_t = i * 10000^(-2t/d); (x[t], x[t+d/2]) -> (x[t] cos - x[t+d/2] sin, x[t+d/2] cos + x[t] sin)."""
    T, d = x.shape[-2], x.shape[-1]
    half = d // 2
    t = torch.arange(half, dtype=torch.float64, device=x.device)
    inv_freq = 10000.0 ** (-2.0 * t / d)
    ang = torch.arange(T, dtype=torch.float64, device=x.device)[:, None] * inv_freq[None, :]   # [T, d/2]
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg, dtype):
        super().__init__()
        D, H = cfg["d_model"], cfg["n_head"]
        self.cfg, self.H, self.d = cfg, H, D // H
        self.q = nn.Linear(D, D, dtype=dtype)
        self.k = nn.Linear(D, D, dtype=dtype)
        self.v = nn.Linear(D, D, dtype=dtype)
        self.o = nn.Linear(D, D, dtype=dtype)
        if has_cope(cfg):
            if cfg["cope_gate_keys"] == "sep":
                self.kg = nn.Linear(D, D, dtype=dtype)
            nt = H if cfg["cope_table"] == "per-head" else 1
            self.cope = Table((nt, self.d, cfg["npos"]), dtype)
        if has_rel(cfg):
            self.rel = Table((H, self.d, cfg["rel_max"]), dtype)
        self.debug_gates_one = False   # self-check: every causal gate forced to 1
        self.forced = []               # interventions: (head or -1 for all, key, value), in order

    def forward(self, x, trace=None):
        cfg, H, d = self.cfg, self.H, self.d
        B, T, D = x.shape

        def heads(t):   # [B,T,D] -> [B,H,T,d]; head h owns features [h*d, (h+1)*d)
            return t.view(B, T, H, d).transpose(1, 2)

        q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
        kg = heads(self.kg(x)) if hasattr(self, "kg") else None
        if has_rope(cfg):
            q, k = rope_rotate(q), rope_rotate(k)
            if kg is not None:
                kg = rope_rotate(kg)
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()   # [i, j]: j <= i
        scale = 1.0 / math.sqrt(d)
        zeros = torch.zeros(B, H, T, T, dtype=x.dtype, device=x.device)

        s = (q @ k.transpose(-1, -2)) * scale                     # s_ij = q_i.k_j / sqrt(d)
        logits, P = s, zeros                                      # P: all position terms
        if has_rel(cfg):
            R = cfg["rel_max"]
            i = torch.arange(T, device=x.device)
            dist = (i[:, None] - i[None, :]).clamp(0, R - 1)      # min(i-j, R-1); j>i masked
            zr = q @ self.rel.weight                              # [B,H,T,R] = q_i . r[h][:, n]
            rel = zr.gather(-1, dist.expand(B, H, T, T)) * scale
            logits, P = logits + rel, P + rel
        gates = positions = raw = c = zeros
        if has_cope(cfg):
            npos = cfg["npos"]
            gl = s if kg is None else (q @ kg.transpose(-1, -2)) * scale
            gates = torch.sigmoid(gl.masked_fill(~causal, float("-inf")))   # exactly 0 for j>i
            if self.debug_gates_one:
                gates = causal.to(x.dtype).expand(B, H, T, T)
            if self.forced:   # g_ij := value for every query i >= key j, before the positions
                gates = gates.clone()
                for h, j, value in self.forced:
                    gates[:, slice(None) if h < 0 else slice(h, h + 1), j:, j] = value
            # p_ij = sum_{t=j..i} g_it (reverse cumsum over keys), clamped at npos-1
            raw = gates.flip(-1).cumsum(-1).flip(-1)
            positions = raw.clamp(max=npos - 1)
            z = q @ self.cope.weight                              # z_i[n] = q_i . e[n], [B,H,T,npos]
            pf = positions.floor().long()                         # indices carry no gradient
            pc = positions.ceil().long()
            zf, zc = z.gather(-1, pf), z.gather(-1, pc)
            w = positions - pf.to(x.dtype)                        # w = p - floor(p)
            c = zf + w * (zc - zf)                                # added after the 1/sqrt(d) scaling
            logits, P = logits + c, P + c
        a = torch.softmax(logits.masked_fill(~causal, float("-inf")), dim=-1)
        out = (a @ v).transpose(1, 2).reshape(B, T, D)

        if trace is not None:   # sequence 0 only; entries with j > i are exactly 0
            def keep(t):
                return t[0].detach().masked_fill(~causal, 0.0).clone()
            Pm = P[0].detach().masked_fill(~causal, float("-inf"))
            pos_attn = torch.exp(Pm - Pm.max(dim=-1, keepdim=True).values)
            trace.append({"gates": keep(gates), "positions": keep(positions),
                          "content_logits": keep(s), "cope_logits": keep(c), "attn": keep(a),
                          "pos_attn": pos_attn.masked_fill(~causal, 0.0),
                          "raw_positions": keep(raw), "all_gates": gates.detach(),
                          "all_raw": raw.detach()})
        return self.o(out)


class MLP(nn.Module):
    def __init__(self, cfg, dtype):
        super().__init__()
        self.fc1 = nn.Linear(cfg["d_model"], cfg["d_ff"], dtype=dtype)
        self.fc2 = nn.Linear(cfg["d_ff"], cfg["d_model"], dtype=dtype)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, cfg, dtype):
        super().__init__()
        D = cfg["d_model"]
        self.ln1 = nn.LayerNorm(D, eps=1e-5, dtype=dtype)
        self.attn = Attention(cfg, dtype)
        self.ln2 = nn.LayerNorm(D, eps=1e-5, dtype=dtype)
        self.mlp = MLP(cfg, dtype)

    def forward(self, x, trace=None):
        x = x + self.attn(self.ln1(x), trace)
        return x + self.mlp(self.ln2(x))


def masked_ce(logits, targets, mask):
    """sum(mask * CE) / sum(mask) of logits [B, T, V] (cope_forward's loss); half-precision
    logits (autocast) are taken to float32 first."""
    V = logits.shape[-1]
    x = logits.reshape(-1, V)
    if x.dtype in (torch.bfloat16, torch.float16):
        x = x.float()
    ce = F.cross_entropy(x, targets.reshape(-1).long(), reduction="none")
    m = mask.reshape(-1).to(ce.dtype)
    return (ce * m).sum() / m.sum()


LIMITS = {"vocab_size": 1 << 20, "n_ctx": 8192, "n_layer": 64, "n_head": 64, "d_model": 8192, "d_ff": 32768}


def check_config(cfg, held):
    """Before building a module from a file's config: its sizes are integers within the core's
    limits (cope.h COPE_MAX_*), and the weights they imply are no more than the file holds (held
    numbers), so a corrupt config cannot make the module allocate what the file never had."""
    if not isinstance(cfg, dict):
        raise ValueError("cope_config is not a JSON object")
    for k, hi in LIMITS.items():
        v = cfg.get(k)
        if type(v) is not int or not 1 <= v <= hi:
            raise ValueError("config %s = %r is outside 1..%d" % (k, v, hi))
    pes = ("none", "abs", "rel", "rope", "cope", "cope+rel", "cope+rope")
    if cfg.get("pe") not in pes:
        raise ValueError("config pe = %r is not one of %s" % (cfg.get("pe"), ", ".join(pes)))
    V, D, F, L, H = cfg["vocab_size"], cfg["d_model"], cfg["d_ff"], cfg["n_layer"], cfg["n_head"]
    if D % H:
        raise ValueError("config d_model = %d is not a multiple of n_head = %d" % (D, H))
    need = V * D + L * (4 * D * D + 2 * D * F)  # the embedding and the blocks' matrices, at least
    for k, used in (("npos", has_cope(cfg)), ("rel_max", has_rel(cfg))):
        v = cfg.get(k)
        if used and (type(v) is not int or not 1 <= v <= 8192):
            raise ValueError("config %s = %r is outside 1..8192" % (k, v))
    if has_cope(cfg):  # the position tables, one per layer or per head
        need += L * cfg["npos"] * (D // H) * (H if cfg.get("cope_table") == "per-head" else 1)
    if has_rel(cfg):
        need += L * H * (D // H) * cfg["rel_max"]
    if need > held:
        raise ValueError("the config needs at least %d weights, the file holds %d" % (need, held))


class CopeModel(nn.Module):
    """Pre-norm decoder-only transformer; cfg is the dict stored as cope_config."""

    def __init__(self, cfg, dtype=torch.float32):
        super().__init__()
        V, D = cfg["vocab_size"], cfg["d_model"]
        self.cfg = cfg
        self.tok_emb = nn.Embedding(V, D, dtype=dtype)
        if cfg["pe"] == "abs":
            self.pos_emb = nn.Embedding(cfg["n_ctx"], D, dtype=dtype)
        self.blocks = nn.ModuleList([Block(cfg, dtype) for _ in range(cfg["n_layer"])])
        self.ln_f = nn.LayerNorm(D, eps=1e-5, dtype=dtype)
        if not cfg["tied"]:
            self.lm_head = nn.Linear(D, V, bias=False, dtype=dtype)

    def set_forced_gates(self, forces):
        """forces: [(layer, head or -1, key, value)], later ones win (the C API's cope_gate_force)."""
        for l, b in enumerate(self.blocks):
            b.attn.forced = [(h, j, v) for (fl, h, j, v) in forces if fl == l]

    def set_debug_gates_one(self, on):
        for b in self.blocks:
            b.attn.debug_gates_one = on

    def forward(self, ids, trace=None):
        """ids [B,T] long -> logits [B,T,V]; trace: list that receives one dict per layer."""
        T = ids.shape[1]
        assert T <= self.cfg["n_ctx"]
        x = self.tok_emb(ids)
        if hasattr(self, "pos_emb"):
            x = x + self.pos_emb.weight[:T]
        for b in self.blocks:
            x = b(x, trace)
        x = self.ln_f(x)
        w = self.tok_emb.weight if self.cfg["tied"] else self.lm_head.weight
        return x @ w.t()

    def loss(self, ids, targets, mask, trace=None):
        """loss = sum(mask * CE) / sum(mask); also returns the logits."""
        logits = self(ids, trace)
        return masked_ce(logits, targets, mask), logits

    # ---- files

    @classmethod
    def from_file(cls, path, dtype=torch.float32, device="cpu"):
        """A model from one of our .safetensors files (cope_config in its metadata)."""
        tensors, meta = read_safetensors(path)
        if "cope_config" not in meta:
            raise ValueError("%s: no cope_config in the safetensors metadata: not a CoPE model file" % path)
        try:
            cfg = json.loads(meta["cope_config"])
            check_config(cfg, sum(int(t.size) for t in tensors.values()))
            model = cls(cfg, dtype=dtype)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, RuntimeError) as e:
            # the core checks every field with a message of its own (cope info says which);
            # here the first thing the module could not build from
            raise ValueError("%s: bad cope_config: %s: %s" % (path, type(e).__name__, e)) from None
        want = dict(model.named_parameters())
        missing = sorted(set(want) - set(tensors))
        unknown = sorted(set(tensors) - set(want))
        if missing or unknown:
            raise ValueError("%s: tensors missing %s, unknown %s" % (path, missing[:5], unknown[:5]))
        with torch.no_grad():
            for name, p in want.items():
                t = torch.from_numpy(tensors[name].copy())
                if tuple(t.shape) != tuple(p.shape):
                    raise ValueError("%s: %s has shape %s, the config says %s" % (path, name, list(t.shape), list(p.shape)))
                if t.dtype != torch.float32 or not torch.isfinite(t).all():
                    raise ValueError("%s: tensor %s must hold finite float32 values" % (path, name))
                p.copy_(t.to(dtype))
        return model.to(device)

    def save(self, path, provenance=None):
        """Writes the model as our .safetensors file (float32), the config in cope_config;
        provenance (a dict) replaces the config's when given."""
        cfg = dict(self.cfg)
        if provenance is not None:
            cfg["provenance"] = provenance
        tensors = [(n, p.detach().to("cpu", torch.float32).contiguous().numpy()) for n, p in self.named_parameters()]
        write_safetensors(path, tensors, {"cope_config": json.dumps(cfg, separators=(",", ":"))})
