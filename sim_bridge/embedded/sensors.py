"""Sensor models besides the camera: GNSS from the local east-north frame (WGS-84, small-area
approximation), and the camera brightness schedule of a scenario."""

from __future__ import annotations

import math
from typing import Sequence, Tuple

import numpy as np

EARTH_RADIUS_M = 6378137.0
ORIGIN = (48.137, 11.575, 520.0)  # lat, lon, alt of the map origin (any fixed place will do)


def enu_to_geodetic(x_east_m: float, y_north_m: float, origin: Tuple[float, float, float] = ORIGIN):
    """(lat_deg, lon_deg, alt_m) of a point given in metres east / north of the origin."""
    lat0, lon0, alt0 = origin
    lat = lat0 + math.degrees(y_north_m / EARTH_RADIUS_M)
    lon = lon0 + math.degrees(x_east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat0))))
    return lat, lon, alt0


def brightness_at(t_s: float, base: float, schedule: Sequence[Sequence[float]]) -> float:
    """`schedule` = [[t, brightness], ...] (linear in between, held outside); `base` without one."""
    if not schedule:
        return base
    ts, bs = zip(*schedule)
    return float(np.interp(t_s, ts, bs))
