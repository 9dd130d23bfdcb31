"""Driving metrics with the CARLA leaderboard's definitions.

route completion = share of the route driven (minus the share driven off the road, as the
leaderboard 2.0 does); infraction penalty = 0.60 per vehicle collision × 0.65 per static collision
(pedestrian 0.50, red light 0.70 have no counterpart here); driving score = completion × penalty.
Lane invasions and off-road events are counted. Plus lateral error to the route, the smallest gap
to the vehicle ahead, and comfort (jerk).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional

import numpy as np

PENALTY = {"vehicle": 0.60, "static": 0.65, "pedestrian": 0.50}
COMPLETE_WITHIN_M = 5.0  # stopping this close to the route's end completes it


@dataclass
class DriveMetrics:
    route_length_m: float
    progress_m: float = 0.0
    off_road_m: float = 0.0
    collisions: Dict[str, int] = field(default_factory=lambda: {"vehicle": 0, "static": 0})
    off_road_events: int = 0
    lane_invasions: int = 0
    _colliding: set = field(default_factory=set)
    _off_road: bool = False
    _invading: bool = False
    _last_s: Optional[float] = None
    lateral_m: List[float] = field(default_factory=list)
    gaps_m: List[float] = field(default_factory=list)
    accel_mps2: List[float] = field(default_factory=list)
    dt_s: float = 0.01

    def update(
        self,
        route_s_m: float,
        lateral_m: float,
        colliding: Iterable[tuple],
        off_road: bool,
        lane_invasion: bool,
        lead_gap_m: Optional[float],
        accel_mps2: float,
    ) -> None:
        """One sample per control period. `colliding`: (actor id, kind) pairs touching the ego now."""
        if self._last_s is not None and route_s_m > self.progress_m:
            if off_road:
                self.off_road_m += route_s_m - max(self._last_s, self.progress_m)
        self.progress_m = max(self.progress_m, min(route_s_m, self.route_length_m))
        self._last_s = route_s_m
        now = set(colliding)
        for _actor_id, kind in now - self._colliding:  # a collision is counted once per contact
            self.collisions[kind] = self.collisions.get(kind, 0) + 1
        self._colliding = now
        if off_road and not self._off_road:
            self.off_road_events += 1
        self._off_road = off_road
        if lane_invasion and not self._invading:
            self.lane_invasions += 1
        self._invading = lane_invasion
        self.lateral_m.append(lateral_m)
        if lead_gap_m is not None:
            self.gaps_m.append(lead_gap_m)
        self.accel_mps2.append(accel_mps2)

    @property
    def route_completion(self) -> float:
        progress = (
            self.route_length_m if self.progress_m >= self.route_length_m - COMPLETE_WITHIN_M else self.progress_m
        )
        return max(0.0, (progress - self.off_road_m) / self.route_length_m)

    @property
    def infraction_penalty(self) -> float:
        p = 1.0
        for kind, count in self.collisions.items():
            p *= PENALTY[kind] ** count
        return p

    @property
    def completed(self) -> bool:
        return self.progress_m >= self.route_length_m - COMPLETE_WITHIN_M

    def summary(self) -> dict:
        lat = np.abs(np.asarray(self.lateral_m)) if self.lateral_m else np.zeros(1)
        acc = np.asarray(self.accel_mps2) if self.accel_mps2 else np.zeros(1)
        jerk = np.diff(acc) / self.dt_s if len(acc) > 1 else np.zeros(1)
        return {
            "driving_score": self.route_completion * self.infraction_penalty,
            "route_completion": self.route_completion,
            "infraction_penalty": self.infraction_penalty,
            "collisions": sum(self.collisions.values()),
            "collisions_vehicle": self.collisions.get("vehicle", 0),
            "collisions_static": self.collisions.get("static", 0),
            "off_road_events": self.off_road_events,
            "off_road_m": self.off_road_m,
            "lane_invasions": self.lane_invasions,
            "lateral_rms_m": float(math.sqrt(float(np.mean(lat**2)))),
            "lateral_max_m": float(lat.max()),
            "min_gap_m": float(min(self.gaps_m)) if self.gaps_m else None,
            "jerk_rms_mps3": float(math.sqrt(float(np.mean(jerk**2)))),
            "jerk_max_mps3": float(np.abs(jerk).max()),
            "accel_min_mps2": float(acc.min()),
            "accel_max_mps2": float(acc.max()),
        }
