"""A BagWriter behind a writer thread, so the pipeline's step pays only a copy into a warm buffer.

Measured before this (bench/record.py, 720p at 20 Hz): writing in the step cost 10 ms per camera
period at p50 and 30–35 ms at p99 (MCAP chunk assembly, its CRC, the file writes). Now the step
encodes (our CDR codec, reused buffer) and copies the bytes into a pooled buffer; the thread does the
rest. Messages are encoded straight into a pooled CdrWriter (one copy of an image, into warm pages).
The pool is bounded (`max_bytes`): when the disk falls behind, `block=True` (a lockstep
simulator, whose bag must be complete) waits for a free buffer, `block=False` drops and counts.
Buffers are reused, so a 2.7 MB image is copied into pages already touched (≈0.1 ms) rather than
fresh ones (≈1.5 ms, DESIGN.md).
"""

from __future__ import annotations

import collections
import threading
from typing import Dict, List, Optional

from ..transport.cdr import CdrWriter
from ..transport.msgs import Msg
from .writer import BagWriter


class BackgroundWriter:
    def __init__(self, writer: BagWriter, max_bytes: int = 512 << 20, block: bool = True):
        self.writer = writer
        self.max_bytes = max_bytes
        self.block = block
        self.dropped = 0
        self.error: Optional[BaseException] = None
        self._free: List[CdrWriter] = []
        self._pooled = 0  # bytes held by all pool buffers, free or queued
        self._q: collections.deque = collections.deque()
        self._cv = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="bag-writer", daemon=True)
        self._thread.start()

    @property
    def o(self):
        return self.writer.o

    def add_topic(self, name: str, typename: str, profile: str = "default") -> None:
        with self._cv:
            self._q.append(("topic", (name, typename, profile)))
            self._cv.notify()

    def write(self, name: str, data, t_ns: int) -> None:
        """Already encoded bytes (copied into a pooled buffer)."""
        self._put(name, len(data), t_ns, lambda w: _copy(w, data))

    def write_msg(self, name: str, msg: Msg, t_ns: int, size_hint: int = 0) -> int:
        """A message, encoded by our CDR codec straight into a pooled buffer; returns its size (the caller's
        next hint for the topic)."""
        return self._put(name, size_hint, t_ns, lambda w: w.encode(msg._type, msg, align_to=4))

    def _put(self, name: str, n: int, t_ns: int, fill) -> int:
        with self._cv:
            if self.error is not None:
                raise RuntimeError(f"bag writer stopped: {self.error}")
            w = self._take(n)
            while w is None:
                if not self.block:
                    self.dropped += 1
                    return 0
                self._cv.wait()  # backpressure: the disk is behind
                if self.error is not None:
                    raise RuntimeError(f"bag writer stopped: {self.error}")
                w = self._take(n)
        before = len(w.data)
        fill(w)  # outside the lock: encode / copy into warm pages
        n = w.n
        with self._cv:
            self._pooled += len(w.data) - before
            self._q.append(("msg", (name, w, t_ns)))
            self._cv.notify()
        return n

    def _take(self, n: int) -> Optional[CdrWriter]:
        """The smallest free buffer that holds `n` bytes, else a new one within budget, else (over budget)
        the largest free one, which grows; None when every buffer is queued."""
        fits = [w for w in self._free if len(w.data) >= n] if n else []
        if fits:
            w = min(fits, key=lambda x: len(x.data))
        elif self._pooled + n <= self.max_bytes or not self._pooled:
            return CdrWriter()
        elif self._free:
            w = max(self._free, key=lambda x: len(x.data))
        else:
            return None
        self._free.remove(w)
        return w

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._q and not self._closing:
                    self._cv.wait()
                if not self._q:
                    return
                kind, item = self._q.popleft()
            try:
                if kind == "topic":
                    self.writer.add_topic(*item)
                else:
                    name, w, t_ns = item
                    self.writer.write(name, memoryview(w.data)[: w.n], t_ns)
                    with self._cv:
                        self._free.append(w)
                        self._cv.notify_all()
            except BaseException as exc:  # a full disk: stop, keep what is written, tell the producer
                with self._cv:
                    self.error = exc
                    self._q.clear()
                    self._cv.notify_all()
                return

    def close(self) -> None:
        with self._cv:
            self._closing = True
            self._cv.notify_all()
        self._thread.join()
        self.writer.close()
        if self.error is not None:
            raise RuntimeError(f"bag {self.writer.path}: writing stopped: {self.error}")

    def stats(self) -> Dict[str, int]:
        return {"dropped": self.dropped, "pooled_bytes": self._pooled}


def _copy(w: CdrWriter, data) -> None:
    w.n = 0
    w += data
