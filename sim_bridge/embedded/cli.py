"""`vehicle-runtime drive`: the closed loop on the embedded simulator, with a report.

Arguments are checked before the drive starts (the report folder and the CAN log must be writable,
every injected fault must fall inside the run). SIGINT / SIGTERM stop the loop: the runtime sends its
safe-state frames, the CAN log is closed, and the partial report is written and named.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from vehicle_runtime import cli_types as T
from vehicle_runtime.cli_errors import Refused

from ..injector import parse_injection
from .scenario import DEFAULT_SCENARIO, available


@T.kind("scenario")
def scenario_arg(text: str) -> str:
    """A shipped scenario's name, or a scenario file (YAML)."""
    if text in available():
        return text
    p = Path(text)
    if p.suffix or "/" in text:
        return str(T.existing_file(text))
    raise T.Error(f"no scenario '{text}' (shipped: {', '.join(available())}; or a YAML path)")


@T.kind("injection")
def injection_arg(text: str):
    try:
        return parse_injection(text)
    except ValueError as exc:
        raise T.Error(str(exc).removeprefix("--inject ")) from None  # argparse names the flag itself


def add_parser(sub) -> None:
    p = sub.add_parser("drive", help="drive a scenario of the embedded simulator in closed loop over CAN")
    p.add_argument(
        "--scenario",
        type=scenario_arg,
        default=DEFAULT_SCENARIO,
        help=f"one of {', '.join(available())}, or a YAML path",
    )
    p.add_argument(
        "--policy",
        choices=("expert", "student"),
        default="student",
        help="expert: the privileged teacher; student: the ONNX model from policy.param.yaml",
    )
    p.add_argument("--model", type=T.model_dir, help="student model folder (default: policy.param.yaml's model_path)")
    p.add_argument("--config", type=T.config_dir, help="config folder (default: the installed config/)")
    p.add_argument(
        "--camera-rig", type=T.existing_file, help="camera rig file (default: the --config folder's camera_rig.yaml)"
    )
    p.add_argument("--seed", type=T.seed, default=0, help=f"0..{T.MAX_SEED}")
    p.add_argument("--duration", type=T.seconds, help="seconds of simulated time, > 0 (default: the scenario's)")
    p.add_argument("--realtime", action="store_true", help="pace to the wall clock and measure real latency")
    p.add_argument(
        "--odometry-noise",
        type=T.scale(10.0, "odometry noise"),
        default=1.0,
        help="scale of the odometry's position, heading and speed noise (0: ground truth; default 1)",
    )
    p.add_argument(
        "--inject",
        type=injection_arg,
        action="append",
        default=[],
        metavar="FAULT@SECONDS",
        help="inject a fault at a time inside the run, e.g. camera_stall@12 (repeatable)",
    )
    p.add_argument("--can-log", type=T.can_log_file, help=f"write every CAN frame ({', '.join(T.CAN_LOG_SUFFIXES)})")
    p.add_argument(
        "--record",
        type=T.new_dir,
        metavar="DIR",
        help="record the run as a rosbag2 (MCAP) bag; see docs/record_replay.md",
    )
    p.add_argument(
        "--record-jpeg",
        type=T.int_range(1, 100, "JPEG quality"),
        metavar="QUALITY",
        help="store camera frames as JPEG (1-100; lossy: PSNR in the bag)",
    )
    p.add_argument("--out", type=T.output_dir, help="output folder (default: runs/<scenario>-<policy>-<time>)")
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    p.add_argument(
        "--sim",
        choices=("embedded", "carla"),
        default="embedded",
        help="carla: drive a CARLA server's world instead (see docs/carla_hil.md)",
    )
    from ..carla.cli import add_connection_args  # no carla import: only the flags

    add_connection_args(p)
    p.set_defaults(run=run)


