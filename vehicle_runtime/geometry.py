"""2-D frame transforms between the world frame and the ego frame (x forward, y left)."""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np

from .types import Pose2D


def world_to_ego(points_xy_m: np.ndarray, pose: Pose2D) -> np.ndarray:
    """Express world-frame points in the frame of `pose`."""
    c, s = math.cos(pose.yaw_rad), math.sin(pose.yaw_rad)
    d = np.asarray(points_xy_m, dtype=np.float64) - (pose.x_m, pose.y_m)
    return np.stack((c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]), axis=-1)


def ego_to_world(points_xy_m: np.ndarray, pose: Pose2D) -> np.ndarray:
    c, s = math.cos(pose.yaw_rad), math.sin(pose.yaw_rad)
    p = np.asarray(points_xy_m, dtype=np.float64)
    return np.stack((pose.x_m + c * p[..., 0] - s * p[..., 1], pose.y_m + s * p[..., 0] + c * p[..., 1]), axis=-1)


def relative_pose(base: Pose2D, other: Pose2D) -> Pose2D:
    """`other` expressed in the frame of `base`."""
    x, y = world_to_ego(np.array([other.x_m, other.y_m]), base)
    return Pose2D(float(x), float(y), wrap_angle(other.yaw_rad - base.yaw_rad))


Angle = TypeVar("Angle", float, np.ndarray)  # one angle or an array of them


def wrap_angle(angle_rad: Angle) -> Angle:
    return (angle_rad + math.pi) % (2.0 * math.pi) - math.pi


def cumulative_length(points_xy_m: np.ndarray) -> np.ndarray:
    """Arc length at every polyline vertex, starting at 0."""
    seg = np.linalg.norm(np.diff(points_xy_m, axis=0), axis=1)
    return np.concatenate(([0.0], np.cumsum(seg)))


def point_at_distance(points_xy_m: np.ndarray, s_m: np.ndarray, distance_m: float) -> np.ndarray:
    """Linear interpolation of the polyline at arc length `distance_m` (clamped to its ends)."""
    d = min(max(distance_m, 0.0), float(s_m[-1]))
    return np.array([np.interp(d, s_m, points_xy_m[:, 0]), np.interp(d, s_m, points_xy_m[:, 1])])


def closest_arc_length(points_xy_m: np.ndarray, s_m: np.ndarray, query_xy_m) -> float:
    """Arc length of the point of the polyline nearest to `query_xy_m` (projection onto segments)."""
    if len(points_xy_m) == 1:
        return 0.0
    a, b = points_xy_m[:-1], points_xy_m[1:]
    ab = b - a
    denom = np.maximum((ab * ab).sum(axis=1), 1e-12)
    t = np.clip(((np.asarray(query_xy_m) - a) * ab).sum(axis=1) / denom, 0.0, 1.0)
    proj = a + ab * t[:, None]
    i = int(np.argmin(((proj - query_xy_m) ** 2).sum(axis=1)))
    return float(s_m[i] + t[i] * math.sqrt(denom[i]))
