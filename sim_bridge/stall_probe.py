"""Does the whole machine stand still? A process that does nothing but sleep a short period at the highest
real-time priority and report every wake-up that came late (`cyclictest` in a few lines of Python).

    python -m sim_bridge.stall_probe [--period-ms 2] [--threshold-ms 20]

Nothing of ours can hold it up: it shares no lock, no GIL and no bus with the nodes, and at SCHED_FIFO 99 no
process can take its CPU. So when it wakes 85 ms late together with the control loop, the machine stood still
(a hypervisor pause, a host's memory compaction) - not the box's software. On a VM the steal counter often misses
such a pause; this probe does not.

Prints `{"running": priority}` once its loop begins, one JSON line per late wake-up as it happens (`t_s`: the
host's monotonic clock when it should have woken, `late_ms`), and on SIGTERM / SIGINT a last line with its totals
(`late_max_ms`, `wakeups`, `priority`).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import List, Optional

from vehicle_runtime import cli_types as T

PRIORITY = 99
# A pause of the whole machine this long is half the actuator request's 100 ms age limit: a watchdog that fires in
# or just after it fires for the machine. Graph tests drive again after one; soaks count their MRMs apart.
PAUSE_MS = 50.0
# how long after a pause ends its watchdogs may still fire (the camera's 0.2 s age, counted from the last frame)
PAUSE_AFTERMATH_S = 0.5


def mrm_in_pause(mrm_s: float, stalls: List[dict]) -> bool:
    """Whether an MRM seen at `mrm_s` (host monotonic) came in or just after a pause of at least PAUSE_MS."""
    return any(
        st["late_ms"] >= PAUSE_MS and st["t_s"] <= mrm_s <= st["t_s"] + st["late_ms"] / 1e3 + PAUSE_AFTERMATH_S
        for st in stalls
    )


def highest_priority() -> str:
    """SCHED_FIFO 99 where allowed (root / CAP_SYS_NICE), else the normal scheduler, said in the totals: a
    normal-priority probe that came late may only have waited for a CPU."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(PRIORITY))
        return f"SCHED_FIFO {PRIORITY}"
    except (PermissionError, OSError, AttributeError):
        return "normal"


class StallProbe:
    """The probe in a process of its own beside a drive: `stop()` ends it and returns its totals with the late
    wake-ups it saw (`stalls`, each on the host's monotonic clock, so a caller matches them to its own events)."""

    def __init__(self, threshold_ms: float = 20.0):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sim_bridge.stall_probe", "--threshold-ms", str(threshold_ms)],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: List[dict] = []
        self.running = threading.Event()  # its loop has begun (it said so)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(json.loads(line))
            if "running" in self.lines[-1]:
                self.running.set()

    def stalls_between(self, start_s: float, end_s: float) -> List[dict]:
        return [s for s in list(self.lines) if "t_s" in s and start_s <= s["t_s"] <= end_s]

    def stop(self) -> dict:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._reader.join(2)
        totals: Optional[dict] = next((s for s in self.lines if "wakeups" in s), None)
        return {**(totals or {"late_max_ms": None, "priority": None}), "stalls": [s for s in self.lines if "t_s" in s]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="stall_probe", description=__doc__.split("\n\n")[0])
    ap.add_argument("--period-ms", type=T.positive(100.0, "period"), default=2.0)
    ap.add_argument("--threshold-ms", type=T.positive(10_000.0, "threshold"), default=20.0)
    args = ap.parse_args(argv)
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(True))
    gc.disable()  # the loop makes no cycles; a collection would be the probe's own pause
    priority = highest_priority()
    period_s, threshold_s = args.period_ms / 1e3, args.threshold_ms / 1e3
    print(json.dumps({"running": priority}), flush=True)
    late_max_s, wakeups = 0.0, 0
    due = time.monotonic() + period_s
    while not stop:
        time.sleep(max(0.0, due - time.monotonic()))
        late_s = time.monotonic() - due
        wakeups += 1
        late_max_s = max(late_max_s, late_s)
        if late_s >= threshold_s:
            print(json.dumps({"t_s": round(due, 4), "late_ms": round(late_s * 1e3, 1)}), flush=True)
        due = max(due + period_s, time.monotonic())  # after a stall: the next period, not a burst to catch up
    totals = {"late_max_ms": round(late_max_s * 1e3, 1), "wakeups": wakeups, "priority": priority}
    print(json.dumps(totals), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
