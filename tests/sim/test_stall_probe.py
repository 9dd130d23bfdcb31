"""The machine-stall probe beside the graph runs and soaks: a pause it did not share in is not reported, a pause it
did (the probe stopped by SIGSTOP stands for a machine that stood still) is, with its length and when it began."""

import os
import signal
import threading
import time

from sim_bridge.stall_probe import PAUSE_AFTERMATH_S, PAUSE_MS, StallProbe, mrm_in_pause


def _wait_for(predicate, timeout_s=10.0):
    done = threading.Event()
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        done.wait(0.01)
    return predicate()


def test_a_pause_of_the_probe_is_reported_with_its_length_and_start():
    probe = StallProbe(threshold_ms=20.0)
    try:
        assert probe.running.wait(30), probe.lines
        paused_at = time.monotonic()
        os.kill(probe.proc.pid, signal.SIGSTOP)
        threading.Event().wait(0.15)  # the "machine" stands still for 150 ms
        os.kill(probe.proc.pid, signal.SIGCONT)
        assert _wait_for(lambda: probe.stalls_between(paused_at - 0.01, paused_at + 1.0)), probe.lines
    finally:
        totals = probe.stop()
    stall = max(probe.stalls_between(paused_at - 0.01, paused_at + 1.0), key=lambda st: st["late_ms"])
    assert 100.0 <= stall["late_ms"] < 2000.0, stall
    assert paused_at - 0.01 <= stall["t_s"] <= paused_at + 0.05, (stall, paused_at)
    assert totals["late_max_ms"] >= stall["late_ms"] and totals["wakeups"] > 1
    assert totals["priority"] in ("SCHED_FIFO 99", "normal")


def test_a_probe_nothing_held_up_reports_no_stall_of_that_length():
    probe = StallProbe(threshold_ms=500.0)  # far above a busy 2-core VM's scheduling noise
    assert probe.running.wait(30), probe.lines
    threading.Event().wait(0.5)  # half a second of its loop
    totals = probe.stop()
    assert totals["stalls"] == [] and totals["wakeups"] > 10, totals


def test_an_mrm_counts_as_the_machines_only_in_or_just_after_a_long_enough_pause():
    pause = {"t_s": 100.0, "late_ms": PAUSE_MS + 10.0}
    short = {"t_s": 100.0, "late_ms": PAUSE_MS - 10.0}
    end_s = 100.0 + pause["late_ms"] / 1e3
    assert mrm_in_pause(100.03, [pause])  # in it
    assert mrm_in_pause(end_s + PAUSE_AFTERMATH_S - 0.01, [pause])  # a watchdog that expired just after it
    assert not mrm_in_pause(end_s + PAUSE_AFTERMATH_S + 0.01, [pause])
    assert not mrm_in_pause(99.99, [pause])  # before it began
    assert not mrm_in_pause(100.03, [short])  # a pause under half the request's age limit explains no MRM
    assert not mrm_in_pause(100.03, [])
