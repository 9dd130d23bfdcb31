"""Watchdogs: one per input and stage, each with its timeout from config.

A watchdog is fed with the monotonic arrival time and, when the input carries one, its own stamp.
The stamp-to-arrival offset is learned while the system is not engaged; a feed whose offset jumps
by more than `max_clock_jump_s` is refused (a clock jump upstream), so the watchdog runs out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Iterable, Mapping, Optional


@dataclass
class Watchdog:
    name: str
    timeout_s: float
    max_clock_jump_s: float = 0.5
    last_feed_s: float = -math.inf
    refused_clock_jumps: int = 0
    _offset_s: Optional[float] = field(default=None, repr=False)

    def feed(self, arrival_s: float, stamp_s: Optional[float] = None) -> bool:
        if stamp_s is not None:
            if not math.isfinite(stamp_s):
                self.refused_clock_jumps += 1
                return False
            offset = arrival_s - stamp_s
            if self._offset_s is not None and abs(offset - self._offset_s) > self.max_clock_jump_s:
                self.refused_clock_jumps += 1
                return False
            if self._offset_s is None:
                self._offset_s = offset
        self.last_feed_s = arrival_s
        return True

    def age_s(self, now_s: float) -> float:
        return now_s - self.last_feed_s

    def expired(self, now_s: float) -> bool:
        return self.age_s(now_s) > self.timeout_s

    def expires_at_s(self) -> float:
        return self.last_feed_s + self.timeout_s

    def relearn_clock(self) -> None:
        """Forget the learned stamp offset (done while not engaged)."""
        self._offset_s = None


class WatchdogSet:
    def __init__(self, timeouts_s: Mapping[str, float], max_clock_jump_s: float = 0.5):
        self.dogs: Dict[str, Watchdog] = {n: Watchdog(n, t, max_clock_jump_s) for n, t in timeouts_s.items()}

    def __getitem__(self, name: str) -> Watchdog:
        return self.dogs[name]

    def feed(self, name: str, arrival_s: float, stamp_s: Optional[float] = None) -> bool:
        return self.dogs[name].feed(arrival_s, stamp_s)

    def expired(self, now_s: float) -> list[str]:
        return [n for n, d in self.dogs.items() if d.expired(now_s)]

    def ages_s(self, now_s: float) -> Dict[str, float]:
        return {n: d.age_s(now_s) for n, d in self.dogs.items()}

    def relearn_clock(self, names: Iterable[str] | None = None) -> None:
        for n in names or self.dogs:
            self.dogs[n].relearn_clock()
