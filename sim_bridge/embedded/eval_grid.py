"""What an evaluation runs: seed ranges, a scenario grid (scenario × variation parameters) and the jobs.

A job is one (scenario, grid point, seed, policy) or one recorded drive. Each is reproducible from
(scenario, seed, build): the grid point's overrides are applied to the scenario's YAML before the seed's
variation (variation.py), whose random stream depends only on the scenario's name and the seed.
"""

from __future__ import annotations

import copy
import itertools
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

from .scenario import SCENARIO_DIR

MAX_RUNS = 10_000_000  # a typo such as 0-99999999 is refused before anything is planned


def parse_seeds(text: str) -> List[int]:
    """'1000,1001', '0-9999' or a mix ('0-9,100'); ranges are inclusive, duplicates dropped, order kept."""
    seeds: Dict[int, None] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            a, b = (int(lo), int(hi)) if sep else (int(part), int(part))
        except ValueError:
            raise ValueError(f"--seeds: '{part}' is not an integer or a range A-B (e.g. 0-9999)") from None
        if a < 0 or b < a:
            raise ValueError(f"--seeds: '{part}' must be non-negative and ascending")
        if b - a + 1 + len(seeds) > MAX_RUNS:
            raise ValueError(f"--seeds: more than {MAX_RUNS} seeds")
        seeds.update(dict.fromkeys(range(a, b + 1)))
    if not seeds:
        raise ValueError("--seeds: no seeds")
    return list(seeds)


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"--grid: '{text}' is not a number") from None


def parse_grid(specs: Sequence[str]) -> List[Tuple[Tuple[str, float], ...]]:
    """['target_speed_mps=8,10', 'camera.noise_std=0,4'] -> every combination, as sorted (path, value) pairs.
    No spec: one point without overrides."""
    axes = []
    for spec in specs:
        path, sep, values = spec.partition("=")
        if not sep or not path.strip() or not values.strip():
            raise ValueError(f"--grid: '{spec}' must look like PATH=V1,V2 (e.g. target_speed_mps=8,10,12)")
        axes.append([(path.strip(), _number(v.strip())) for v in values.split(",") if v.strip()])
    return [tuple(sorted(point)) for point in itertools.product(*axes)]


def apply_overrides(raw: dict, params: Sequence[Tuple[str, float]]) -> dict:
    """The scenario's YAML with dotted paths set: 'target_speed_mps', 'ego.speed_mps', 'camera.noise_std',
    'actors.0.speed_mps', 'actors.*.speed_mps' (every actor that has the key)."""
    out = copy.deepcopy(raw)
    for path, value in params:
        parts = path.split(".")
        targets = [out]
        for name in parts[:-1]:
            nxt = []
            for t in targets:
                if isinstance(t, list):
                    nxt += t if name == "*" else [t[int(name)]] if name.isdigit() and int(name) < len(t) else []
                elif isinstance(t, dict):
                    if name == "camera":
                        t.setdefault("camera", {})  # camera effects default to none
                    if name in t:
                        nxt.append(t[name])
            targets = nxt
        leaf = parts[-1]
        hit = [t for t in targets if isinstance(t, dict) and (leaf in t or parts[0] == "camera")]
        if not hit:
            raise ValueError(f"--grid: the scenario '{raw.get('name')}' has no '{path}'")
        for t in hit:
            t[leaf] = value
    return out


def point_label(params: Sequence[Tuple[str, float]]) -> str:
    return ",".join(f"{k}={v:g}" for k, v in params)


@dataclass(frozen=True)
class Job:
    scenario: str  # a shipped name or a YAML path
    seed: int
    policy: str  # student | expert | replay
    params: Tuple[Tuple[str, float], ...] = ()
    duration_s: Optional[float] = None

    @property
    def label(self) -> str:
        """The scenario as results and statistics group it: its name plus the grid point."""
        if self.policy == "replay":
            return self.scenario  # the bag's path: two bags may share a folder name
        name = Path(self.scenario).stem if Path(self.scenario).suffix else self.scenario
        return f"{name}[{point_label(self.params)}]" if self.params else name

    @property
    def key(self) -> str:
        """What a result is counted under (once): a retried or resumed job has the same key."""
        return f"{self.label}|{self.seed}|{self.policy}"


def plan(
    scenarios: Sequence[str],
    seeds: Sequence[int],
    policies: Sequence[str],
    grid=((),),
    duration_s: Optional[float] = None,
    bags: Sequence[Path] = (),
) -> List[Job]:
    """Seeds outermost, so that a stopped evaluation has every scenario and both policies on the seeds it ran
    (the paired student-teacher comparison needs both runs of a seed)."""
    jobs = [
        Job(sc, seed, pol, tuple(point), duration_s)
        for seed in seeds
        for sc in scenarios
        for point in grid
        for pol in policies
    ]
    jobs += [Job(str(b), 0, "replay") for b in bags]
    if len(jobs) > MAX_RUNS:
        raise ValueError(f"{len(jobs)} runs planned, more than {MAX_RUNS}")
    return jobs


_materialised: Dict[Tuple[str, tuple], str] = {}


def materialise(job: Job) -> str:
    """The scenario for run_drive: its name as it is, or a YAML written once per process with the overrides."""
    if not job.params:
        return job.scenario
    cache_key = (job.scenario, job.params)
    if cache_key not in _materialised:
        path = Path(job.scenario) if Path(job.scenario).suffix else SCENARIO_DIR / f"{job.scenario}.yaml"
        raw = apply_overrides(yaml.safe_load(path.read_text()), job.params)
        out = Path(tempfile.mkdtemp(prefix="eval-grid-")) / path.name
        out.write_text(yaml.safe_dump(raw))
        _materialised[cache_key] = str(out)
    return _materialised[cache_key]
