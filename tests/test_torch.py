#!/usr/bin/python3
"""test_torch.py — the PyTorch package (python/cope_torch) against the C core: for every golden
and shipped model, CopeModel.from_file's logits and trace arrays equal `cope trace` on the same
file and ids (float32 both; tolerance below), gate interventions equal `cope trace --force-gate`,
save() writes a file `cope` loads with the same config and tensors, and the writer's output follows
the safetensors format's rules. Usage: /usr/bin/python3 tests/test_torch.py build/cope
Ends with "N passed, N failed"; exits non-zero on a failure."""
import glob
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "python"))
from cope_torch import CopeModel, read_safetensors  # noqa: E402

COPE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "cope")
TMP = tempfile.mkdtemp(prefix="cope-torch-test-")
ARRAYS = ("gates", "positions", "content_logits", "cope_logits", "attn", "pos_attn")
# float32 in both, summed in other orders (PyTorch's BLAS, our GEMM): ~1e-6 relative on a logit;
# a wrong formula is off by 1e-2 or more
ATOL, RTOL = 2e-4, 2e-3
passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
    print("%s %s" % ("ok  " if ok else "FAIL", what))


def cope(*args):
    return subprocess.run([COPE, *args], check=True, capture_output=True, text=True).stdout


def native_trace(path, ids, extra=()):
    out = os.path.join(TMP, "native.safetensors")
    cope("trace", path, "--ids", ",".join(map(str, ids)), "--out", out, *extra)
    return read_safetensors(out)[0]


def torch_trace(model, ids):
    trace = []
    with torch.no_grad():
        logits = model(torch.tensor([ids]), trace)
    out = {"logits": logits[0].numpy()}
    for l, lt in enumerate(trace):
        for k in ARRAYS:
            out["layers.%d.%s" % (l, k)] = lt[k].numpy()
    return out


def worst(got, ref):
    """the largest use of the tolerance over every array, and where"""
    w, at = 0.0, ""
    for k, r in ref.items():
        g = got[k].reshape(r.shape)
        use = float(np.max(np.abs(g - r) / (ATOL + RTOL * np.abs(r))))
        if use > w:
            w, at = use, k
    return w, at


def random_ids(T, V, seed):
    return [int(v) for v in np.random.default_rng(seed).integers(0, V, T)]


def check_format(path):
    """The file against the safetensors rules: u64 LE header length, a JSON object of tensors
    {dtype, shape, data_offsets} and an optional __metadata__ of string values; offsets inside the
    data, non-overlapping, end - begin = 4 x the shape's product; the data start 8-byte aligned."""
    buf = open(path, "rb").read()
    n = struct.unpack("<Q", buf[:8])[0]
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = len(buf) - 8 - n
    spans, ok = [], (8 + n) % 8 == 0 and all(isinstance(v, str) for v in meta.values())
    for name, e in header.items():
        b, end = e["data_offsets"]
        ok &= e["dtype"] in ("F32", "I32") and 0 <= b <= end <= data
        ok &= end - b == 4 * int(np.prod(e["shape"], dtype=np.int64))
        spans.append((b, end))
    spans.sort()
    ok &= all(spans[k][1] <= spans[k + 1][0] for k in range(len(spans) - 1))
    return ok


