"""A reader of GGUF files whose tensors are f32: metadata and tensors as numpy arrays.

Written from the GGUF specification (llama.cpp's docs/gguf.md), independently of kvfuse's
reader, for the torch reference models of this folder.
"""
import struct

import numpy as np

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY, _F32_TENSOR = 8, 9, 0


class _Cursor:
    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, fmt):
        (value,) = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return value

    def string(self):
        n = self.take("<Q")
        s = self.data[self.at:self.at + n].decode("utf-8")
        self.at += n
        return s

    def value(self, kind):
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item_kind, n = self.take("<I"), self.take("<Q")
            return [self.value(item_kind) for _ in range(n)]
        return self.take(_SCALARS[kind])


def read(path):
    """Returns (metadata dict, {tensor name: numpy array in GGUF's dims reversed})."""
    with open(path, "rb") as f:
        data = f.read()
    c = _Cursor(data)
    if data[:4] != b"GGUF":
        raise ValueError(f"{path}: not a GGUF file")
    c.at = 4
    version, n_tensors, n_kv = c.take("<I"), c.take("<Q"), c.take("<Q")
    if version < 2:
        raise ValueError(f"{path}: GGUF version {version} is too old")
    meta = {}
    for _ in range(n_kv):
        key = c.string()
        meta[key] = c.value(c.take("<I"))
    infos = []
    for _ in range(n_tensors):
        name = c.string()
        dims = [c.take("<Q") for _ in range(c.take("<I"))]
        kind, offset = c.take("<I"), c.take("<Q")
        infos.append((name, dims, kind, offset))
    alignment = meta.get("general.alignment", 32)
    start = (c.at + alignment - 1) // alignment * alignment
    tensors = {}
    for name, dims, kind, offset in infos:
        if kind != _F32_TENSOR:
            raise ValueError(f"{path}: tensor {name} is not f32 (type {kind}); the reference reads f32 models")
        count = int(np.prod(dims))
        array = np.frombuffer(data, dtype="<f4", count=count, offset=start + offset)
        tensors[name] = array.reshape(list(reversed(dims)))  # GGUF lists the fastest dimension first
    return meta, tensors
