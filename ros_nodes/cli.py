"""`vehicle-runtime up`: the three nodes as separate processes on the ROS-free transport (Cyclone DDS
in the ROS 2 wire format), with the tuned Cyclone and malloc settings as defaults."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

GLIBC_TUNABLES = "glibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=268435456"
NODES = ("fusion", "policy", "vehicle_interface")


def add_parser(sub) -> None:
    p = sub.add_parser("up", help="start the fusion, policy and vehicle interface nodes without ROS (Cyclone DDS)")
    p.add_argument("--config", help="config folder (default: the package's config/)")
    p.add_argument("--namespace", default="")
    p.add_argument("--model", help="student model folder")
    p.add_argument("--can-interface")
    p.add_argument("--can-channel")
    p.add_argument("--auto-engage", action="store_true", help="simulation only: engage as soon as READY")
    p.add_argument("--single-process", action="store_true", help="run the three nodes in one process")
    p.set_defaults(run=run)


def node_args(args) -> list:
    out = ["--transport", "dds"]
    for flag, value in (("--config", args.config), ("--namespace", args.namespace), ("--model", args.model),
                        ("--can-interface", args.can_interface), ("--can-channel", args.can_channel)):
        if value:
            out += [flag, value]
    if args.auto_engage:
        out.append("--auto-engage")
    return out


def run(args) -> int:
    from vehicle_runtime.transport.dds import default_config_uri

    env = dict(os.environ)
    env.setdefault("GLIBC_TUNABLES", GLIBC_TUNABLES)
    uri = default_config_uri()
    if uri:
        env["CYCLONEDDS_URI"] = uri
    groups = [["all"]] if args.single_process else [[n] for n in NODES]
    procs = [subprocess.Popen([sys.executable, "-m", "ros_nodes.main", *g, *node_args(args)], env=env) for g in groups]
    stopping = {"now": False}

    def stop(*_):
        stopping["now"] = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    while not stopping["now"]:
        for p in procs:
            if p.poll() is not None:
                print(f"up: node process {p.args[3:-len(node_args(args))] or p.args} exited with {p.returncode}",
                      file=sys.stderr)
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
    return code
