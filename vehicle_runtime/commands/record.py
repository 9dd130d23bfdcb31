"""`vehicle-runtime record [--topics ...] [--split-size MB] DIR`: a rosbag2 (MCAP) of a running runtime on
the DDS transport or rclpy, closed cleanly on SIGINT / SIGTERM; `--repair DIR` for a bag cut by power loss."""

from __future__ import annotations

import json
import signal
import sys
import threading


def add_parser(sub) -> None:
    from .. import cli_types as T
    from ..record.live import DDS_TOPICS

    p = sub.add_parser("record", help="record the runtime's topics (DDS or rclpy) as a rosbag2 with MCAP storage")
    p.add_argument("bag", type=T.output_dir, metavar="DIR", help="new bag folder (never overwritten)")
    p.add_argument("--topics", nargs="+", default=list(DDS_TOPICS), help=f"default: {' '.join(DDS_TOPICS)}")
    p.add_argument("--split-size", type=T.megabytes, metavar="MB", help="start a new file past this size")
    p.add_argument("--max-files", type=T.count, help="keep only the newest N files (a ring buffer; needs --split-size)")
    p.add_argument("--compression", choices=("none", "zstd", "lz4"), default="none", help="per MCAP chunk")
    p.add_argument("--queue-mb", type=T.megabytes, default=256.0, help="memory for samples waiting for the disk")
    p.add_argument("--duration", type=T.seconds, help="stop after this many seconds")
    p.add_argument(
        "--transport",
        choices=("auto", "dds", "rclpy"),
        default="auto",
        help="as the nodes' --transport: auto picks rclpy when it is importable, the DDS transport otherwise",
    )
    p.add_argument("--domain", type=T.domain_id, help="ROS_DOMAIN_ID (default: the environment's)")
    p.add_argument("--repair", action="store_true", help="repair DIR, a bag cut short (power loss, SIGKILL)")
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..config import load_runtime_config
    from ..record.writer import BagError, WriterOptions

    if args.repair:
        from ..record.repair import repair

        try:
            result = repair(args.bag)
        except BagError as exc:
            print(f"record: {exc}", file=sys.stderr)
            return 2
        print(
            f"repaired {args.bag}: {result['message_count']} messages in {len(result['files'])} file(s); "
            f"rewritten: {result['repaired'] or 'none'}"
        )
        if args.json:
            print(json.dumps(result))
        return 0
    if args.max_files and not args.split_size:
        print("record: --max-files needs --split-size", file=sys.stderr)
        return 2
    from ..record.live import LiveRecorder
    from ..transport.ros import rclpy_available

    transport = args.transport
    if transport == "auto":
        transport = "rclpy" if rclpy_available() else "dds"

    options = WriterOptions(
        split_size_bytes=int(args.split_size * 1e6) if args.split_size else None,
        max_files=args.max_files,
        compression=args.compression,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        rec = LiveRecorder(
            args.bag, args.topics, options, args.domain, int(args.queue_mb * 1e6), load_runtime_config(), transport
        )
    except (BagError, KeyError) as exc:
        print(f"record: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:  # cyclonedds: the 'dds' extra; rclpy: the 'ros' extra or a sourced ROS 2
        extra = "ros" if transport == "rclpy" else "dds"
        print(
            f"record: the {transport} transport is not installed ({exc}); pip install 'vehicle_runtime[{extra}]'",
            file=sys.stderr,
        )
        return 2
    recorded = len(args.topics) - len(rec.left_out)
    left_out = f"; left out (message package not installed): {' '.join(rec.left_out)}" if rec.left_out else ""
    print(f"recording {recorded} topic(s) on {transport} into {args.bag} (Ctrl-C to stop){left_out}", flush=True)
    stop.wait(args.duration)
    rec.close()
    stats = rec.stats()
    print(
        f"closed {args.bag}: {sum(stats['received'].values())} samples received, "
        f"{sum(stats['dropped'].values())} dropped, {stats['files']} file(s), {stats['bytes'] / 1e6:.1f} MB"
    )
    if rec.error is not None:
        print(f"record: writing stopped: {rec.error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(stats))
    return 0
