"""`vehicle-runtime eval`: the distilled student and its teacher on held-out seeds, side by side.

SIGINT / SIGTERM stop the suite between runs: the runs that finished are summarised, written to
--out (default runs/eval-<time>.json) and named, and the exit status is 130 / 143.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from vehicle_runtime import cli_types as T

from .cli import model_arg, scenario_arg
from .scenario import available


def add_parser(sub) -> None:
    from .evaluation import HELD_OUT_SEEDS

    p = sub.add_parser("eval", help="student vs teacher on the scenario suite, held-out seeds")
    p.add_argument("--policy", choices=("student", "expert", "both"), default="both")
    p.add_argument("--seeds", type=T.csv_of(T.seed, "seeds"), default=list(HELD_OUT_SEEDS),
                   help="comma-separated (default: held-out seeds never used in training)")
    p.add_argument("--scenarios", type=T.csv_of(scenario_arg, "scenarios"), default=available(),
                   help="comma-separated names or YAML paths (default: all shipped)")
    p.add_argument("--model", type=model_arg, help="student model folder (default: policy.param.yaml's model_path)")
    p.add_argument("--workers", type=T.workers, default=os.cpu_count() or 1, help="runs in parallel processes")
    p.add_argument("--out", type=T.output_file((".json",)), help="also write the result here (JSON)")
    p.add_argument("--check", action="store_true", help="exit 1 unless the issue's targets are met")
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    p.set_defaults(run=run)


def run(args) -> int:
    from vehicle_runtime.config import load_runtime_config

    from .evaluation import SCORE_RATIO_TARGET, TOKEN_ACCURACY_TARGET, summarise
    from .scenario import load_scenario

    seeds, scenarios = list(dict.fromkeys(args.seeds)), list(dict.fromkeys(args.scenarios))
    policies = ("student", "expert") if args.policy == "both" else (args.policy,)
    cfg = load_runtime_config()  # refuse a broken config or scenario now, not in the tenth worker
    for sc in scenarios:
        load_scenario(sc)
    if "student" in policies:  # the whole model (manifest, graph, session) once here, not in every worker
        from vehicle_runtime.pipeline import Pipeline

        Pipeline.from_config(cfg, args.model)
    jobs = [(sc, seed, pol, str(args.model) if args.model else None)
            for sc in scenarios for seed in seeds for pol in policies]
    runs = []
    try:
        print(f"eval: {len(jobs)} runs planned ({args.workers} worker(s))", file=sys.stderr, flush=True)
        _run_jobs(jobs, args.workers, runs, args.stop)
    except KeyboardInterrupt:  # SIGINT / SIGTERM: keep the runs that finished
        if args.stop.signum is None:
            raise
    result = summarise(runs, [sc for sc in scenarios if any(r.scenario == sc for r in runs)])
    _print_table(result, seeds)
    if args.stop:
        out = args.out or Path("runs") / f"eval-{time.strftime('%Y%m%d-%H%M%S')}.json"
        result["interrupted"] = {"signal": args.stop.name, "runs_done": len(runs), "runs_planned": len(jobs)}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1))
        print(f"eval: interrupted ({args.stop.name}) after {len(runs)}/{len(jobs)} runs; partial results: {out}",
              file=sys.stderr)
    elif args.out:
        args.out.write_text(json.dumps(result, indent=1))
    if args.json:
        print(json.dumps(result))
    if args.stop:
        return args.stop.exit_code
    if args.check and not result["targets_met"]:
        print(f"eval: targets not met (score ratio >= {SCORE_RATIO_TARGET} on every scenario, no collisions, "
              f"token accuracy >= {TOKEN_ACCURACY_TARGET})", file=sys.stderr)
        return 1
    return 0


def _done(runs: list, run, total: int) -> None:
    runs.append(run)
    print(f"eval: {len(runs)}/{total} done: {run.scenario} seed {run.seed} {run.policy}, "
          f"driving score {run.driving_score:.3f}", file=sys.stderr, flush=True)


def _run_jobs(jobs, workers: int, runs: list, stop) -> None:
    """Appends each finished run to `runs`; an interruption leaves the finished ones there. In this
    process a signal raises (cli_signals); with workers it is polled between results, so that it is
    never swallowed by a fork hook."""
    from .evaluation import run_one

    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            _done(runs, run_one(*job), len(jobs))
        return
    import multiprocessing

    stop.polled = True
    pool = multiprocessing.Pool(min(workers, len(jobs)), initializer=_ignore_signals)
    try:
        results = pool.imap_unordered(_run_job, jobs)
        while len(runs) < len(jobs) and not stop:
            try:
                _done(runs, results.next(timeout=0.2), len(jobs))
            except multiprocessing.TimeoutError:
                continue
        pool.close()
    finally:
        stop.polled = False
        pool.terminate()  # an interruption or a failed run: stop the others now
        pool.join()
    runs.sort(key=lambda r: [j[:3] for j in jobs].index((r.scenario, r.seed, r.policy)))


def _run_job(job):
    from .evaluation import run_one

    return run_one(*job)


def _ignore_signals() -> None:
    """Workers leave Ctrl-C (sent to the whole process group) to the parent, which stops them with
    SIGTERM, their default end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _fmt(v, spec=".3f") -> str:
    return "-" if v is None else format(v, spec)


def _print_table(r: dict, seeds) -> None:
    print(f"seeds {', '.join(map(str, seeds))}: student vs teacher (driving score, collisions, lateral RMS m, min gap m)")
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
