"""The bridge's work for one CARLA tick, without a server: sensor data in, carla.VehicleControl out.

`sense` turns what the sensors delivered for a tick into the runtime's inputs (camera frame, odometry,
route) for a sink — the runtime in this process, or DDS topics for a compute box — and scores the tick
with the embedded simulator's metrics (CARLA leaderboard definitions). `actuate` runs one 10 ms
control period: the sink's runtime (when in-process), then the by-wire gateway on the CAN bus, whose
accepted steering / acceleration becomes carla.VehicleControl. The car moves only through CAN frames
the gateway accepts, as in the embedded simulator. `session.py` is the part that talks to the server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Protocol, Sequence, Tuple

import cv2
import numpy as np

from vehicle_runtime.geometry import cumulative_length
from vehicle_runtime.types import CameraFrame, EgoState, Route

from ..embedded.drive import DriveResult, append_row
from ..embedded.metrics import DriveMetrics
from ..embedded.road import project
from ..gateway import Actuation, ByWireGateway, VehicleMeasurement
from . import convert
from .control import ControlMapper

ROUTE_EVERY_S = 1.0
LANE_HALF_WIDTH_M = 1.75  # a vehicle this close to the route's centre line is in our lane
SEARCH_BACK_M, SEARCH_AHEAD_M = 10.0, 40.0  # route progress is searched near the last one (routes may cross)


class RuntimeSink(Protocol):
    """Where the runtime's inputs go. In-process: the OnboardRuntime; HIL: DDS topics to the box."""

    def on_camera(self, frame: CameraFrame, now_s: float) -> None: ...
    def on_odometry(self, ego: EgoState, now_s: float) -> None: ...
    def on_route(self, route: Route, now_s: float) -> None: ...
    def advance(self, now_s: float, dt_s: float) -> None: ...  # one control period (no-op when remote)


@dataclass
class TickInput:
    """One CARLA tick, converted only as far as the carla types go (see session.py)."""

    frame: int
    t_s: float  # simulation time (WorldSnapshot.timestamp.elapsed_seconds)
    image: object  # carla.Image of the reference camera (anything with width / height / raw_data), or None
    transform: object  # carla.Transform of the ego
    velocity: object  # carla.Vector3D
    imu: convert.ImuReading
    steer_rad: float  # front-wheel angle now (REP 103 sign)
    collisions: Sequence[Tuple[int, str]] = ()  # (other actor id, kind) reported this tick
    lane_invasion: bool = False
    off_road: bool = False
    others_xy_m: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # other vehicles, runtime frame
    others_half_length_m: np.ndarray = field(default_factory=lambda: np.zeros(0))
    images: Mapping[str, object] = field(default_factory=dict)  # camera name → carla.Image, one per sensor

    def camera_images(self, reference: str) -> Dict[str, object]:
        """Every camera's image this tick, the reference camera's first."""
        out = {reference: self.image} if self.image is not None else {}
        out.update(self.images)
        return out


class RouteProgress:
    """Arc length and signed lateral offset of a point along the route, searched near the last answer."""

    def __init__(self, points_xy_m: np.ndarray):
        self.xy = np.asarray(points_xy_m, np.float64)
        self.s = cumulative_length(self.xy)
        self.length_m = float(self.s[-1])
        self._last_s = 0.0

    def locate(self, xy) -> Tuple[float, float]:
        lo = int(np.searchsorted(self.s, self._last_s - SEARCH_BACK_M))
        hi = int(np.searchsorted(self.s, self._last_s + SEARCH_AHEAD_M)) + 2
        lo, hi = max(0, min(lo, len(self.s) - 2)), min(len(self.s), max(hi, lo + 2))
        s, d = project(self.xy[lo:hi], self.s[lo:hi], np.asarray(xy, np.float64))
        self._last_s = float(s[0])
        return float(s[0]), float(d[0])

    def lead_gap_m(
        self, ego_s_m: float, half_length_m: float, others_xy_m: np.ndarray, others_half_length_m: np.ndarray
    ) -> Optional[float]:
        """Bumper-to-bumper distance to the nearest vehicle ahead within our lane (None: nobody ahead)."""
        if len(others_xy_m) == 0:
            return None
        s, d = project(self.xy, self.s, others_xy_m)
        ahead = (np.abs(d) < LANE_HALF_WIDTH_M) & (s > ego_s_m) & (s - ego_s_m < 80.0)
        if not ahead.any():
            return None
        gaps = s[ahead] - ego_s_m - half_length_m - np.asarray(others_half_length_m)[ahead]
        return float(gaps.min())


