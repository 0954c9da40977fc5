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


MAX_HEADER = 64 << 20  # the core's limit (COPE_MAX_HEADER)


def _header(buf, path):
    """The checked header of a safetensors file's bytes: (tensors {name: (dtype, shape, begin,
    end)}, metadata, data) or a ValueError naming the problem, as the core's loader does."""
    def bad(msg):
        return ValueError("%s: %s" % (path, msg))
    if len(buf) < 8:
        raise bad("file is %d bytes, too short for a safetensors header" % len(buf))
    n = struct.unpack("<Q", buf[:8])[0]
    if n > MAX_HEADER:
        raise bad("header length %d is absurd (limit %d bytes)" % (n, MAX_HEADER))
    if 8 + n > len(buf):
        raise bad("file is truncated: header length %d runs past the end of the %d-byte file" % (n, len(buf)))
    try:
        header = json.loads(buf[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise bad("header is not JSON: %s" % e) from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise bad("__metadata__ must map names to strings")
    data = buf[8 + n:]
    out, spans = {}, []
    for name, e in header.items():
        if not isinstance(e, dict) or set(e) - {"dtype", "shape", "data_offsets"}:
            raise bad("tensor %r: an entry needs dtype, shape and data_offsets only" % name)
        dt, shape, offs = e.get("dtype"), e.get("shape"), e.get("data_offsets")
        if dt not in ("F32", "I32"):
            raise bad("tensor %r: dtype %r is not supported (F32 or I32)" % (name, dt))
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise bad("tensor %r: shape must be a list of non-negative integers" % name)
        if not (isinstance(offs, list) and len(offs) == 2 and all(type(o) is int for o in offs)
                and 0 <= offs[0] <= offs[1] <= len(data)):
            raise bad("tensor %r: data_offsets %r outside the data section (%d bytes)" % (name, offs, len(data)))
        if offs[1] - offs[0] != 4 * int(np.prod(shape, dtype=np.float64)):
            raise bad("tensor %r: data_offsets span %d bytes, its shape needs %d" % (
                name, offs[1] - offs[0], 4 * int(np.prod(shape, dtype=np.float64))))
        out[name] = (dt, shape, offs[0], offs[1])
        spans.append((offs[0], offs[1], name))
    spans.sort()
    for (b0, e0, a), (b1, e1, b) in zip(spans, spans[1:]):
        if b1 < e0:
            raise bad("tensors %r and %r overlap in the data section" % (a, b))
    return out, meta, data


def read_safetensors(path):
    """-> (dict name -> np.ndarray, metadata dict); a file that breaks the format's rules raises
    ValueError naming the file and the problem (checked here first, also when the package that
    then reads it is installed)."""
    with open(path, "rb") as f:
        buf = f.read()
    tensors, meta, data = _header(buf, path)
    if _st_load is not None:
        return _st_load(path), meta
    out = {}
    for name, (dt, shape, b, end) in tensors.items():
        out[name] = np.frombuffer(data[b:end], dtype={"F32": "<f4", "I32": "<i4"}[dt]).reshape(shape)
    return out, meta
