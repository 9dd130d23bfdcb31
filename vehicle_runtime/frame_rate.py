"""A camera's frame rate measured from its stamps, against the rate the model's history was trained at.

On the car the camera driver sets the rate, not the rig file: a model whose history of K frames was
trained at 20 Hz reads the motion of (K - 1) / 20 s; at 30 Hz it reads two thirds of that and misjudges
every speed it infers from the frames. The fusion node reports a mismatch (diagnostics, one error log).
"""

from __future__ import annotations

import collections
import statistics
from typing import Deque, Optional

from .student.contract import RATE_TOLERANCE

WINDOW_FRAMES = 21  # 20 intervals: a dropped frame or a late one moves the median not at all


class FrameRateCheck:
    def __init__(self, expected_hz: float, window: int = WINDOW_FRAMES):
        if not expected_hz > 0:
            raise ValueError("expected_hz must be > 0")
        self.expected_hz = expected_hz
        self._stamps: Deque[float] = collections.deque(maxlen=window)

    def add(self, stamp_s: float) -> None:
        if self._stamps and stamp_s <= self._stamps[-1]:
            self._stamps.clear()  # a restarted driver or a clock jump: measure afresh
        self._stamps.append(stamp_s)

    @property
    def measured_hz(self) -> Optional[float]:
        """The median interval's rate once the window is full; None before."""
        if len(self._stamps) < (self._stamps.maxlen or 0):
            return None
        s = list(self._stamps)
        return 1.0 / statistics.median(b - a for a, b in zip(s, s[1:]))

    def mismatch(self) -> Optional[str]:
        """'camera rate 30.0 Hz, model 20.0 Hz' when the measured rate is off by more than RATE_TOLERANCE."""
        hz = self.measured_hz
        if hz is None or abs(hz - self.expected_hz) <= RATE_TOLERANCE * self.expected_hz:
            return None
        return f"camera rate {hz:.1f} Hz, model {self.expected_hz:.1f} Hz"
