"""Synthetic inputs for `selftest` and the benchmarks: a drawn road image, a curving route and
odometry along it. Deterministic; no simulator needed."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .types import CameraFrame, EgoState, Pose2D, Route


def road_image(width: int, height: int, lateral_shift_px: int = 0) -> np.ndarray:
    """An rgb8 picture of a road with lane markings under a sky."""
    img = np.empty((height, width, 3), np.uint8)
    horizon = height // 2
    img[:horizon] = (135, 180, 235)
    img[horizon:] = (70, 120, 60)
    cx = width // 2 + lateral_shift_px
    road = np.array(
        [
            [cx - width // 40, horizon],
            [cx + width // 40, horizon],
            [cx + width // 2, height - 1],
            [cx - width // 2, height - 1],
        ],
        np.int32,
    )
    cv2.fillConvexPoly(img, road, (90, 90, 90))
    for side in (-1, 1):
        cv2.line(
            img, (cx + side * width // 50, horizon), (cx + side * int(width * 0.45), height - 1), (240, 240, 240), 6
        )
    return img


def frames(camera: str, width: int, height: int, count: int, rate_hz: float, t0_s: float = 0.0):
    """`count` rgb8 CameraFrames with a slowly swaying road (a few distinct images, reused)."""
    images = [road_image(width, height, int(40 * math.sin(i / 4))).tobytes() for i in range(8)]
    for i in range(count):
        yield CameraFrame(
            camera=camera, stamp_s=t0_s + i / rate_hz, encoding="rgb8", data=images[i % 8], width=width, height=height
        )


def curved_route(length_m: float = 300.0, radius_m: float = 80.0, straight_m: float = 40.0) -> Route:
    """A straight start, then a left-hand curve of `radius_m`."""
    pts = [(x, 0.0) for x in np.arange(0.0, straight_m, 1.0)]
    for s in np.arange(0.0, length_m - straight_m, 1.0):
        a = s / radius_m
        pts.append((straight_m + radius_m * math.sin(a), radius_m * (1 - math.cos(a))))
    return Route(stamp_s=0.0, points_xy_m=np.array(pts))


def odometry_along(route: Route, stamp_s: float, speed_mps: float) -> EgoState:
    """The ego exactly on the route, at the arc length reached at `speed_mps` since t = 0."""
    pts = route.points_xy_m
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    s = np.concatenate(([0.0], np.cumsum(seg)))
    d = min(speed_mps * stamp_s, s[-1] - 1e-6)
    i = int(np.searchsorted(s, d, side="right") - 1)
    w = (d - s[i]) / seg[i]
    x, y = pts[i] + w * (pts[i + 1] - pts[i])
    yaw = math.atan2(*(pts[i + 1] - pts[i])[::-1])
    return EgoState(stamp_s=stamp_s, pose=Pose2D(float(x), float(y), yaw), speed_mps=speed_mps)
