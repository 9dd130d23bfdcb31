"""Match sensor data to the world tick by frame id.

CARLA sensors call their listeners from the client's worker threads, in any order and possibly late.
Each sensor feeds a queue; after `world.tick()` returned frame F, `collect(F)` takes every sensor's
sample of frame F, drops older ones (late leftovers of earlier ticks), and keeps newer ones for the
next tick. A sensor that has not delivered frame F within the timeout is an error naming it: in
synchronous mode the server sends every sensor's data for every tick, so a gap means a broken sensor.
"""

from __future__ import annotations

import queue
from typing import Any, Dict, Iterable


class SensorTimeout(RuntimeError):
    pass


class SensorSync:
    def __init__(self, names: Iterable[str], timeout_s: float = 2.0):
        self.timeout_s = timeout_s
        self._queues: Dict[str, "queue.Queue"] = {n: queue.Queue() for n in names}
        self._early: Dict[str, list] = {n: [] for n in self._queues}
        self.dropped: Dict[str, int] = {n: 0 for n in self._queues}

    def listener(self, name: str):
        """The callback to pass to `sensor.listen(...)`."""
        q = self._queues[name]
        return q.put

    def collect(self, frame: int) -> Dict[str, Any]:  # sensor name → its carla measurement of `frame`
        out = {}
        for name, q in self._queues.items():
            out[name] = self._take(name, q, frame)
        return out

    def _take(self, name: str, q: "queue.Queue", frame: int):
        pending = [d for d in self._early[name] if d.frame >= frame]
        self.dropped[name] += len(self._early[name]) - len(pending)
        found = next((d for d in pending if d.frame == frame), None)
        while found is None:
            try:
                data = q.get(timeout=self.timeout_s)
            except queue.Empty:
                raise SensorTimeout(
                    f"sensor '{name}' sent nothing for frame {frame} within {self.timeout_s} s"
                ) from None
            if data.frame == frame:
                found = data
            elif data.frame < frame:
                self.dropped[name] += 1  # a late sample of an earlier tick
            else:
                pending.append(data)  # already the next tick's: keep it
        self._early[name] = [d for d in pending if d.frame > frame]
        return found
