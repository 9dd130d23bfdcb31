"""Fusion: match the newest camera frames with each other and with odometry, put the route in the
ego frame, and derive the target point and the road option. Reports the age of every input."""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass
from typing import Deque, Dict, Optional, Sequence, Tuple

import numpy as np

from .geometry import closest_arc_length, cumulative_length, point_at_distance, world_to_ego, wrap_angle
from .route_check import off_route_m
from .types import CameraFrame, EgoState, NavigationState, Observation, RoadOption, Route

_WINDOW_BACK_M = 30.0  # route kept behind the ego in the working window
_RELOCALISE_M = 15.0  # farther than this from the windowed route: search the whole route


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

    def __init__(self, cameras: Sequence[str], params: FusionParams, route_corridor_m: float = math.inf):
        """`route_corridor_m`: a frame is observed only while the ego is this close to the route (sideways
        past its end): a route that does not pass the ego is not its route yet (route_check.off_route_m)."""
        if not cameras:
            raise ValueError("fusion needs at least one camera")
        self.cameras = tuple(cameras)
        self.params = params
        self.route_corridor_m = route_corridor_m
        self._frames: Dict[str, Deque[CameraFrame]] = {
            c: collections.deque(maxlen=params.buffer_size) for c in self.cameras
        }
        self._odometry: Deque[EgoState] = collections.deque(maxlen=params.buffer_size)
        self._route: Optional[Route] = None
        self._route_s_m: Optional[np.ndarray] = None
        self._s_hint_m: Optional[float] = None  # arc length of the last match on the route
        self._last_emitted_stamp_s = -math.inf
        self.rejected: collections.Counter = collections.Counter()
        self.waiting_for = "nothing received yet"
        self.observations = 0  # emitted so far: 0 with inputs arriving means a camera or odometry never matched

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
        self._s_hint_m = None
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
        if nav is None or self._route is None:  # no route: _navigation says so in waiting_for
            return None
        self._last_emitted_stamp_s = ref_stamp
        self.observations += 1
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
        route, route_s_m = self._route, self._route_s_m
        if route is None or route_s_m is None:  # set together by set_route
            self.waiting_for = "no route"
            return None
        p = self.params
        lookahead_m = max(p.lookahead_min_m, ego.speed_mps * p.lookahead_time_s)
        reach_m = max(lookahead_m, p.road_option_horizon_m, p.route_points * p.route_spacing_m) + 5.0
        pts, s = self._route_window(route.points_xy_m, route_s_m, ego, reach_m)
        route_ego = world_to_ego(pts, ego.pose)
        s0 = closest_arc_length(route_ego, s, np.zeros(2))
        # after a simulator or navigation restart, odometry and frames arrive before the new route: a plan made
        # on the old one would be made for another drive
        off = off_route_m(pts, ego.pose.x_m, ego.pose.y_m)
        if off > self.route_corridor_m:
            self.waiting_for = f"a route that passes the ego (it is {off:.1f} m from the route it holds)"
            return None
        self._s_hint_m = s0
        target = point_at_distance(route_ego, s, s0 + lookahead_m)
        ahead = _points_at(route_ego, s, s0 + p.route_spacing_m * np.arange(1, p.route_points + 1))
        option = road_option_from_geometry(route_ego, s, s0, p)
        return NavigationState(
            route_ego_xy_m=ahead,
            target_point_ego_m=(float(target[0]), float(target[1])),
            road_option=option,
            distance_to_route_end_m=float(route_s_m[-1] - s0),
        )

    def _route_window(
        self, pts: np.ndarray, s: np.ndarray, ego: EgoState, reach_m: float
    ) -> Tuple[np.ndarray, np.ndarray]:
        """The part of the route (points, arc lengths) around the ego: routes can be kilometres long, a frame
        needs ~50 m of it. The window follows the last match; a jump (new route, relocalisation) searches all."""
        if self._s_hint_m is not None:
            lo = max(0, int(np.searchsorted(s, self._s_hint_m - _WINDOW_BACK_M)) - 1)
            hi = int(np.searchsorted(s, self._s_hint_m + reach_m + _WINDOW_BACK_M)) + 1
            w_pts, w_s = pts[lo:hi], s[lo:hi]
            if len(w_pts) >= 2:
                here = closest_arc_length(w_pts, w_s, (ego.pose.x_m, ego.pose.y_m))
                near = point_at_distance(w_pts, w_s, here)
                if math.hypot(near[0] - ego.pose.x_m, near[1] - ego.pose.y_m) < _RELOCALISE_M:
                    return _window_from(pts, s, here, reach_m)
        here = closest_arc_length(pts, s, (ego.pose.x_m, ego.pose.y_m))
        return _window_from(pts, s, here, reach_m)


