"""Student against teacher on the scenario suite: driving metrics side by side, and how well the
student's reasoning agrees with the expert's reason on the same frames.

Seeds from 1000 up are never used to train the student (tools/distill refuses them), and every seed
other than 0 is a varied scenario (variation.py), so these runs are situations the student never saw.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from vehicle_runtime.student.tokenizer import END, Tokenizer
from vehicle_runtime.types import Observation, PolicyOutput

from .drive import DriveOptions, run_drive
from .expert import Expert
from .scenario import ScenarioError

HELD_OUT_SEEDS = (1000, 1001)
# issue 5's bar: the student keeps this share of the teacher's score on every scenario
SCORE_RATIO_TARGET, TOKEN_ACCURACY_TARGET = 0.9, 0.9


class NotControlledError(ScenarioError):
    """A run the policy never drove (no output, never engaged): its score would be the idle car's, so
    nothing is scored. E.g. a model whose camera never arrives or whose every frame fails preprocessing."""


def refuse_uncontrolled(result, what: str) -> None:
    o = result.outcome
    if o and (o["policy_outputs"] == 0 or not o["engaged"]):
        raise NotControlledError(
            f"{what}: the {result.policy} never controlled the car, nothing to score ({o['failure']})"
        )


def token_hits(predicted: Sequence[int], expected: Sequence[int]) -> Tuple[int, int]:
    """(matches, positions) over the expert's tokens up to and including its end token."""
    n = len(expected)
    return sum(int(i < len(predicted) and predicted[i] == expected[i]) for i in range(n)), n


class ReasoningProbe:
    """Wraps the student: after every inference, the expert's reason for the same moment is tokenised
    with the student's vocabulary and compared position by position."""

    def __init__(self, policy, expert: Expert, tokenizer: Tokenizer):
        self.policy, self.expert, self.tokenizer = policy, expert, tokenizer
        self.cameras, self.latency = policy.cameras, policy.latency
        self._end = tokenizer.encode(END)
        self.hits = self.positions = 0

    def infer(self, obs: Observation) -> PolicyOutput:
        out = self.policy.infer(obs)
        _, _, reason = self.expert.plan()
        hits, n = token_hits(out.reasoning_token_ids, self.tokenizer.encode(reason) + self._end)
        self.hits += hits
        self.positions += n
        return out

    def reset(self) -> None:
        self.policy.reset()


@dataclass
class EvalRun:
    scenario: str
    seed: int
    policy: str
    driving_score: float
    route_completion: float
    collisions: int
    lateral_rms_m: float
    min_gap_m: Optional[float]
    token_hits: int = 0
    token_positions: int = 0
    # the trajectory validator's figures and the rule-based score (validation/score.py) of the run's plans;
    # None: no validator configured, or a row from a results file written before they were recorded
    validator_checked: Optional[int] = None
    validator_rejected: Optional[int] = None
    validator_rejected_by_rule: Optional[Dict[str, int]] = None
    validator_mrm_requests: Optional[int] = None
    validator_low_confidence: Optional[int] = None
    rule_penalty_mean: Optional[float] = None
    rule_penalty_p95: Optional[float] = None
    rule_penalty_max: Optional[float] = None


def run_one(
    scenario: str,
    seed: int,
    policy: str,
    model_path: Optional[str] = None,
    duration_s: Optional[float] = None,
    config_dir: Optional[Path] = None,
) -> EvalRun:
    probes: List[ReasoningProbe] = []

    def student(expert, cfg):
        from vehicle_runtime.pipeline import Pipeline

        pipeline = Pipeline.from_config(cfg, model_path)
        probes.append(ReasoningProbe(pipeline.policy, expert, pipeline.student.tokenizer))
        return probes[0]

    opts = DriveOptions(
        scenario=scenario,
        seed=seed,
        policy=policy,
        duration_s=duration_s,
        policy_factory=student if policy == "student" else None,
    )
    cfg = None
    if config_dir is not None:  # a shipped build's config (eval_tasks); else the installed one
        from vehicle_runtime.config import load_runtime_config

        cfg = load_runtime_config(config_dir)
    result = run_drive(opts, cfg)
    refuse_uncontrolled(result, f"{scenario} seed {seed}")
    m = result.metrics
    probe = probes[0] if probes else None
    return EvalRun(
        scenario,
        seed,
        policy,
        m["driving_score"],
        m["route_completion"],
        m["collisions"],
        m["lateral_rms_m"],
        m["min_gap_m"],
        probe.hits if probe else 0,
        probe.positions if probe else 0,
        **validation_fields(result),
    )


