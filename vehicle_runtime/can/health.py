"""Bus health: error frames, bus-off and failed sends → a critical fault (the gate latches FAULT)."""

from __future__ import annotations

import collections
from typing import Deque, Optional

import can

CAN_ERR_BUSOFF = 0x040  # SocketCAN error class bits carried in the error frame's id (linux/can/error.h)
CAN_ERR_RESTARTED = 0x100


class BusHealth:
    def __init__(self, max_error_frames: int = 10, window_s: float = 1.0, max_send_failures: int = 3):
        self.max_error_frames = max_error_frames
        self.window_s = window_s
        self.max_send_failures = max_send_failures
        self._errors: Deque[float] = collections.deque()
        self.error_frames = 0
        self.send_failures = 0
        self._consecutive_send_failures = 0
        self.bus_off = False

    def on_error_frame(self, frame: can.Message, now_s: float) -> Optional[str]:
        self.error_frames += 1
        if frame.arbitration_id & CAN_ERR_BUSOFF:
            self.bus_off = True
            return "CAN bus-off"
        self._errors.append(now_s)
        while self._errors and now_s - self._errors[0] > self.window_s:
            self._errors.popleft()
        if len(self._errors) >= self.max_error_frames:
            return f"CAN error frames: {len(self._errors)} within {self.window_s:.1f} s"
        return None

    def on_send(self, error: Optional[Exception]) -> Optional[str]:
        if error is None:
            self._consecutive_send_failures = 0
            return None
        self.send_failures += 1
        self._consecutive_send_failures += 1
        if self._consecutive_send_failures >= self.max_send_failures:
            return f"CAN send failed {self._consecutive_send_failures} times in a row: {error}"
        return None
