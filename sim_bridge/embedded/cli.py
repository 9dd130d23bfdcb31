"""`vehicle-runtime drive`: the closed loop on the embedded simulator, with a report."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..injector import parse_injection
from .scenario import DEFAULT_SCENARIO, ScenarioError, available


def add_parser(sub) -> None:
    p = sub.add_parser("drive", help="drive a scenario of the embedded simulator in closed loop over CAN")
    p.add_argument("--scenario", default=DEFAULT_SCENARIO, help=f"one of {', '.join(available())}, or a YAML path")
    p.add_argument("--policy", choices=("expert", "student"), default="student",
                   help="expert: the privileged teacher; student: the ONNX model from policy.param.yaml")
    p.add_argument("--model", type=Path, help="student model folder (default: policy.param.yaml's model_path)")
    p.add_argument("--camera-rig", type=Path, help="camera rig file (default: config/camera_rig.yaml)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--duration", type=float, help="seconds of simulated time (default: the scenario's)")
    p.add_argument("--realtime", action="store_true", help="pace to the wall clock and measure real latency")
    p.add_argument("--inject", action="append", default=[], metavar="FAULT@SECONDS",
                   help="inject a fault at a time, e.g. camera_stall@12 (repeatable)")
    p.add_argument("--can-log", type=Path, help="write every CAN frame (.asc, .blf, .log, .csv)")
    p.add_argument("--out", type=Path, help="output folder (default: runs/<scenario>-<policy>-<time>)")
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    p.add_argument("--sim", choices=("embedded", "carla"), default="embedded",
                   help="carla: drive a CARLA server's world instead (see docs/carla_hil.md)")
    from ..carla.cli import add_connection_args  # no carla import: only the flags

    add_connection_args(p)
    p.set_defaults(run=run)


def run(args) -> int:
    if args.sim == "carla":
        from ..carla.cli import run_drive as run_carla_drive

        return run_carla_drive(args)
    from .drive import DriveOptions, run_drive  # heavy imports only when driving
    from .report import write_report

    try:
        injections = [parse_injection(x) for x in args.inject]
    except ValueError as exc:
        print(f"drive: {exc}", file=sys.stderr)
        return 2
    progress = _Progress(args.scenario) if sys.stderr.isatty() else None
    opts = DriveOptions(scenario=args.scenario, policy=args.policy, seed=args.seed, duration_s=args.duration,
                        realtime=args.realtime, inject=injections, can_log=args.can_log, model_path=args.model,
                        camera_rig=args.camera_rig,
                        progress=progress)
    from vehicle_runtime.camera_rig import CameraRigError
    from vehicle_runtime.student import ManifestError

    try:
        result = run_drive(opts)
    except (ScenarioError, ManifestError, CameraRigError) as exc:
        print(f"drive: {exc}", file=sys.stderr)
        return 2
    finally:
        if progress:
            progress.close()
    summary = summarise(result, args.realtime)
    out = args.out or Path("runs") / f"{result.scenario}-{result.policy}-{time.strftime('%Y%m%d-%H%M%S')}"
    report = write_report(result, out, summary)
    summary["report"] = str(report)
    _print_table(summary)
    if args.json:
        print(json.dumps(summary))
    if summary.get("failure"):  # a run the policy never drove is no result: say why, exit non-zero
        print(f"drive: {summary['failure']}", file=sys.stderr)
        return 1
    return 0


def summarise(result, realtime: bool) -> dict:
    m = result.metrics
    s = {
        "scenario": result.scenario, "policy": result.policy,
        "driving_score": m["driving_score"], "route_completion": m["route_completion"],
        "infraction_penalty": m["infraction_penalty"], "collisions": m["collisions"],
        "off_road_events": m["off_road_events"], "lane_invasions": m["lane_invasions"],
        "lateral_rms_m": m["lateral_rms_m"], "lateral_max_m": m["lateral_max_m"], "min_gap_m": m["min_gap_m"],
        "jerk_rms_mps3": m["jerk_rms_mps3"], "safety_state_final": result.safety_state_final, "frames": result.frames,
        "sim_time_s": result.sim_time_s, "wall_time_s": result.wall_time_s,
        "realtime_factor": result.sim_time_s / max(result.wall_time_s, 1e-9),
        "reasoning_samples": len(result.reasoning), "last_reasoning": result.reasoning[-1][1] if result.reasoning else "",
        "injected": [f"{n}@{t:g}" for n, t in result.injected],
        **result.outcome,  # policy_outputs, frames_rejected, preprocess_failures, waiting_for, failure
    }
    if realtime:
        import numpy as np

        e2e = result.e2e_latency_ms
        s["e2e_latency_p50_ms"] = float(np.percentile(e2e, 50)) if e2e else None
        s["e2e_latency_p99_ms"] = float(np.percentile(e2e, 99)) if e2e else None
        s["deadline_misses"] = result.deadline_misses
    return s


def _print_table(summary: dict) -> None:
    print(f"drove '{summary['scenario']}' with the {summary['policy']} policy")
    for key, value in summary.items():
        if key in ("scenario", "policy") or isinstance(value, (list, dict)):
            continue
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"  {key:<22} {shown}")


class _Progress:
    """A progress bar on stderr (tqdm) while the drive runs."""

    def __init__(self, scenario: str):
        from tqdm import tqdm

        self._bar = tqdm(total=100, desc=f"drive {scenario}", unit="%", file=sys.stderr, leave=False)
        self._last = 0

    def __call__(self, t_s: float, duration_s: float) -> None:
        pct = int(100 * min(t_s / duration_s, 1.0))
        if pct > self._last:
            self._bar.update(pct - self._last)
            self._last = pct

    def close(self) -> None:
        self._bar.close()
