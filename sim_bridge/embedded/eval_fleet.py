"""`vehicle-runtime eval` at scale: the options eval_cli adds, the run on a backend, statistics, re-run
commands, the HTML report and the significance check (docs/evaluation.md)."""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import fields
from pathlib import Path
from typing import Optional, Sequence

import yaml

from .eval_run import RunFailed  # noqa: F401 - eval_cli reports it in one line


def add_arguments(p) -> None:
    from vehicle_runtime import cli_types as T

    p.add_argument(
        "--cluster",
        metavar="pool|auto|ADDRESS",
        help="pool: processes on this machine (default); auto: start a local Ray runtime; ray://HOST:PORT "
        "or HOST:PORT: an existing Ray cluster (default: $RAY_ADDRESS when set)",
    )
    p.add_argument(
        "--bundle", type=T.existing_file, help="candidate bundle file (its config/ and models/) instead of --model"
    )
    p.add_argument("--config", type=T.existing_dir, help="candidate config folder (default: the installed config/)")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="PATH=V1,V2",
        help="scenario variation axis, e.g. target_speed_mps=8,10 or actors.*.speed_mps=5,7 (repeatable: "
        "every combination, each with every seed)",
    )
    p.add_argument("--duration", type=T.seconds, help="seconds of simulated time per run (default: the scenario's)")
    p.add_argument(
        "--bags",
        nargs="+",
        type=T.file_or_dir,
        default=[],
        metavar="BAG",
        help="recorded drives replayed through the candidate, one task each (vehicle-runtime replay)",
    )
    p.add_argument(
        "--results",
        type=T.output_file((".jsonl",)),
        help="JSON lines of finished runs; an interrupted evaluation resumes from it",
    )
    p.add_argument(
        "--baseline",
        type=T.existing_file,
        metavar="RESULTS",
        help="results file of the baseline build on the same seeds (paired comparison, --check)",
    )
    p.add_argument(
        "--report",
        type=T.output_file((".html",)),
        help="write the HTML report (distributions, intervals, worst runs) here",
    )
    p.add_argument("--worst", type=T.count, default=10, help="worst runs listed per policy")


def evaluate_args(args, scenarios: Sequence[str], seeds: Sequence[int], policies: Sequence[str]) -> dict:
    """Runs what the arguments ask for; the summary evaluation.summarise gives, plus 'statistics' and 'rerun'.
    ValueError: bad input (one line for the user)."""
    from .eval_grid import parse_grid, plan
    from .eval_results import ResultsFile
    from .eval_run import execute, resolve_cluster
    from .eval_stats import statistics
    from .eval_tasks import pack_build
    from .evaluation import EvalRun, summarise

    if args.model and args.bundle:
        raise ValueError("give --model or --bundle, not both")
    if args.duration is not None and args.duration <= 0:
        raise ValueError("--duration must be positive")
    if args.baseline and not args.baseline.is_file():
        raise ValueError(f"--baseline {args.baseline}: no such results file")
    for bag in args.bags:
        if not bag.exists():
            raise ValueError(f"--bags: {bag} does not exist")
    thresholds = load_thresholds(args.check) if args.check not in (None, True) else None
    cluster = resolve_cluster(args.cluster)
    grid = parse_grid(args.grid)
    jobs = plan(scenarios, seeds, policies, grid, args.duration, args.bags)
    _check_grid(jobs)
    blob = pack_build(args.model, args.bundle, args.config)
    rows = execute(jobs, blob, ResultsFile(args.results), cluster, args.workers)
    names = [f.name for f in fields(EvalRun)]
    runs = [EvalRun(**{k: r[k] for k in names if k in r}) for r in rows if r["policy"] != "replay"]
    labels = list(dict.fromkeys(j.label for j in jobs if j.policy != "replay"))
    result = summarise(runs, labels)
    baseline = list(ResultsFile(args.baseline)) if args.baseline else None
    result["statistics"] = stats = statistics(rows, baseline, args.worst)
    result["rerun"] = {
        pol: [rerun_command(w, args, _where(args)) for w in worst] for pol, worst in stats["worst"].items()
    }
    result["cluster"], result["build"], result["results_file"] = cluster, blob.digest, str(args.results or "")
    if thresholds is not None:
        from .eval_stats import check

        result["check_failures"] = check(stats, thresholds)
    if args.report:
        from .eval_report import write_report

        result["report"] = str(write_report(args.report, result, rows))
    return result


def _check_grid(jobs) -> None:
    """Every grid point applied once here, so a bad PATH fails before anything runs."""
    from .eval_grid import materialise

    for job in {(j.scenario, j.params): j for j in jobs if j.params}.values():
        materialise(job)


def _where(args) -> Path:
    anchor = args.results or args.report
    return (Path(anchor).parent if anchor else Path("runs")) / "eval-scenarios"


