"""One error path for the whole `vehicle-runtime` command line.

Every command lets its errors rise to `cli.main`, which turns a refused input into ONE line on stderr
naming the input and the problem (exit status 1) and, with `--json`, one JSON object
`{"error": ..., "input": ...}` as the last line of stdout. Bad arguments are argparse's (status 2).
A traceback only with `--debug` or VEHICLE_RUNTIME_DEBUG=1.

What counts as a refused input: the project's own errors (ConfigError, ManifestError, ScenarioError,
BundleError, BusConfigError, ProviderError, ... all ValueError or named RuntimeError subclasses) and
the usual errors of reading what a user points at: OS errors (missing file, permission, folder
instead of file), YAML / JSON / tar / ONNX / python-can / cryptography errors. Anything else is a
bug of ours: still one line, marked "internal error", so that it is reported and not mistaken for
a user's mistake.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from typing import Optional, Tuple

REFUSED = 1
BAD_ARGUMENTS = 2
# libraries whose exceptions mean "this input cannot be used" (matched by module, never imported here)
_LIBRARIES = (
    "argparse",
    "onnxruntime",
    "onnx",
    "google",
    "yaml",
    "cantools",
    "textparser",
    "can",
    "tarfile",
    "zipfile",
    "json",
    "cryptography",
    "jsonschema",
    "cyclonedds",
    "cv2",
    "PIL",
    "gzip",
    "lzma",
    "zlib",
    "binascii",
    "carla",
)
_OURS = ("vehicle_runtime", "sim_bridge", "ros_nodes")
_PATHISH = re.compile(r"^(?P<input>(?:[A-Za-z]:)?[^\s:'\"]*[/.][^\s:'\"]*|--[\w-]+(?: '[^']*')?)\s*:\s")


class Refused(Exception):
    """A command refuses an input; the message says why, `input` names it."""

    def __init__(self, message: str, input: Optional[object] = None):
        super().__init__(message)
        self.input = None if input is None else str(input)


@contextlib.contextmanager
def naming(path):
    """Reading `path`: a library error that does not say which file it read gets the path put in front."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 -- re-raised unchanged unless it is a refused input
        if isinstance(exc, Refused) or not is_refusal(exc) or str(path) in str(exc):
            raise
        raise Refused(f"{path}: {describe(exc)[0]}", str(path)) from exc


def debug_enabled(argv) -> bool:
    return "--debug" in argv or os.environ.get("VEHICLE_RUNTIME_DEBUG", "") not in ("", "0", "false", "no")


def is_refusal(exc: BaseException) -> bool:
    if isinstance(
        exc, (Refused, ValueError, OSError, EOFError, UnicodeError, LookupError, OverflowError, RecursionError)
    ) and not isinstance(exc, (KeyError, IndexError)):
        return True
    module = type(exc).__module__ or ""
    root = module.split(".")[0]
    if root in _LIBRARIES:
        return True
    # our RuntimeError subclasses: ProviderError, CarlaUnavailable, SensorTimeout, ShmError, ...
    return root in _OURS and isinstance(exc, Exception) and type(exc) is not RuntimeError


def describe(exc: BaseException) -> Tuple[str, Optional[str]]:
    """(one line naming the problem, the input it concerns, when known)."""
    if isinstance(exc, OSError) and getattr(exc, "filename", None) is not None:
        name = os.fsdecode(exc.filename)
        other = f" -> {os.fsdecode(exc.filename2)}" if getattr(exc, "filename2", None) else ""
        reason = exc.strerror or type(exc).__name__
        return _one_line(f"{name}{other}: {reason}"), name
    text = _one_line(str(exc)) or type(exc).__name__
    if type(exc).__module__.split(".")[0] in _LIBRARIES and type(exc).__module__ != "argparse":
        text = f"{_library(exc)}: {text}"
    given = getattr(exc, "input", None)
    if given is not None:
        return text, str(given)
    m = _PATHISH.match(text)
    return text, (m.group("input") if m else _existing_path_in(text))


def _existing_path_in(text: str) -> Optional[str]:
    """A library's message that mentions the file it read somewhere in the middle ("Load model from X failed")."""
    for token in re.split(r"[\s'\"()\[\]]+", text):
        token = token.rstrip(":,.;")
        if ("/" in token or "." in token) and len(token) > 2:
            try:
                if os.path.exists(token):
                    return token
            except (OSError, ValueError):
                continue
    return None


def _library(exc: BaseException) -> str:
    root = type(exc).__module__.split(".")[0]
    return {"can": "python-can", "yaml": "YAML", "json": "JSON", "tarfile": "tar"}.get(root, root)


def _one_line(text: str) -> str:
    """A multi-line message (a list of problems) joined into one line, kept readable in length."""
    line = ""
    for part in (ln.strip() for ln in str(text).strip().splitlines() if ln.strip()):
        line += part if not line else (" " if line.endswith(":") else "; ") + part
    return line if len(line) <= 600 else line[:597] + "..."


def report(command: str, message: str, input: Optional[str], as_json: bool) -> None:
    """The one line on stderr, plus the JSON object on stdout with --json."""
    message = printable(message)
    print(f"{command}: {message}", file=sys.stderr, flush=True)
    if as_json:
        print(json.dumps({"error": message, "input": input}), flush=True)


def printable(text: str) -> str:
    """Control characters (a user's stray newline, \\x1e, ...) escaped: the report stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def internal(command: str, exc: BaseException, as_json: bool) -> None:
    message = (
        f"internal error, please report it (rerun with --debug for the traceback): "
        f"{type(exc).__name__}: {_one_line(str(exc))}"
    )
    report(command, message, None, as_json)
