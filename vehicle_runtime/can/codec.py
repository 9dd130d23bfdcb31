"""Encode and decode by-wire frames through the DBC, with rolling counter and checksum.

Like opendbc's packer: signals named COUNTER and CHECKSUM are filled automatically; the packer
keeps one counter per address. cantools has no counter/checksum hook, so we encode, then patch.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Mapping, Optional, cast

import can
import cantools

from .checksum import frame_checksum

if TYPE_CHECKING:
    from .secoc import Sender

COUNTER_MODULO = 16
_FILLED_LATER = ("SECOC_FV", "SECOC_MAC", "SYNC_REQUEST", "FAULT_AUTH")


class FrameError(ValueError):
    """A received frame that must not be used. `reason` is a short code for counters/reports."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class DecodedFrame:
    name: str
    signals: Mapping[str, float]
    counter: int
    timestamp_s: float


def default_dbc_path() -> Path:
    return Path(str(resources.files("vehicle_runtime.can").joinpath("bywire.dbc")))


def load_dbc(path: Optional[str | Path] = None) -> cantools.database.can.Database:
    db = cantools.database.load_file(str(path or default_dbc_path()), strict=True)
    return cast(cantools.database.can.Database, db)  # cast: a .dbc file loads as a CAN database


def decode_signals(db: cantools.database.can.Database, frame_id: int, data: bytes) -> Dict[str, float]:
    """Signal values by name, numbers only (no choice names), without `Codec.decode`'s length and checksum
    checks: for observers that read every frame on a bus, faulty ones included."""
    # cast: without choices, and for a plain (not container) message, cantools returns numbers by name
    return cast(Dict[str, float], db.decode_message(frame_id, data, decode_choices=False))


class Codec:
    """Stateless encode/decode for one DBC; `Packer` adds the per-address counters."""

    def __init__(self, db: Optional[cantools.database.can.Database] = None):
        self.db = db or load_dbc()
        self._by_id = {m.frame_id: m for m in self.db.messages}

    def message(self, name: str) -> cantools.database.can.Message:
        return self.db.get_message_by_name(name)

    def encode(self, name: str, signals: Mapping[str, float], counter: int) -> bytearray:
        msg = self.db.get_message_by_name(name)
        values = dict(signals)
        for name in _FILLED_LATER:  # SecOC fields are sealed after encoding (secoc.py); new flags default off
            if name in msg.signal_tree and name not in values:
                values[name] = 0
        values["COUNTER"] = counter % COUNTER_MODULO
        values["CHECKSUM"] = 0
        data = bytearray(msg.encode(values, strict=True, scaling=True))
        data[7] = frame_checksum(msg.frame_id, data)
        return data

    def decode(self, frame: can.Message) -> DecodedFrame:
        """Decode and check length and checksum; the counter is checked by `CounterCheck`."""
        if frame.is_error_frame:
            raise FrameError("error_frame", "bus error frame")
        msg = self._by_id.get(frame.arbitration_id)
        if msg is None or frame.is_extended_id:
            raise FrameError("unknown_id", f"0x{frame.arbitration_id:x} is not in the DBC")
        data = bytes(frame.data)
        if len(data) != msg.length:
            raise FrameError("bad_length", f"{msg.name}: {len(data)} bytes, expected {msg.length}")
        if data[7] != frame_checksum(msg.frame_id, data):
            raise FrameError(
                "bad_checksum",
                f"{msg.name}: checksum 0x{data[7]:02x}, expected 0x{frame_checksum(msg.frame_id, data):02x}",
            )
        try:
            # cast: without choices, and for a plain (not container) message, cantools returns numbers by name
            signals = cast(Dict[str, float], msg.decode(data, decode_choices=False, scaling=True))
        except Exception as exc:  # cantools raises several types on garbage
            raise FrameError("undecodable", f"{msg.name}: {exc}") from None
        return DecodedFrame(msg.name, signals, int(signals["COUNTER"]), float(frame.timestamp))


class Packer:
    """Builds can.Messages with a rolling counter per message (opendbc's CANPacker role)."""

    def __init__(self, codec: Optional[Codec] = None, secoc: Optional[Sender] = None):
        self.codec = codec or Codec()
        self.secoc = secoc  # a secoc.Sender: seals the messages it protects (MAC, freshness, then the CRC)
        self._counters: Dict[str, int] = {}

    def pack(self, name: str, signals: Mapping[str, float], timestamp_s: float = 0.0) -> can.Message:
        counter = self._counters.get(name, -1) + 1
        self._counters[name] = counter % COUNTER_MODULO
        msg = self.codec.message(name)
        data = self.codec.encode(name, signals, counter)
        if self.secoc is not None and self.secoc.protects(name):
            self.secoc.protect(name, msg.frame_id, data)
        return can.Message(arbitration_id=msg.frame_id, data=data, is_extended_id=False, timestamp=timestamp_s)


class CounterCheck:
    """Per-message rolling-counter check: each frame must carry the previous counter + 1."""

    def __init__(self) -> None:
        self._last: Dict[str, int] = {}

    def check(self, frame: DecodedFrame) -> None:
        last = self._last.get(frame.name)
        self._last[frame.name] = frame.counter
        if last is not None and frame.counter != (last + 1) % COUNTER_MODULO:
            raise FrameError("bad_counter", f"{frame.name}: counter {frame.counter} after {last}")

    def reset(self, name: Optional[str] = None) -> None:
        if name is None:
            self._last.clear()
        else:
            self._last.pop(name, None)
