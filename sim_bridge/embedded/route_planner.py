"""The route planner: the scenario's lane sequence → one polyline (what nav_msgs/Path carries) with
the road option of every point (CARLA RoadOption values) and the lane it belongs to.

Consecutive route lanes are either successors (through a junction) or parallel neighbours (a lane
change, blended over `CHANGE_LENGTH_M` starting at the first lane's `to_s`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from vehicle_runtime.geometry import cumulative_length
from vehicle_runtime.types import RoadOption

from .road import project
from .scenario import Scenario

CHANGE_LENGTH_M = 30.0
ANNOUNCE_TURN_M = 25.0  # the road option names a turn this far before the junction lane
ANNOUNCE_CHANGE_M = 10.0
TURN_OPTIONS = {"left": RoadOption.LEFT, "right": RoadOption.RIGHT, "straight": RoadOption.STRAIGHT}


NEAR_BACK_M, NEAR_AHEAD_M, NEAR_MAX_OFFSET_M = 10.0, 20.0, 5.0


@dataclass(frozen=True)
class RoutePlan:
    points_xy_m: np.ndarray  # (N, 2), about 1 m apart
    s_m: np.ndarray
    options: np.ndarray  # RoadOption value per point
    lanes: Tuple[str, ...]  # lane id per point (the target lane during a change)
    lane_change: np.ndarray  # bool per point: inside a lane-change blend

    @property
    def length_m(self) -> float:
        return float(self.s_m[-1])

    def option_at(self, s_m: float) -> RoadOption:
        i = int(np.clip(np.searchsorted(self.s_m, s_m), 0, len(self.s_m) - 1))
        return RoadOption(int(self.options[i]))

    def lane_at(self, s_m: float) -> str:
        return self.lanes[int(np.clip(np.searchsorted(self.s_m, s_m), 0, len(self.s_m) - 1))]

    def locate(self, xy, near_s_m: Optional[float] = None) -> Tuple[float, float]:
        """(arc length, signed lateral offset) of a point relative to the route. With `near_s_m` (where
        the point was a moment ago) only the route around it is searched: the ego is located every
        10 ms, and the whole route costs ten times more. Far from that window, the whole route."""
        p = np.asarray(xy, float).reshape(1, 2)
        if near_s_m is not None:
            lo = max(0, int(np.searchsorted(self.s_m, near_s_m - NEAR_BACK_M)) - 1)
            hi = min(len(self.s_m), int(np.searchsorted(self.s_m, near_s_m + NEAR_AHEAD_M)) + 1)
            if hi - lo >= 2:
                s, d = project(self.points_xy_m[lo:hi], self.s_m[lo:hi], p)
                if abs(d[0]) < NEAR_MAX_OFFSET_M and self.s_m[lo] < s[0] < self.s_m[hi - 1] or hi - lo == len(self.s_m):
                    return float(s[0]), float(d[0])
        s, d = project(self.points_xy_m, self.s_m, p)
        return float(s[0]), float(d[0])


def _neighbours(scenario: Scenario) -> Dict[Tuple[str, str], str]:
    """(from, to) → 'left' | 'right' for lanes declared as offsets of one another."""
    out = {}
    for spec in scenario.lane_specs:
        off = spec.get("offset")
        if off:
            left = off["by_m"] > 0
            out[(off["lane"], spec["id"])] = "left" if left else "right"
            out[(spec["id"], off["lane"])] = "right" if left else "left"
    return out


def plan_route(scenario: Scenario) -> RoutePlan:
    lanes = scenario.network.lanes
    neighbours = _neighbours(scenario)
    pts: List[np.ndarray] = []
    ids: List[str] = []
    opts: List[int] = []
    change: List[bool] = []
    start_index = 0  # index on the current lane where its part of the route starts
    steps = scenario.route
    for k, step in enumerate(steps):
        lane = lanes[step["lane"]]
        xy = lane.centre_xy_m
        option = TURN_OPTIONS.get(lane.turn or "", RoadOption.LANEFOLLOW)
        nxt = steps[k + 1]["lane"] if k + 1 < len(steps) else None
        relation = neighbours.get((lane.id, nxt)) if nxt else None
        if nxt and relation is None and nxt not in lane.successors:
            raise ValueError(f"route: lane '{nxt}' neither follows nor neighbours '{lane.id}'")
        # lane change (a relation needs a next lane): follow to to_s, then blend index by index onto the neighbour
        if relation and nxt:
            end = int(np.searchsorted(lane.s_m, step.get("to_s", lane.length_m / 2)))
            other = lanes[nxt].centre_xy_m
            n_blend = int(CHANGE_LENGTH_M)
            _append(pts, ids, opts, change, xy[start_index:end], lane.id, option, False)
            w = _smoothstep(np.linspace(0.0, 1.0, n_blend))[:, None]
            idx = np.arange(end, min(end + n_blend, len(xy), len(other)))
            blend = (1 - w[: len(idx)]) * xy[idx] + w[: len(idx)] * other[idx]
            change_option = RoadOption.CHANGELANELEFT if relation == "left" else RoadOption.CHANGELANERIGHT
            _append(pts, ids, opts, change, blend, nxt, change_option, True)
            start_index = int(idx[-1]) + 1
        else:
            _append(pts, ids, opts, change, xy[start_index:], lane.id, option, False)
            start_index = 1  # the successor starts where this lane ended: skip the duplicate
    points = np.concatenate(pts)
    s = cumulative_length(points)
    options = np.array(opts)
    _announce(options, s)
    return RoutePlan(points, s, options, tuple(ids), np.array(change))


def _append(pts, ids, opts, change, xy, lane_id, option, in_change):
    if len(xy) == 0:
        return
    pts.append(np.asarray(xy, float))
    ids.extend([lane_id] * len(xy))
    opts.extend([int(option)] * len(xy))
    change.extend([in_change] * len(xy))


def _announce(options: np.ndarray, s: np.ndarray) -> None:
    """Name turns and lane changes ahead of time, as a navigation system does."""
    original = options.copy()
    for i in range(len(options) - 1, -1, -1):
        if original[i] == RoadOption.LANEFOLLOW:
            ahead = (s > s[i]) & (s <= s[i] + max(ANNOUNCE_TURN_M, ANNOUNCE_CHANGE_M))
            for j in np.nonzero(ahead & (original != RoadOption.LANEFOLLOW))[0]:
                reach = ANNOUNCE_TURN_M if original[j] in (1, 2, 3) else ANNOUNCE_CHANGE_M
                if s[j] - s[i] <= reach:
                    options[i] = original[j]
                    break


def _smoothstep(x: np.ndarray) -> np.ndarray:
    return x * x * (3 - 2 * x)
