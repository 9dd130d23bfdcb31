"""Fusion: match the newest camera frames with each other and with odometry, put the route in the
ego frame, and derive the target point and the road option. Reports the age of every input."""
from __future__ import annotations

import collections
import math
from dataclasses import dataclass
from typing import Deque, Dict, Optional, Sequence

import numpy as np

from .geometry import closest_arc_length, cumulative_length, point_at_distance, world_to_ego, wrap_angle
from .types import CameraFrame, EgoState, NavigationState, Observation, RoadOption, Route


@dataclass(frozen=True)
class FusionParams:
    sync_slop_s: float  # largest stamp difference accepted between matched inputs
    max_future_s: float  # stamps further than this ahead of the clock are rejected
    buffer_size: int  # frames / odometry samples kept per source for matching
    lookahead_min_m: float
    lookahead_time_s: float  # look-ahead = max(min, speed * time)
    road_option_horizon_m: float  # how far ahead the route geometry is read for the road option
    turn_threshold_rad: float  # heading change over the horizon that counts as a turn
    lane_change_offset_m: float  # lateral shift (without a turn) that counts as a lane change
    route_points: int  # route resampled ahead of the ego for the model
    route_spacing_m: float


class Fusion:
    """Collects inputs and builds Observations. Not thread-safe: one owner calls it."""

    def __init__(self, cameras: Sequence[str], params: FusionParams):
        if not cameras:
            raise ValueError("fusion needs at least one camera")
        self.cameras = tuple(cameras)
        self.params = params
        self._frames: Dict[str, Deque[CameraFrame]] = {
            c: collections.deque(maxlen=params.buffer_size) for c in self.cameras}
        self._odometry: Deque[EgoState] = collections.deque(maxlen=params.buffer_size)
        self._route: Optional[Route] = None
        self._route_s_m: Optional[np.ndarray] = None
        self._last_emitted_stamp_s = -math.inf
        self.rejected: collections.Counter = collections.Counter()
        self.waiting_for = "nothing received yet"

    # --- inputs -----------------------------------------------------------------------------
    def add_frame(self, frame: CameraFrame, now_s: float) -> Optional[str]:
        """Buffer a frame; returns the reason when it is rejected (None when accepted)."""
        if frame.camera not in self._frames:
            return self._reject(f"unknown camera '{frame.camera}'")
        buf = self._frames[frame.camera]
        return self._accept(buf, frame, frame.stamp_s, now_s, f"camera '{frame.camera}'")

    def add_odometry(self, ego: EgoState, now_s: float) -> Optional[str]:
        return self._accept(self._odometry, ego, ego.stamp_s, now_s, "odometry")

    def set_route(self, route: Route, now_s: float) -> Optional[str]:
        pts = np.asarray(route.points_xy_m, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 2 or not np.isfinite(pts).all():
            return self._reject("route: needs at least 2 finite (x, y) points")
        if route.stamp_s > now_s + self.params.max_future_s:
            return self._reject("route: stamp in the future")
        self._route = Route(route.stamp_s, pts)
        self._route_s_m = cumulative_length(pts)
        return None

    def _accept(self, buf: Deque, item, stamp_s: float, now_s: float, source: str) -> Optional[str]:
        if not math.isfinite(stamp_s):
            return self._reject(f"{source}: stamp is not finite")
        if stamp_s > now_s + self.params.max_future_s:
            return self._reject(f"{source}: stamp {stamp_s - now_s:.3f} s in the future")
        if buf and stamp_s <= buf[-1].stamp_s:
            return self._reject(f"{source}: out of order ({stamp_s:.3f} <= {buf[-1].stamp_s:.3f})")
        buf.append(item)
        return None

    def _reject(self, reason: str) -> str:
        self.rejected[reason.split(":")[0]] += 1
        return reason

    # --- output -----------------------------------------------------------------------------
    def observe(self, now_s: float) -> Optional[Observation]:
        """The newest fully matched set of inputs not emitted before, or None (see waiting_for)."""
        matched = self._match()
        if matched is None:
            return None
        frames, ego = matched
        ref_stamp = frames[self.cameras[0]].stamp_s
        nav = self._navigation(ego)
        if nav is None:
            return None
        self._last_emitted_stamp_s = ref_stamp
        ages = {c: now_s - f.stamp_s for c, f in frames.items()}
        ages["odometry"] = now_s - self._odometry[-1].stamp_s
        ages["route"] = now_s - self._route.stamp_s
        return Observation(stamp_s=ref_stamp, frames=frames, ego=ego, nav=nav, ages_s=ages)

    def ages_s(self, now_s: float) -> Dict[str, float]:
        """Age of the newest sample of every source (inf when none arrived)."""
        ages = {c: now_s - b[-1].stamp_s if b else math.inf for c, b in self._frames.items()}
        ages["odometry"] = now_s - self._odometry[-1].stamp_s if self._odometry else math.inf
        ages["route"] = now_s - self._route.stamp_s if self._route else math.inf
        return ages

    def _match(self):
        slop = self.params.sync_slop_s
        ref_buf = self._frames[self.cameras[0]]
        if not ref_buf:
            self.waiting_for = f"no frame from camera '{self.cameras[0]}'"
            return None
        for ref in reversed(ref_buf):
            if ref.stamp_s <= self._last_emitted_stamp_s:
                self.waiting_for = "no new frame"
                return None
            frames = {self.cameras[0]: ref}
            for cam in self.cameras[1:]:
                best = _nearest(self._frames[cam], ref.stamp_s)
                if best is None or abs(best.stamp_s - ref.stamp_s) > slop:
                    frames = None
                    self.waiting_for = f"no frame from camera '{cam}' within {slop} s"
                    break
                frames[cam] = best
            if frames is None:
                continue
            ego = _nearest(self._odometry, ref.stamp_s)
            if ego is None or abs(ego.stamp_s - ref.stamp_s) > slop:
                self.waiting_for = f"no odometry within {slop} s of the frame"
                continue
            return frames, ego
        return None

    def _navigation(self, ego: EgoState) -> Optional[NavigationState]:
        if self._route is None:
            self.waiting_for = "no route"
            return None
        p = self.params
        route_ego = world_to_ego(self._route.points_xy_m, ego.pose)
        s = self._route_s_m
        s0 = closest_arc_length(route_ego, s, np.zeros(2))
        lookahead_m = max(p.lookahead_min_m, ego.speed_mps * p.lookahead_time_s)
        target = point_at_distance(route_ego, s, s0 + lookahead_m)
        ahead = np.stack([point_at_distance(route_ego, s, s0 + (i + 1) * p.route_spacing_m)
                          for i in range(p.route_points)])
        option = road_option_from_geometry(route_ego, s, s0, p)
        return NavigationState(route_ego_xy_m=ahead, target_point_ego_m=(float(target[0]), float(target[1])),
                               road_option=option, distance_to_route_end_m=float(s[-1] - s0))


def road_option_from_geometry(route_xy_m: np.ndarray, s_m: np.ndarray, s0_m: float,
                              p: FusionParams) -> RoadOption:
    """LEFT/RIGHT when the route turns by more than the threshold within the horizon; a lane
    change when it shifts sideways without turning; LANEFOLLOW otherwise. (A path carries no
    junction information, so STRAIGHT-through-a-junction is never derived from geometry.)"""
    step = 2.0
    h0 = _heading(route_xy_m, s_m, s0_m, step)
    end = min(s0_m + p.road_option_horizon_m, float(s_m[-1]))
    samples = np.arange(s0_m + step, end + 1e-9, step)
    turn = 0.0
    for d in samples:
        dh = wrap_angle(_heading(route_xy_m, s_m, d, step) - h0)
        if abs(dh) > abs(turn):
            turn = dh
    if abs(turn) >= p.turn_threshold_rad:
        return RoadOption.LEFT if turn > 0 else RoadOption.RIGHT
    a = point_at_distance(route_xy_m, s_m, s0_m)
    b = point_at_distance(route_xy_m, s_m, end)
    lateral = -math.sin(h0) * (b[0] - a[0]) + math.cos(h0) * (b[1] - a[1])
    if abs(lateral) >= p.lane_change_offset_m:
        return RoadOption.CHANGELANELEFT if lateral > 0 else RoadOption.CHANGELANERIGHT
    return RoadOption.LANEFOLLOW


def _heading(xy, s, at_m, step):
    a = point_at_distance(xy, s, at_m)
    b = point_at_distance(xy, s, at_m + step)
    if np.allclose(a, b):  # at the route's end: look back instead
        a = point_at_distance(xy, s, at_m - step)
    return math.atan2(b[1] - a[1], b[0] - a[0])


def _nearest(buf, stamp_s):
    best = None
    for item in buf:
        if best is None or abs(item.stamp_s - stamp_s) < abs(best.stamp_s - stamp_s):
            best = item
    return best
