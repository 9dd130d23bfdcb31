"""`vehicle-runtime up`: the three nodes as separate processes on the ROS-free transport (Cyclone DDS
in the ROS 2 wire format), with the tuned Cyclone and malloc settings as defaults.

SIGINT / SIGTERM stop the nodes with SIGTERM (each sends its safe-state frames on the way out) and
exit with 130 / 143."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from vehicle_runtime import cli_types as T
from vehicle_runtime.realtime import GLIBC_TUNABLES

NODES = ("fusion", "policy", "vehicle_interface")


def add_parser(sub) -> None:
    add_engage_parser(sub)
    p = sub.add_parser("up", help="start the fusion, policy and vehicle interface nodes without ROS (Cyclone DDS)")
    p.add_argument("--config", type=T.config_dir, help="config folder (default: the package's config/)")
    p.add_argument("--namespace", type=T.ros_namespace, default="")
    p.add_argument("--model", type=T.model_dir, help="student model folder")
    p.add_argument("--can-interface", type=_interface)
    p.add_argument("--can-channel", type=T.non_empty)
    p.add_argument("--auto-engage", action="store_true", help="simulation only: engage as soon as READY")
    p.add_argument("--single-process", action="store_true", help="run the three nodes in one process")
    p.add_argument(
        "--root",
        type=T.existing_dir,
        help="fleet update root: run the build that `bundle boot` selects (counts trial boots)",
    )
    p.set_defaults(run=run)


@T.kind("choice")
def _interface(text: str) -> str:
    from vehicle_runtime.can import SUPPORTED_INTERFACES

    return T.choice_of(SUPPORTED_INTERFACES, "CAN interface")(text)


def _check_before_start(args) -> None:
    """What the nodes would refuse one by one, refused here once: the config, the model, the CAN interface."""
    from vehicle_runtime.config import load_runtime_config
    from vehicle_runtime.student.manifest import load_manifest

    cfg = load_runtime_config(args.config)
    load_manifest(args.model or cfg.model_path, check_sha256=False)


def node_args(args) -> list:
    out = ["--transport", "dds"]
    for flag, value in (
        ("--config", args.config),
        ("--namespace", args.namespace),
        ("--model", args.model),
        ("--can-interface", args.can_interface),
        ("--can-channel", args.can_channel),
    ):
        if value:
            out += [flag, value]
    if args.auto_engage:
        out.append("--auto-engage")
    return out


def run(args) -> int:
    from vehicle_runtime.transport.dds import default_config_uri

    env = dict(os.environ)
    env.setdefault("GLIBC_TUNABLES", GLIBC_TUNABLES)
    if args.root:  # an installed fleet build: its slot is the share directory (config/, models/)
        from pathlib import Path

        from vehicle_runtime.bundle import slots

        env["VEHICLE_RUNTIME_SHARE"] = str(slots.boot(Path(args.root)))
        os.environ["VEHICLE_RUNTIME_SHARE"] = env["VEHICLE_RUNTIME_SHARE"]  # the check below reads that build
    _check_before_start(args)
    uri = default_config_uri()
    if uri:
        env["CYCLONEDDS_URI"] = uri
    groups = [["all"]] if args.single_process else [[n] for n in NODES]
    commands = [[sys.executable, "-m", "ros_nodes.main", *g, *node_args(args)] for g in groups]
    procs = [subprocess.Popen(cmd, env=env) for cmd in commands]
    stopping = {"now": False}
    args.stop.polled = True  # the first SIGINT / SIGTERM stops the nodes below
    print(
        f"up: started {len(procs)} node process(es), pids {' '.join(str(p.pid) for p in procs)} "
        "(Ctrl-C or SIGTERM stops them cleanly)",
        file=sys.stderr,
        flush=True,
    )
    code = 0
    while not stopping["now"] and not args.stop:
        for p, cmd in zip(procs, commands):
            if p.poll() is not None:
                print(
                    f"up: node process {cmd[3 : -len(node_args(args))] or cmd} exited with {p.returncode}",
                    file=sys.stderr,
                )
                stopping["now"] = True
                code = p.returncode or 1
        time.sleep(0.2)
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    if args.stop:
        print(
            f"up: interrupted ({args.stop.name}); nodes stopped: "
            + ", ".join(f"{' '.join(cmd[3:4])} exit {p.returncode}" for p, cmd in zip(procs, commands)),
            file=sys.stderr,
        )
        return args.stop.exit_code
    return code


def add_engage_parser(sub) -> None:
    p = sub.add_parser("request", help="send a software engage / disengage / reset request to a running runtime (DDS)")
    p.add_argument("word", choices=("engage", "disengage", "reset"))
    p.add_argument("--namespace", type=T.ros_namespace, default="")
    p.add_argument("--timeout", type=T.seconds, default=5.0, help="seconds to wait for the vehicle interface node, > 0")
    p.add_argument(
        "--config",
        type=T.existing_dir,
        help="config folder whose engage key signs the request (default: the package's config/; docs/security.md)",
    )
    p.set_defaults(run=run_request)


def run_request(args) -> int:
    from vehicle_runtime.paths import share_dir
    from vehicle_runtime.security import security_config, signed_request
    from vehicle_runtime.transport import msgs
    from vehicle_runtime.transport.dds import DdsParticipant

    sec = security_config(args.config or share_dir() / "config")
    if not sec.software_engage_allowed:
        raise T.Error(f"vehicle_mode '{sec.vehicle_mode}': only the driver engages a real vehicle (docs/security.md)")

    topic = (args.namespace.strip("/") + "/" if args.namespace.strip("/") else "") + "vehicle/engage"
    participant = DdsParticipant()
    pub = participant.publisher("std_msgs/msg/String", topic, "default")
    deadline = time.monotonic() + args.timeout
    while not pub.writer.get_matched_subscriptions():  # discovery, bounded by --timeout
        if time.monotonic() > deadline:
            print(f"request: no vehicle interface node on '{topic}' within {args.timeout:g} s", file=sys.stderr)
            return 1
        time.sleep(0.05)
    pub.publish(msgs.new("std_msgs/msg/String", data=signed_request(sec, args.word)))  # HMAC, fresh, once
    pub.writer.wait_for_acks(_seconds(1.0))
    participant.close()
    print(f"sent '{args.word}' on {topic}")
    return 0


def _seconds(s: float):
    from cyclonedds.util import duration

    return duration(seconds=s)