class BridgeCore:
    def __init__(
        self,
        sink: RuntimeSink,
        gateway: ByWireGateway,
        mapper: ControlMapper,
        route_xy_m: np.ndarray,
        rear_axle_offset_m: float,
        half_length_m: float,
        camera: str = "front",  # the reference camera
        snapshot_every_s: float = 4.0,
        dt_s: float = 0.01,
    ):
        self.sink, self.gateway, self.mapper = sink, gateway, mapper
        self.route = RouteProgress(route_xy_m)
        self.rear_axle_offset_m, self.half_length_m, self.camera = rear_axle_offset_m, half_length_m, camera
        self.metrics = DriveMetrics(self.route.length_m, dt_s=dt_s)
        self.snapshot_every_s = snapshot_every_s
        self.timeline: Dict[str, list] = {
            k: [] for k in ("t", "x", "y", "speed", "steer", "steer_cmd", "accel", "accel_cmd", "state", "lateral")
        }
        self.snapshots: List[Tuple[float, np.ndarray]] = []
        self.frames = 0
        self._route_sent_s: Optional[float] = None
        self._measurement = VehicleMeasurement(0.0, 0.0, 0.0, 0.0)
        self._last: Optional[Actuation] = None
        self._stopped_after_end_s = 0.0
        self.lateral_m = 0.0

    def sense(self, tick: TickInput, now_s: float, stamp_s: Optional[float] = None) -> EgoState:
        """`now_s`: the runtime's and gateway's clock; `stamp_s`: the messages' stamps (default now_s;
        wall-clock time when they travel to a box over DDS, as ROS stamps do)."""
        stamp_s = now_s if stamp_s is None else stamp_s
        frames = {
            name: convert.image_to_frame(img, name, stamp_s) for name, img in tick.camera_images(self.camera).items()
        }
        ego = convert.ego_state(
            stamp_s, tick.transform, tick.velocity, tick.imu, tick.steer_rad, self.rear_axle_offset_m
        )
        for f in frames.values():
            self.sink.on_camera(f, now_s)
        frame = frames[self.camera]
        self.sink.on_odometry(ego, now_s)
        if self._route_sent_s is None or now_s - self._route_sent_s >= ROUTE_EVERY_S - 1e-9:
            self.sink.on_route(Route(stamp_s, self.route.xy), now_s)
            self._route_sent_s = now_s
        self.frames += 1
        if not self.snapshots or tick.t_s - self.snapshots[-1][0] >= self.snapshot_every_s - 1e-9:
            img = np.asarray(frame.data)
            self.snapshots.append(
                (tick.t_s, cv2.resize(img, (img.shape[1] // 4, img.shape[0] // 4), interpolation=cv2.INTER_AREA))
            )
        self._measurement = VehicleMeasurement(ego.speed_mps, ego.accel_mps2, ego.yaw_rate_radps, ego.steer_rad)
        self._score(tick, ego)
        return ego

    def actuate(self, now_s: float, dt_s: float):
        """One control period; returns the carla.VehicleControl for what the gateway accepted."""
        self.sink.advance(now_s, dt_s)
        act = self.gateway.step(now_s, self._measurement)
        self._last = act
        return self.mapper.control(act.steer_rad, act.accel_mps2, dt_s, hand_brake=act.brake_hold)

    @property
    def last_actuation(self) -> Optional[Actuation]:
        return self._last

    def done(self, t_s: float, duration_s: float, dt_s: float) -> bool:
        """At the duration, or once the route is done and the car has stood still for a second."""
        if self.metrics.completed and abs(self._measurement.speed_mps) < 0.05:
            self._stopped_after_end_s += dt_s
        return t_s >= duration_s - 1e-9 or self._stopped_after_end_s >= 1.0

    def _score(self, tick: TickInput, ego: EgoState) -> None:
        centre = convert.pose_from_transform(tick.transform)
        s, lateral = self.route.locate((centre.x_m, centre.y_m))
        self.lateral_m = lateral
        gap = self.route.lead_gap_m(s, self.half_length_m, tick.others_xy_m, tick.others_half_length_m)
        self.metrics.update(s, lateral, tick.collisions, tick.off_road, tick.lane_invasion, gap, ego.accel_mps2)
        act = self._last
        append_row(
            self.timeline,
            t=tick.t_s,
            x=centre.x_m,
            y=centre.y_m,
            speed=ego.speed_mps,
            steer=ego.steer_rad,
            steer_cmd=act.steer_rad if act else 0.0,
            accel=ego.accel_mps2,
            accel_cmd=act.accel_mps2 if act else 0.0,
            state=getattr(self.sink, "safety_state", "REMOTE"),
            lateral=lateral,
        )

    def result(self, name: str, policy: str, sim_time_s: float, wall0: float) -> DriveResult:
        sink = self.sink
        return DriveResult(
            scenario=name,
            policy=policy,
            metrics=self.metrics.summary(),
            safety_state_final=getattr(sink, "safety_state", "REMOTE"),
            frames=self.frames,
            sim_time_s=sim_time_s,
            wall_time_s=time.monotonic() - wall0,
            timeline=self.timeline,
            transitions=getattr(sink, "transitions", []),
            reasoning=getattr(sink, "reasoning", []),
            snapshots=self.snapshots,
            latency_ms=getattr(sink, "latency_ms", {}),
            route_xy_m=self.route.xy,
        )


def collision_kind(type_id: str) -> str:
    """A CARLA blueprint id → the leaderboard's collision class (vehicle / pedestrian / static)."""
    if type_id.startswith("vehicle."):
        return "vehicle"
    if type_id.startswith("walker."):
        return "pedestrian"
    return "static"
