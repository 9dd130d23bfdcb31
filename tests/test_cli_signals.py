"""SIGINT and SIGTERM end a run cleanly, as a user's Ctrl-C or systemd's stop would: real processes,
real signals, and the files they leave checked."""

import json
import os
import signal
import subprocess
import sys
import time

import can
import pytest

from vehicle_runtime.can import Codec
from vehicle_runtime.cli_signals import Interrupted, StopRequest
from vehicle_runtime.safety.state_machine import SafetyState


def start(*args, cwd):
    return subprocess.Popen(
        [sys.executable, "-m", "vehicle_runtime.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, proc, what: str, timeout_s: float = 120.0) -> None:
    """Polls a condition on the files the process writes (no sleep stands in for it)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode} before {what}: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"no {what} within {timeout_s} s")
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_drive_realtime_interrupted_keeps_report_and_closed_can_log(tmp_path, sig):
    log = tmp_path / "bus.asc"
    proc = start(
        "drive",
        "--policy",
        "expert",
        "--scenario",
        "lead_braking",
        "--realtime",
        "--duration",
        "30",
        "--can-log",
        log.name,
        "--out",
        "run",
        "--json",
        cwd=tmp_path,
    )
    # the frames of about a second of driving are in the log: the loop runs
    wait_for(lambda: log.exists() and log.stat().st_size > 40_000, proc, "CAN frames in the log")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    assert f"interrupted ({sig.name}) at " in err and "partial report: run/report.html" in err
    assert "CAN log: bus.asc" in err and "Traceback" not in err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["interrupted"]["signal"] == sig.name and 0 < summary["interrupted"]["at_s"] < 30
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["interrupted"] == summary["interrupted"]
    assert "data:image/png;base64" in (tmp_path / "run" / "report.html").read_text()
    assert log.read_text().rstrip().endswith("End TriggerBlock")  # the .asc was closed
    codec = Codec()
    states = [codec.decode(m).signals["STATE"] for m in can.LogReader(str(log)) if m.arbitration_id == 0x102]
    assert SafetyState.ENGAGED in states  # it was driving when the signal came
    assert states[-3:] == [SafetyState.MRM] * 3  # and its last words were the safe state


def test_eval_interrupted_writes_its_partial_results(tmp_path):
    proc = start(
        "eval",
        "--policy",
        "expert",
        "--scenarios",
        "lead_braking,cut_in",
        "--seeds",
        "1",
        "--workers",
        "2",
        "--out",
        "partial.json",
        "--json",
        cwd=tmp_path,
    )
    first = proc.stderr.readline()
    assert "4" not in first and "2 runs planned" in first, first
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "eval: interrupted (SIGTERM) after 0/2 runs; partial results: partial.json" in err
    saved = json.loads((tmp_path / "partial.json").read_text())
    assert saved["interrupted"] == {"signal": "SIGTERM", "runs_done": 0, "runs_planned": 2}
    assert json.loads(out.strip().splitlines()[-1])["interrupted"] == saved["interrupted"]


def test_stop_request_polled_then_raises():
    stop = StopRequest().install()
    try:
        stop.polled = True
        os.kill(os.getpid(), signal.SIGTERM)  # handled between bytecodes, before kill() returns here
        assert stop and stop.name == "SIGTERM" and stop.exit_code == 143
        with pytest.raises(Interrupted) as info:  # a second signal does not wait for the loop
            os.kill(os.getpid(), signal.SIGINT)
        assert info.value.signum == signal.SIGINT
    finally:
        stop.restore()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_stop_request_not_polled_raises_at_once():
    stop = StopRequest().install()
    try:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
        assert stop.exit_code == 130
    finally:
        stop.restore()


def test_sim_terminated_prints_its_partial_summary(tmp_path):
    pytest.importorskip("cyclonedds")
    proc = start(
        "sim",
        "--scenario",
        "lead_braking",
        "--can-interface",
        "virtual",
        "--can-channel",
        "sigtest",
        "--camera-size",
        "320x180",
        "--namespace",
        f"sig{os.getpid()}",
        "--duration",
        "60",
        "--json",
        cwd=tmp_path,
    )
    first = proc.stderr.readline()
    assert "sim: running for 60 s" in first, first + proc.stderr.read()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "sim: interrupted (SIGTERM) at " in err and "Traceback" not in err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["interrupted"]["signal"] == "SIGTERM" and summary["wall_time_s"] < 60


def test_up_stops_its_nodes_on_sigterm(tmp_path):
    pytest.importorskip("cyclonedds")
    proc = start("up", "--single-process", "--namespace", f"up{os.getpid()}", cwd=tmp_path)
    first = proc.stderr.readline()
    assert "up: started 1 node process(es), pids " in first, first + proc.stderr.read()
    node_pid = int(first.split("pids ")[1].split()[0])
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "up: interrupted (SIGTERM); nodes stopped: all exit" in err and "Traceback" not in err
    with pytest.raises(ProcessLookupError):  # the node process is gone, not orphaned
        os.kill(node_pid, 0)
