"""One object that runs observation → policy output → actuator request, timing every stage.

Used by the ROS nodes, `vehicle-runtime selftest`, the simulators and the benchmarks alike.
"""
from __future__ import annotations

import time
from typing import Dict, Optional

from .config import RuntimeConfig
from .control import TrajectoryTracker
from .latency import LatencyStats
from .preprocess import Preprocessor
from .student import Student
from .types import ActuatorRequest, EgoState, Observation, PolicyOutput

STAGES = ("preprocess", "session_run", "features_decode", "inference_total", "control")


class Pipeline:
    def __init__(self, student: Student, tracker: TrajectoryTracker):
        self.student = student
        self.tracker = tracker
        self.preprocessors = {c.camera: Preprocessor(c.image) for c in student.manifest.cameras}
        self.latency: Dict[str, LatencyStats] = {s: LatencyStats() for s in STAGES}
        self.latest: Optional[PolicyOutput] = None

    @classmethod
    def from_config(cls, cfg: RuntimeConfig, model_path=None) -> "Pipeline":
        student = Student.load(model_path or cfg.model_path, cfg.session)
        if cfg.warm_up_runs:
            student.warm_up(cfg.warm_up_runs)
        return cls(student, TrajectoryTracker(cfg.vehicle, cfg.tracker))

    @property
    def cameras(self):
        return tuple(self.preprocessors)

    def infer(self, obs: Observation) -> PolicyOutput:
        """Preprocess every camera into the student's history, run it, decode. Raises
        PreprocessError on a bad frame (nothing is committed then) and onnxruntime errors as-is."""
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
        self.latency["inference_total"].add(t2 - t0)
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
        self.student.reset()
        self.tracker.reset()
        self.latest = None