def validation_fields(result) -> dict:
    """EvalRun's validator and rule-score fields from a drive (all None when it ran without a validator)."""
    if not result.validator_status:
        return {}
    from vehicle_runtime.validation.score import run_figures

    fig = run_figures(result.validator_status, (v for _, _, v in result.policy_record))
    pen = fig.pop("rule_penalty")
    return {**fig, **{f"rule_{k}": pen[k] for k in ("penalty_mean", "penalty_p95", "penalty_max")}}


def evaluate(
    scenarios: Sequence[str],
    seeds: Sequence[int],
    policies: Sequence[str],
    model_path: Optional[Path] = None,
    workers: int = 1,
) -> dict:
    jobs = [
        (sc, seed, pol, str(model_path) if model_path else None)
        for sc in scenarios
        for seed in seeds
        for pol in policies
    ]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            runs = list(pool.map(run_one, *zip(*jobs)))
    else:
        runs = [run_one(*job) for job in jobs]
    return summarise(runs, scenarios)


def summarise(runs: Sequence[EvalRun], scenarios: Sequence[str]) -> dict:
    def mean(policy, key, scenario=None):
        vals = [
            getattr(r, key)
            for r in runs
            if r.policy == policy and (scenario is None or r.scenario == scenario) and getattr(r, key) is not None
        ]
        return float(np.mean(vals)) if vals else None

    per_scenario = []
    for sc in scenarios:
        row: Dict[str, Any] = {"scenario": sc}
        for pol in ("student", "teacher"):
            name = "student" if pol == "student" else "expert"
            row[f"{pol}_driving_score"] = mean(name, "driving_score", sc)
            row[f"{pol}_collisions"] = sum(r.collisions for r in runs if r.policy == name and r.scenario == sc)
            row[f"{pol}_lateral_rms_m"] = mean(name, "lateral_rms_m", sc)
            gaps = [r.min_gap_m for r in runs if r.policy == name and r.scenario == sc and r.min_gap_m is not None]
            row[f"{pol}_min_gap_m"] = min(gaps) if gaps else None
        s, t = row["student_driving_score"], row["teacher_driving_score"]
        row["score_ratio"] = s / t if s is not None and t else None
        hits = sum(r.token_hits for r in runs if r.scenario == sc)
        positions = sum(r.token_positions for r in runs if r.scenario == sc)
        row["reasoning_token_accuracy"] = hits / positions if positions else None
        per_scenario.append(row)
    hits = sum(r.token_hits for r in runs)
    positions = sum(r.token_positions for r in runs)
    ratios = [r["score_ratio"] for r in per_scenario if r["score_ratio"] is not None]
    out = {
        "student_driving_score_mean": mean("student", "driving_score"),
        "teacher_driving_score_mean": mean("expert", "driving_score"),
        "student_collisions": sum(r.collisions for r in runs if r.policy == "student")
        if any(r.policy == "student" for r in runs)
        else None,
        "teacher_collisions": sum(r.collisions for r in runs if r.policy == "expert")
        if any(r.policy == "expert" for r in runs)
        else None,
        "reasoning_token_accuracy": hits / positions if positions else None,
        "min_score_ratio": min(ratios) if ratios else None,
        "seeds": sorted({r.seed for r in runs}),
        "per_scenario": per_scenario,
        "runs": [asdict(r) for r in runs],
    }
    out["targets_met"] = (
        bool(ratios)
        and out["min_score_ratio"] >= SCORE_RATIO_TARGET
        and out["student_collisions"] == 0
        and out["reasoning_token_accuracy"] is not None
        and out["reasoning_token_accuracy"] >= TOKEN_ACCURACY_TARGET
    )
    return out
