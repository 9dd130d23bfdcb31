"""Start the nodes: `python -m ros_nodes.main fusion|policy|vehicle_interface|all [options]`.

--transport auto picks rclpy when it is importable (a sourced ROS 2 install), the ROS-free Cyclone
DDS transport otherwise. Several node names (or `all`) run in one process on one executor.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import List, Optional, Sequence

from vehicle_runtime.config import ConfigError, load_node_params, runtime_config
from vehicle_runtime.paths import share_dir
from vehicle_runtime.realtime import GarbageCollector, quiet_garbage_collector, single_malloc_arena

NODES = ("fusion", "policy", "vehicle_interface")
SWITCH_INTERVAL_S = 0.0005


def _boolean(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"expected true or false, got '{text}'")
    return text.lower() == "true"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("nodes", nargs="+", choices=(*NODES, "all"))
    p.add_argument("--transport", choices=("auto", "dds", "rclpy"), default="auto")
    p.add_argument("--config", help="config folder (default: the package's config/)")
    p.add_argument("--namespace", default="")
    p.add_argument("--model", help="student model folder (default: policy.param.yaml's model_path)")
    p.add_argument("--can-interface", help="override vehicle_interface.param.yaml's can_interface")
    p.add_argument("--can-channel", help="override can_channel")
    p.add_argument("--vehicle-profile", help="override the vehicle profile parameter file")
    p.add_argument(
        "--auto-engage",
        nargs="?",
        const="true",
        default="false",
        type=_boolean,
        help="simulation only: engage as soon as READY (the launch file passes true / false)",
    )
    p.add_argument("--use-sim-time", action="store_true")
    return p


def flag_overrides(args) -> dict:
    """The command line's overrides (the launch file's arguments) as {schema: {parameter: value}}; paths
    absolute (a relative one is meant from where the command runs)."""
    absolute = lambda p: str(Path(p).resolve()) if p else None  # noqa: E731
    wanted = {
        "vehicle_interface": {
            "can_interface": args.can_interface,
            "can_channel": args.can_channel,
            "vehicle_profile": absolute(args.vehicle_profile),
        },
        "policy": {"model_path": absolute(args.model)},
    }
    return {schema: {k: v for k, v in values.items() if v} for schema, values in wanted.items()}


def _manifest(cfg):
    from vehicle_runtime.student import load_manifest

    return load_manifest(cfg.model_path)


def build(names: Sequence[str], handle_for, args) -> List[object]:
    config_dir = Path(args.config) if args.config else share_dir() / "config"
    files = load_node_params(config_dir)
    flags = flag_overrides(args)
    params = {schema: {**values, **flags.get(schema, {})} for schema, values in files.items()}
    nodes: List[object] = []
    for name in names:
        handle = handle_for(name)
        # on rclpy the node's parameters are ROS parameters (declared from the schemas, launch overrides applied,
        # the command line's flags forced), so `ros2 param get` shows what the node runs with
        declare = getattr(handle, "declare_parameters", None)
        cfg = runtime_config(declare(name, files, flags) if declare else params, config_dir)
        if name == "fusion":
            from .fusion_node import FusionNode

            model_cameras = _manifest(cfg).cameras
            nodes.append(
                FusionNode(
                    handle,
                    cfg,
                    cameras={c.camera: c.fov_deg for c in model_cameras},
                    rates_hz={c.camera: c.rate_hz for c in model_cameras},
                )
            )
        elif name == "policy":
            from vehicle_runtime.pipeline import Pipeline  # onnxruntime only where the model runs

            from .policy_node import PolicyNode

            nodes.append(PolicyNode(handle, cfg, Pipeline.from_config(cfg)))
        else:
            from .vehicle_interface_node import VehicleInterfaceNode

            safety = replace(cfg.safety, auto_engage=args.auto_engage or cfg.safety.auto_engage)
            nodes.append(
                VehicleInterfaceNode(handle, cfg, safety=safety, cameras=[c.camera for c in _manifest(cfg).cameras])
            )
    return nodes


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # ros2 launch / ros2 run append `--ros-args …` (remappings, node name, parameters): those go to rclpy
    ros_args = argv[argv.index("--ros-args") :] if "--ros-args" in argv else []
    args = parser().parse_args(argv[: len(argv) - len(ros_args)] if ros_args else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # the control thread waits at most this long for the GIL after its sleep (CPython's default: 5 ms)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    names = list(NODES) if "all" in args.nodes else list(dict.fromkeys(args.nodes))
    if "vehicle_interface" in names:  # before any thread: all of them allocate from the heap it locks
        single_malloc_arena()
    transport = args.transport
    if transport == "auto":
        from vehicle_runtime.transport.ros import rclpy_available

        transport = "rclpy" if rclpy_available() else "dds"
    try:
        if transport == "rclpy":
            from vehicle_runtime.transport.ros import run_rclpy

            return run_rclpy(
                names, lambda handle_for: build(names, handle_for, args), args.use_sim_time, ros_args, args.namespace
            )
        return _run_dds(names, args)
    except ConfigError as exc:
        print(f"{' '.join(names)}: {exc}", file=sys.stderr)
        return 2


def _run_dds(names, args) -> int:
    from vehicle_runtime import memory_probe
    from vehicle_runtime.transport.dds import DdsParticipant
    from vehicle_runtime.transport.node import DdsNode, Executor

    probe = memory_probe.from_environment("+".join(names))  # soak diagnosis only (off by default)
    participant, executor = DdsParticipant(), Executor()
    nodes = build(names, lambda n: DdsNode(n, participant, executor, args.namespace, args.use_sim_time), args)
    executor.add_timer(1.0, GarbageCollector())
    if probe is not None:
        executor.add_timer(memory_probe.PROBE_EVERY_S, probe)
    quiet_garbage_collector()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: executor.stop())
    try:
        executor.spin()
    finally:
        for node in nodes:
            if hasattr(node, "shutdown"):
                node.shutdown()
        participant.close()
    return 0


def fusion_main() -> int:
    return main(["fusion", *sys.argv[1:]])


def policy_main() -> int:
    return main(["policy", *sys.argv[1:]])


def vehicle_interface_main() -> int:
    return main(["vehicle_interface", *sys.argv[1:]])


def all_main() -> int:
    return main(sys.argv[1:] if len(sys.argv) > 1 else ["all"])


if __name__ == "__main__":
    sys.exit(main())
