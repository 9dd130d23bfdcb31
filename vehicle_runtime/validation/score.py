"""The validator's rules as a bounded penalty per trajectory: the rule-based reward.

Each rule's ratio r (measured / allowed, see rules.py) gives a penalty
`w · clip((r − 0.5) / 1.0, 0, 1)`: nothing while a quantity stays under half its limit, w/2 at the
limit, the whole weight at 1.5 × the limit and beyond. The weights sum to 1, so the penalty of one
trajectory lies in [0, 1] (0: every rule comfortably kept). The weights favour what the validator
would reject outright (non-finite, plan jumps, the car's own limits) over comfort.

Drives record every policy output (`save_outputs`); `vehicle-runtime score RUN_DIR` replays them
through a fresh validator and scores them again, offline, exactly as online.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, Iterable, List, Optional, cast

import numpy as np

from ..types import PolicyOutput, Pose2D
from .rules import RULES
from .validator import TrajectoryValidator, Verdict

WEIGHTS: Dict[str, float] = {
    "non_finite": 0.15,
    "point_spacing": 0.04,
    "relative_angle": 0.06,
    "curvature": 0.06,
    "lateral_accel": 0.08,
    "lateral_jerk": 0.04,
    "longitudinal_accel": 0.06,
    "steering_angle": 0.06,
    "steering_rate": 0.04,
    "speed_deviation": 0.06,
    "position_deviation": 0.06,
    "forward_length": 0.06,
    "time_to_collision": 0.07,
    "plan_shift": 0.08,
    "speed_shift": 0.08,
}
assert set(WEIGHTS) == set(RULES) and abs(sum(WEIGHTS.values()) - 1.0) < 1e-9
FREE_RATIO = 0.5  # below half its limit a rule costs nothing
FULL_RATIO = 1.5  # at 1.5 x its limit a rule costs its whole weight
RECORD_FILE = "trajectories.npz"


def rule_penalties(ratios: Dict[str, float]) -> Dict[str, float]:
    out = {}
    for rule, w in WEIGHTS.items():
        r = ratios.get(rule, 0.0)
        frac = 1.0 if not math.isfinite(r) else min(max((r - FREE_RATIO) / (FULL_RATIO - FREE_RATIO), 0.0), 1.0)
        out[rule] = w * frac
    return out


def penalty(ratios: Dict[str, float]) -> float:
    return float(sum(rule_penalties(ratios).values()))


def statistics(penalties: Iterable[float]) -> dict:
    p = np.asarray(list(penalties), dtype=np.float64)
    if not len(p):
        return {"penalty_count": 0, "penalty_mean": None, "penalty_p95": None, "penalty_max": None}
    return {
        "penalty_count": int(len(p)),
        "penalty_mean": float(p.mean()),
        "penalty_p95": float(np.percentile(p, 95)),
        "penalty_max": float(p.max()),
    }


def run_figures(status: dict, verdicts: Iterable[Optional[Verdict]]) -> dict:
    """One drive's validator counters (its `status.as_dict()`) and the rule-penalty statistics of its
    verdicts: what the drive's summary.json and an evaluation's result row carry."""
    return {
        "validator_checked": status.get("checked", 0),
        "validator_rejected": status.get("rejected", 0),
        "validator_rejected_by_rule": dict(status.get("rejected_by_rule", {})),
        "validator_mrm_requests": status.get("mrm_requests", 0),
        "validator_low_confidence": status.get("low_confidence", 0),
        "rule_penalty": statistics(penalty(v.ratios) for v in verdicts if v is not None),
    }


# --- recording and offline re-scoring ------------------------------------------------------------
def save_outputs(path: Path, outputs: List[PolicyOutput], ego_speeds_mps: List[float]) -> None:
    """Every policy output of a run with the measured speed it was validated against (npz)."""
    if not outputs:
        np.savez_compressed(path, stamp_s=np.zeros(0))
        return
    T = max(len(o.trajectory_ego_xy_m) for o in outputs)
    traj = np.full((len(outputs), T, 2), np.nan)
    speed = np.full((len(outputs), T), np.nan)
    has_speed = np.zeros(len(outputs), dtype=bool)
    for i, o in enumerate(outputs):
        n = len(o.trajectory_ego_xy_m)
        traj[i, :n] = o.trajectory_ego_xy_m
        if o.speed_profile_mps is not None:
            speed[i, :n], has_speed[i] = o.speed_profile_mps, True
    np.savez_compressed(
        path,
        stamp_s=np.array([o.stamp_s for o in outputs]),
        dt_s=np.array([o.dt_s for o in outputs]),
        pose=np.array(
            [[o.ego_pose_at_stamp.x_m, o.ego_pose_at_stamp.y_m, o.ego_pose_at_stamp.yaw_rad] for o in outputs]
        ),
        length=np.array([len(o.trajectory_ego_xy_m) for o in outputs]),
        trajectory=traj,
        speed=speed,
        has_speed=has_speed,
        confidence=np.array([o.confidence for o in outputs]),
        ego_speed_mps=np.array(ego_speeds_mps),
    )


def load_outputs(path: Path) -> tuple[List[PolicyOutput], List[float]]:
    with np.load(path) as z:
        if not len(z["stamp_s"]):
            return [], []
        outs = []
        for i in range(len(z["stamp_s"])):
            n = int(z["length"][i])
            outs.append(
                PolicyOutput(
                    stamp_s=float(z["stamp_s"][i]),
                    ego_pose_at_stamp=Pose2D(*map(float, z["pose"][i])),
                    trajectory_ego_xy_m=z["trajectory"][i, :n].copy(),
                    dt_s=float(z["dt_s"][i]),
                    speed_profile_mps=z["speed"][i, :n].copy() if z["has_speed"][i] else None,
                    confidence=float(z["confidence"][i]),
                )
            )
        return outs, [float(v) for v in z["ego_speed_mps"]]


def replay(validator: TrajectoryValidator, outputs: List[PolicyOutput], ego_speeds_mps: List[float]) -> List[Verdict]:
    """The verdicts the validator gives these outputs in this order (as online: same references)."""
    validator.reset()
    verdicts = []
    for out, v in zip(outputs, ego_speeds_mps):
        validator.accept(out, v)
        verdicts.append(cast(Verdict, validator.last_verdict))  # cast: accept sets it
    return verdicts


def score_run(validator: TrajectoryValidator, run_dir: Path) -> dict:
    outputs, speeds = load_outputs(Path(run_dir) / RECORD_FILE)
    verdicts = replay(validator, outputs, speeds)
    pens = [penalty(v.ratios) for v in verdicts]
    by_rule = dict.fromkeys(RULES, 0.0)
    for v in verdicts:
        for rule, p in rule_penalties(v.ratios).items():
            by_rule[rule] += p
    n = max(len(verdicts), 1)
    return {
        "run": str(run_dir),
        **statistics(pens),
        "rejected": validator.status.rejected,
        "rejected_by_rule": {k: c for k, c in validator.status.rejected_by_rule.items() if c},
        "penalty_mean_by_rule": {k: round(v / n, 6) for k, v in by_rule.items() if v},
    }


def last_penalty(validator: Optional[TrajectoryValidator]) -> Optional[float]:
    if validator is None or validator.last_verdict is None:
        return None
    return penalty(validator.last_verdict.ratios)
