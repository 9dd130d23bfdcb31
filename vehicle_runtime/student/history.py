"""Frame history per camera without copying old frames.

A mirrored ring buffer: 2K slots, each new frame is written at slot i and i+K, so the K newest
frames, oldest first, are always the contiguous view [i+1, i+1+K). The model input is that view:
no old frame is ever moved, and the view's address can be bound directly (IO binding).
"""

from __future__ import annotations

import numpy as np


class FrameHistory:
    def __init__(self, history: int, frame_shape: tuple[int, ...], dtype: str = "float32"):
        if history < 1:
            raise ValueError("history must be >= 1")
        self.history = history
        self._slots = np.zeros((2 * history, *frame_shape), np.dtype(dtype))  # the graph's input type
        self._index = history - 1  # the slot the newest frame went to
        self.frames_seen = 0

    def _write_slots(self) -> tuple[int, int]:
        """(slot written by the caller, its mirror). The written slot is never inside the current
        window, so a frame that fails half-way through preprocessing corrupts nothing."""
        k = self.history
        i = (self._index + 1) % k
        return (i + k, i) if i == self._index + 1 else (i, i + k)

    def next_slot(self) -> np.ndarray:
        """The slot the next frame is preprocessed into; call `commit()` once it is written."""
        return self._slots[self._write_slots()[0]]

    def commit(self) -> None:
        written, mirror = self._write_slots()
        if self.frames_seen == 0:  # first frame: the model sees it repeated, not black frames
            self._slots[:] = self._slots[written]
        else:
            self._slots[mirror] = self._slots[written]  # copies the new frame only
        self._index = (self._index + 1) % self.history
        self.frames_seen += 1

    def window(self) -> np.ndarray:
        """(1, K, *frame_shape) view of the K newest frames, oldest first."""
        start = self._index + 1
        return self._slots[start : start + self.history][None]

    def reset(self) -> None:
        self.frames_seen = 0
