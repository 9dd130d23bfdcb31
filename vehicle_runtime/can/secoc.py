"""SecOC-style authentication of by-wire frames (AUTOSAR SecOC, profile 1 layout).

Every authenticated frame carries, in spare bits of its classical 8-byte payload, the 8 low bits of
its freshness value (SECOC_FV, bits 20..27) and a 24-bit truncated AES-128-CMAC (SECOC_MAC, bits
28..51); the CRC-8 in byte 7 still covers the whole frame. The MAC covers the 11-bit id (2 bytes),
the data with MAC and CHECKSUM zeroed, and the full 64-bit freshness value:

    freshness = trip << 24 | count        count: per message, +1 per frame; trip: see below

The receiver rebuilds the full value as the smallest one above the last it accepted whose low 8 bits
match, so up to 255 lost frames are tolerated and a replayed or stale frame (an older count) is
checked against a value it was never signed with and fails.

Trip counter (resynchronisation): the compute box owns it and keeps it in a file. It raises it at
every start and whenever the gateway asks (GATEWAY_STATUS.SYNC_REQUEST, after the gateway restarted),
and sends it in SECOC_SYNC (authenticated, 1 Hz and on change). A receiver adopts only a trip above
the one it last adopted (kept in its own file), so nothing recorded in an earlier trip is accepted
again, by either end, after a restart of either end.

A SECOC_SYNC's freshness count says which it is: 0 announces a trip raised just now, 1 repeats it. A
receiver that keeps its trip in memory only (a simulated gateway that lives one run) does not follow a
repeat after its start: the trip may be one it used before it restarted, and its own sender's counts,
started again at 0, would repeat values the compute box has already seen (the box would refuse every
frame until the counts caught up). It waits, asking with SYNC_REQUEST, for the announcement of a new trip.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Iterable, Optional, cast

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import algorithms

from .checksum import frame_checksum

KEY_BYTES = 16  # AES-128, as SecOC profile 1
FV_SHIFT, FV_MASK = 20, 0xFF
MAC_SHIFT, MAC_MASK = 28, 0xFFFFFF
COUNT_BITS = 24  # 2^24 frames of one message at 100 Hz: 46 h; then the trip is raised
TRIP_MASK = (1 << 20) - 1  # SECOC_SYNC.TRIP_COUNTER is 20 bits
COMPUTE_TO_GATEWAY = ("STEERING_CMD", "LONGITUDINAL_CMD", "HEARTBEAT")
GATEWAY_TO_COMPUTE = ("GATEWAY_STATUS",)  # carries the driver's engage button and the gateway faults
SYNC = "SECOC_SYNC"
SYNC_ANNOUNCES, SYNC_REPEATS = 0, 1  # SECOC_SYNC's count: a trip raised just now, or the 1 Hz repeat


class TripStore:
    """The last trip counter, in a small file (written atomically); None keeps it in memory only."""

    def __init__(self, path: Optional[str | Path] = None):
        self.path = Path(path) if path else None
        self._value = 0

    def load(self) -> int:
        if self.path is None:
            return self._value
        try:
            return int(self.path.read_text().strip() or 0)
        except FileNotFoundError:
            return 0
        except ValueError:  # a corrupt file must not lower the counter silently: start far above
            return TRIP_MASK // 2

    def save(self, trip: int) -> None:
        self._value = trip
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        with open(tmp, "w") as f:
            f.write(f"{trip}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def fields(data: bytes | bytearray) -> tuple[int, int]:
    """(truncated freshness, truncated MAC) of a frame."""
    v = int.from_bytes(data, "little")
    return (v >> FV_SHIFT) & FV_MASK, (v >> MAC_SHIFT) & MAC_MASK


class Authenticator:
    """AES-CMAC with one provisioned key; `mac(id, data, freshness)` is the 24-bit truncated tag."""

    def __init__(self, key: bytes):
        if len(key) != KEY_BYTES:
            raise ValueError(f"SecOC key must be {KEY_BYTES} bytes, got {len(key)}")
        self._base = cmac.CMAC(algorithms.AES(key))  # copied per frame: cheaper than a new CMAC (7 vs 10 µs)

    def mac(self, frame_id: int, data: bytes | bytearray, freshness: int) -> int:
        v = int.from_bytes(bytes(data[:8]), "little") & ~(MAC_MASK << MAC_SHIFT) & ~(0xFF << 56)
        c = self._base.copy()
        c.update(frame_id.to_bytes(2, "little") + v.to_bytes(8, "little") + freshness.to_bytes(8, "big"))
        return int.from_bytes(c.finalize()[:3], "big")

    def seal(self, frame_id: int, data: bytearray, freshness: int) -> None:
        """Write the truncated freshness and the MAC into `data`, then the CRC over the result."""
        v = int.from_bytes(bytes(data), "little")
        v &= ~(FV_MASK << FV_SHIFT) & ~(MAC_MASK << MAC_SHIFT)
        v |= (freshness & FV_MASK) << FV_SHIFT
        v |= self.mac(frame_id, v.to_bytes(8, "little"), freshness) << MAC_SHIFT
        data[:] = v.to_bytes(8, "little")
        data[7] = frame_checksum(frame_id, data)


class Sender:
    """One end's outgoing authenticated messages. The compute box owns the trip (`start`, `raise_trip`);
    the gateway's sender follows the trip its receiver adopted (`follow`)."""

    def __init__(self, auth: Authenticator, names: Iterable[str], store: Optional[TripStore] = None):
        self.auth = auth
        self.names = frozenset(names)
        self.store = store
        self.trip = 0
        self._counts: Dict[str, int] = {}

    def start(self) -> int:
        """A new trip: above every trip this box ever used (kept in its store before any frame is sent)."""
        return self.follow(((self.store.load() if self.store else self.trip) + 1) & TRIP_MASK)

    raise_trip = start

    def follow(self, trip: int) -> int:
        self.trip, self._counts = trip, {}
        if self.store:
            self.store.save(trip)
        return trip

    def protects(self, name: str) -> bool:
        return name in self.names or name == SYNC

    def protect(self, name: str, frame_id: int, data: bytearray) -> None:
        if name == SYNC:
            count = SYNC_REPEATS if SYNC in self._counts else SYNC_ANNOUNCES  # the first SYNC of a trip announces it
            self._counts[SYNC] = count
            self.auth.seal(frame_id, data, self.trip << COUNT_BITS | count)
            return
        count = self._counts.get(name, -1) + 1
        if count >> COUNT_BITS:  # 46 h of one message: a new trip (the receiver follows the SYNC)
            self.start()
            count = 0
        self._counts[name] = count
        self.auth.seal(frame_id, data, self.trip << COUNT_BITS | count)


