"""`vehicle-runtime` command line: one sub-command per module in vehicle_runtime/commands.

One error path for every command (cli_errors): a refused input is one line and exit status 1, a
bad argument one line and status 2, SIGINT / SIGTERM 130 / 143; a traceback only with --debug.
"""

from __future__ import annotations

import argparse
import functools
import logging
import re
import sys
import traceback
from importlib.metadata import entry_points
from typing import Optional, Sequence

from . import cli_errors
from .cli_signals import Interrupted, StopRequest
from .commands import bundle, model_inspect, record, replay, score, selftest

COMMANDS = (selftest, model_inspect, bundle, score, record, replay)
PLUGIN_GROUP = "vehicle_runtime.commands"  # sub-commands from outer rooms (sim_bridge), never imported here


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad argument reported as one line (and the JSON object with --json)."""

    as_json = False

    def error(self, message: str):
        named = re.match(r"argument ([^:]+):", message)  # "argument --duration: ..." names the input
        cli_errors.report(self.prog, f"{message} (see --help)", named.group(1) if named else None, _Parser.as_json)
        self.exit(cli_errors.BAD_ARGUMENTS)


@functools.lru_cache(maxsize=1)  # scanning the installed distributions is most of a parser's cost
def _plugins() -> tuple:
    found = []
    for ep in entry_points(group=PLUGIN_GROUP):
        try:
            found.append(ep.load())
        except ImportError as exc:  # a broken optional room must not take the CLI down
            logging.getLogger(__name__).warning("sub-command '%s' unavailable: %s", ep.name, exc)
    return tuple(found)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vehicle-runtime",
        description="Onboard runtime for a distilled driving model.",
        epilog="Exit status: 0 ok, 1 input refused, 2 bad arguments, 130 / 143 interrupted "
        "(SIGINT / SIGTERM). --debug (anywhere) or VEHICLE_RUNTIME_DEBUG=1: tracebacks.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (also anywhere on the line)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (*COMMANDS, *_plugins()):
        module.add_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = cli_errors.debug_enabled(argv)
    argv = [a for a in argv if a != "--debug"]
    _Parser.as_json = "--json" in argv
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a bad argument (2, already reported)
        return int(exc.code or 0)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    command = " ".join(
        str(getattr(args, k)) for k in ("command", "model_command", "bundle_command") if getattr(args, k, None)
    )
    as_json = bool(getattr(args, "json", False))
    args.stop = StopRequest().install()
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else 2
        print(f"{command}: interrupted ({args.stop.name or 'SIGINT'}); nothing to save", file=sys.stderr)
        return 128 + signum
    except Exception as exc:  # noqa: BLE001 -- the one place every error of every command lands
        if debug:
            traceback.print_exc()
        if cli_errors.is_refusal(exc):
            cli_errors.report(command, *cli_errors.describe(exc), as_json)
        else:
            cli_errors.internal(command, exc, as_json)
        return cli_errors.REFUSED
    finally:
        args.stop.restore()


if __name__ == "__main__":
    sys.exit(main())
