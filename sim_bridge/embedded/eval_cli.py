"""`vehicle-runtime eval`: the distilled student and its teacher on held-out seeds, side by side, on a
process pool or a Ray cluster (docs/evaluation.md).

Every finished run is appended to a JSON-lines results file (--results, default runs/eval-<time>.jsonl),
so an interrupted evaluation resumes where it stopped. SIGINT / SIGTERM stop the suite: the runs that
finished are summarised, written to --out (default runs/eval-<time>.json) and named, exit 130 / 143.
A refused input found once the evaluation starts (a thresholds file, a run that fails) exits 2: with
--check, 1 means "worse than the baseline".
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from vehicle_runtime import cli_types as T

from .cli import scenario_arg
from .scenario import available


@T.kind("csv")
def seeds_arg(text: str) -> list:
    """Comma-separated seeds and ranges A-B (each seed in 0..MAX_SEED)."""
    from .eval_grid import parse_seeds

    try:
        seeds = parse_seeds(text)
    except ValueError as exc:
        raise T.Error(str(exc)) from None
    bad = [s for s in seeds if not 0 <= s <= T.MAX_SEED]
    if bad or not seeds:
        raise T.Error(f"{text}: seeds are whole numbers 0..{T.MAX_SEED}")
    return seeds


def add_parser(sub) -> None:
    from .evaluation import HELD_OUT_SEEDS

    p = sub.add_parser("eval", help="student vs teacher on the scenario suite, held-out seeds (pool or Ray)")
    p.add_argument("--policy", choices=("student", "expert", "both"), default="both")
    p.add_argument(
        "--seeds",
        type=seeds_arg,
        default=list(HELD_OUT_SEEDS),
        help="comma-separated, ranges A-B allowed, e.g. 1000-1999 (default: held-out seeds never used in training)",
    )
    p.add_argument(
        "--scenarios",
        type=T.csv_of(scenario_arg, "scenarios"),
        default=available(),
        help="comma-separated names or YAML paths (default: all shipped)",
    )
    p.add_argument("--model", type=T.model_dir, help="student model folder (default: policy.param.yaml's model_path)")
    p.add_argument("--workers", type=T.workers, default=os.cpu_count() or 1, help="runs in parallel processes")
    p.add_argument("--out", type=T.output_file((".json",)), help="also write the result here (JSON)")
    p.add_argument(
        "--check",
        nargs="?",
        const=True,
        metavar="THRESHOLDS",
        help="exit 1 unless the issue's targets are met; with a THRESHOLDS YAML: exit 1 when the candidate "
        "is worse than the baseline (teacher or --baseline) with 95 %% significance",
    )
    from .eval_fleet import add_arguments

    add_arguments(p)  # cluster, grid, results file, report (docs/evaluation.md)
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    p.set_defaults(run=run)


def run(args) -> int:
    from vehicle_runtime.config import load_runtime_config

    from . import eval_fleet
    from .eval_grid import parse_grid, plan
    from .evaluation import SCORE_RATIO_TARGET, TOKEN_ACCURACY_TARGET
    from .scenario import load_scenario

    seeds, scenarios = list(dict.fromkeys(args.seeds)), list(dict.fromkeys(args.scenarios))
    policies = ("student", "expert") if args.policy == "both" else (args.policy,)
    cfg = load_runtime_config(args.config)  # refuse a broken config, scenario or model now, not in the tenth worker
    for sc in scenarios:
        load_scenario(sc)
    if args.model and args.bundle:
        raise T.Error("give --model or --bundle, not both")
    if not args.bundle:  # the cameras every run renders: the config folder's rig, with the model's cameras in it
        from vehicle_runtime.camera_rig import check_model_cameras, load_camera_rig
        from vehicle_runtime.pipeline import Pipeline

        rig = load_camera_rig(cfg.camera_rig_path)
        if "student" in policies:  # the whole model (manifest, graph, session) once here
            student = Pipeline.from_config(cfg, args.model).student
            if student is not None:
                check_model_cameras(student.manifest, rig, f"the camera rig ({cfg.camera_rig_path})")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if args.results is None:  # always resumable: the finished runs are on disk whatever happens
        args.results = args.out.with_suffix(".jsonl") if args.out else Path("runs") / f"eval-{stamp}.jsonl"
        args.results.parent.mkdir(parents=True, exist_ok=True)
    planned = 0
    try:
        from .eval_run import resolve_cluster

        resolve_cluster(args.cluster)  # Ray missing or no address: refused before anything runs
        planned = len(plan(scenarios, seeds, policies, parse_grid(args.grid), args.duration, args.bags))
        print(
            f"eval: {planned} runs planned ({args.workers} worker(s), {args.cluster or 'pool'}); results in "
            f"{args.results}",
            file=sys.stderr,
            flush=True,
        )
        result = eval_fleet.evaluate_args(args, scenarios, seeds, policies)
    except KeyboardInterrupt:  # SIGINT / SIGTERM: the finished runs are in the results file
        if not args.stop:
            raise
        return _interrupted(args, planned, stamp)
    except (ValueError, eval_fleet.RunFailed) as exc:  # status 2, not 1: with --check, 1 means "worse"
        print(f"eval: {exc}", file=sys.stderr)
        if args.json:
            print(json.dumps({"error": str(exc), "input": "eval"}))
        return 2
    _print_table(result, seeds)
    eval_fleet.print_statistics(result)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    fails = result.get("check_failures", [])
    for f in fails:
        print(f"eval: worse than the baseline: {f}", file=sys.stderr)
    if args.json:
        print(json.dumps(result))
    if fails:
        return 1
    if args.check is True and not result["targets_met"]:
        print(
            f"eval: targets not met (score ratio >= {SCORE_RATIO_TARGET} on every scenario, no collisions, "
            f"token accuracy >= {TOKEN_ACCURACY_TARGET})",
            file=sys.stderr,
        )
        return 1
    return 0


def _interrupted(args, planned: int, stamp: str) -> int:
    from .eval_results import ResultsFile

    done = len(list(ResultsFile(args.results))) if args.results.is_file() else 0
    out = args.out or Path("runs") / f"eval-{stamp}.json"
    result = {
        "interrupted": {"signal": args.stop.name, "runs_done": done, "runs_planned": planned},
        "results_file": str(args.results),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(
        f"eval: interrupted ({args.stop.name}) after {done}/{planned} runs; partial results: {out} "
        f"(resume with --results {args.results})",
        file=sys.stderr,
    )
    if args.json:
        print(json.dumps(result))
    return args.stop.exit_code


def _fmt(v, spec=".3f") -> str:
    return "-" if v is None else format(v, spec)


def _print_table(r: dict, seeds) -> None:
    shown = ", ".join(map(str, seeds)) if len(seeds) <= 10 else f"{seeds[0]}..{seeds[-1]} ({len(seeds)})"
    print(f"seeds {shown}: student vs teacher (driving score, collisions, lateral RMS m, min gap m)")
    print(
        f"  {'scenario':<18} {'student':>8} {'teacher':>8} {'ratio':>6} {'coll s/t':>9} {'lat s':>6} {'lat t':>6} "
        f"{'gap s':>6} {'gap t':>6} {'tokens':>7}"
    )
    for row in r["per_scenario"]:
        print(
            f"  {row['scenario']:<18} {_fmt(row['student_driving_score']):>8} {_fmt(row['teacher_driving_score']):>8} "
            f"{_fmt(row['score_ratio'], '.2f'):>6} {row['student_collisions']:>4}/{row['teacher_collisions']:<4} "
            f"{_fmt(row['student_lateral_rms_m'], '.2f'):>6} {_fmt(row['teacher_lateral_rms_m'], '.2f'):>6} "
            f"{_fmt(row['student_min_gap_m'], '.1f'):>6} {_fmt(row['teacher_min_gap_m'], '.1f'):>6} "
            f"{_fmt(row['reasoning_token_accuracy'], '.3f'):>7}"
        )
    print(
        f"  mean driving score: student {_fmt(r['student_driving_score_mean'])}, teacher "
        f"{_fmt(r['teacher_driving_score_mean'])}; student collisions {r['student_collisions']}; "
        f"reasoning token accuracy {_fmt(r['reasoning_token_accuracy'])}; targets met: {r['targets_met']}"
    )
