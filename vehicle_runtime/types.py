"""Plain data passed between the stages of one frame's path (DESIGN.md). Units are in the names."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Mapping, Optional

import numpy as np


class RoadOption(enum.IntEnum):
    """CARLA's RoadOption values, used for the route command."""

    VOID = -1
    LEFT = 1
    RIGHT = 2
    STRAIGHT = 3
    LANEFOLLOW = 4
    CHANGELANELEFT = 5
    CHANGELANERIGHT = 6


# The order of the one-hot road-option feature fed to models.
ROAD_OPTIONS_ONE_HOT = (
    RoadOption.LEFT,
    RoadOption.RIGHT,
    RoadOption.STRAIGHT,
    RoadOption.LANEFOLLOW,
    RoadOption.CHANGELANELEFT,
    RoadOption.CHANGELANERIGHT,
)


@dataclass(frozen=True)
class CameraFrame:
    """One camera image as it arrives (sensor_msgs/Image or CompressedImage).

    `encoding` is rgb8 / bgr8 / mono8 for raw frames and jpeg / png for compressed ones.
    `data` is never copied by the runtime before preprocessing.
    """

    camera: str
    stamp_s: float
    encoding: str
    data: bytes | bytearray | memoryview | np.ndarray
    width: int = 0
    height: int = 0
    step: int = 0  # bytes per row for raw frames; 0 means width * channels

    @property
    def compressed(self) -> bool:
        return self.encoding in ("jpeg", "png")


@dataclass(frozen=True)
class Pose2D:
    x_m: float
    y_m: float
    yaw_rad: float


@dataclass(frozen=True)
class EgoState:
    """Ego motion from odometry (world frame pose) and CAN feedback."""

    stamp_s: float
    pose: Pose2D
    speed_mps: float
    yaw_rate_radps: float = 0.0
    accel_mps2: float = 0.0
    steer_rad: float = 0.0


@dataclass(frozen=True)
class Route:
    """The planned route in the world frame (what nav_msgs/Path carries), stamped."""

    stamp_s: float
    points_xy_m: np.ndarray  # (N, 2)


@dataclass(frozen=True)
class NavigationState:
    """The route as the model sees it: in the ego frame at the observation's stamp."""

    route_ego_xy_m: np.ndarray  # (N, 2), x forward, y left
    target_point_ego_m: tuple[float, float]
    road_option: RoadOption
    distance_to_route_end_m: float


@dataclass(frozen=True)
class Observation:
    """Everything the policy sees for one step, with the age of every input at `stamp_s`."""

    stamp_s: float
    frames: Mapping[str, CameraFrame]
    ego: EgoState
    nav: NavigationState
    ages_s: Mapping[str, float]


@dataclass(frozen=True)
class PolicyOutput:
    """What the student produced for one observation, decoded from its output tensors."""

    stamp_s: float  # stamp of the observation it was computed from
    ego_pose_at_stamp: Pose2D  # lets the controller compensate the trajectory's age
    trajectory_ego_xy_m: np.ndarray  # (T, 2) in the ego frame at stamp_s
    dt_s: float
    speed_profile_mps: Optional[np.ndarray] = None  # (T,)
    reasoning_text: str = ""
    reasoning_token_ids: tuple[int, ...] = ()
    confidence: float = 1.0
    latency_s: float = 0.0

    def is_finite(self) -> bool:
        ok = bool(np.isfinite(self.trajectory_ego_xy_m).all()) and np.isfinite(self.confidence)
        if self.speed_profile_mps is not None:
            ok = ok and bool(np.isfinite(self.speed_profile_mps).all())
        return ok


@dataclass(frozen=True)
class ActuatorRequest:
    """What the controller asks for; not yet checked by the safety gate."""

    stamp_s: float
    steer_rad: float  # road-wheel angle, positive left
    accel_mps2: float
    source_stamp_s: float = 0.0  # stamp of the observation behind it


@dataclass(frozen=True)
class ActuatorCommand:
    """What the safety gate lets onto the bus."""

    stamp_s: float
    steer_rad: float
    accel_mps2: float
    engaged: bool
    hazard: bool = False
    brake_hold: bool = False
    filters_active: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class VehicleFeedback:
    """What the gate needs from the decoded CAN feedback (see can/feedback.py)."""

    valid: bool
    reason: str = ""
    speed_mps: float = 0.0
    accel_mps2: float = 0.0
    steer_rad: float = 0.0
    driver_override: bool = False
    brake_pedal: bool = False
    engage_button: bool = False
    disengage_button: bool = False
    gateway_fault: str = ""  # non-empty: the gateway reports a fault or runs its fallback