models = sorted(glob.glob(os.path.join(ROOT, "tests", "golden", "*.model.safetensors")))
models += sorted(glob.glob(os.path.join(ROOT, "models", "*.safetensors")))
torch.set_num_threads(2)
for path in models:
    name = os.path.basename(path)
    m = CopeModel.from_file(path).eval()
    cfg = m.cfg
    T = min(cfg["n_ctx"], 64)
    ids = random_ids(T, cfg["vocab_size"], T)
    w, at = worst(torch_trace(m, ids), native_trace(path, ids))
    check(w <= 1, "%s: PyTorch logits and trace equal cope trace (T=%d; worst %.3f of the tolerance at %s)" % (name, T, w, at))
    if cfg["pe"].startswith("cope"):
        L, H = cfg["n_layer"], cfg["n_head"]
        forces = [(0, -1, T // 2, 0.0), (L - 1, H - 1, 1, 1.0)]
        m.set_forced_gates(forces)
        got = torch_trace(m, ids)
        m.set_forced_gates([])
        spec = ",".join("%d:%s:%d=%g" % (l, "*" if h < 0 else h, k, v) for l, h, k, v in forces)
        w, at = worst(got, native_trace(path, ids, ("--force-gate", spec)))
        check(w <= 1, "%s: gate interventions %s equal cope trace --force-gate (worst %.3f at %s)" % (name, spec, w, at))
    # save: the same tensors and config, loaded by cope
    out = os.path.join(TMP, "saved.safetensors")
    m.save(out)
    a, _ = read_safetensors(path)
    b, _ = read_safetensors(out)
    same = set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)
    ia, ib = json.loads(cope("info", path, "--json")), json.loads(cope("info", out, "--json"))
    strip = lambda i: {k: v for k, v in i.items() if k != "tensors"}  # noqa: E731
    check(same and strip(ia) == strip(ib), "%s: save() writes the same tensors and config (cope info --json)" % name)
    check(check_format(out), "%s: the written file follows the safetensors format" % name)

# bfloat16, as python/train.py trains on GPUs (autocast) and as a model held in bfloat16: the
# logits within 15 % of their standard deviation of float32's (bfloat16 keeps 8 bits of mantissa,
# so each op rounds at ~0.4 % and a few layers of them add up; observed on these models: autocast
# <= 4.1 %, bfloat16 weights <= 7.5 %)
for path in models:
    if "golden" not in path:
        continue
    name = os.path.basename(path)
    m = CopeModel.from_file(path).eval()
    T = min(m.cfg["n_ctx"], 64)
    ids = torch.tensor([random_ids(T, m.cfg["vocab_size"], 5)])
    with torch.no_grad():
        ref = m(ids).float()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            auto = m(ids).float()
        b16 = CopeModel.from_file(path, dtype=torch.bfloat16).eval()
        got = b16(ids).float()
    sd = ref.std().item()
    da, db = (auto - ref).abs().max().item() / sd, (got - ref).abs().max().item() / sd
    check(da <= 0.15 and db <= 0.15 and b16.tok_emb.weight.dtype == torch.bfloat16,
          "%s: bfloat16 autocast and bfloat16 weights follow float32 (max |diff| %.3f and %.3f of the logits' sd)"
          % (name, da, db))

# python/train.py: 2 gloo processes (torchrun) of batch 4 each equal one process of batch 8; a run
# resumed from its checkpoint equals the run that went through; the result loads in cope and wasm
LIB = os.path.join(os.path.dirname(os.path.abspath(COPE)), "libcope.so")
TRAIN = [os.path.join(ROOT, "python", "train.py"), "--task", "counting1", "--layers", "1", "--dim", "16",
         "--heads", "2", "--steps", "4", "--batch", "8", "--threads", "1", "--lib", LIB]


def train(out, *extra, ranks=1):
    launcher = ["torchrun", "--standalone", "--nproc_per_node", str(ranks), "--redirects", "1", "--tee", "1"] \
        if ranks > 1 else ["/usr/bin/python3"]
    r = subprocess.run(launcher + TRAIN + ["--out", out, *extra], capture_output=True, text=True, cwd=TMP)
    if r.returncode:
        print(r.stdout[-2000:], r.stderr[-2000:])
    return r.returncode == 0


def max_diff(p, q):
    a, b = read_safetensors(p)[0], read_safetensors(q)[0]
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


one, ddp = os.path.join(TMP, "one.safetensors"), os.path.join(TMP, "ddp.safetensors")
if train(one) and train(ddp, ranks=2):
    d = max_diff(one, ddp)
    check(d <= 1e-5, "torchrun, 2 gloo processes of batch 4 = one process of batch 8 after 4 steps (max |diff| %.1e)" % d)
else:
    check(False, "python/train.py ran, on one process and on two (torchrun)")
a, b = os.path.join(TMP, "ckpt.safetensors"), os.path.join(TMP, "resumed.safetensors")
ok = train(a, "--checkpoint-every", "2") and os.path.exists(a + ".ckpt")
if ok:
    os.replace(a + ".ckpt", b + ".ckpt")
    ok = train(b, "--resume")
check(ok and max_diff(a, b) <= 1e-6, "--resume from the step-2 checkpoint ends where the run that went through ended")
if os.path.exists(ddp):
    info = json.loads(cope("info", ddp, "--json"))
    ev = cope("eval", ddp, "--n", "32")
    check(info["provenance"]["trainer"].startswith("python/train.py") and "counting1 train" in ev,
          "a torchrun-trained model loads in cope (info, eval): %s" % info["provenance"]["trainer"])
else:
    check(False, "a torchrun-trained model loads in cope (info, eval): torchrun wrote no model")
js = ("import('%s').then(async ({ CopeModel }) => { const m = await CopeModel.load('%s'); "
      "const t = m.trace(m.tokenize('a = 0 ; a ++; print a').ids); console.log(t.T, m.config.provenance.trainer); })"
      % (os.path.join(ROOT, "build", "wasm", "cope.mjs"), ddp))
r = subprocess.run(["node", "-e", js], capture_output=True, text=True)
check(r.returncode == 0 and r.stdout.startswith("8 python/train.py"),
      "and in the wasm module (CopeModel.load, trace): %s" % (r.stdout.strip() or r.stderr.strip()[-200:]))

r = subprocess.run(["node", os.path.join(ROOT, "web", "test", "open-model.mjs"), ddp], capture_output=True, text=True,
                   cwd=ROOT)
check(r.returncode == 0 and '"T":' in r.stdout,
      "and in the page (dropped on build/web in chromium): %s" % (r.stdout.strip() or r.stderr.strip()[-300:]))

# the reader refuses a file that is not a model, naming the problem
bad = os.path.join(TMP, "bad.safetensors")
with open(bad, "wb") as f:
    h = json.dumps({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    h += b" " * ((-(8 + len(h))) % 8)
    f.write(struct.pack("<Q", len(h)) + h + b"\0" * 4)
try:
    CopeModel.from_file(bad)
    check(False, "a safetensors file without cope_config is refused")
except ValueError as e:
    check("no cope_config" in str(e), "a safetensors file without cope_config is refused (%s)" % e)

# seeded random mutations of a model file (atheris is not in Debian): every mutant loads or is
# refused with a ValueError naming the problem; nothing else escapes, nothing allocates what the
# file does not hold
src = open(os.path.join(ROOT, "tests", "golden", "cope_rope_sep.model.safetensors"), "rb").read()
hlen = struct.unpack("<Q", src[:8])[0]
rng = np.random.default_rng(20261201)
kinds = {"loaded": 0, "refused": 0}
other = []
for k in range(400):
    b = bytearray(src)
    how = k % 5
    if how == 0:  # flip bytes in the header
        for _ in range(1 + rng.integers(4)):
            b[8 + rng.integers(hlen)] = rng.integers(256)
    elif how == 1:  # a digit of the header becomes another (sizes, offsets, config numbers)
        digits = [i for i in range(8, 8 + hlen) if chr(b[i]).isdigit()]
        for _ in range(1 + rng.integers(3)):
            b[digits[rng.integers(len(digits))]] = ord("0123456789"[rng.integers(10)])
    elif how == 2:  # cut the file anywhere
        b = b[:rng.integers(len(b))]
    elif how == 3:  # another header length
        b[:8] = struct.pack("<Q", int(rng.choice([0, 1, hlen - 1, hlen + 1, 2 ** 63, len(b), rng.integers(2 ** 32)])))
    else:  # bytes of the data (weights; NaN and Inf among them)
        for _ in range(1 + rng.integers(8)):
            b[8 + hlen + rng.integers(len(b) - 8 - hlen)] = rng.integers(256)
    path = os.path.join(TMP, "mutant.safetensors")
    with open(path, "wb") as f:
        f.write(bytes(b))
    try:
        CopeModel.from_file(path)
        kinds["loaded"] += 1
    except ValueError as e:
        kinds["refused"] += 1 if path in str(e) else 0
        if path not in str(e):
            other.append("ValueError without the file's name: %s" % e)
    except Exception as e:  # noqa: BLE001 - what the check is about
        other.append("%s: %s" % (type(e).__name__, e))
check(not other, "400 mutated model files: %d loaded, %d refused with a ValueError naming the file and the problem%s"
      % (kinds["loaded"], kinds["refused"], "; other: %s" % other[:3] if other else ""))

try:
    import safetensors.numpy  # noqa: F401
    print("(the safetensors package is installed: read_safetensors used it for every file above)")
except ImportError:
    print("(no safetensors package here, as on Debian: our reader and writer were used; the writer is "
          "checked against the format's rules above)")
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
