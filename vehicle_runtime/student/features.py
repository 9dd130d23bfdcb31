"""Navigation and ego features named in the manifest, written into a preallocated vector.

Each name maps to (width, writer). `route_ego_xy_m` takes the manifest's `route_points` × 2 values
(x0, y0, x1, y1, …), the route ahead in the ego frame.
"""

from __future__ import annotations

from typing import Callable, Dict, Sequence, Tuple

import numpy as np

from ..types import ROAD_OPTIONS_ONE_HOT, Observation

Writer = Callable[[Observation, np.ndarray], None]


def _one_hot(obs: Observation, out: np.ndarray) -> None:
    out[:] = 0.0
    if obs.nav.road_option in ROAD_OPTIONS_ONE_HOT:
        out[ROAD_OPTIONS_ONE_HOT.index(obs.nav.road_option)] = 1.0


def _scalar(get: Callable[[Observation], float]) -> Tuple[int, Writer]:
    def write(obs: Observation, out: np.ndarray) -> None:
        out[0] = get(obs)

    return 1, write


def _feature_table(route_points: int) -> Dict[str, Tuple[int, Writer]]:
    def route(obs: Observation, out: np.ndarray) -> None:
        pts = obs.nav.route_ego_xy_m[:route_points]
        out[: pts.size] = pts.reshape(-1)
        out[pts.size :] = np.repeat(pts[-1:], route_points - len(pts), axis=0).reshape(-1) if len(pts) else 0.0

    def target(obs: Observation, out: np.ndarray) -> None:
        out[:] = obs.nav.target_point_ego_m

    return {
        "target_point_ego_m": (2, target),
        "road_option_one_hot": (len(ROAD_OPTIONS_ONE_HOT), _one_hot),
        "route_ego_xy_m": (2 * route_points, route),
        "distance_to_route_end_m": _scalar(lambda o: o.nav.distance_to_route_end_m),
        "speed_mps": _scalar(lambda o: o.ego.speed_mps),
        "yaw_rate_radps": _scalar(lambda o: o.ego.yaw_rate_radps),
        "accel_mps2": _scalar(lambda o: o.ego.accel_mps2),
        "steer_rad": _scalar(lambda o: o.ego.steer_rad),
    }


class FeatureWriter:
    """Fills a (1, N) float32 (or float16) buffer from an Observation, in the manifest's feature order."""

    def __init__(self, names: Sequence[str], route_points: int = 0, dtype: str = "float32"):
        table = _feature_table(route_points)
        unknown = [n for n in names if n not in table]
        if unknown:
            raise ValueError(f"unknown feature(s) {unknown}; known: {sorted(table)}")
        self._slices = []
        start = 0
        for n in names:
            width, writer = table[n]
            self._slices.append((slice(start, start + width), writer))
            start += width
        self.width = start
        self.buffer = np.zeros((1, self.width), np.dtype(dtype))

    def write(self, obs: Observation) -> np.ndarray:
        row = self.buffer[0]
        for sl, writer in self._slices:
            writer(obs, row[sl])
        return self.buffer


def feature_width(names: Sequence[str], route_points: int = 0) -> int:
    return FeatureWriter(names, route_points).width
