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
from typing import Dict, List, Optional, Sequence

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


# per-run numbers that are not a metric (or have their own statistic above)
NOT_METRICS = {"seed", "driving_score", "collisions", "token_hits", "token_positions", "wall_time_s", "duration_s"}


def metric_stats(rows: Sequence[dict]) -> Dict[str, dict]:
    """Mean and bootstrap interval of every other numeric per-run field (route completion, lateral RMS, min gap,
    and any score a drive adds to evaluation.EvalRun, such as a validator's or a rule-based score)."""
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
    out: Dict[str, object] = {
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
    return out


def paired(cand: Sequence[dict], base: Sequence[dict]) -> dict:
    """Candidate minus baseline on the (scenario, seed) both ran."""
    b = {(r["scenario"], r["seed"]): r for r in base}
    pairs = [(r, b[(r["scenario"], r["seed"])]) for r in cand if (r["scenario"], r["seed"]) in b]
    d_score = [c["driving_score"] - t["driving_score"] for c, t in pairs]
    d_coll = [int(c.get("collisions", 0) > 0) - int(t.get("collisions", 0) > 0) for c, t in pairs]
    return {
        "pairs": len(pairs),
        "score_diff_mean": float(np.mean(d_score)) if pairs else None,
        "score_diff_ci95": bootstrap_ci(d_score),
        "collision_rate_diff": float(np.mean(d_coll)) if pairs else None,
        "collision_rate_diff_ci95": bootstrap_ci(d_coll),
        "worse": sum(1 for d in d_score if d < 0),
        "better": sum(1 for d in d_score if d > 0),
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
    "per_scenario": True,  # the paired checks also per scenario (each at 95 %)
    "compare": "auto",  # candidate_vs_baseline when a baseline is given, else student_vs_teacher
}


def check(stats: dict, thresholds: dict) -> List[str]:
    """Failures: only those a 95 % interval supports (the whole interval on the wrong side)."""
    th = {**DEFAULT_THRESHOLDS, **thresholds}
    unknown = set(thresholds) - set(DEFAULT_THRESHOLDS)
    if unknown:
        raise ValueError(f"unknown threshold(s) {sorted(unknown)} (known: {', '.join(DEFAULT_THRESHOLDS)})")
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
    for where, p in groups:
        ci, cc = p["score_diff_ci95"], p["collision_rate_diff_ci95"]
        if ci and ci[1] < -th["score_drop_max"]:
            fails.append(
                f"{where}: driving score {p['score_diff_mean']:+.3f} vs {name.split('_vs_')[1]} "
                f"(95 % CI {ci[0]:+.3f}..{ci[1]:+.3f}, {p['pairs']} paired runs) is below -{th['score_drop_max']}"
            )
        if cc and cc[0] > th["collision_rate_increase_max"]:
            fails.append(
                f"{where}: collision rate {p['collision_rate_diff']:+.3f} vs {name.split('_vs_')[1]} "
                f"(95 % CI {cc[0]:+.3f}..{cc[1]:+.3f}) is above +{th['collision_rate_increase_max']}"
            )
    cand = stats["overall"].get("student")
    if th["collision_rate_max"] is not None and cand and cand["collision_rate_ci95"]:
        lo = cand["collision_rate_ci95"][0]
        if lo > th["collision_rate_max"]:
            fails.append(
                f"overall: collision rate {cand['collision_rate']:.3f} (Wilson 95 % CI from {lo:.3f}) is "
                f"above {th['collision_rate_max']}"
            )
    return fails
