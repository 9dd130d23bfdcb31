"""Roads as lanes: centre polylines with widths, built from straight / arc primitives, with
successors (junctions) and parallel neighbours (multi-lane roads)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from vehicle_runtime.geometry import cumulative_length

STEP_M = 1.0


@dataclass
class Lane:
    id: str
    centre_xy_m: np.ndarray  # (N, 2)
    width_m: float
    successors: Tuple[str, ...] = ()
    turn: Optional[str] = None  # left | right | straight for lanes through a junction
    s_m: np.ndarray = field(init=False)

    def __post_init__(self):
        self.s_m = cumulative_length(self.centre_xy_m)

    @property
    def length_m(self) -> float:
        return float(self.s_m[-1])

    def end_pose(self) -> Tuple[float, float, float]:
        a, b = self.centre_xy_m[-2], self.centre_xy_m[-1]
        return float(b[0]), float(b[1]), math.atan2(b[1] - a[1], b[0] - a[0])

    def boundaries(self) -> Tuple[np.ndarray, np.ndarray]:
        """(left, right) edges."""
        n = normals(self.centre_xy_m)
        half = self.width_m / 2
        return self.centre_xy_m + n * half, self.centre_xy_m - n * half


def build_centreline(start: Sequence[float], shape: Sequence[Sequence]) -> np.ndarray:
    """start = (x, y, yaw_deg); shape items: ["straight", length_m] or ["arc", radius_m, angle_deg]
    (positive angle turns left)."""
    x, y, yaw = float(start[0]), float(start[1]), math.radians(float(start[2]))
    pts = [(x, y)]
    for item in shape:
        kind = item[0]
        if kind == "straight":
            length = float(item[1])
            n = max(1, int(math.ceil(length / STEP_M)))
            for i in range(1, n + 1):
                d = length * i / n
                pts.append((x + d * math.cos(yaw), y + d * math.sin(yaw)))
            x, y = pts[-1]
        elif kind == "arc":
            radius, angle = float(item[1]), math.radians(float(item[2]))
            length = abs(radius * angle)
            n = max(2, int(math.ceil(length / STEP_M)))
            sign = 1.0 if angle > 0 else -1.0
            cx, cy = x - sign * radius * math.sin(yaw), y + sign * radius * math.cos(yaw)
            for i in range(1, n + 1):
                h = yaw + angle * i / n
                pts.append((cx + sign * radius * math.sin(h), cy - sign * radius * math.cos(h)))
            x, y = pts[-1]
            yaw += angle
        else:
            raise ValueError(f"unknown lane shape '{kind}' (straight or arc)")
    return np.array(pts)


def normals(xy: np.ndarray) -> np.ndarray:
    """Unit left normals at each vertex."""
    d = np.gradient(xy, axis=0)
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
    return np.stack((-d[:, 1], d[:, 0]), axis=1)


def offset_polyline(xy: np.ndarray, offset_m: float) -> np.ndarray:
    return xy + normals(xy) * offset_m


def project(xy: np.ndarray, s_m: np.ndarray, points: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """For each point: arc length of its projection on the polyline and signed lateral offset
    (positive left). Vectorised over points × segments."""
    a, b = xy[:-1], xy[1:]
    ab = b - a
    seg_len2 = np.maximum((ab * ab).sum(1), 1e-12)
    p = np.asarray(points, np.float64).reshape(-1, 1, 2)
    t = np.clip(((p - a) * ab).sum(2) / seg_len2, 0.0, 1.0)  # (P, S)
    proj = a + ab * t[..., None]
    dist2 = ((p - proj) ** 2).sum(2)
    i = np.argmin(dist2, axis=1)
    rows = np.arange(len(i))
    s = s_m[i] + t[rows, i] * np.sqrt(seg_len2[i])
    cross = ab[i, 0] * (p[rows, 0, 1] - a[i, 1]) - ab[i, 1] * (p[rows, 0, 0] - a[i, 0])
    d = np.sqrt(dist2[rows, i]) * np.sign(cross)
    return s, d


class RoadNetwork:
    def __init__(self, lanes: Sequence[Lane]):
        self.lanes: Dict[str, Lane] = {lane.id: lane for lane in lanes}
        if len(self.lanes) != len(lanes):
            raise ValueError("lane ids must be unique")
        for lane in lanes:
            for s in lane.successors:
                if s not in self.lanes:
                    raise ValueError(f"lane '{lane.id}': unknown successor '{s}'")

    def on_road(self, points: np.ndarray, margin_m: float = 0.0) -> np.ndarray:
        """Whether each point lies on some lane's surface (projections are clamped to the lane's
        ends, so a lane's end cap counts as far as its half width: lanes join end to start)."""
        inside = np.zeros(len(points), bool)
        for lane in self.lanes.values():
            _, d = project(lane.centre_xy_m, lane.s_m, points)
            inside |= np.abs(d) <= lane.width_m / 2 + margin_m
        return inside


def build_lanes(spec: List[dict]) -> RoadNetwork:
    """Lanes from the scenario's map section (see scenarios/*.yaml)."""
    built: Dict[str, Lane] = {}
    pending = list(spec)
    while pending:
        progressed = False
        for item in list(pending):
            base = item.get("start_from") or (item.get("offset") or {}).get("lane")
            if base and base not in built:
                continue
            if "offset" in item:
                src = built[item["offset"]["lane"]]
                centre = offset_polyline(src.centre_xy_m, float(item["offset"]["by_m"]))
            else:
                start = built[item["start_from"]].end_pose() if item.get("start_from") else item["start"]
                if item.get("start_from"):
                    start = (start[0], start[1], math.degrees(start[2]))
                centre = build_centreline(start, item["shape"])
            built[item["id"]] = Lane(
                item["id"], centre, float(item.get("width_m", 3.5)), tuple(item.get("successors", ())), item.get("turn")
            )
            pending.remove(item)
            progressed = True
        if not progressed:
            raise ValueError(f"lanes refer to unknown or circular bases: {[p['id'] for p in pending]}")
    order = [item["id"] for item in spec]
    return RoadNetwork([built[i] for i in order])
