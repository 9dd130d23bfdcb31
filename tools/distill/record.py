"""Training data from the embedded simulator: the privileged expert labels every frame the policy sees.

A run is one `run_drive` on a (scenario, seed) with a recording policy. Who drives:
- `expert`: the expert's plan, optionally perturbed (DART-style noise on the executed lateral offset and
  speed) so that the data holds recoveries; the labels stay the expert's clean plan.
- `student`: a trained student drives, the expert labels what it sees (DAgger).
A run renders the front camera at the rig's own size, or at `camera_size`: a student trained on one camera
resolution alone reads another one's downscaled frames as another road (aliasing differs), so the data holds
several.
Every frame is preprocessed with the runtime's own Preprocessor and FeatureWriter, so training sees
exactly the bytes and features the runtime feeds the model.
"""

from __future__ import annotations

import json
import math
import os
import time
import zipfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import yaml

from sim_bridge.embedded.drive import DriveOptions, run_drive
from sim_bridge.embedded.expert import Expert
from sim_bridge.embedded.renderer import RENDERER_VERSION
from vehicle_runtime.camera_rig import default_rig_path, load_camera_rig
from vehicle_runtime.cli_types import size_wxh
from vehicle_runtime.latency import LatencyStats
from vehicle_runtime.pipeline import Pipeline, Policy
from vehicle_runtime.preprocess import Preprocessor
from vehicle_runtime.student.features import FeatureWriter
from vehicle_runtime.types import Observation, PolicyOutput

from . import spec


@dataclass(frozen=True)
class RunSpec:
    scenario: str
    seed: int
    driver: str  # expert | student
    noise: float = 0.0  # 0: clean; 1: nominal DART noise
    model: Optional[str] = None  # the student that drives (driver == student)
    camera_size: str = ""  # 'WxH': the front camera rendered at this size; '': the rig's own
    brake_lamps: bool = True  # False: among cars whose brake lamps never light

    @property
    def name(self) -> str:
        size = f"-c{self.camera_size}" if self.camera_size else ""
        dark = "" if self.brake_lamps else "-dark"
        return f"{self.scenario}-s{self.seed}-{self.driver}-n{self.noise:g}{size}{dark}"


class _OrnsteinUhlenbeck:
    def __init__(self, rng: np.random.Generator, std: float, tau_s: float):
        self.rng, self.std, self.tau_s, self.x = rng, std, tau_s, 0.0

    def step(self, dt_s: float) -> float:
        a = math.exp(-dt_s / self.tau_s)
        self.x = a * self.x + self.std * math.sqrt(1 - a * a) * float(self.rng.normal())
        return self.x