class Receiver:
    """One end's incoming authenticated messages. `trip` None: no trusted freshness yet (unsynced)."""

    def __init__(self, auth: Authenticator, names: Iterable[str], store: Optional[TripStore] = None):
        self.auth = auth
        self.names = frozenset(names)
        self.store = store
        self.trip: Optional[int] = None
        self._last: Dict[str, int] = {}
        self.rejected: Dict[str, int] = {}

    def adopt(self, trip: int) -> None:
        self.trip, self._last = trip, {}
        if self.store:
            self.store.save(trip)

    def verify(self, name: str, frame_id: int, data: bytes | bytearray) -> Optional[str]:
        """None when the frame is authentic and fresh, else the reason: 'unsynced', 'stale_freshness'
        (a replayed or old frame: it verifies only with an already used freshness), 'bad_mac'."""
        reason = self._verify(name, frame_id, data)
        if reason:
            self.rejected[reason] = self.rejected.get(reason, 0) + 1
        return reason

    def _verify(self, name: str, frame_id: int, data: bytes | bytearray) -> Optional[str]:
        if self.trip is None:
            return "unsynced"
        trunc, tag = fields(data)
        base = self._last.get(name, -1) + 1
        count = base + ((trunc - base) & FV_MASK)
        if count >> COUNT_BITS:
            return "stale_freshness"  # the sender must have started a new trip
        if tag == self.auth.mac(frame_id, data, self.trip << COUNT_BITS | count):
            self._last[name] = count
            return None
        if count > FV_MASK and tag == self.auth.mac(frame_id, data, self.trip << COUNT_BITS | (count - FV_MASK - 1)):
            return "stale_freshness"
        return "bad_mac"

    def on_sync(self, frame_id: int, data: bytes | bytearray) -> Optional[str]:
        """A SECOC_SYNC frame: adopt its trip if it is authentic and newer than any adopted before."""
        trip = int.from_bytes(bytes(data[:8]), "little") & TRIP_MASK
        count, tag = fields(data)
        if count not in (SYNC_ANNOUNCES, SYNC_REPEATS) or tag != self.auth.mac(
            frame_id, data, trip << COUNT_BITS | count
        ):
            return self._count("bad_mac")
        if self.trip is not None and trip == self.trip:
            return None  # the 1 Hz repeat
        remembers = self.store is not None and self.store.path is not None
        if self.trip is None and not remembers and count == SYNC_REPEATS:
            return None  # maybe a trip this end used before it restarted: wait for a new one (SYNC_REQUEST)
        floor = self.store.load() if self.store else (self.trip or 0)
        if self.trip is not None:
            floor = max(floor, self.trip)
        if trip <= floor:
            return self._count("stale_freshness")  # a recorded SYNC of an earlier trip
        self.adopt(trip)
        return None

    def _count(self, reason: str) -> str:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        return reason


class ComputeEnd:
    """The compute box's side: seals its commands and SECOC_SYNC, verifies GATEWAY_STATUS."""

    def __init__(self, key: bytes, trip_file: Optional[str | Path] = None):
        auth = Authenticator(key)
        self.sender = Sender(auth, COMPUTE_TO_GATEWAY, TripStore(trip_file))
        self.receiver = Receiver(auth, GATEWAY_TO_COMPUTE)  # same trip as the sender: the box owns it

    def start(self) -> int:
        trip = self.sender.start()
        self.receiver.adopt(trip)
        return trip


class GatewayEnd:
    """The by-wire gateway's side: verifies commands and SECOC_SYNC, seals GATEWAY_STATUS."""

    def __init__(self, key: bytes, trip_file: Optional[str | Path] = None):
        auth = Authenticator(key)
        self.receiver = Receiver(auth, COMPUTE_TO_GATEWAY, TripStore(trip_file))
        self.sender = Sender(auth, GATEWAY_TO_COMPUTE)

    def on_sync(self, frame_id: int, data: bytes | bytearray) -> Optional[str]:
        before = self.receiver.trip
        reason = self.receiver.on_sync(frame_id, data)
        if reason is None and self.receiver.trip != before:
            self.sender.follow(cast(int, self.receiver.trip))  # cast: a SECOC_SYNC accepted sets the trip
        return reason
