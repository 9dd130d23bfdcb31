"""Latency samples per stage in a fixed ring (no allocation per sample), with percentiles."""

from __future__ import annotations

import numpy as np


class LatencyStats:
    def __init__(self, capacity: int = 4096):
        self._samples = np.zeros(capacity, np.float64)
        self._next = 0
        self.count = 0

    def add(self, seconds: float) -> None:
        self._samples[self._next] = seconds
        self._next = (self._next + 1) % len(self._samples)
        self.count += 1

    @property
    def last_s(self) -> float:
        return float(self._samples[(self._next - 1) % len(self._samples)]) if self.count else float("nan")

    def values_s(self) -> np.ndarray:
        return self._samples[: min(self.count, len(self._samples))]

    def percentile_ms(self, q: float) -> float:
        v = self.values_s()
        return float(np.percentile(v, q) * 1e3) if len(v) else float("nan")

    def summary(self) -> dict:
        v = self.values_s()
        if not len(v):
            return {"count": 0}
        return {
            "count": self.count,
            "p50_ms": self.percentile_ms(50),
            "p99_ms": self.percentile_ms(99),
            "max_ms": float(v.max() * 1e3),
            "mean_ms": float(v.mean() * 1e3),
        }
