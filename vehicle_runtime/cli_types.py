"""Argument types shared by every `vehicle-runtime` command: each one refuses a value that makes no
sense (NaN, ±inf, negative or zero durations, ports out of range, an output path that cannot be
written) at parse time, before the command does any work, with argparse's exit status 2.

Paths that a command will write are checked here too, so that a run is never lost at its end
because its report folder or CAN log cannot be created.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path
from typing import Callable, Iterable, Optional

MAX_SECONDS = 86_400.0  # a day: no run, timeout or horizon of this runtime is longer
MAX_SEED = 2**32 - 1  # numpy's legacy generators take 32-bit seeds
# python-can's writers that need nothing else installed (.mf4 needs asammdf)
CAN_LOG_SUFFIXES = (".asc", ".blf", ".csv", ".db", ".log", ".trc", ".txt")
_ROS_NAME = re.compile(r"^/?([A-Za-z_][A-Za-z0-9_]*)(/[A-Za-z_][A-Za-z0-9_]*)*/?$")

Error = argparse.ArgumentTypeError


def kind(name: str):
    """Tags an argument type with what it accepts ('seconds', 'int', 'file-in', ...): the CLI fuzz
    test reads the tag from the parser to generate values that every such type must refuse."""

    def tag(fn):
        fn.kind = name
        return fn

    return tag


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise Error(f"'{text}' is not a number ({what})") from None
    if not math.isfinite(value):
        raise Error(f"'{text}' is not a finite number ({what})")
    return value


def _integer(text: str, what: str) -> int:
    if not re.fullmatch(r"\s*[+-]?[0-9]+\s*", str(text)):  # no '1_0', no '1.0', no other scripts' digits
        raise Error(f"'{text}' is not a whole number ({what})")
    return int(text)


@kind("seconds")
def seconds(text: str) -> float:
    """A duration or timeout: finite, > 0, at most a day."""
    value = _number(text, "seconds > 0")
    if not 0.0 < value <= MAX_SECONDS:
        raise Error(f"{text} s is not a duration: expected seconds > 0 and <= {MAX_SECONDS:g}")
    return value


@kind("seconds")
def instant(text: str) -> float:
    """A time into a run: finite, >= 0, at most a day."""
    value = _number(text, "seconds >= 0")
    if not 0.0 <= value <= MAX_SECONDS:
        raise Error(f"{text} s is not a time into a run: expected seconds >= 0 and <= {MAX_SECONDS:g}")
    return value


def int_range(lo: int, hi: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = _integer(text, what)
        if not lo <= value <= hi:
            raise Error(f"{text} is out of range for {what}: expected {lo}..{hi}")
        return value

    parse.__name__ = what.replace(" ", "_")  # argparse names the type in some messages
    return kind("int")(parse)


def positive(hi: float, what: str) -> Callable[[str], float]:
    """A finite number > 0 and <= hi (sizes in MB, rates)."""

    def parse(text: str) -> float:
        value = _number(text, what)
        if not 0.0 < value <= hi:
            raise Error(f"{text} is out of range for {what}: expected > 0 and <= {hi:g}")
        return value

    parse.__name__ = what.replace(" ", "_")
    return kind("positive")(parse)


def scale(hi: float, what: str) -> Callable[[str], float]:
    """A finite factor >= 0 and <= hi (0 switches a thing off: noise, a gain)."""

    def parse(text: str) -> float:
        value = _number(text, what)
        if not 0.0 <= value <= hi:
            raise Error(f"{text} is out of range for {what}: expected >= 0 and <= {hi:g}")
        return value

    parse.__name__ = what.replace(" ", "_")
    return kind("scale")(parse)


count = int_range(1, 1_000_000, "a count >= 1")
megabytes = positive(1e6, "megabytes")
domain_id = int_range(0, 232, "a ROS domain id")
seed = int_range(0, MAX_SEED, "a seed")
port = int_range(1, 65535, "a TCP/UDP port")
workers = int_range(1, 256, "worker processes")


@kind("size")
def size_wxh(text: str) -> tuple:
    """'640x360' → (640, 360); each side 16..8192 pixels."""
    m = re.fullmatch(r"\s*([0-9]+)\s*[xX]\s*([0-9]+)\s*", text or "")
    if not m:
        raise Error(f"'{text}' is not a size: expected WIDTHxHEIGHT in pixels, e.g. 640x360")
    w, h = int(m.group(1)), int(m.group(2))
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise Error(f"'{text}': each side must be 16..8192 pixels")
    return w, h


def csv_of(item: Callable[[str], object], what: str) -> Callable[[str], list]:
    """'1,2,3' → [item('1'), ...]; at least one element."""

    def parse(text: str) -> list:
        parts = [p.strip() for p in (text or "").split(",") if p.strip()]
        if not parts:
            raise Error(f"'{text}': expected comma-separated {what}")
        return [item(p) for p in parts]

    return kind("csv")(parse)


@kind("ros-name")
def ros_namespace(text: str) -> str:
    """'' or a ROS 2 name such as 'car1' or '/fleet/car1'."""
    if text in ("", "/") or _ROS_NAME.match(text):
        return text
    raise Error(f"'{text}' is not a ROS namespace: letters, digits and '_' between '/', not starting with a digit")


def choice_of(names: Iterable[str], what: str) -> Callable[[str], str]:
    known = tuple(names)

    def parse(text: str) -> str:
        if text not in known:
            raise Error(f"unknown {what} '{text}' (one of: {', '.join(known)})")
        return text

    return kind("choice")(parse)


@kind("text")
def non_empty(text: str) -> str:
    if not text or not text.strip():
        raise Error("must not be empty")
    return text


# --- paths ------------------------------------------------------------------------------------------


@kind("file-in")
def existing_file(text: str) -> Path:
    p = Path(text)
    if p.is_dir():
        raise Error(f"{text}: is a folder, expected a file")
    if not p.is_file():
        raise Error(f"{text}: no such file")
    if not os.access(p, os.R_OK):
        raise Error(f"{text}: not readable")
    return p


@kind("dir-in")
def existing_dir(text: str) -> Path:
    p = Path(text)
    if p.exists() and not p.is_dir():
        raise Error(f"{text}: is a file, expected a folder")
    if not p.is_dir():
        raise Error(f"{text}: no such folder")
    return p


@kind("path-in")
def file_or_dir(text: str) -> Path:
    p = Path(text)
    if not p.exists():
        raise Error(f"{text}: no such file or folder")
    return p


def _writable_parent(p: Path, text: str) -> None:
    """The nearest existing ancestor must be a writable folder (the rest is created)."""
    for parent in p.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise Error(f"{text}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise Error(f"{text}: folder {parent} is not writable")
            return


@kind("dir-out")
def output_dir(text: str) -> Path:
    """A folder the command will create (or fill): not an existing file, creatable."""
    if not text or not text.strip():
        raise Error("an empty path is not a folder")
    p = Path(text)
    if p.exists() and not p.is_dir():
        raise Error(f"{text}: is a file, expected a folder to write into")
    if p.is_dir() and not os.access(p, os.W_OK | os.X_OK):
        raise Error(f"{text}: folder is not writable")
    _writable_parent(p, text)
    return p


@kind("dir-new")
def new_dir(text: str) -> Path:
    """A folder the command will create and that must not exist yet (a bag is never overwritten)."""
    p = output_dir(text)
    if p.exists():
        raise Error(f"{text}: exists already; give a new folder")
    return p


def output_file(suffixes: Optional[Iterable[str]] = None, parent_must_exist: bool = True) -> Callable[[str], Path]:
    """A file the command will write: not a folder, a known suffix, its folder present and writable."""
    allowed = tuple(suffixes or ())

    def parse(text: str) -> Path:
        if not text or not text.strip():
            raise Error("an empty path is not a file")
        p = Path(text)
        if p.is_dir() or text.endswith(("/", os.sep)):
            raise Error(f"{text}: is a folder, expected a file to write")
        suffix = p.suffix.lower()
        if allowed and suffix not in allowed:
            raise Error(f"{text}: unknown file type '{suffix or '(none)'}' (one of: {', '.join(allowed)})")
        if parent_must_exist and not p.absolute().parent.is_dir():
            what = "is a file" if p.absolute().parent.exists() else "does not exist"
            raise Error(f"{text}: folder {p.absolute().parent} {what}")
        if p.exists() and not os.access(p, os.W_OK):
            raise Error(f"{text}: not writable")
        _writable_parent(p, text)
        return p

    return kind("file-out")(parse)


can_log_file = output_file(CAN_LOG_SUFFIXES)


@kind("config-dir")
def config_dir(text: str) -> str:
    """A folder holding every node's parameter file."""
    from .config import NODE_FILES

    p = existing_dir(text)
    missing = [f for f in NODE_FILES.values() if not (p / f).is_file()]
    if missing:
        raise Error(f"{text}: not a config folder (missing {', '.join(missing)})")
    return str(p)


@kind("model")
def model_dir(text: str) -> str:
    """A student model folder (with manifest.json) or its manifest.json."""
    p = file_or_dir(text)
    if p.is_dir() and not (p / "manifest.json").is_file():
        raise Error(f"{text}: no manifest.json in this folder")
    return str(p)