def rerun_command(run: dict, args, where: Path) -> str:
    """The one line that drives this run again locally, with its report (a grid point's scenario is written
    as a YAML under `where`)."""
    scenario = run["scenario"]
    if run.get("params"):
        from .eval_grid import apply_overrides
        from .scenario import SCENARIO_DIR

        base = run.get("source") or scenario.split("[", 1)[0]
        src = Path(base) if Path(base).suffix else SCENARIO_DIR / f"{base}.yaml"
        raw = apply_overrides(yaml.safe_load(src.read_text()), tuple(sorted(run["params"].items())))
        where.mkdir(parents=True, exist_ok=True)
        label = scenario
        path = where / (re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") + ".yaml")
        path.write_text(yaml.safe_dump(raw))
        scenario = str(path)
    policy = "student" if run.get("policy", "student") == "student" else "expert"
    cmd = ["vehicle-runtime", "drive", "--scenario", scenario, "--seed", str(run["seed"]), "--policy", policy]
    if args.model:
        cmd += ["--model", str(args.model)]
    if args.config:
        cmd += ["--config", str(args.config)]
    if args.duration:
        cmd += ["--duration", f"{args.duration:g}"]
    cmd += ["--out", f"runs/rerun-{Path(scenario).stem}-{run['seed']}-{policy}"]
    return shlex.join(cmd)


def load_thresholds(path: Path) -> dict:
    try:
        th = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"--check {path}: {exc}") from None
    if not isinstance(th, dict):
        raise ValueError(f"--check {path}: expected a mapping of thresholds")
    from .eval_stats import validate_thresholds

    try:
        validate_thresholds(th)  # before anything runs, not after the last run
    except ValueError as exc:
        raise ValueError(f"--check {path}: {exc}") from None
    return th


def _ci(ci: Optional[tuple], spec: str = ".3f") -> str:
    return "-" if not ci else f"[{ci[0]:{spec}}, {ci[1]:{spec}}]"


def print_statistics(result: dict, out=None) -> None:
    out = out or sys.stdout  # looked up now: a default bound at import misses a redirected stdout
    stats = result["statistics"]
    for pol, per in stats["per_scenario"].items():
        print(f"{pol}: driving score mean [95 % bootstrap CI], collision rate [Wilson 95 % CI]", file=out)
        for sc, g in list(per.items()) + [("overall", stats["overall"][pol])]:
            print(
                f"  {sc:<40} {g['driving_score_mean']:.3f} {_ci(g['driving_score_ci95'])}  "
                f"{g['collision_rate']:.3f} {_ci(g['collision_rate_ci95'])}  n={g['runs']}",
                file=out,
            )
        _print_validation(pol, per, stats["overall"][pol], out)
    for name, comp in stats["paired"].items():
        p = comp["overall"]
        if p["pairs"]:
            print(
                f"{name.replace('_', ' ')}: score difference {p['score_diff_mean']:+.3f} "
                f"{_ci(p['score_diff_ci95'], '+.3f')}, collision rate difference {p['collision_rate_diff']:+.3f} "
                f"{_ci(p['collision_rate_diff_ci95'], '+.3f')} over {p['pairs']} paired runs",
                file=out,
            )
            if p.get("rule_penalty_diff") is not None:
                print(
                    f"  plans refused share difference {_fmt(p['rejected_share_diff'], '+.3f')} "
                    f"{_ci(p['rejected_share_diff_ci95'], '+.3f')}, rule penalty difference "
                    f"{p['rule_penalty_diff']:+.3f} {_ci(p['rule_penalty_diff_ci95'], '+.3f')}",
                    file=out,
                )
    for pol, cmds in result["rerun"].items():
        worst = stats["worst"][pol][:3]
        for w, cmd in zip(worst, cmds):
            print(
                f"worst {pol}: {w['scenario']} seed {w['seed']} score {w['driving_score']:.3f} "
                f"collisions {w['collisions']}: {cmd}",
                file=out,
            )
    if "replay" in stats:
        r = stats["replay"]
        print(f"replayed drives: {r['passed']}/{r['drives']} passed {_ci(r['pass_rate_ci95'])}", file=out)


def _fmt(v, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def _print_validation(pol: str, per: dict, overall: dict, out) -> None:
    """The trajectory validator's and the rule score's statistics per scenario and overall (rows that have them)."""
    if not overall.get("validator") and not overall.get("rule_score"):
        return
    print(
        f"{pol}: plans refused by the validator, share per run [95 % bootstrap CI]; runs with a validator MRM "
        "request [Wilson 95 % CI]; rule penalty per plan (0 best, 1 worst) [95 % bootstrap CI]",
        file=out,
    )
    for sc, g in list(per.items()) + [("overall", overall)]:
        v, rs = g.get("validator") or {}, g.get("rule_score") or {}
        print(
            f"  {sc:<40} {_fmt(v.get('rejected_share_mean'))} {_ci(v.get('rejected_share_ci95'))}  "
            f"{_fmt(v.get('mrm_run_rate'))} {_ci(v.get('mrm_run_rate_ci95'))}  "
            f"{_fmt(rs.get('penalty_mean'))} {_ci(rs.get('penalty_mean_ci95'))}  "
            f"refused {v.get('plans_rejected', '-')}/{v.get('plans_checked', '-')} plans",
            file=out,
        )
    by_rule = (overall.get("validator") or {}).get("rejected_by_rule") or {}
    if by_rule:
        print("  refused by rule: " + ", ".join(f"{k} ×{n}" for k, n in by_rule.items()), file=out)
