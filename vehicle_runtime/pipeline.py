"""Observation → policy output → actuator request, timing every stage.

A policy is anything with `infer(observation) → PolicyOutput` and `cameras`: the student
(`StudentPolicy`: preprocessing + ONNX model) or, in simulation, the privileged expert. The
pipeline adds the trajectory validator (every output is checked before the tracker may follow it)
and the tracker. Used by the ROS nodes, `selftest`, `drive` and the benchmarks.

Lane keeping for the safety gate's MRM: `control` keeps tracking the last valid trajectory, moved
into the current ego frame by odometry, while any of it lies ahead; then the route's geometry
(braking to a stop) while the route is fresh. Only then does it return None.
"""

from __future__ import annotations

import time
from typing import Dict, Optional, Protocol, Sequence

import numpy as np

from .config import RuntimeConfig
from .control import TrajectoryTracker
from .fusion import FusionParams
from .geometry import closest_arc_length, cumulative_length, world_to_ego
from .latency import LatencyStats
from .preprocess import Preprocessor
from .route_check import route_problem
from .student import Student
from .student.manifest import Manifest, ManifestError
from .types import ActuatorRequest, EgoState, Observation, PolicyOutput, Route
from .validation import TrajectoryValidator
from .validation.rules import Lead

ROUTE_FOLLOW_STEP_M = 2.0  # the route is followed as a trajectory of points this far apart ...
ROUTE_FOLLOW_POINTS = 20  # ... this many of them


class Policy(Protocol):
    latency: Dict[str, LatencyStats]

    @property
    def cameras(self) -> Sequence[str]: ...  # read-only: a tuple or a list

    def infer(self, obs: Observation) -> PolicyOutput: ...

    def reset(self) -> None: ...


class StudentPolicy:
    """Preprocess every camera into the student's frame history, run the model, decode."""

    def __init__(self, student: Student):
        self.student = student
        self.preprocessors = {c.camera: Preprocessor(c.image) for c in student.manifest.cameras}
        self.cameras = tuple(self.preprocessors)
        self.latency = {s: LatencyStats() for s in ("preprocess", "session_run", "features_decode")}

    def infer(self, obs: Observation) -> PolicyOutput:
        """Raises PreprocessError on a bad frame (nothing is committed then), onnxruntime errors as-is."""
        t0 = time.perf_counter()
        for camera, pre in self.preprocessors.items():
            pre.process(obs.frames[camera], self.student.slot(camera))
        for camera in self.preprocessors:
            self.student.commit(camera)
        t1 = time.perf_counter()
        out = self.student.run(obs)
        t2 = time.perf_counter()
        run_s = self.student.last_latency_s
        self.latency["preprocess"].add(t1 - t0)
        self.latency["session_run"].add(run_s)
        self.latency["features_decode"].add(t2 - t1 - run_s)
        return out

    def reset(self) -> None:
        self.student.reset()


def check_route_input(m: Manifest, fusion: FusionParams) -> None:
    """The fusion must resample the route as the model was trained: as many points, same spacing
    (too few points would be padded with the last one and silently shorten the route the model sees)."""
    if m.route_points > fusion.route_points:
        raise ManifestError(
            f"model '{m.name}' reads {m.route_points} route points; the fusion gives "
            f"{fusion.route_points} (fusion parameter route_points)"
        )
    if m.route_spacing_m is not None and abs(m.route_spacing_m - fusion.route_spacing_m) > 1e-6:
        raise ManifestError(
            f"model '{m.name}' was trained with route points every {m.route_spacing_m} m; the "
            f"fusion gives {fusion.route_spacing_m} m (fusion parameter route_spacing_m)"
        )