def run(args) -> int:
    if args.sim == "carla":
        from ..carla.cli import run_drive as run_carla_drive

        return run_carla_drive(args)
    from vehicle_runtime.config import load_runtime_config

    from .drive import DriveOptions, run_drive  # heavy imports only when driving
    from .scenario import load_scenario

    if args.model and args.policy != "student":
        raise Refused(f"--model {args.model}: only the student policy uses a model (--policy student)", "--model")
    cfg = load_runtime_config(args.config)  # refuse a broken config, scenario or model before the drive starts
    factory = None
    if args.policy == "student":  # loaded here, before any bus opens, and handed to the drive
        from vehicle_runtime.pipeline import Pipeline

        policy = Pipeline.from_config(cfg, args.model).policy
        factory = lambda _expert, _cfg: policy  # noqa: E731
    duration_s = args.duration or load_scenario(args.scenario).duration_s
    late = [f"{n}@{t:g}" for n, t in args.inject if t > duration_s + 1e-9]
    if late:
        raise Refused(f"--inject {', '.join(late)}: after the run's end at {duration_s:g} s", late[0])
    out = args.out or T.output_dir(
        str(Path("runs") / f"{Path(args.scenario).stem}-{args.policy}-{time.strftime('%Y%m%d-%H%M%S')}")
    )
    try:
        recorder = _recorder(args, cfg) if args.record else None
    except RuntimeError as exc:  # record.writer.BagError: e.g. the bag folder exists
        raise Refused(f"--record {args.record}: {exc}", "--record") from None
    progress = _Progress(args.scenario) if sys.stderr.isatty() else None
    opts = DriveOptions(
        scenario=args.scenario,
        policy=args.policy,
        seed=args.seed,
        duration_s=args.duration,
        realtime=args.realtime,
        odometry_noise=args.odometry_noise,
        inject=args.inject,
        can_log=args.can_log,
        model_path=args.model,
        camera_rig=args.camera_rig,
        progress=progress,
        stop=args.stop,
        policy_factory=factory,
        recorder=recorder,
    )
    args.stop.polled = True  # a signal now ends the loop cleanly instead of raising
    try:
        result = run_drive(opts, cfg)
    finally:
        args.stop.polled = False
        if progress:
            progress.close()
        if recorder:
            recorder.close()
    summary = summarise(result, args.realtime)
    if args.record:
        summary["bag"] = str(args.record)
    fired = {(n, t) for n, t in args.inject if any(f == n and ft >= t - 1e-9 for f, ft in result.injected)}
    missed = [f"{n}@{t:g}" for n, t in args.inject if (n, t) not in fired]
    if missed:  # the route was done (or the run stopped) before their time: never reported as injected
        summary["inject_not_fired"] = missed
    if missed and not args.stop:
        print(f"drive: {', '.join(missed)} did not fire: the run ended at {result.sim_time_s:.2f} s", file=sys.stderr)
    return finish(args, result, summary, out)


def finish(args, result, summary: dict, out: Path) -> int:
    """Write the report (partial when a signal stopped the run), print it, name it, exit accordingly."""
    from .report import write_report

    stop = getattr(args, "stop", None)
    if stop:
        summary["interrupted"] = {"signal": stop.name, "at_s": round(result.sim_time_s, 3)}
    summary["report"] = str(out / "report.html")
    try:
        write_report(result, out, summary)
    except (OSError, ValueError) as exc:  # summary.json is written first; say what is missing
        summary["report"] = str(out / "summary.json")
        print(f"{args.command}: report incomplete ({exc}); summary in {out / 'summary.json'}", file=sys.stderr)
    _print_table(summary)
    if stop:
        saved = f"partial report: {summary['report']}"
        if getattr(args, "can_log", None):
            saved += f", CAN log: {args.can_log}"
        print(f"{args.command}: interrupted ({stop.name}) at {result.sim_time_s:.1f} s; {saved}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary))
    if stop:
        return stop.exit_code
    if summary.get("failure"):  # a run the policy never drove is no result: say why, exit non-zero
        print(f"{args.command}: {summary['failure']}", file=sys.stderr)
        return 1
    return 0


def summarise(result, realtime: bool) -> dict:
    m = result.metrics
    s = {
        "scenario": result.scenario,
        "policy": result.policy,
        "driving_score": m["driving_score"],
        "route_completion": m["route_completion"],
        "infraction_penalty": m["infraction_penalty"],
        "collisions": m["collisions"],
        "off_road_events": m["off_road_events"],
        "lane_invasions": m["lane_invasions"],
        "lateral_rms_m": m["lateral_rms_m"],
        "lateral_max_m": m["lateral_max_m"],
        "min_gap_m": m["min_gap_m"],
        "jerk_rms_mps3": m["jerk_rms_mps3"],
        "safety_state_final": result.safety_state_final,
        "frames": result.frames,
        "sim_time_s": result.sim_time_s,
        "wall_time_s": result.wall_time_s,
        "realtime_factor": result.sim_time_s / max(result.wall_time_s, 1e-9),
        "reasoning_samples": len(result.reasoning),
        "last_reasoning": result.reasoning[-1][1] if result.reasoning else "",
        "injected": [f"{n}@{t:.2f}" for n, t in result.injected],  # what fired, at the time it fired
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
        if key in ("scenario", "policy") or isinstance(value, dict):
            continue
        shown = (
            f"{value:.3f}" if isinstance(value, float) else ", ".join(value) if isinstance(value, list) else str(value)
        )
        if isinstance(value, list) and not value:
            continue
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


def _recorder(args, cfg):
    from vehicle_runtime.record.recorder import for_run

    from .drive import DT_S, camera_model

    cam = camera_model()
    return for_run(
        args.record,
        cfg,
        args.model,
        args.policy,
        args.record_jpeg,
        (cam.width, cam.height, cam.fx),
        lockstep_dt_s=None if args.realtime else DT_S,
    )
