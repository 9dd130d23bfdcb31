"""Recorded runs → one in-memory training set (uint8 images, features, labels, token ids)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence

import numpy as np

from . import spec


@dataclass
class TrainingSet:
    image: np.ndarray  # [N, C, H, W] uint8
    previous: np.ndarray  # [N] index of the frame before (itself for a run's first frame)
    nav: np.ndarray
    ego: np.ndarray
    trajectory: np.ndarray
    speed: np.ndarray
    tokens: np.ndarray  # [N, MAX_TOKENS] int64
    reasons: np.ndarray
    vocab: List[str]

    def __len__(self) -> int:
        return len(self.image)


def load_runs(paths: Sequence[Path], vocab: List[str] | None = None) -> TrainingSet:
    runs = [dict(np.load(p)) for p in paths]
    reasons = np.concatenate([r["reason"] for r in runs])
    vocab = vocab or spec.build_vocab([str(x) for x in np.unique(reasons)])
    previous, offset = [], 0
    for r in runs:
        n = len(r["image"])
        previous.append(offset + np.concatenate(([0], np.arange(n - 1))))
        offset += n
    tokens = np.asarray([spec.encode(str(x), vocab) for x in reasons], np.int64)
    cat = lambda k: np.concatenate([r[k] for r in runs])  # noqa: E731
    return TrainingSet(image=cat("image"), previous=np.concatenate(previous), nav=cat("nav"), ego=cat("ego"),
                       trajectory=cat("trajectory"), speed=cat("speed"), tokens=tokens, reasons=reasons, vocab=vocab)


def recording_seconds(paths: Sequence[Path]) -> float:
    """Seconds (one process each) the runs took to record, cached or not: what a fresh run costs."""
    total = 0.0
    for p in paths:
        with np.load(p) as run:
            total += float(run["record_s"]) if "record_s" in run.files else float("nan")
    return total
