"""`vehicle-runtime eval`: the distilled student and its teacher on held-out seeds, side by side."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .scenario import ScenarioError, available


def add_parser(sub) -> None:
    from .evaluation import HELD_OUT_SEEDS

    p = sub.add_parser("eval", help="student vs teacher on the scenario suite, held-out seeds")
    p.add_argument("--policy", choices=("student", "expert", "both"), default="both")
    p.add_argument("--seeds", default=",".join(map(str, HELD_OUT_SEEDS)),
                   help="comma-separated, ranges A-B allowed, e.g. 1000-1999 (default: held-out seeds never used in training)")
    p.add_argument("--scenarios", default=",".join(available()))
    p.add_argument("--model", type=Path, help="student model folder (default: policy.param.yaml's model_path)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="runs in parallel processes")
    p.add_argument("--check", nargs="?", const=True, metavar="THRESHOLDS",
                   help="exit 1 unless the issue's targets are met; with a THRESHOLDS YAML: exit 1 when the candidate "
                        "is worse than the baseline (teacher or --baseline) with 95 %% significance")
    from .eval_fleet import add_arguments

    add_arguments(p)  # cluster, grid, results file, report (docs/evaluation.md)
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    p.set_defaults(run=run)


def run(args) -> int:
    from . import eval_fleet
    from .eval_grid import parse_seeds
    from .evaluation import SCORE_RATIO_TARGET, TOKEN_ACCURACY_TARGET

    try:
        seeds = parse_seeds(args.seeds)
    except ValueError as exc:
        print(f"eval: {exc}", file=sys.stderr)
        return 2
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = [s for s in scenarios if s not in available() and not Path(s).suffix]
    if unknown or not seeds or not scenarios:
        print(f"eval: unknown scenario(s) {unknown} (shipped: {', '.join(available())})" if unknown else
              "eval: no seeds or scenarios", file=sys.stderr)
        return 2
    policies = ("student", "expert") if args.policy == "both" else (args.policy,)
    try:
        result = eval_fleet.evaluate_args(args, scenarios, seeds, policies)
    except (ScenarioError, ValueError, eval_fleet.RunFailed) as exc:
        print(f"eval: {exc}", file=sys.stderr)
        return 2
    _print_table(result, seeds)
    eval_fleet.print_statistics(result)
    fails = result.get("check_failures", [])
    for f in fails:
        print(f"eval: worse than the baseline: {f}", file=sys.stderr)
    if args.json:
        print(json.dumps(result))
    if fails:
        return 1
    if args.check is True and not result["targets_met"]:
        print(f"eval: targets not met (score ratio >= {SCORE_RATIO_TARGET} on every scenario, no collisions, "
              f"token accuracy >= {TOKEN_ACCURACY_TARGET})", file=sys.stderr)
        return 1
    return 0


def _fmt(v, spec=".3f") -> str:
    return "-" if v is None else format(v, spec)


def _print_table(r: dict, seeds) -> None:
    shown = ', '.join(map(str, seeds)) if len(seeds) <= 10 else f"{seeds[0]}..{seeds[-1]} ({len(seeds)})"
    print(f"seeds {shown}: student vs teacher (driving score, collisions, lateral RMS m, min gap m)")
    print(f"  {'scenario':<18} {'student':>8} {'teacher':>8} {'ratio':>6} {'coll s/t':>9} {'lat s':>6} {'lat t':>6} "
          f"{'gap s':>6} {'gap t':>6} {'tokens':>7}")
    for row in r["per_scenario"]:
        print(f"  {row['scenario']:<18} {_fmt(row['student_driving_score']):>8} {_fmt(row['teacher_driving_score']):>8} "
              f"{_fmt(row['score_ratio'], '.2f'):>6} {row['student_collisions']:>4}/{row['teacher_collisions']:<4} "
              f"{_fmt(row['student_lateral_rms_m'], '.2f'):>6} {_fmt(row['teacher_lateral_rms_m'], '.2f'):>6} "
              f"{_fmt(row['student_min_gap_m'], '.1f'):>6} {_fmt(row['teacher_min_gap_m'], '.1f'):>6} "
              f"{_fmt(row['reasoning_token_accuracy'], '.3f'):>7}")
    print(f"  mean driving score: student {_fmt(r['student_driving_score_mean'])}, teacher "
          f"{_fmt(r['teacher_driving_score_mean'])}; student collisions {r['student_collisions']}; "
          f"reasoning token accuracy {_fmt(r['reasoning_token_accuracy'])}; targets met: {r['targets_met']}")