def _window_from(pts: np.ndarray, s: np.ndarray, s_here_m: float, reach_m: float) -> Tuple[np.ndarray, np.ndarray]:
    lo = max(0, int(np.searchsorted(s, s_here_m - _WINDOW_BACK_M)) - 1)
    hi = int(np.searchsorted(s, s_here_m + reach_m)) + 1
    # arc lengths stay those of the whole route, so distances to its end remain right
    return pts[lo:hi], s[lo:hi]


def road_option_from_geometry(route_xy_m: np.ndarray, s_m: np.ndarray, s0_m: float, p: FusionParams) -> RoadOption:
    """LEFT/RIGHT when the route turns by more than the threshold within the horizon; a lane
    change when it shifts sideways without turning; LANEFOLLOW otherwise. (A path carries no
    junction information, so STRAIGHT-through-a-junction is never derived from geometry.)"""
    step = 2.0
    end = min(s0_m + p.road_option_horizon_m, float(s_m[-1]))
    at = np.concatenate(([s0_m], np.arange(s0_m + step, end + 1e-9, step)))
    a = _points_at(route_xy_m, s_m, at)
    b = _points_at(route_xy_m, s_m, at + step)
    headings = np.arctan2(b[:, 1] - a[:, 1], b[:, 0] - a[:, 0])
    h0 = float(headings[0]) if np.any(b[0] != a[0]) else _heading_back(route_xy_m, s_m, s0_m, step)
    turns = wrap_angle(headings[1:] - h0)
    valid = np.any(b[1:] != a[1:], axis=1)  # past the route's end the points coincide
    turns = turns[valid]
    turn = float(turns[np.argmax(np.abs(turns))]) if len(turns) else 0.0
    if abs(turn) >= p.turn_threshold_rad:
        return RoadOption.LEFT if turn > 0 else RoadOption.RIGHT
    start, stop = a[0], _points_at(route_xy_m, s_m, np.array([end]))[0]
    lateral = -math.sin(h0) * (stop[0] - start[0]) + math.cos(h0) * (stop[1] - start[1])
    if abs(lateral) >= p.lane_change_offset_m:
        return RoadOption.CHANGELANELEFT if lateral > 0 else RoadOption.CHANGELANERIGHT
    return RoadOption.LANEFOLLOW


def _points_at(xy: np.ndarray, s: np.ndarray, at_m: np.ndarray) -> np.ndarray:
    """Vectorised point_at_distance (clamped to the polyline's ends)."""
    return np.stack((np.interp(at_m, s, xy[:, 0]), np.interp(at_m, s, xy[:, 1])), axis=1)


def _heading_back(xy, s, at_m, step):
    a, b = _points_at(xy, s, np.array([at_m - step, at_m]))
    return math.atan2(b[1] - a[1], b[0] - a[0])


def _nearest(buf, stamp_s):
    best = None
    for item in buf:
        if best is None or abs(item.stamp_s - stamp_s) < abs(best.stamp_s - stamp_s):
            best = item
    return best