class Pipeline:
    def __init__(
        self,
        policy: Policy,
        tracker: TrajectoryTracker,
        validator: Optional[TrajectoryValidator] = None,
        route_corridor_m: float = 0.0,
    ):
        self.policy = policy
        self.tracker = tracker
        self.validator = validator
        self.route_corridor_m = route_corridor_m  # the route is followed while the ego is this close (0: never)
        self.latency: Dict[str, LatencyStats] = {
            **policy.latency,
            "inference_total": LatencyStats(),
            "validator": LatencyStats(),
            "control": LatencyStats(),
        }
        self.latest: Optional[PolicyOutput] = None  # the last valid output: what the tracker follows
        self.following = "none"  # trajectory | route | none: what `control` tracked last
        self._route: Optional[tuple] = None  # (points, arc lengths, arrival time)
        self._last_route_xy_m: Optional[np.ndarray] = None
        self.record: Optional[list] = None  # a list: every output is appended as (output, ego speed, verdict)

    @classmethod
    def from_config(cls, cfg: RuntimeConfig, model_path=None) -> "Pipeline":
        student = Student.load(model_path or cfg.model_path, cfg.session)
        check_route_input(student.manifest, cfg.fusion)
        if cfg.warm_up_runs:
            student.warm_up(cfg.warm_up_runs)
        return cls(
            StudentPolicy(student),
            TrajectoryTracker(cfg.vehicle, cfg.tracker),
            validator_for(cfg),
            cfg.route_corridor_m,
        )

    @property
    def cameras(self) -> Sequence[str]:
        return self.policy.cameras

    @property
    def student(self) -> Student:
        if not isinstance(self.policy, StudentPolicy):  # the expert or a wrapper: no student (getattr → None)
            raise AttributeError(f"{type(self.policy).__name__} has no student")
        return self.policy.student

    def infer(self, obs: Observation, lead: Optional[Lead] = None) -> PolicyOutput:
        """Run the policy; the output becomes the followed trajectory only when the validator accepts it."""
        t0 = time.perf_counter()
        out = self.policy.infer(obs)
        t1 = time.perf_counter()
        self.latency["inference_total"].add(t1 - t0)
        if self.validator is not None:
            followed = self.validator.accept(out, obs.ego.speed_mps, lead)
            self.latency["validator"].add(time.perf_counter() - t1)
            if followed is not None:
                self.latest = followed
        elif out.is_finite():
            self.latest = out
        if self.record is not None:
            self.record.append((out, obs.ego.speed_mps, self.validator.last_verdict if self.validator else None))
        return out

    def take_fault(self) -> str:
        """An MRM request from the validator ('' when none); the caller hands it to the safety gate."""
        return self.validator.take_fault() if self.validator is not None else ""

    def set_route(self, route: Route, now_s: float) -> None:
        """A route to fall back on while the ego is on it; an empty one withdraws it. Another route than the
        one held (a new mission, a reroute, a restarted simulator) starts the model afresh: its history and
        recurrent state hold the old route's features, and the last valid plan, made for the old route, is no
        reference for the validator (plan_shift / speed_shift would refuse the change of route itself). The
        tracker keeps following that plan until the first one for the new route is accepted."""
        pts = np.asarray(route.points_xy_m, dtype=np.float64).reshape(-1, 2)
        if len(pts) == 0:
            self._route = None
        elif len(pts) >= 2 and np.isfinite(pts).all():
            if self._last_route_xy_m is not None and not np.array_equal(self._last_route_xy_m, pts):
                self.policy.reset()
                if self.validator is not None:
                    self.validator.forget_reference()
            self._route = (pts, cumulative_length(pts), now_s)
            self._last_route_xy_m = pts  # kept when withdrawn: the same route restored is no new one

    def control(self, ego: EgoState, now_s: float, dt_s: float) -> Optional[ActuatorRequest]:
        """Track the last valid trajectory while some of it lies ahead, then the fresh route
        (None when there is nothing to follow)."""
        t0 = time.perf_counter()
        target, self.following = self.latest, "trajectory"
        if target is None or not self._ahead(target, ego, 2.0):
            route = self._route_as_trajectory(ego, now_s)
            if route is not None:
                target, self.following = route, "route"
            elif target is None or not self._ahead(target, ego, 1.0):  # its last metres, if nothing else
                target, self.following = None, "none"
        if target is None:
            return None
        req = self.tracker.step(target, ego, now_s, dt_s)
        self.latency["control"].add(time.perf_counter() - t0)
        return req

    def _ahead(self, out: PolicyOutput, ego: EgoState, lookaheads: float) -> bool:
        """Whether the trajectory still reaches `lookaheads` look-ahead distances ahead. The route is
        preferred below two: the model's last points are its least accurate."""
        traj = self.tracker.trajectory_now(out, ego)
        p = self.tracker.params
        reach_m = lookaheads * max(p.lookahead_min_m, ego.speed_mps * p.lookahead_time_s)
        return bool(len(traj)) and float(traj[:, 0].max()) >= reach_m

    def _route_as_trajectory(self, ego: EgoState, now_s: float) -> Optional[PolicyOutput]:
        """The route ahead of the ego as a trajectory that brakes to a stop (speed profile 0)."""
        if self._route is None or route_problem(self._route[0], ego.pose.x_m, ego.pose.y_m, self.route_corridor_m):
            return None  # no route, or not one the car is on (left its corridor, or past its end)
        pts, s = self._route[0], self._route[1]
        local = world_to_ego(pts, ego.pose)
        s0 = closest_arc_length(local, s, np.zeros(2))
        at = s0 + ROUTE_FOLLOW_STEP_M * np.arange(1, ROUTE_FOLLOW_POINTS + 1)
        if at[0] > s[-1]:
            return None
        ahead = np.stack((np.interp(at, s, local[:, 0]), np.interp(at, s, local[:, 1])), axis=1)
        return PolicyOutput(
            stamp_s=now_s,
            ego_pose_at_stamp=ego.pose,
            trajectory_ego_xy_m=ahead,
            dt_s=0.5,
            speed_profile_mps=np.zeros(len(ahead)),
        )

    def reset(self) -> None:
        self.policy.reset()
        self.tracker.reset()
        if self.validator is not None:
            self.validator.reset()
        self.latest = None


def validator_for(cfg: RuntimeConfig) -> Optional[TrajectoryValidator]:
    return TrajectoryValidator(cfg.validator) if cfg.validator is not None else None
