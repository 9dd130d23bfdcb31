"""Is the route still one the car can follow? The route watchdog's meaning.

A route is published once and latched (Autoware's mission planner, Nav2): its age says nothing. It
stops being good when the ego has left its corridor or driven past its end; then the component that
holds both route and odometry stops vouching for it and the gate's route watchdog expires.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np


def route_problem(route_xy_m: np.ndarray, x_m: float, y_m: float, corridor_m: float) -> Optional[str]:
    """None when (x, y) lies within `corridor_m` of the polyline and not beyond its end; else why not."""
    pts = np.asarray(route_xy_m, float).reshape(-1, 2)
    if len(pts) < 2:
        return f"route has {len(pts)} point(s); 2 needed"
    dist_m, past_end = _nearest(pts, x_m, y_m)
    if dist_m > corridor_m:
        return f"ego {dist_m:.1f} m from the route (corridor {corridor_m:.1f} m)"
    if past_end:
        return "ego past the route's end"
    return None


def off_route_m(route_xy_m: np.ndarray, x_m: float, y_m: float) -> float:
    """How far (x, y) is from the route (at least 2 points): the distance to its nearest point, and past the
    route's end only the sideways offset from the line of its last segment (a car stops after its destination,
    on its road). The fusion's test of whether a route is the ego's at all."""
    pts = np.asarray(route_xy_m, float).reshape(-1, 2)
    dist_m, past_end = _nearest(pts, x_m, y_m)
    d = pts[-1] - pts[-2]
    length_m = float(np.hypot(*d))
    if not past_end or length_m == 0.0:
        return dist_m
    return abs(float(d[0] * (y_m - pts[-1][1]) - d[1] * (x_m - pts[-1][0]))) / length_m


def _nearest(pts: np.ndarray, x_m: float, y_m: float) -> Tuple[float, bool]:
    """(distance from (x, y) to the polyline, whether its nearest point is the end, reached from beyond)."""
    a, b = pts[:-1], pts[1:]
    seg = b - a
    length2 = np.einsum("ij,ij->i", seg, seg)
    p = np.array([x_m, y_m])
    t = np.einsum("ij,ij->i", p - a, seg) / np.where(length2 > 0, length2, 1.0)
    closest = a + np.clip(t, 0.0, 1.0)[:, None] * seg
    dist = np.hypot(*(closest - p).T)
    i = int(np.argmin(dist))
    return float(dist[i]), bool(i == len(seg) - 1 and t[i] > 1.0)
