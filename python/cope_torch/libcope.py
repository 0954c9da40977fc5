"""cope_torch.libcope — the C core's task generators and initialization through ctypes (build
it with `make build/libcope.so`), so that PyTorch training draws the same examples as `cope train`
(one source of examples) and starts from the same weights for the same seed."""
import ctypes
import os
import tempfile

import numpy as np


class CopeError(RuntimeError):
    pass


class _Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("msg", ctypes.c_char * 256)]


class _Rng(ctypes.Structure):
    _fields_ = [("s", ctypes.c_uint64)]


class LibCope:
    def __init__(self, path):
        if not os.path.exists(path):
            raise CopeError("%s is missing: run `make build/libcope.so` in the repository" % path)
        self.lib = lib = ctypes.CDLL(os.path.abspath(path))
        vp, cp, ip = ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)
        sig = {
            "cope_task_find": (vp, [cp]),
            "cope_task_vocab": (ctypes.c_int, [vp, ctypes.POINTER(ctypes.POINTER(cp))]),
            "cope_task_tok_type": (ctypes.c_int, [vp]),
            "cope_task_max_len": (ctypes.c_int, [vp, cp]),
            "cope_task_split_check": (ctypes.c_int, [vp, cp, vp]),
            "cope_tokenizer_new": (ctypes.c_int, [ctypes.POINTER(vp), ctypes.c_int, ctypes.POINTER(cp), ctypes.c_int, vp]),
            "cope_model_new": (ctypes.c_int, [ctypes.POINTER(vp), vp, vp, ctypes.c_uint64, vp]),
            "cope_model_save": (ctypes.c_int, [vp, ctypes.POINTER(vp), ctypes.POINTER(ctypes.c_size_t), vp]),
            "cope_model_free": (None, [vp]),
            "cope_model_tokenizer": (vp, [vp]),
            "cope_free": (None, [vp]),
            "cope_config_default": (None, [vp]),
            "cope_pe_parse": (ctypes.c_int, [cp, ip]),
            "cope_rng_seed": (None, [ctypes.POINTER(_Rng), ctypes.c_uint64]),
            "cope_task_batch": (ctypes.c_int, [vp, cp, ctypes.POINTER(_Rng), vp, ctypes.c_int, ctypes.c_int,
                                               ip, ip, ctypes.POINTER(ctypes.c_float), ip, vp]),
        }
        for name, (res, args) in sig.items():
            f = getattr(lib, name)
            f.restype, f.argtypes = res, args
        self.err = _Error()

    def _check(self, status):
        if status:
            raise CopeError(self.err.msg.decode("utf-8", "replace"))

    def task(self, name):
        t = self.lib.cope_task_find(name.encode())
        if not t:
            raise CopeError("unknown task %r" % name)
        return t

    def tokenizer(self, t):
        """(the task's tokenizer, its vocabulary size); the caller owns the tokenizer."""
        vocab = ctypes.POINTER(ctypes.c_char_p)()
        n = self.lib.cope_task_vocab(t, ctypes.byref(vocab))
        tok = ctypes.c_void_p()
        self._check(self.lib.cope_tokenizer_new(ctypes.byref(tok), self.lib.cope_task_tok_type(t), vocab, n,
                                                ctypes.byref(self.err)))
        return tok, n

    def new_model_file(self, task, cfg, seed):
        """A model initialized by the core (as `cope train --seed` does) for task, written to a
        temporary .safetensors file whose path is returned. cfg: the config ints by name."""
        tok, n = self.tokenizer(self.task(task))   # owned by the model from here on
        c = (ctypes.c_int * 16)()   # cope_config: 12 ints (the pe enum is an int)
        self.lib.cope_config_default(c)
        pe = ctypes.c_int()
        if self.lib.cope_pe_parse(cfg["pe"].encode(), ctypes.byref(pe)):
            raise CopeError("unknown pe %r (none, abs, rel, rope, cope, cope+rel, cope+rope)" % cfg["pe"])
        fields = ["vocab_size", "n_ctx", "n_layer", "n_head", "d_model", "d_ff", "pe", "npos", "sep_keys",
                  "per_head_table", "rel_max", "tied"]
        vals = dict(cfg, vocab_size=n, pe=pe.value)
        for k, f in enumerate(fields):
            c[k] = int(vals[f])
        m = ctypes.c_void_p()
        self._check(self.lib.cope_model_new(ctypes.byref(m), c, tok, seed, ctypes.byref(self.err)))
        buf, size = ctypes.c_void_p(), ctypes.c_size_t()
        try:
            self._check(self.lib.cope_model_save(m, ctypes.byref(buf), ctypes.byref(size), ctypes.byref(self.err)))
            data = ctypes.string_at(buf, size.value)
            self.lib.cope_free(buf)
        finally:
            self.lib.cope_model_free(m)
        fd, path = tempfile.mkstemp(suffix=".safetensors")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path


class Batches:
    """Training batches of a task from the core's generator (cope_task_batch), seeded: the same
    seed gives the same examples in any process. next(B) -> (ids, targets, mask) numpy [B, T]."""

    def __init__(self, lib, task, seed, split="train"):
        self.lib, self.split = lib, split.encode()
        self.task = lib.task(task)
        lib._check(lib.lib.cope_task_split_check(self.task, self.split, ctypes.byref(lib.err)))
        self.t_max = lib.lib.cope_task_max_len(self.task, self.split) - 1
        self.rng = _Rng()
        lib.lib.cope_rng_seed(ctypes.byref(self.rng), seed)
        self.tok, _ = lib.tokenizer(self.task)   # the task's vocabulary, as the model file has it

    @property
    def state(self):
        return int(self.rng.s)

    @state.setter
    def state(self, s):
        self.rng.s = s

    def next(self, B):
        ids = np.zeros((B, self.t_max), dtype=np.int32)
        tg = np.zeros((B, self.t_max), dtype=np.int32)
        mask = np.zeros((B, self.t_max), dtype=np.float32)
        used = ctypes.c_int()
        ip = ctypes.POINTER(ctypes.c_int)
        self.lib._check(self.lib.lib.cope_task_batch(
            self.task, self.split, ctypes.byref(self.rng), self.tok, B, self.t_max, ids.ctypes.data_as(ip),
            tg.ctypes.data_as(ip), mask.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), ctypes.byref(used),
            ctypes.byref(self.lib.err)))
        T = used.value   # rows were compacted to stride T
        flat = lambda a: a.reshape(-1)[:B * T].reshape(B, T)  # noqa: E731
        return flat(ids), flat(tg), flat(mask)
