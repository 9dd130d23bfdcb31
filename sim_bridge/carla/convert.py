"""CARLA ↔ runtime conversions.

CARLA (Unreal) is left-handed: x forward, y right, z up, yaw in degrees clockwise seen from above.
The runtime follows ROS REP 103 (right-handed, y left, yaw counter-clockwise in radians), as
carla-ros-bridge does: y and yaw change sign, as do the IMU's x / z rates and its y acceleration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Tuple

import cv2
import numpy as np

from vehicle_runtime.types import CameraFrame, EgoState, Pose2D


def location_to_xy(location) -> tuple[float, float]:
    """carla.Location → (x, y) in the runtime's world frame (metres)."""
    return float(location.x), -float(location.y)


def pose_from_transform(transform) -> Pose2D:
    x, y = location_to_xy(transform.location)
    return Pose2D(x, y, -math.radians(float(transform.rotation.yaw)))


def rear_axle_pose(transform, rear_axle_offset_m: float) -> Pose2D:
    """The ego reference point is the rear axle; a CARLA vehicle's transform is its centre."""
    p = pose_from_transform(transform)
    return Pose2D(
        p.x_m - rear_axle_offset_m * math.cos(p.yaw_rad), p.y_m - rear_axle_offset_m * math.sin(p.yaw_rad), p.yaw_rad
    )


def speed_mps(velocity, transform) -> float:
    """Signed speed along the vehicle's heading (negative when rolling backwards)."""
    f = transform.get_forward_vector()
    return float(velocity.x * f.x + velocity.y * f.y + velocity.z * f.z)


@dataclass(frozen=True)
class ImuReading:
    yaw_rate_radps: float
    accel_x_mps2: float
    accel_y_mps2: float


def imu_reading(measurement) -> ImuReading:
    """carla.IMUMeasurement → REP 103 body rates / accelerations."""
    return ImuReading(
        -float(measurement.gyroscope.z), float(measurement.accelerometer.x), -float(measurement.accelerometer.y)
    )


def image_to_frame(image, camera: str, stamp_s: float) -> CameraFrame:
    """carla.Image (BGRA, 8 bit) → an rgb8 CameraFrame (one colour conversion, no Python loops)."""
    h, w = int(image.height), int(image.width)
    raw = np.frombuffer(image.raw_data, dtype=np.uint8)
    if raw.size != h * w * 4:
        raise ValueError(f"CARLA image: {raw.size} bytes for {w}x{h} BGRA (expected {h * w * 4})")
    rgb = cv2.cvtColor(raw.reshape(h, w, 4), cv2.COLOR_BGRA2RGB)
    return CameraFrame(camera, stamp_s, "rgb8", rgb, w, h)


def camera_sensor(
    spec, rear_axle_offset_m: float
) -> Tuple[Dict[str, str], Tuple[float, float, float], Tuple[float, float]]:
    """A camera of the rig (vehicle_runtime.camera_rig.CameraSpec) as a CARLA rgb sensor: blueprint
    attributes, location (x, y, z) relative to the vehicle's centre and rotation (pitch, yaw) in CARLA's
    left-handed frame (y right, yaw clockwise, pitch positive up), where the rig's are REP 103."""
    # no sensor_tick: every camera delivers every tick (fixed_delta_s), which SensorSync matches by frame
    attrs = {"image_size_x": str(spec.width), "image_size_y": str(spec.height), "fov": str(spec.hfov_deg)}
    location = (spec.mount_x_m - rear_axle_offset_m, -spec.mount_y_m, spec.mount_height_m)
    return attrs, location, (-spec.pitch_deg, -spec.yaw_deg)


def focal_length_px(width_px: int, fov_deg: float) -> float:
    """A CARLA camera's focal length: its `fov` attribute is horizontal, pixels are square."""
    return width_px / (2.0 * math.tan(math.radians(fov_deg) / 2.0))


def ego_state(
    stamp_s: float, transform, velocity, imu: ImuReading, steer_rad: float, rear_axle_offset_m: float
) -> EgoState:
    return EgoState(
        stamp_s,
        rear_axle_pose(transform, rear_axle_offset_m),
        speed_mps(velocity, transform),
        imu.yaw_rate_radps,
        imu.accel_x_mps2,
        steer_rad,
    )
