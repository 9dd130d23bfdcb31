"""XCDR1 little-endian (classic CDR) encoding of the message types in `msgs.py`, as ROS 2 puts them
on the wire: a 4-byte encapsulation header (00 01 00 00), primitives aligned to their size from
the start of the payload, strings as uint32 length (with the NUL) + bytes + NUL, sequences as a
uint32 count + elements.

Byte sequences (images) are copied in one piece and decoded as a view of the received buffer:
never element by element.
"""
from __future__ import annotations

import struct
from typing import Union

import numpy as np

from .msgs import PRIMITIVES, TYPES, Msg, parse_type

HEADER = b"\x00\x01\x00\x00"
Buffer = Union[bytes, bytearray, memoryview]
_U32 = struct.Struct("<I")


class CdrError(ValueError):
    """Malformed or truncated CDR data."""


def serialize(typename: str, msg: Msg, out: bytearray | None = None) -> bytearray:
    """Encode `msg`; appends to `out` (cleared first) so a caller can reuse one buffer."""
    buf = out if out is not None else bytearray()
    del buf[:]
    buf += HEADER
    _write(buf, typename, msg)
    return buf


def _align(buf: bytearray, n: int) -> None:
    pad = (-(len(buf) - 4)) % n
    if pad:
        buf += b"\x00" * pad


def _write(buf: bytearray, typename: str, msg) -> None:
    for name, t in TYPES[typename]:
        _write_field(buf, t, getattr(msg, name))


def _write_field(buf: bytearray, t: str, value) -> None:
    base, kind, n = parse_type(t)
    if kind == "one":
        _write_one(buf, base, value)
        return
    if kind == "sequence":
        _align(buf, 4)
        if base in ("uint8", "byte", "char"):
            view = memoryview(value).cast("B") if not isinstance(value, np.ndarray) else memoryview(np.ascontiguousarray(value).reshape(-1).view(np.uint8))
            buf += _U32.pack(len(view))
            buf += view
            return
        buf += _U32.pack(len(value))
    elif len(value) != n:
        raise CdrError(f"array {t} needs {n} elements, got {len(value)}")
    if base in PRIMITIVES and len(value):
        fmt, size = PRIMITIVES[base]
        _align(buf, size)
        buf += struct.pack(f"<{len(value)}{fmt}", *value)
        return
    for item in value:
        _write_one(buf, base, item)


def _write_one(buf: bytearray, base: str, value) -> None:
    if base == "string":
        data = value.encode("utf-8")
        _align(buf, 4)
        buf += _U32.pack(len(data) + 1)
        buf += data
        buf += b"\x00"
    elif base in PRIMITIVES:
        fmt, size = PRIMITIVES[base]
        _align(buf, size)
        buf += struct.pack("<" + fmt, value)
    else:
        _write(buf, base, value)


def deserialize(typename: str, data: Buffer) -> Msg:
    """Decode; byte sequences come back as memoryviews into `data` (no copy)."""
    view = memoryview(data)
    if len(view) < 4 or bytes(view[:2]) != b"\x00\x01":
        raise CdrError(f"not little-endian CDR (header {bytes(view[:4]).hex()})")
    reader = _Reader(view[4:])
    try:
        return reader.message(typename)
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise CdrError(f"{typename}: truncated or malformed CDR ({exc})") from None


class _Reader:
    def __init__(self, view: memoryview):
        self.v = view
        self.pos = 0

    def align(self, n: int) -> None:
        self.pos += (-self.pos) % n

    def need(self, n: int) -> None:
        if self.pos + n > len(self.v):
            raise CdrError(f"truncated: need {n} bytes at offset {self.pos}, have {len(self.v) - self.pos}")

    def u32(self) -> int:
        self.align(4)
        self.need(4)
        (x,) = _U32.unpack_from(self.v, self.pos)
        self.pos += 4
        return x

    def message(self, typename: str) -> Msg:
        fields = {}
        for name, t in TYPES[typename]:
            fields[name] = self.field(t)
        return Msg(_type=typename, **fields)

    def field(self, t: str):
        base, kind, n = parse_type(t)
        if kind == "one":
            return self.one(base)
        count = self.u32() if kind == "sequence" else n
        if kind == "sequence" and base in ("uint8", "byte", "char"):
            self.need(count)
            out = self.v[self.pos:self.pos + count]
            self.pos += count
            return out
        if base in PRIMITIVES:
            fmt, size = PRIMITIVES[base]
            if count:
                self.align(size)
            self.need(count * size)
            values = list(struct.unpack_from(f"<{count}{fmt}", self.v, self.pos))
            self.pos += count * size
            return values
        return [self.one(base) for _ in range(count)]

    def one(self, base: str):
        if base == "string":
            length = self.u32()
            self.need(length)
            raw = bytes(self.v[self.pos:self.pos + length])
            self.pos += length
            if not raw.endswith(b"\x00"):
                raise CdrError("string without its terminating NUL")
            return raw[:-1].decode("utf-8")
        if base in PRIMITIVES:
            fmt, size = PRIMITIVES[base]
            self.align(size)
            self.need(size)
            (x,) = struct.unpack_from("<" + fmt, self.v, self.pos)
            self.pos += size
            return x
        return self.message(base)
