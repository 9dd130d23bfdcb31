"""Shared by the CLI fuzz tests: run `vehicle-runtime` in-process under a watchdog and check that a bad
value was refused the way every refusal must be (one line naming it, no traceback, the JSON object)."""

import io
import json
import signal
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from vehicle_runtime import cli

WATCHDOG_S = 60  # a refused value returns in well under a second; an accepted one would run a command

# a cheap valid command line for each command, so that a value slipping through costs little and shows
BASE = {
    "selftest": ["--frames=1"],
    "drive": ["--policy=expert", "--scenario=lead_braking", "--duration=0.05", "--out={tmp}/run"],
    "eval": ["--policy=expert", "--scenarios=lead_braking", "--seeds=1", "--workers=1"],
    "sim": ["--duration=0.05", "--can-interface=virtual", "--can-channel=fuzz"],
    "request": ["engage", "--timeout=0.2"],
    "carla-bridge": ["--carla-host=127.0.0.1", "--carla-port=2", "--carla-timeout=0.5", "--duration=1"],
    "up": [],
}
STUDENT = {"--model"}  # the argument only counts with the student policy


class Hang(BaseException):
    """Raised by the watchdog alarm; a BaseException, so that no command's error path swallows it."""


def run_cli(argv):
    def alarm(*_):
        raise Hang(" ".join(argv))

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(WATCHDOG_S)
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            rc = cli.main(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return rc, out.getvalue(), err.getvalue()


def assert_refused(argv, names, json_flag: bool):
    rc, out, err = run_cli(argv)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc in (1, 2), f"accepted silently (status {rc}): {argv}\n{err[-500:]}"
    assert "Traceback" not in err, f"traceback for {argv}:\n{err[-2000:]}"
    assert len(lines) == 1, f"not one line for {argv}: {lines}"
    assert "internal error" not in lines[0], lines[0]
    assert any(n and n in lines[0] for n in names), f"the line does not name {names}: {lines[0]}"
    if json_flag:
        obj = json.loads(out.strip().splitlines()[-1])
        assert set(obj) == {"error", "input"} and obj["error"] in lines[0]


@pytest.fixture(scope="module")
def places():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "adir").mkdir()
        (tmp / "afile.txt").write_text("hello\n")
        yield {
            "tmp": tmp,
            "dir": str(tmp / "adir"),
            "file": str(tmp / "afile.txt"),
            "missing": str(tmp / "missing" / "nothing"),
        }
