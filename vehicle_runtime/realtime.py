"""A fixed-rate loop on absolute deadlines: sleep until shortly before the deadline, then spin.

onnxruntime releases the GIL while it runs, so this plain Python loop keeps its period even beside
an inference thread (DESIGN.md: p99 jitter 0.05–0.06 ms measured here).
"""
from __future__ import annotations

import os
import threading
import time
from typing import Callable, Optional

from .latency import LatencyStats


class PeriodicLoop:
    def __init__(self, period_s: float, spin_s: float = 0.0008, clock: Callable[[], float] = time.monotonic):
        self.period_s = period_s
        self.spin_s = spin_s
        self.clock = clock
        self.jitter = LatencyStats(1 << 16)  # |actual start − deadline|
        self.deadline_misses = 0  # starts later than one whole period

    def run(self, step: Callable[[float], None], stop: Optional[threading.Event] = None,
            ticks: Optional[int] = None, start_s: Optional[float] = None,
            until: Optional[Callable[[], bool]] = None) -> None:
        """Call step(now) once per period until `stop` is set, `until()` is true or `ticks` calls were made."""
        deadline = self.clock() if start_s is None else start_s
        k = 0
        while ((ticks is None or k < ticks) and not (stop is not None and stop.is_set())
               and not (until is not None and until())):
            remaining = deadline - self.clock()
            if remaining > self.spin_s:
                time.sleep(remaining - self.spin_s)
            while self.clock() < deadline:
                pass
            now = self.clock()
            late = now - deadline
            self.jitter.add(late)
            if late > self.period_s:
                self.deadline_misses += 1
                deadline = now  # do not burst to catch up: the gate sees the stall in its dt
            step(now)
            deadline += self.period_s
            k += 1


def set_realtime_priority(priority: int) -> str:
    """SCHED_FIFO at `priority` for this process (0: leave it alone). The gate and the CAN writer
    should not wait behind camera decoding or a busy simulator. Returns '' or why it was refused."""
    if priority <= 0:
        return ""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        return ""
    except (PermissionError, OSError, AttributeError) as exc:
        return f"real-time priority {priority} refused ({exc}); running with normal scheduling"
