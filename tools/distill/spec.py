"""What the distilled student sees and says: one place for the inputs, outputs and vocabulary, used by
data collection, training and export (so the three cannot disagree with each other or the manifest)."""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from vehicle_runtime.preprocess import ImageSpec

CAMERA = "front"
# The contract's history: the newest 11 camera frames (20 Hz, 0.5 s), of which the student reads three. Over
# 0.05 s a lead's gap changes by a fraction of a pixel; over 0.25 and 0.5 s its speed (stopped, driving off)
# and braking show.
HISTORY = 11
RATE_HZ = 20.0  # the camera rate the history is recorded at (the manifest's rate_hz; the runtime checks the rig)
FRAMES_USED = (0, 5, 10)  # indices into the history, oldest first: 0.5 s and 0.25 s back, and the newest
# A band around the horizon: 5 m to beyond 50 m ahead on flat ground, the full width for cut-ins. Area
# interpolation (0.6 ms at 720p here): every source pixel counts, so a 640x360 and a 1280x720 camera give nearly
# the same input; bilinear sampling aliases differently at each resolution (a student trained at 720p on it
# drove worse at 360p).
IMAGE = ImageSpec(
    width=256, height=64, colour_order="rgb", crop_top=0.4, crop_bottom=0.2, scale=1.0 / 255.0, interpolation="area"
)
FOV_DEG = 90.0
# the student's stem reads non-overlapping patches; training keeps frames in that layout (tools.distill.data)
PATCH_SIDE = 4  # a car 45 m ahead (about 4 px wide here) still lands in one patch
PATCH_GRID = (IMAGE.height // PATCH_SIDE, IMAGE.width // PATCH_SIDE)
FRAME_PATCH = IMAGE.channels * PATCH_SIDE * PATCH_SIDE
ROUTE_POINTS = 40  # route ahead of the ego at the fusion's spacing: 80 m at 2 m
ROUTE_SPACING_M = 2.0
NAV_FEATURES = ("target_point_ego_m", "road_option_one_hot", "distance_to_route_end_m", "route_ego_xy_m")
EGO_FEATURES = ("speed_mps", "yaw_rate_radps", "accel_mps2", "steer_rad")
POINTS, DT_S = 10, 0.5  # the expert's trajectory
MAX_TOKENS = 12

SPECIALS = ["<pad>", "<eos>", "<unk>"]
NUMBERS = [str(i) for i in range(0, 61)]  # gaps (5 m steps) and speeds (m/s) in the expert's reasons


def words(reason: str) -> List[str]:
    return reason.split()


def build_vocab(reasons: Sequence[str]) -> List[str]:
    """Specials, numbers, then every other word seen, sorted: deterministic for the same data."""
    seen = {w for r in reasons for w in words(r)} - set(NUMBERS) - set(SPECIALS)
    return SPECIALS + NUMBERS + sorted(seen)


def encode(reason: str, vocab: Sequence[str]) -> List[int]:
    """Token ids of a reason, ending in <eos>, padded to MAX_TOKENS (longer reasons are cut)."""
    index = {w: i for i, w in enumerate(vocab)}
    ids = [index.get(w, index["<unk>"]) for w in words(reason)][: MAX_TOKENS - 1] + [index["<eos>"]]
    return ids + [index["<pad>"]] * (MAX_TOKENS - len(ids))


# The reasons are a few phrases with at most one number: the student picks a phrase (template) and fills its
# slot from a number head, so it never emits a phrase with a hole or a number in a word's place.
SLOT = "{}"
SPEED_STEP, GAP_STEP = 1, 5  # "at 12 m/s" is the speed rounded to 1 m/s; gaps are rounded to 5 m


def template_of(reason: str) -> Tuple[str, Optional[int]]:
    """("following the lane at {} m/s", 12) for "following the lane at 12 m/s"; (reason, None) without a number."""
    ws = words(reason)
    for i, w in enumerate(ws):
        if w.isdigit():
            return " ".join(ws[:i] + [SLOT] + ws[i + 1 :]), int(w)
    return reason, None


def slot_step(template: str) -> int:
    """The rounding of a template's number (0: no number)."""
    if SLOT not in words(template):
        return 0
    return SPEED_STEP if f"{SLOT} m/s" in template else GAP_STEP


def build_templates(reasons: Sequence[str]) -> List[str]:
    """Every phrase seen, sorted: deterministic for the same data."""
    return sorted({template_of(r)[0] for r in reasons})


def template_table(templates: Sequence[str], vocab: Sequence[str]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per template: its token ids ([T, MAX_TOKENS], the slot holding the id of "0"), the slot's position
    (-1: none) and the slot's rounding step (0: none). The exported graph fills the slot in."""
    ids = np.zeros((len(templates), MAX_TOKENS), np.int64)
    pos = np.full(len(templates), -1, np.int64)
    step = np.zeros(len(templates), np.float32)
    for k, t in enumerate(templates):
        ws = words(t)
        ids[k] = encode(" ".join("0" if w == SLOT else w for w in ws), vocab)
        if SLOT in ws and ws.index(SLOT) < MAX_TOKENS - 1:
            pos[k], step[k] = ws.index(SLOT), slot_step(t)
    return ids, pos, step
