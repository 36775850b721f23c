"""A small, independent GGUF v3 reader/writer for the tests (numpy only).

Written from the format description in shared/reference/specs.md, so the
Python references do not reuse the library's own parser.
"""
import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
# metadata value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
_SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
           BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}
_NP = {U8: np.uint8, I8: np.int8, U16: np.uint16, I16: np.int16, U32: np.uint32,
       I32: np.int32, F32: np.float32, BOOL: np.bool_, U64: np.uint64, I64: np.int64,
       F64: np.float64}
# tensor types the tests use
T_F32, T_F16, T_BF16 = 0, 1, 30


class Reader:
    """Parses a whole GGUF file: .kv (dict key -> python value) and
    .tensors (dict name -> numpy array shaped [ne[n-1], ..., ne[0]])."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.buf = f.read()
        self.pos = 0
        assert self.buf[:4] == GGUF_MAGIC, "bad magic"
        self.pos = 4
        self.version = self._u("<I")
        n_tensors = self._u("<Q")
        n_kv = self._u("<Q")
        self.kv = {}
        for _ in range(n_kv):
            key = self._str()
            t = self._u("<I")
            self.kv[key] = self._value(t)
        infos = []
        for _ in range(n_tensors):
            name = self._str()
            nd = self._u("<I")
            ne = [self._u("<Q") for _ in range(nd)]
            tt = self._u("<I")
            off = self._u("<Q")
            infos.append((name, ne, tt, off))
        align = int(self.kv.get("general.alignment", 32))
        data_start = (self.pos + align - 1) // align * align
        self.tensors = {}
        self.tensor_types = {}
        for name, ne, tt, off in infos:
            count = int(np.prod(ne))
            start = data_start + off
            if tt == T_F32:
                a = np.frombuffer(self.buf, np.float32, count, start)
            elif tt == T_F16:
                a = np.frombuffer(self.buf, np.float16, count, start).astype(np.float32)
            elif tt == T_BF16:
                raw = np.frombuffer(self.buf, np.uint16, count, start).astype(np.uint32)
                a = (raw << 16).view(np.float32)
            else:
                a = None  # quantized types: not decoded here
            if a is not None:
                a = a.reshape(list(reversed(ne)))
            self.tensors[name] = a
            self.tensor_types[name] = tt

    def _u(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def _str(self):
        n = self._u("<Q")
        s = self.buf[self.pos:self.pos + n].decode("utf-8", errors="surrogateescape")
        self.pos += n
        return s

    def _value(self, t):
        if t == STRING:
            return self._str()
        if t == ARRAY:
            et = self._u("<I")
            n = self._u("<Q")
            if et == STRING:
                return [self._str() for _ in range(n)]
            if et == ARRAY:
                return [self._value(ARRAY) for _ in range(n)]
            a = np.frombuffer(self.buf, _NP[et], n, self.pos)
            self.pos += a.nbytes
            return a
        return self._u(_SCALAR[t])


class Writer:
    """Collects metadata and tensors, then writes a GGUF v3 file."""

    def __init__(self, alignment=32):
        self.kv = []  # (key, type, value, elem_type)
        self.tensors = []  # (name, ne, ggml_type, bytes)
        self.alignment = alignment

    def add(self, key, vtype, value, elem_type=None):
        self.kv.append((key, vtype, value, elem_type))

    def add_str(self, key, v): self.add(key, STRING, v)
    def add_u32(self, key, v): self.add(key, U32, v)
    def add_i32(self, key, v): self.add(key, I32, v)
    def add_f32(self, key, v): self.add(key, F32, v)
    def add_bool(self, key, v): self.add(key, BOOL, v)
    def add_arr(self, key, elem_type, values): self.add(key, ARRAY, values, elem_type)

    def add_tensor(self, name, array, ttype=T_F32):
        """array is shaped [ne[n-1], ..., ne[0]] (numpy row-major)."""
        a = np.ascontiguousarray(array)
        ne = list(reversed(a.shape))
        if ttype == T_F32:
            data = a.astype(np.float32).tobytes()
        elif ttype == T_F16:
            data = a.astype(np.float16).tobytes()
        else:
            raise ValueError("unsupported tensor type in test writer")
        self.tensors.append((name, ne, ttype, data))

    @staticmethod
    def _s(s):
        b = s.encode("utf-8", errors="surrogateescape") if isinstance(s, str) else bytes(s)
        return struct.pack("<Q", len(b)) + b

    def _val(self, t, v, et):
        if t == STRING:
            return self._s(v)
        if t == ARRAY:
            out = struct.pack("<IQ", et, len(v))
            if et == STRING:
                return out + b"".join(self._s(x) for x in v)
            return out + np.asarray(v, dtype=_NP[et]).tobytes()
        return struct.pack(_SCALAR[t], v)

    def write(self, path):
        out = bytearray(GGUF_MAGIC)
        out += struct.pack("<IQQ", 3, len(self.tensors), len(self.kv))
        for key, t, v, et in self.kv:
            out += self._s(key) + struct.pack("<I", t) + self._val(t, v, et)
        offset = 0
        offsets = []
        for name, ne, tt, data in self.tensors:
            offsets.append(offset)
            out += self._s(name) + struct.pack("<I", len(ne))
            out += b"".join(struct.pack("<Q", n) for n in ne)
            out += struct.pack("<IQ", tt, offset)
            offset = (offset + len(data) + self.alignment - 1) // self.alignment * self.alignment
        pad = (-len(out)) % self.alignment
        out += b"\0" * pad
        for name, ne, tt, data in self.tensors:
            out += data
            out += b"\0" * ((-len(data)) % self.alignment)
        with open(path, "wb") as f:
            f.write(out)
