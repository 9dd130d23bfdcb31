"""Observation → policy output → actuator request, timing every stage.

A policy is anything with `infer(observation) → PolicyOutput` and `cameras`: the student
(`StudentPolicy`: preprocessing + ONNX model) or, in simulation, the privileged expert. The
pipeline adds the trajectory tracker. Used by the ROS nodes, `selftest`, `drive` and the benchmarks.
"""
from __future__ import annotations

import time
from typing import Dict, Optional, Protocol, Sequence

from .config import RuntimeConfig
from .control import TrajectoryTracker
from .latency import LatencyStats
from .preprocess import Preprocessor
from .fusion import FusionParams
from .student import Student
from .student.manifest import Manifest, ManifestError
from .types import ActuatorRequest, EgoState, Observation, PolicyOutput


class Policy(Protocol):
    cameras: Sequence[str]
    latency: Dict[str, LatencyStats]

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
        raise ManifestError(f"model '{m.name}' reads {m.route_points} route points; the fusion gives "
                            f"{fusion.route_points} (fusion parameter route_points)")
    if m.route_spacing_m is not None and abs(m.route_spacing_m - fusion.route_spacing_m) > 1e-6:
        raise ManifestError(f"model '{m.name}' was trained with route points every {m.route_spacing_m} m; the "
                            f"fusion gives {fusion.route_spacing_m} m (fusion parameter route_spacing_m)")


class Pipeline:
    def __init__(self, policy: Policy, tracker: TrajectoryTracker):
        self.policy = policy
        self.tracker = tracker
        self.latency: Dict[str, LatencyStats] = {**policy.latency, "inference_total": LatencyStats(),
                                                 "control": LatencyStats()}
        self.latest: Optional[PolicyOutput] = None

    @classmethod
    def from_config(cls, cfg: RuntimeConfig, model_path=None) -> "Pipeline":
        student = Student.load(model_path or cfg.model_path, cfg.session)
        check_route_input(student.manifest, cfg.fusion)
        if cfg.warm_up_runs:
            student.warm_up(cfg.warm_up_runs)
        return cls(StudentPolicy(student), TrajectoryTracker(cfg.vehicle, cfg.tracker))

    @property
    def cameras(self) -> Sequence[str]:
        return self.policy.cameras

    @property
    def student(self) -> Student:
        return self.policy.student  # only for a StudentPolicy

    def infer(self, obs: Observation) -> PolicyOutput:
        t0 = time.perf_counter()
        out = self.policy.infer(obs)
        self.latency["inference_total"].add(time.perf_counter() - t0)
        self.latest = out
        return out

    def control(self, ego: EgoState, now_s: float, dt_s: float) -> Optional[ActuatorRequest]:
        """Track the latest trajectory (None until the first policy output)."""
        if self.latest is None:
            return None
        t0 = time.perf_counter()
        req = self.tracker.step(self.latest, ego, now_s, dt_s)
        self.latency["control"].add(time.perf_counter() - t0)
        return req

    def reset(self) -> None:
        self.policy.reset()
        self.tracker.reset()
        self.latest = None