class RecordingPolicy:
    """Records (image, features, expert labels) at every policy call and returns the driver's output."""

    cameras = (spec.CAMERA,)

    def __init__(self, expert: Expert, driver: Optional[Policy], noise: float, seed: int):
        self.expert, self.driver = expert, driver
        self.latency: Dict[str, LatencyStats] = {}
        self.pre = Preprocessor(spec.IMAGE)
        self.nav = FeatureWriter(spec.NAV_FEATURES, spec.ROUTE_POINTS)
        self.ego = FeatureWriter(spec.EGO_FEATURES)
        rng = np.random.default_rng(seed)
        self.lateral = _OrnsteinUhlenbeck(rng, 0.5 * noise, 2.0)
        self.speed = _OrnsteinUhlenbeck(rng, 0.15 * noise, 3.0)
        self.noise = noise
        self._last_stamp: Optional[float] = None
        keys = ("image", "nav", "ego", "trajectory", "speed", "reason", "lead_gap_m", "lead_speed_mps")
        self.rows: dict = {k: [] for k in keys}
        self._frame = np.zeros((spec.IMAGE.channels, spec.IMAGE.height, spec.IMAGE.width), np.float32)

    def infer(self, obs: Observation) -> PolicyOutput:
        self.pre.process(obs.frames[spec.CAMERA], self._frame)
        out = self.expert.output(obs, self.expert.plan())  # the label, whoever drives
        r = self.rows
        r["image"].append(np.rint(self._frame * 255.0).astype(np.uint8))
        r["nav"].append(self.nav.write(obs)[0].copy())
        r["ego"].append(self.ego.write(obs)[0].copy())
        r["trajectory"].append(out.trajectory_ego_xy_m.astype(np.float32))
        r["speed"].append(np.asarray(out.speed_profile_mps, np.float32))
        r["reason"].append(out.reasoning_text)
        # privileged, for an auxiliary loss only: the lead's exact gap and speed (nan: no lead)
        lead = self.expert.last_lead
        r["lead_gap_m"].append(np.nan if lead is None else lead.gap_m)
        r["lead_speed_mps"].append(np.nan if lead is None else lead.actor.speed_mps)
        if self.driver is not None:
            return self.driver.infer(obs)
        if self.noise > 0.0:
            dt = 0.05 if self._last_stamp is None else max(1e-3, obs.stamp_s - self._last_stamp)
            offset_m, scale = self.lateral.step(dt), 1.0 + self.speed.step(dt)
            traj = out.trajectory_ego_xy_m.copy()
            traj[:, 1] += offset_m
            speeds = out.speed_profile_mps  # the expert always gives one
            out = replace(
                out,
                trajectory_ego_xy_m=traj,
                speed_profile_mps=None if speeds is None else np.maximum(0.0, speeds * scale),
            )
        self._last_stamp = obs.stamp_s
        return out

    def reset(self) -> None:
        if self.driver is not None:
            self.driver.reset()

    def arrays(self) -> dict:
        r = self.rows
        return {
            "image": np.stack(r["image"]),
            "nav": np.stack(r["nav"]),
            "ego": np.stack(r["ego"]),
            "trajectory": np.stack(r["trajectory"]),
            "speed": np.stack(r["speed"]),
            "reason": np.asarray(r["reason"]),
            "lead_gap_m": np.asarray(r["lead_gap_m"], np.float32),
            "lead_speed_mps": np.asarray(r["lead_speed_mps"], np.float32),
        }


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """np.savez_compressed at zlib level 1 (np.load reads it): a quarter of level 6's time for 10 % more bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)


def rig_with_size(camera: str, size: str, folder: Path) -> Path:
    """The default camera rig with `camera` at `size` ('WxH'; its fov, mounting and rate kept), as a file."""
    width, height = size_wxh(size)
    doc = yaml.safe_load(default_rig_path().read_text())
    doc["cameras"][camera].update(width=width, height=height)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{camera}-{width}x{height}.yaml"
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # workers write it side by side: each whole, then renamed
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
    os.replace(tmp, path)
    load_camera_rig(path)  # CameraRigError (one line) for a size the rig schema refuses
    return path


def preprocessing() -> str:
    """How this recipe's frames are made, stored with every run: what the simulator draws (its renderer's
    version) and the image preprocessing they go through."""
    return json.dumps({**asdict(spec.IMAGE), "renderer": RENDERER_VERSION}, sort_keys=True)


# runs cached before the preprocessing was stored with them were downscaled bilinearly (and drawn without brake
# lamps: renderer 1, a version runs stored nothing of before it was 2)
_UNSTORED = json.dumps(asdict(replace(spec.IMAGE, interpolation="linear")), sort_keys=True)


def stale_runs(runs: List[RunSpec], out_dir: Path) -> List[Path]:
    """Cached runs whose frames were drawn or preprocessed otherwise than this recipe's: training on them would
    mix two inputs under one model."""
    stale, current = [], preprocessing()
    for run in runs:
        path = out_dir / f"{run.name}.npz"
        if path.is_file():
            with np.load(path) as archive:
                stored = str(archive["preprocessing"]) if "preprocessing" in archive.files else _UNSTORED
            if stored != current:
                stale.append(path)
    return stale


def record(run: RunSpec, out_dir: Path) -> Path:
    """Drive one run and save its frames to out_dir/<name>.npz; returns the file (reused when present)."""
    path = out_dir / f"{run.name}.npz"
    if path.is_file():
        return path
    holder: List[RecordingPolicy] = []
    t0 = time.monotonic()

    def factory(expert, cfg):
        driver = None
        if run.driver == "student":
            driver = Pipeline.from_config(cfg, run.model).policy
        holder.append(RecordingPolicy(expert, driver, run.noise, run.seed))
        return holder[0]

    rig = rig_with_size(spec.CAMERA, run.camera_size, out_dir / "rigs") if run.camera_size else None
    opts = DriveOptions(
        scenario=run.scenario, seed=run.seed, policy_factory=factory, camera_rig=rig, brake_lamps=run.brake_lamps
    )
    result = run_drive(opts)
    data = holder[0].arrays()
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    save_npz(
        tmp,
        **data,
        driving_score=np.float32(result.metrics["driving_score"]),
        collisions=np.int32(result.metrics["collisions"]),
        record_s=np.float32(time.monotonic() - t0),
        preprocessing=np.str_(preprocessing()),
    )
    tmp.replace(path)
    return path
