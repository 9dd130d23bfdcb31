"""Other road users: scripted vehicles (speed profile along their lane, optional lane change) and
static obstacles. Positions are box centres."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from .road import Lane, RoadNetwork


@dataclass
class ActorState:
    id: str
    kind: str  # vehicle | static
    x_m: float
    y_m: float
    yaw_rad: float
    speed_mps: float
    accel_mps2: float
    length_m: float
    width_m: float


class ScriptedActor:
    def __init__(self, spec: dict, network: RoadNetwork):
        self.spec = spec
        self.lane: Lane = network.lanes[spec["lane"]]
        change = spec.get("lane_change")
        self.change_lane: Optional[Lane] = network.lanes[change["to_lane"]] if change else None
        self.s_m = float(spec["s_m"])
        self.speed_mps = float(spec.get("speed_mps", 0.0)) if spec["kind"] == "vehicle" else 0.0
        self.accel_mps2 = 0.0
        self.max_accel = float(spec.get("max_accel_mps2", 6.0))
        profile = spec.get("speed_profile") or [[0.0, self.speed_mps]]
        self._knots_t = np.array([p[0] for p in profile], float)
        self._knots_v = np.array([p[1] for p in profile], float)
        self.gone = False  # drove off the end of its lane (off the map)
        self.length_m = float(spec.get("length_m", 4.6))
        self.width_m = float(spec.get("width_m", 1.9))

    def step(self, t_s: float, dt_s: float) -> None:
        if self.spec["kind"] != "vehicle":
            return
        target = float(np.interp(t_s, self._knots_t, self._knots_v))
        a = np.clip((target - self.speed_mps) / dt_s, -self.max_accel, self.max_accel)
        v = max(0.0, self.speed_mps + a * dt_s)
        self.accel_mps2 = (v - self.speed_mps) / dt_s
        self.s_m += 0.5 * (v + self.speed_mps) * dt_s
        self.speed_mps = v
        if self.s_m >= self.lane.length_m:
            self.gone = True

    def state(self, t_s: float) -> ActorState:
        x, y, yaw = _pose_on(self.lane, self.s_m)
        change = self.spec.get("lane_change")
        if change and self.change_lane is not None and t_s > change["t_s"]:
            w = min(1.0, (t_s - change["t_s"]) / change["duration_s"])
            w = w * w * (3 - 2 * w)
            x2, y2, _ = _pose_on(self.change_lane, self.s_m)
            dx, dy = (x2 - x) * w, (y2 - y) * w
            # heading turns towards the other lane while the lateral move is under way
            lateral_rate = math.hypot(x2 - x, y2 - y) * 6 * w * (1 - w) / change["duration_s"] if w < 1 else 0.0
            sign = 1.0 if (-(math.sin(yaw)) * (x2 - x) + math.cos(yaw) * (y2 - y)) > 0 else -1.0
            yaw += sign * math.atan2(lateral_rate, max(self.speed_mps, 0.5))
            x, y = x + dx, y + dy
        return ActorState(
            self.spec["id"], self.spec["kind"], x, y, yaw, self.speed_mps, self.accel_mps2, self.length_m, self.width_m
        )


def _pose_on(lane: Lane, s_m: float):
    xy, s = lane.centre_xy_m, lane.s_m
    x = float(np.interp(s_m, s, xy[:, 0]))
    y = float(np.interp(s_m, s, xy[:, 1]))
    i = int(np.clip(np.searchsorted(s, s_m), 1, len(s) - 1))
    d = xy[i] - xy[i - 1]
    return x, y, math.atan2(d[1], d[0])


def make_actors(specs: List[dict], network: RoadNetwork) -> List[ScriptedActor]:
    return [ScriptedActor(s, network) for s in specs]
