"""Recorded runs → one in-memory training set (uint8 frames in patch layout, features, labels, token ids)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from . import spec

AUXILIARY = ("lead_gap_m", "lead_speed_mps")


@dataclass
class TrainingSet:
    image: np.ndarray  # [N, H/P, W/P, C*P*P] uint8: each frame as its patches (see `frame_patches`)
    run_start: np.ndarray  # [N] index of the frame's run's first frame (the history before it repeats that frame)
    nav: np.ndarray
    ego: np.ndarray
    trajectory: np.ndarray
    speed: np.ndarray
    tokens: np.ndarray  # [N, MAX_TOKENS] int64
    reasons: np.ndarray
    template: np.ndarray  # [N] int64 index into `templates` (-1: a phrase the first runs never had)
    number: np.ndarray  # [N] float32 the phrase's number (nan: none)
    lead_gap_m: np.ndarray  # [N] float32 privileged auxiliary labels (nan: no lead, or a run recorded without)
    lead_speed_mps: np.ndarray
    vocab: List[str]
    templates: List[str]
    paths: List[Path] = field(default_factory=list)  # the runs, in order

    def __len__(self) -> int:
        return len(self.image)

    def back(self, idx: np.ndarray, frames: int) -> np.ndarray:
        """Index of the frame `frames` before each of `idx` in its run; a run's first frame stands in for the
        frames before it, as the runtime's FrameHistory repeats its first frame."""
        return np.maximum(idx - frames, self.run_start[idx])


def frame_patches(images: np.ndarray) -> np.ndarray:
    """[N, C, H, W] → [N, H/P, W/P, C*P*P], once per frame at load time: a batch then needs no
    transposition, which cost more per step than the student's first layer."""
    n, c = images.shape[:2]
    (gh, gw), p = spec.PATCH_GRID, spec.PATCH_SIDE
    x = images.reshape(n, c, gh, p, gw, p).transpose(0, 2, 4, 1, 3, 5)
    return np.ascontiguousarray(x).reshape(n, gh, gw, spec.FRAME_PATCH)


def load_runs(
    paths: Sequence[Path], vocab: Optional[List[str]] = None, loaded: Optional[TrainingSet] = None
) -> TrainingSet:
    """The runs in `paths`; `loaded`, a set of the first of them, is extended with the rest only
    (DAgger rounds add runs to the same set)."""
    paths = list(paths)
    if loaded is not None:
        if paths[: len(loaded.paths)] != loaded.paths:
            raise ValueError("the loaded set is not a prefix of these runs")
        vocab, templates = loaded.vocab, loaded.templates
    done = len(loaded.paths) if loaded is not None else 0
    runs = [dict(np.load(p)) for p in paths[done:]]
    reasons = np.concatenate([r["reason"] for r in runs]) if runs else np.zeros(0, str)
    vocab = vocab or spec.build_vocab([str(x) for x in np.unique(reasons)])
    if loaded is None:
        templates = spec.build_templates([str(x) for x in np.unique(reasons)])
    index = {t: k for k, t in enumerate(templates)}
    phrases = [spec.template_of(str(x)) for x in reasons]
    template = np.asarray([index.get(t, -1) for t, _ in phrases], np.int64)
    number = np.asarray([np.nan if n is None else n for _, n in phrases], np.float32)
    offset = len(loaded) if loaded is not None else 0
    run_start = []
    for r in runs:
        n = len(r["image"])
        run_start.append(np.full(n, offset, np.int64))
        offset += n
    tokens = np.asarray([spec.encode(str(x), vocab) for x in reasons], np.int64).reshape(-1, spec.MAX_TOKENS)
    new = dict(
        image=[frame_patches(r["image"]) for r in runs],
        run_start=run_start,
        tokens=[tokens],
        reasons=[reasons],
        template=[template],
        number=[number],
        **{k: [r[k] for r in runs] for k in ("nav", "ego", "trajectory", "speed")},
        **{k: [r.get(k, np.full(len(r["image"]), np.nan, np.float32)) for r in runs] for k in AUXILIARY},
    )
    if loaded is not None:
        for k, parts in new.items():
            parts.insert(0, getattr(loaded, k))
    return TrainingSet(**{k: np.concatenate(v) for k, v in new.items()}, vocab=vocab, templates=templates, paths=paths)


def recording_seconds(paths: Sequence[Path]) -> float:
    """Seconds (one process each) the runs took to record, cached or not: what a fresh run costs."""
    total = 0.0
    for p in paths:
        with np.load(p) as run:
            total += float(run["record_s"]) if "record_s" in run.files else float("nan")
    return total
