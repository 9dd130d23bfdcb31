"""Statistics a release decision needs, from the results file's rows.

Driving score: mean with a 95 % percentile-bootstrap interval. The score is bounded in [0, 1] and
lumpy (1.0 for a clean run, ×0.6 per vehicle collision, partial completion when the car stops), so a
t-interval can leave [0, 1] and assumes a symmetry these distributions lack; the bootstrap needs
neither. It is seeded, so one results file always gives the same interval. Below ~20 runs per group
any interval undercovers: use more seeds for a release decision.
Collision rate (share of runs with >= 1 collision): Wilson score interval, which stays inside [0, 1]
and keeps its coverage at 0 collisions, where the normal approximation gives a zero-width interval.
Student vs teacher (or a candidate vs a baseline build): paired by (scenario, seed), the mean paired
difference with its bootstrap interval: the same situations, so the seed-to-seed variance cancels.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

Z95 = 1.959963984540054
BOOTSTRAP_RESAMPLES = 4000
BOOTSTRAP_SEED = 20250101


def bootstrap_ci(values: Sequence[float], level: float = 0.95) -> Optional[tuple]:
    """(lo, hi) of the mean, percentile bootstrap; None below 2 values."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return None
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    means = np.empty(BOOTSTRAP_RESAMPLES)
    chunk = max(1, 4_000_000 // len(x))  # bounded memory for 10 000s of runs
    for i in range(0, BOOTSTRAP_RESAMPLES, chunk):
        n = min(chunk, BOOTSTRAP_RESAMPLES - i)
        means[i : i + n] = x[rng.integers(0, len(x), size=(n, len(x)))].mean(axis=1)
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def wilson_ci(successes: int, n: int, z: float = Z95) -> Optional[tuple]:
    if n == 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


# per-run numbers that are not a metric (or have their own statistic: the validator's and the rule score's below)
NOT_METRICS = {
    "seed",
    "driving_score",
    "collisions",
    "token_hits",
    "token_positions",
    "wall_time_s",
    "duration_s",
    "validator_checked",
    "validator_rejected",
    "validator_mrm_requests",
    "validator_low_confidence",
    "rule_penalty_mean",
    "rule_penalty_p95",
    "rule_penalty_max",
}


def metric_stats(rows: Sequence[dict]) -> Dict[str, dict]:
    """Mean and bootstrap interval of every other numeric per-run field (route completion, lateral RMS, min gap,
    and any further number a drive adds to evaluation.EvalRun)."""
    keys = sorted(
        {
            k
            for r in rows
            for k, v in r.items()
            if k not in NOT_METRICS and isinstance(v, (int, float)) and not isinstance(v, bool)
        }
    )
    out = {}
    for k in keys:
        vals = [r[k] for r in rows if isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)]
        out[k] = {"mean": float(np.mean(vals)), "ci95": bootstrap_ci(vals), "n": len(vals)}
    return out


def group_stats(rows: Sequence[dict]) -> dict:
    scores = [r["driving_score"] for r in rows]
    crashed = sum(1 for r in rows if r.get("collisions", 0) > 0)
    out: Dict[str, Any] = {
        "runs": len(rows),
        "driving_score_mean": float(np.mean(scores)) if scores else None,
        "driving_score_ci95": bootstrap_ci(scores),
        "collision_runs": crashed,
        "collision_rate": crashed / len(rows) if rows else None,
        "collision_rate_ci95": wilson_ci(crashed, len(rows)),
    }
    hits = sum(r.get("token_hits", 0) for r in rows)
    positions = sum(r.get("token_positions", 0) for r in rows)
    out["reasoning_token_accuracy"] = hits / positions if positions else None
    out["metrics"] = metric_stats(rows)
    out["validator"] = validator_stats(rows)
    out["rule_score"] = rule_score_stats(rows)
    return out


def rejected_share(row: dict) -> Optional[float]:
    """Share of the run's plans the trajectory validator refused; None for a row without the validator's figures
    (no validator, or written before they were recorded) or a run without plans."""
    checked = row.get("validator_checked")
    return row.get("validator_rejected", 0) / checked if checked else None


