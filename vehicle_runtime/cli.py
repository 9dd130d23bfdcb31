"""`vehicle-runtime` command line: one sub-command per module in vehicle_runtime/commands."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional, Sequence

from importlib.metadata import entry_points

from .commands import bundle, model_inspect, score, selftest

COMMANDS = (selftest, model_inspect, bundle, score)
PLUGIN_GROUP = "vehicle_runtime.commands"  # sub-commands from outer rooms (sim_bridge), never imported here


def _plugins():
    for ep in entry_points(group=PLUGIN_GROUP):
        try:
            yield ep.load()
        except ImportError as exc:  # a broken optional room must not take the CLI down
            logging.getLogger(__name__).warning("sub-command '%s' unavailable: %s", ep.name, exc)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vehicle-runtime", description="Onboard runtime for a distilled driving model.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (*COMMANDS, *_plugins()):
        module.add_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
