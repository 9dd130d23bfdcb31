"""The replay gate: a candidate build replayed on recorded drives, compared against a baseline (the
recorded outputs, another build, or a bag of another build's outputs), judged against thresholds.

`replay_verdict(...)` returns one JSON-ready dict ("pass", per-bag differences, failures, both builds'
identities): `vehicle-runtime replay --json` prints it, and `bundle create` can put it into the
signed build info (build_info["replay"]) so a flashed build carries the evidence it passed.
Safety transitions have no tolerance: one added or missing transition fails the gate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import yaml

from . import reader
from .compare import compare
from .replay import Build, ReplayRun, replay
from .topics import OUTPUTS

DEFAULT_THRESHOLDS = {
    "trajectory_max_m": 0.5,  # largest point distance between matched trajectories
    "trajectory_p99_m": 0.2,
    "steer_max_rad": 0.02,  # commands let through by the gate, and the tracker's requests
    "accel_max_mps2": 0.3,
    "reasoning_agreement_min": 0.8,  # mean whitespace-token agreement
    "validation_changes_max": 0,  # validator verdicts that differ
    "missing_outputs_max": 0,  # trajectories / commands on one side only
}


class ThresholdError(ValueError):
    """A thresholds file with unknown keys or non-numeric values."""


def load_thresholds(path: Optional[Path]) -> Dict[str, float]:
    th = dict(DEFAULT_THRESHOLDS)
    if path is None:
        return th
    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ThresholdError(f"{path}: {exc}") from None
    unknown = sorted(set(doc) - set(th)) if isinstance(doc, dict) else ["(not a mapping)"]
    if unknown:
        raise ThresholdError(f"{path}: unknown threshold(s) {unknown}; known: {sorted(th)}")
    for k, v in doc.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ThresholdError(f"{path}: {k} must be a number, got {v!r}")
        th[k] = float(v)
    return th


def failures(summary: dict, th: Dict[str, float]) -> List[str]:
    traj, cmd, req = summary["/policy/trajectory"], summary["/vehicle/command"], summary["/control/request"]
    checks = [
        (
            traj["max_m"] > th["trajectory_max_m"],
            f"trajectory max distance {traj['max_m']:.3f} m > {th['trajectory_max_m']:g} m (at {traj['worst_t_s']} s)",
        ),
        (
            traj["p99_m"] > th["trajectory_p99_m"],
            f"trajectory p99 distance {traj['p99_m']:.3f} m > {th['trajectory_p99_m']:g} m",
        ),
        (
            summary["/policy/reasoning"]["token_agreement_mean"] < th["reasoning_agreement_min"],
            f"reasoning token agreement {summary['/policy/reasoning']['token_agreement_mean']:.3f} < "
            f"{th['reasoning_agreement_min']:g}",
        ),
        (
            summary["/policy/validation"]["changed"] > th["validation_changes_max"],
            f"{summary['/policy/validation']['changed']} validator verdict(s) changed",
        ),
    ]
    for name, c in (("command", cmd), ("request", req)):
        checks += [
            (
                c["steer_max_rad"] > th["steer_max_rad"],
                f"{name} steering differs by {c['steer_max_rad']:.4f} rad > "
                f"{th['steer_max_rad']:g} (at {c['worst_steer_t_s']} s)",
            ),
            (
                c["accel_max_mps2"] > th["accel_max_mps2"],
                f"{name} acceleration differs by {c['accel_max_mps2']:.3f} "
                f"m/s² > {th['accel_max_mps2']:g} (at {c['worst_accel_t_s']} s)",
            ),
        ]
    for name, c in (("trajectories", traj), ("commands", cmd)):
        n = c["missing"] + c["added"]
        checks.append(
            (n > th["missing_outputs_max"], f"{n} {name} on one side only ({c['missing']} missing, {c['added']} added)")
        )
    tr = summary["/vehicle/safety_transition"]
    checks += [
        (bool(tr["added"]), f"safety transition(s) added: {tr['added']}"),
        (bool(tr["missing"]), f"safety transition(s) missing: {tr['missing']}"),
    ]
    return [msg for bad, msg in checks if bad]


Baseline = Union[str, Build, Path]  # "recorded" | a build | a bag of the baseline's outputs


def baseline_outputs(bag: Path, baseline: Baseline, topic_map=None):
    """(outputs, label, identity) of the baseline for one input bag."""
    if isinstance(baseline, Build):
        run = replay(bag, baseline, topic_map)
        return run.outputs, baseline.label, run.identity, run
    source = Path(bag) if baseline == "recorded" else Path(baseline)
    return reader.outputs(source, OUTPUTS), f"recorded in {source.name}", reader.info(source).custom_data, None


def replay_verdict(
    bags: Sequence[Path],
    candidate: Build,
    baseline: Baseline = "recorded",
    thresholds: Optional[Dict[str, float]] = None,
    topic_map=None,
    keep_runs: Optional[list] = None,
    save_outputs: Optional[Path] = None,
) -> dict:
    th = dict(thresholds or DEFAULT_THRESHOLDS)
    results, speeds, ok = [], [], True
    for bag in bags:
        run: ReplayRun = replay(bag, candidate, topic_map)
        if save_outputs is not None:
            from .replay import save_outputs as save

            save(run, Path(save_outputs) / Path(bag).name)
        base, label, base_identity, base_run = baseline_outputs(bag, baseline, topic_map)
        summary, series = compare(base, run.outputs)
        fails = failures(summary, th)
        ok = ok and not fails
        speeds.append(run.speed_x_realtime)
        results.append(
            {
                "bag": str(bag),
                "recorded_by": reader.info(bag).custom_data,
                "baseline": label,
                "baseline_identity": base_identity,
                "sim_time_s": run.sim_time_s,
                "wall_time_s": run.wall_time_s,
                "replay_speed_x_realtime": run.speed_x_realtime,
                "frames": run.frames,
                "differences": summary,
                "failures": fails,
            }
        )
        if keep_runs is not None:
            keep_runs.append((bag, run, base, series, label))
    return {
        "pass": ok,
        "candidate": candidate.label,
        "candidate_identity": candidate.identity(),
        "thresholds": th,
        "replay_speed_x_realtime": min(speeds) if speeds else None,
        "bags": results,
    }