def validator_stats(rows: Sequence[dict]) -> Optional[dict]:
    """Plans checked and refused, the refused share per run (mean, bootstrap CI), the share of runs in which the
    validator asked for an MRM (Wilson CI), refusals by rule. None when no row carries the validator's figures."""
    have = [r for r in rows if r.get("validator_checked") is not None]
    if not have:
        return None
    shares = [s for s in map(rejected_share, have) if s is not None]
    mrm_runs = sum(1 for r in have if r.get("validator_mrm_requests", 0) > 0)
    by_rule: Dict[str, int] = defaultdict(int)
    for r in have:
        for rule, n in (r.get("validator_rejected_by_rule") or {}).items():
            by_rule[rule] += n
    return {
        "runs": len(have),
        "plans_checked": sum(r["validator_checked"] for r in have),
        "plans_rejected": sum(r.get("validator_rejected", 0) for r in have),
        "rejected_share_mean": float(np.mean(shares)) if shares else None,
        "rejected_share_ci95": bootstrap_ci(shares),
        "runs_with_rejection": sum(1 for r in have if r.get("validator_rejected", 0) > 0),
        "mrm_requests": sum(r.get("validator_mrm_requests", 0) for r in have),
        "mrm_runs": mrm_runs,
        "mrm_run_rate": mrm_runs / len(have),
        "mrm_run_rate_ci95": wilson_ci(mrm_runs, len(have)),
        "low_confidence": sum(r.get("validator_low_confidence", 0) for r in have),
        "rejected_by_rule": dict(sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def rule_score_stats(rows: Sequence[dict]) -> Optional[dict]:
    """The rule-based score (validation/score.py: a penalty in [0, 1] per plan, 0 best): the per-run mean and
    maximum penalty, each averaged over the runs with a bootstrap CI, and the worst plan of any run."""
    have = [r for r in rows if r.get("rule_penalty_mean") is not None]
    if not have:
        return None
    means = [r["rule_penalty_mean"] for r in have]
    maxes = [r["rule_penalty_max"] for r in have if r.get("rule_penalty_max") is not None]
    return {
        "runs": len(have),
        "penalty_mean": float(np.mean(means)),
        "penalty_mean_ci95": bootstrap_ci(means),
        "penalty_max_mean": float(np.mean(maxes)) if maxes else None,
        "penalty_max_mean_ci95": bootstrap_ci(maxes),
        "penalty_max": max(maxes) if maxes else None,
    }


def paired(cand: Sequence[dict], base: Sequence[dict]) -> dict:
    """Candidate minus baseline on the (scenario, seed) both ran."""
    b = {(r["scenario"], r["seed"]): r for r in base}
    pairs = [(r, b[(r["scenario"], r["seed"])]) for r in cand if (r["scenario"], r["seed"]) in b]
    d_score = [c["driving_score"] - t["driving_score"] for c, t in pairs]
    d_coll = [int(c.get("collisions", 0) > 0) - int(t.get("collisions", 0) > 0) for c, t in pairs]
    # the validator's and the rule score's differences on the pairs where both rows carry them
    shares = [(rejected_share(c), rejected_share(t)) for c, t in pairs]
    d_rej = [sc - st for sc, st in shares if sc is not None and st is not None]
    d_pen = [
        c["rule_penalty_mean"] - t["rule_penalty_mean"]
        for c, t in pairs
        if c.get("rule_penalty_mean") is not None and t.get("rule_penalty_mean") is not None
    ]
    return {
        "pairs": len(pairs),
        "score_diff_mean": float(np.mean(d_score)) if pairs else None,
        "score_diff_ci95": bootstrap_ci(d_score),
        "collision_rate_diff": float(np.mean(d_coll)) if pairs else None,
        "collision_rate_diff_ci95": bootstrap_ci(d_coll),
        "worse": sum(1 for d in d_score if d < 0),
        "better": sum(1 for d in d_score if d > 0),
        "rejected_share_diff": float(np.mean(d_rej)) if d_rej else None,
        "rejected_share_diff_ci95": bootstrap_ci(d_rej),
        "rule_penalty_diff": float(np.mean(d_pen)) if d_pen else None,
        "rule_penalty_diff_ci95": bootstrap_ci(d_pen),
    }


def statistics(rows: Sequence[dict], baseline: Optional[Sequence[dict]] = None, worst: int = 10) -> dict:
    """Per scenario and overall, per policy; the paired comparison (student vs teacher, and vs a baseline
    build's student when its rows are given); the worst student runs; replayed drives' pass rate."""
    by = defaultdict(list)
    for r in rows:
        if r["policy"] != "replay":
            by[(r["policy"], r["scenario"])].append(r)
    policies = sorted({p for p, _ in by})
    scenarios = sorted({s for _, s in by})
    out: Dict[str, dict] = {"overall": {}, "per_scenario": {}, "paired": {}, "worst": {}}
    for pol in policies:
        mine = [r for r in rows if r["policy"] == pol]
        out["overall"][pol] = group_stats(mine)
        out["per_scenario"][pol] = {sc: group_stats(by[(pol, sc)]) for sc in scenarios if by[(pol, sc)]}
        ranked = sorted(mine, key=lambda r: (r["driving_score"], -r.get("collisions", 0), r["scenario"], r["seed"]))
        out["worst"][pol] = [
            {
                k: r.get(k)
                for k in (
                    "scenario",
                    "source",
                    "seed",
                    "policy",
                    "params",
                    "driving_score",
                    "collisions",
                    "route_completion",
                    "validator_rejected",
                    "rule_penalty_mean",
                )
            }
            for r in ranked[:worst]
        ]
    student = [r for r in rows if r["policy"] == "student"]
    comparisons = {}
    if student and "expert" in policies:
        comparisons["student_vs_teacher"] = [r for r in rows if r["policy"] == "expert"]
    if student and baseline:
        comparisons["candidate_vs_baseline"] = [r for r in baseline if r["policy"] == "student"]
    for name, base in comparisons.items():
        out["paired"][name] = {
            "overall": paired(student, base),
            "per_scenario": {sc: paired([r for r in student if r["scenario"] == sc], base) for sc in scenarios},
        }
    replays = [r for r in rows if r["policy"] == "replay"]
    if replays:
        ok = sum(1 for r in replays if r["replay_pass"])
        out["replay"] = {
            "drives": len(replays),
            "passed": ok,
            "pass_rate_ci95": wilson_ci(ok, len(replays)),
            "failed": [r["scenario"] for r in replays if not r["replay_pass"]],
        }
    return out


DEFAULT_THRESHOLDS = {
    "score_drop_max": 0.0,  # the paired score difference may not be significantly below -this
    "collision_rate_increase_max": 0.0,  # the paired collision-rate difference may not be significantly above this
    "collision_rate_max": None,  # the candidate's collision rate may not be significantly above this
    # the validator and the rule score (None, or null in the YAML, turns any of these checks off)
    "rejected_share_increase_max": None,  # the paired difference of the share of plans refused, as above
    "rule_penalty_increase_max": None,  # the paired difference of the mean rule penalty per run, as above
    "rejected_share_max": None,  # the candidate's mean share of refused plans may not be significantly above this
    "validator_mrm_rate_max": None,  # the candidate's share of runs with a validator MRM request, as above
    "rule_penalty_mean_max": None,  # the candidate's mean rule penalty, as above
    "per_scenario": True,  # the paired checks also per scenario (each at 95 %)
    "compare": "auto",  # candidate_vs_baseline when a baseline is given, else student_vs_teacher
}
COMPARISONS = ("auto", "candidate_vs_baseline", "student_vs_teacher")
# paired threshold -> (difference, its interval, what it is, the sign a regression has)
PAIRED_CHECKS = {
    "score_drop_max": ("score_diff_mean", "score_diff_ci95", "driving score", -1),
    "collision_rate_increase_max": ("collision_rate_diff", "collision_rate_diff_ci95", "collision rate", +1),
    "rejected_share_increase_max": ("rejected_share_diff", "rejected_share_diff_ci95", "plans refused share", +1),
    "rule_penalty_increase_max": ("rule_penalty_diff", "rule_penalty_diff_ci95", "rule penalty", +1),
}
# the candidate's own figure -> (section of its overall statistics, value, interval, what it is)
LEVEL_CHECKS = {
    "collision_rate_max": (None, "collision_rate", "collision_rate_ci95", "collision rate"),
    "rejected_share_max": ("validator", "rejected_share_mean", "rejected_share_ci95", "plans refused share"),
    "validator_mrm_rate_max": ("validator", "mrm_run_rate", "mrm_run_rate_ci95", "validator MRM run rate"),
    "rule_penalty_mean_max": ("rule_score", "penalty_mean", "penalty_mean_ci95", "rule penalty"),
}


def validate_thresholds(thresholds: dict) -> dict:
    """The thresholds over the defaults; ValueError (one line) for an unknown key or a value of the wrong kind."""
    unknown = set(thresholds) - set(DEFAULT_THRESHOLDS)
    if unknown:
        raise ValueError(f"unknown threshold(s) {sorted(unknown)} (known: {', '.join(DEFAULT_THRESHOLDS)})")
    th = {**DEFAULT_THRESHOLDS, **thresholds}
    for key in (*PAIRED_CHECKS, *LEVEL_CHECKS):
        v = th[key]
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
            raise ValueError(f"threshold {key}: {v!r} is not a number (or null: not checked)")
    if not isinstance(th["per_scenario"], bool):
        raise ValueError(f"threshold per_scenario: {th['per_scenario']!r} is not true or false")
    if th["compare"] not in COMPARISONS:
        raise ValueError(f"threshold compare: {th['compare']!r} is not one of {', '.join(COMPARISONS)}")
    return th


def check(stats: dict, thresholds: dict) -> List[str]:
    """Failures: only those a 95 % interval supports (the whole interval on the wrong side)."""
    th = validate_thresholds(thresholds)
    fails = []
    name = th["compare"]
    if name == "auto":
        name = "candidate_vs_baseline" if "candidate_vs_baseline" in stats["paired"] else "student_vs_teacher"
    comp = stats["paired"].get(name)
    if comp is None:
        return [f"no {name.replace('_', ' ')} comparison: run both policies, or give --baseline"]
    groups = [("overall", comp["overall"])]
    if th["per_scenario"]:
        groups += sorted(comp["per_scenario"].items())
    other = name.split("_vs_")[1]
    for where, p in groups:
        for key, (mean_key, ci_key, what, sign) in PAIRED_CHECKS.items():
            limit, ci = th[key], p.get(ci_key)
            if limit is None or not ci:
                continue
            if sign < 0 and ci[1] < -limit:
                fails.append(
                    f"{where}: {what} {p[mean_key]:+.3f} vs {other} (95 % CI {ci[0]:+.3f}..{ci[1]:+.3f}, "
                    f"{p['pairs']} paired runs) is below -{limit}"
                )
            elif sign > 0 and ci[0] > limit:
                fails.append(
                    f"{where}: {what} {p[mean_key]:+.3f} vs {other} (95 % CI {ci[0]:+.3f}..{ci[1]:+.3f}) "
                    f"is above +{limit}"
                )
    cand = stats["overall"].get("student")
    for key, (section, value_key, ci_key, what) in LEVEL_CHECKS.items():
        group = (cand or {}).get(section) if section else cand
        if th[key] is None or not group or not group.get(ci_key):
            continue
        lo = group[ci_key][0]
        if lo > th[key]:
            kind = "Wilson" if ci_key.endswith("rate_ci95") else "bootstrap"
            fails.append(f"overall: {what} {group[value_key]:.3f} ({kind} 95 % CI from {lo:.3f}) is above {th[key]}")
    return fails
