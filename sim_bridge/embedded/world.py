"""The world: road network, route, scripted actors and the ego car (kinematic bicycle), with the
ground truth the expert and the metrics need (collisions, road surface, lead vehicle)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from vehicle_runtime.control import VehicleProfile
from vehicle_runtime.types import Pose2D

from .actors import ActorState, make_actors
from .dynamics import BicycleState, KinematicBicycle
from .route_planner import RoutePlan, plan_route
from .scenario import Scenario

LEAD_LATERAL_M = 2.2  # an actor whose centre is this close to the route counts as in our path


@dataclass(frozen=True)
class Lead:
    actor: ActorState
    gap_m: float  # bumper to bumper along the route
    s_m: float  # the actor's arc length on the route


class World:
    def __init__(self, scenario: Scenario, profile: VehicleProfile):
        self.scenario = scenario
        self.profile = profile
        self.route: RoutePlan = plan_route(scenario)
        lane = scenario.network.lanes[scenario.ego["lane"]]
        s0 = float(scenario.ego["s_m"])
        x = float(np.interp(s0, lane.s_m, lane.centre_xy_m[:, 0]))
        y = float(np.interp(s0, lane.s_m, lane.centre_xy_m[:, 1]))
        i = int(np.clip(np.searchsorted(lane.s_m, s0), 1, len(lane.s_m) - 1))
        d = lane.centre_xy_m[i] - lane.centre_xy_m[i - 1]
        # the ego reference is the rear axle: put the car's centre on the start point
        yaw = math.atan2(d[1], d[0])
        back = self.centre_offset_m
        self.ego = KinematicBicycle(
            profile,
            BicycleState(x - back * math.cos(yaw), y - back * math.sin(yaw), yaw, float(scenario.ego["speed_mps"])),
        )
        self.actors = make_actors(scenario.actors, scenario.network)
        self.t_s = 0.0
        self._ego_s_m: Optional[float] = None  # the last route positions: where to search next
        self._actor_s_m: Dict[str, float] = {}
        self._actor_states: List[ActorState] = [a.state(0.0) for a in self.actors]

    @property
    def centre_offset_m(self) -> float:
        """From the rear axle (the pose reference) to the middle of the car."""
        return self.profile.wheelbase_m / 2

    def step(self, dt_s: float, steer_rad: float, accel_mps2: float) -> None:
        self.t_s += dt_s
        for a in self.actors:
            a.step(self.t_s, dt_s)
        self._actor_states = [a.state(self.t_s) for a in self.actors if not a.gone]
        self.ego.step(dt_s, steer_rad, accel_mps2)

    @property
    def actor_states(self) -> List[ActorState]:
        return self._actor_states

    @property
    def ego_pose(self) -> Pose2D:
        s = self.ego.state
        return Pose2D(s.x_m, s.y_m, s.yaw_rad)

    def ego_centre(self) -> Tuple[float, float]:
        s = self.ego.state
        return s.x_m + self.centre_offset_m * math.cos(s.yaw_rad), s.y_m + self.centre_offset_m * math.sin(s.yaw_rad)

    def ego_corners(self) -> np.ndarray:
        cx, cy = self.ego_centre()
        return _corners(cx, cy, self.ego.state.yaw_rad, self.profile.length_m, self.profile.width_m)

    def colliding_with(self) -> List[ActorState]:
        cx, cy = self.ego_centre()
        ego_rect = ((cx, cy), (self.profile.length_m, self.profile.width_m), math.degrees(self.ego.state.yaw_rad))
        hits = []
        for a in self._actor_states:
            if math.hypot(a.x_m - cx, a.y_m - cy) > (a.length_m + self.profile.length_m):
                continue
            rect = ((a.x_m, a.y_m), (a.length_m, a.width_m), math.degrees(a.yaw_rad))
            if cv2.rotatedRectangleIntersection(ego_rect, rect)[0] != cv2.INTERSECT_NONE:
                hits.append(a)
        return hits

    @property
    def route_s_hint_m(self) -> Optional[float]:
        """The ego centre's last route position: where a search for a nearby point may start."""
        return self._ego_s_m

    def route_position(self) -> Tuple[float, float]:
        """(arc length, lateral offset) of the ego's centre on the route."""
        s, d = self.route.locate(self.ego_centre(), self._ego_s_m)
        self._ego_s_m = s
        return s, d

    def lead(self, ego_s_m: float, horizon_m: float = 100.0, predict_s: float = 1.5) -> Optional[Lead]:
        """The nearest actor ahead whose centre is in the route's path now or, moving sideways at
        its present rate, within `predict_s` (a cut-in is seen coming)."""
        best = None
        r = self.route
        for a in self._actor_states:
            s, d = r.locate((a.x_m, a.y_m), self._actor_s_m.get(a.id))
            self._actor_s_m[a.id] = s
            i = int(np.clip(np.searchsorted(r.s_m, s), 1, len(r.s_m) - 1))
            heading = math.atan2(*(r.points_xy_m[i] - r.points_xy_m[i - 1])[::-1])
            d_pred = d + a.speed_mps * math.sin(a.yaw_rad - heading) * predict_s
            in_path = abs(d) <= LEAD_LATERAL_M or (abs(d_pred) <= LEAD_LATERAL_M or d * d_pred < 0)
            if not in_path or s <= ego_s_m or s - ego_s_m > horizon_m:
                continue
            gap = s - ego_s_m - a.length_m / 2 - self.profile.length_m / 2
            if best is None or gap < best.gap_m:
                best = Lead(a, gap, s)
        return best


def _corners(cx, cy, yaw, length, width) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    hl, hw = length / 2, width / 2
    return np.array(
        [[cx + c * dx - s * dy, cy + s * dx + c * dy] for dx, dy in ((hl, hw), (hl, -hw), (-hl, -hw), (-hl, hw))]
    )
