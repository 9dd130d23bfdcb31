"""CARLA from the command line.

    vehicle-runtime drive --sim carla [--carla-host H] [--carla-port P] [--town Town01] [--policy student]
        the runtime in this process drives a CARLA ego in lockstep; same report as the embedded drive
    vehicle-runtime carla-bridge [--can-interface socketcan --can-channel can0] [--carla-host H]
        HIL on the simulation PC: camera / route / odometry / GNSS on the ROS 2 topics for the compute box,
        the by-wire gateway on the real CAN bus, CARLA in real time

Every failure to reach or use the server is one line on stderr and exit status 2, never a traceback;
a refused parameter file or model is one line and status 1 (vehicle_runtime.cli_errors). SIGINT /
SIGTERM: CARLA's settings are restored, the ego's safe-state frames sent, exit status 130 / 143.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from vehicle_runtime import cli_types as T

from .connection import CarlaUnavailable


def add_connection_args(p) -> None:
    p.add_argument("--carla-host", type=T.non_empty, help="CARLA server host (default: carla_hil.param.yaml's host)")
    p.add_argument("--carla-port", type=T.port, help="CARLA server RPC port, 1..65535 (default 2000)")
    p.add_argument("--carla-timeout", type=T.seconds, help="seconds to wait for the server, > 0")
    p.add_argument("--town", help="map to load, e.g. Town01 ('' keeps the loaded one)")
    p.add_argument(
        "--carla-take-over",
        action="store_true",
        default=None,
        help="drive a world another client already ticks synchronously",
    )
    p.add_argument("--carla-params", type=T.existing_file, help="a carla_hil.param.yaml other than the package's")


def add_parser(sub) -> None:
    p = sub.add_parser("carla-bridge", help="HIL: CARLA → ROS 2 topics for the compute box, CAN → CARLA control")
    add_connection_args(p)
    p.add_argument(
        "--can-interface", type=_interface, help="the gateway's CAN adapter (default: carla_hil.param.yaml's)"
    )
    p.add_argument("--can-channel", type=T.non_empty)
    p.add_argument("--namespace", type=T.ros_namespace)
    p.add_argument("--duration", type=T.seconds, help="seconds, > 0")
    p.add_argument("--out", type=T.output_dir, help="report folder (default: runs/carla-hil-<time>)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_bridge)


@T.kind("choice")
def _interface(text: str) -> str:
    from vehicle_runtime.can import SUPPORTED_INTERFACES

    return T.choice_of(SUPPORTED_INTERFACES, "CAN interface")(text)


def _params(args, **extra):
    from .params import load_bridge_params

    return load_bridge_params(
        args.carla_params,
        host=args.carla_host,
        port=args.carla_port,
        timeout_s=args.carla_timeout,
        town=args.town,
        take_over=args.carla_take_over,
        duration_s=args.duration,
        **extra,
    )


def run_drive(args) -> int:
    """`vehicle-runtime drive --sim carla`."""
    from vehicle_runtime.pipeline import Pipeline

    from .sinks import InProcessRuntime

    if args.policy != "student":
        print(
            "drive: --policy expert needs the embedded simulator's privileged world; on CARLA the student drives",
            file=sys.stderr,
        )
        return 2

    recorder = None

    def sink(cfg, bus_cfg, params, cameras):
        nonlocal recorder
        from vehicle_runtime.can import open_bus

        s = InProcessRuntime(cfg, open_bus(bus_cfg), pipeline=Pipeline.from_config(cfg, args.model), owns_bus=True)
        if getattr(args, "record", None):  # drive --record: the same bag as the embedded simulator's
            from vehicle_runtime.record.recorder import for_run
            from vehicle_runtime.record.tap import RecordingRuntime

            recorder = for_run(args.record, cfg, args.model, "student", getattr(args, "record_jpeg", None))
            s.runtime = RecordingRuntime(s.runtime, recorder)
        return s

    try:
        return _run(args, sink, policy="student", realtime=args.realtime, default_out="carla")
    finally:
        if recorder is not None:
            recorder.close()


def run_bridge(args) -> int:
    from .sinks import DdsTopics

    def sink(cfg, bus_cfg, params, cameras):
        return DdsTopics(params.namespace, {name: c.focal_length_px for name, c in cameras.items()})

    return _run(
        args,
        sink,
        policy="remote",
        realtime=True,
        default_out="carla-hil",
        can_interface=args.can_interface,
        can_channel=args.can_channel,
        namespace=args.namespace,
    )


def _run(args, make_sink, policy: str, realtime: bool, default_out: str, **extra) -> int:
    from vehicle_runtime.config import load_runtime_config

    from ..embedded.cli import _print_table, summarise
    from ..embedded.report import write_report
    from .session import run_carla

    # refused inputs (ConfigError, ManifestError, ...) rise to cli.main: one line, status 1
    params = _params(args, **{k: v for k, v in extra.items() if v is not None})
    cfg = load_runtime_config(getattr(args, "config", None))  # drive --config; the bridge uses the installed one
    cameras = _model_cameras(getattr(args, "model", None), cfg, params.fixed_delta_s)
    out = args.out or T.output_dir(str(Path("runs") / f"{default_out}-{time.strftime('%Y%m%d-%H%M%S')}"))
    try:
        result = run_carla(
            params,
            make_sink,
            policy,
            realtime=realtime,
            cfg=cfg,
            cameras=cameras,
            gateway_bus=params.bus if policy == "remote" else None,
        )
    except CarlaUnavailable as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # SIGINT / SIGTERM (cli_signals.Interrupted): run_carla's finally ran
        stop = getattr(args, "stop", None)
        print(
            f"{args.command}: interrupted ({stop.name if stop else 'SIGINT'}); CARLA's settings were restored, "
            "safe-state frames sent; no report (the run did not finish)",
            file=sys.stderr,
        )
        return stop.exit_code if stop else 130
    except RuntimeError as exc:  # the server went away mid-run (carla raises RuntimeError for RPC failures)
        print(f"{args.command}: CARLA: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2
    summary = summarise(result, realtime)
    summary["report"] = str(write_report(result, out, summary))
    _print_table(summary)
    if args.json:
        print(json.dumps(summary))
    return 0


def _model_cameras(model_path, cfg, fixed_delta_s: float) -> dict:
    """The rig's cameras the model reads, in the manifest's order (its first is the reference); a camera
    the rig lacks, a field of view or frame rate that differs, or a CARLA step that gives another frame rate
    than the model's (every camera delivers every tick) is refused here, before the server is touched."""
    from vehicle_runtime.camera_rig import check_model_cameras, load_camera_rig
    from vehicle_runtime.student.contract import check_rates
    from vehicle_runtime.student.manifest import load_manifest

    manifest = load_manifest(model_path or cfg.model_path, check_sha256=False)
    rig = load_camera_rig(cfg.camera_rig_path)
    check_model_cameras(manifest, rig, f"the camera rig ({cfg.camera_rig_path})")
    step_hz = {c.camera: 1.0 / fixed_delta_s for c in manifest.cameras}
    check_rates(manifest, step_hz, f"the CARLA step (fixed_delta_s {fixed_delta_s:g} s)")
    return {c.camera: rig[c.camera] for c in manifest.cameras}
