"""One evaluation run as a self-contained task: the job and the build in, one JSON-able result row out.

The build (config folder + model folder, or a bundle's) travels as bytes so that a worker on another
machine needs only the installed package: Ray puts it in its object store once, a local process pool
hands it to each worker process once. A worker unpacks it once per build digest.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Optional

from .eval_grid import Job, materialise


@dataclass
class BuildBlob:
    config: Dict[str, bytes]  # relative path -> bytes of the config folder
    model: Dict[str, bytes]  # of the model folder
    model_name: str
    label: str = "candidate"
    digest: str = field(default="")

    def __post_init__(self):
        if not self.digest:
            h = hashlib.sha256()
            for part in (self.config, self.model):
                for rel in sorted(part):
                    h.update(rel.encode() + b"\0" + part[rel])
            self.digest = h.hexdigest()[:16]

    @property
    def size_bytes(self) -> int:
        return sum(map(len, self.config.values())) + sum(map(len, self.model.values()))


def _files(folder: Path) -> Dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def pack_build(model: Optional[Path] = None, bundle: Optional[Path] = None, config: Optional[Path] = None) -> BuildBlob:
    """The candidate as replay loads it (record/replay.load_build), read into memory."""
    from vehicle_runtime.record.replay import load_build

    build = load_build(model, bundle, config)
    cfg = build.config()
    model_dir = Path(build.model_path or cfg.model_path)
    if not model_dir.is_dir():
        raise ValueError(f"model folder {model_dir} does not exist")
    blob = BuildBlob(_files(Path(build.config_dir)), _files(model_dir), model_dir.name, build.label)
    if build._tmp is not None:
        build._tmp.cleanup()
    return blob


_unpacked: Dict[str, tuple] = {}


def unpack(blob: BuildBlob):
    """(config dir, model dir) of the build on this worker, written once per digest."""
    if blob.digest not in _unpacked:
        root = Path(tempfile.mkdtemp(prefix=f"eval-build-{blob.digest}-"))
        for sub, files in (("config", blob.config), (f"models/{blob.model_name}", blob.model)):
            for rel, data in files.items():
                (root / sub / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / sub / rel).write_bytes(data)
        _unpacked[blob.digest] = (root / "config", root / "models" / blob.model_name)
    return _unpacked[blob.digest]


def run_job(job: Job, blob: BuildBlob) -> dict:
    """One drive (or one replayed bag) on the build; the row the results file stores."""
    config_dir, model_dir = unpack(blob)
    if job.policy == "replay":
        return _replay_row(job, config_dir, model_dir, blob.digest)
    from .evaluation import run_one

    t0 = time.perf_counter()
    run = asdict(run_one(materialise(job), job.seed, job.policy, str(model_dir), job.duration_s, config_dir))
    # wall_time_s is the only field that differs between two runs of the same job (the cost of a run)
    run.update(
        key=job.key,
        scenario=job.label,
        source=job.scenario,
        params=dict(job.params),
        build=blob.digest,
        duration_s=job.duration_s,
        wall_time_s=time.perf_counter() - t0,
    )
    return run


def _replay_row(job: Job, config_dir: Path, model_dir: Path, blob_digest: str) -> dict:
    from vehicle_runtime.record.gate import replay_verdict
    from vehicle_runtime.record.replay import load_build

    verdict = replay_verdict([Path(job.scenario)], load_build(model_dir, None, config_dir))
    bag = verdict["bags"][0]
    d = bag["differences"]
    return {
        "key": job.key,
        "scenario": job.label,
        "seed": 0,
        "policy": "replay",
        "params": {},
        "build": blob_digest,
        "duration_s": None,
        "replay_pass": bool(verdict["pass"]),
        "failures": bag["failures"],
        "trajectory_max_m": d["/policy/trajectory"]["max_m"],
        "steer_max_rad": d["/vehicle/command"]["steer_max_rad"],
        "replay_speed_x_realtime": bag["replay_speed_x_realtime"],
        "sim_time_s": bag["sim_time_s"],
        "wall_time_s": bag["wall_time_s"],
    }
