"""cope_torch.safetensors_io — our safetensors reader and writer (F32 and I32 tensors), written
from the format's published description: an unsigned 64-bit little-endian header length, a JSON
header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the
data, offsets relative to its start. The writer aligns each tensor's begin to 8 bytes and pads the
header with spaces so the data starts aligned. When the `safetensors` package is installed, the
reader uses it (Debian has no package; ours is then the one used). tests/test_torch.py checks the
writer's output against the format's rules.
"""
import json
import struct

import numpy as np

try:  # the real package, when installed
    from safetensors.numpy import load_file as _st_load
    from safetensors import safe_open as _st_open
except ImportError:  # pragma: no cover - Debian has none
    _st_load = _st_open = None

def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, np.ndarray float32|int32). Begins are 8-byte aligned (zero gaps
    between tensors where needed); the header is space-padded so the data start is aligned."""
    header = {"__metadata__": metadata}
    chunks, off = [], 0
    for name, arr in tensors:
        if arr.dtype == np.float32:
            dt, arr = "F32", arr.astype("<f4")
        elif arr.dtype == np.int32:
            dt, arr = "I32", arr.astype("<i4")
        else:
            raise ValueError("%s: unsupported dtype %s" % (name, arr.dtype))
        pad = (-off) % 8
        chunks.append(b"\0" * pad)
        off += pad
        b = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        chunks.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((-(8 + len(h))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


def read_safetensors(path):
    """-> (dict name -> np.ndarray, metadata dict)."""
    if _st_load is not None:
        with _st_open(path, framework="np") as f:
            meta = f.metadata() or {}
        return _st_load(path), meta
    with open(path, "rb") as f:
        buf = f.read()
    n = struct.unpack("<Q", buf[:8])[0]
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = buf[8 + n:]
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        dt = {"F32": "<f4", "I32": "<i4"}[e["dtype"]]
        out[name] = np.frombuffer(data[b:end], dtype=dt).reshape(e["shape"])
    return out, meta
