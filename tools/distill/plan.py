"""Which runs to record: seeds per scenario, with more seeds where the student is weakest.

A focus scenario (by default the two with a lead vehicle, whose gap the student must judge from the
image alone) is recorded on `focus_factor` times as many seeds: seed s also as s + 100, s + 200, ...
Seeds from EVAL_SEEDS_FROM up are held out for `vehicle-runtime eval` and refused here.
With `dark_lamps_every` N > 0, one in N of a focus scenario's seed copies (s + (N-1)·100, ...) drives among cars
whose brake lamps never light: a student that saw lamps on every braking car learnt to read braking from the
lamps alone, and drove into a lead whose lamps stayed dark.
"""

from __future__ import annotations

from typing import List, Sequence

from .record import RunSpec

EVAL_SEEDS_FROM = 1000
FOCUS_SEED_STRIDE = 100


def seed_range(text: str) -> List[int]:
    """'1-3,7' -> [1, 2, 3, 7]; refuses held-out seeds."""
    out: List[int] = []
    for part in filter(None, text.split(",")):
        lo, dash, hi = part.partition("-")
        bad = SystemExit(f"seed range '{part}': expected N or A-B, whole numbers with 0 <= A <= B")
        try:
            first, last = int(lo), int(hi if dash else lo)
        except ValueError:
            raise bad from None
        if last < first:
            raise bad
        out += list(range(first, last + 1))
    _refuse_held_out(out)
    return out


def dagger_rounds(text: str) -> List[List[int]]:
    """'5-6/13-14' -> [[5, 6], [13, 14]]: one seed list per DAgger round; '' -> no round."""
    return [seed_range(part) for part in text.split("/") if part.strip()]


def seeds_for(scenario: str, seeds: Sequence[int], focus: Sequence[str], focus_factor: int) -> List[int]:
    if scenario not in focus:
        return list(seeds)
    out = [s + k * FOCUS_SEED_STRIDE for k in range(max(1, focus_factor)) for s in seeds]
    _refuse_held_out(out)
    return out


def lamps_for(scenario: str, seed: int, focus: Sequence[str], dark_lamps_every: int) -> bool:
    """Whether the cars of this run light their brake lamps."""
    if dark_lamps_every <= 0 or scenario not in focus:
        return True
    return (seed // FOCUS_SEED_STRIDE) % dark_lamps_every != dark_lamps_every - 1


def expert_runs(
    scenarios: Sequence[str],
    seeds: Sequence[int],
    focus: Sequence[str],
    focus_factor: int,
    camera_sizes: Sequence[str] = ("",),
    dark_lamps_every: int = 0,
) -> List[RunSpec]:
    """The expert drives every scenario: odd seeds clean and with DART noise, even seeds with noise; each run
    with the front camera at every size of `camera_sizes` ('' is the rig's own)."""
    return [
        RunSpec(sc, s, "expert", noise, camera_size=size, brake_lamps=lamps_for(sc, s, focus, dark_lamps_every))
        for sc in scenarios
        for s in seeds_for(sc, seeds, focus, focus_factor)
        for noise in ((0.0, 1.0) if s % 2 else (1.0,))
        for size in camera_sizes
    ]


def student_runs(
    scenarios: Sequence[str],
    seeds: Sequence[int],
    focus: Sequence[str],
    focus_factor: int,
    model: str,
    camera_sizes: Sequence[str] = ("",),
    dark_lamps_every: int = 0,
) -> List[RunSpec]:
    """The student drives every scenario once per seed, the camera sizes taken in turn by seed."""
    return [
        RunSpec(
            sc, s, "student", 0.0, model, camera_sizes[s % len(camera_sizes)], lamps_for(sc, s, focus, dark_lamps_every)
        )
        for sc in scenarios
        for s in seeds_for(sc, seeds, focus, focus_factor)
    ]


def _refuse_held_out(seeds: Sequence[int]) -> None:
    if any(s >= EVAL_SEEDS_FROM for s in seeds):
        raise SystemExit(f"seeds from {EVAL_SEEDS_FROM} up are held out for evaluation")
