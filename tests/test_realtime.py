"""The periodic loop keeps absolute deadlines (checked by counting, not by timing thresholds)."""

import threading

from vehicle_runtime.realtime import PeriodicLoop


def test_runs_exact_number_of_ticks_on_the_period_grid():
    fake = {"t": 0.0}

    def clock():
        fake["t"] += 0.0001  # every clock read advances 0.1 ms: a deterministic clock
        return fake["t"]

    starts = []
    loop = PeriodicLoop(0.01, spin_s=0.0, clock=clock)
    loop.run(lambda now: starts.append(now), ticks=20, start_s=1.0)
    assert len(starts) == 20
    for k, s in enumerate(starts):
        assert 1.0 + k * 0.01 <= s < 1.0 + k * 0.01 + 0.0003
    assert loop.deadline_misses == 0


def test_stop_event_ends_the_loop():
    stop = threading.Event()
    calls = []

    def step(now):
        calls.append(now)
        if len(calls) == 3:
            stop.set()

    PeriodicLoop(0.001).run(step, stop=stop)
    assert len(calls) == 3


def test_late_start_counts_a_miss_and_does_not_burst():
    fake = {"t": 5.0}

    def clock():
        fake["t"] += 0.0001
        return fake["t"]

    starts = []
    loop = PeriodicLoop(0.01, spin_s=0.0, clock=clock)
    loop.run(lambda now: starts.append(now), ticks=3, start_s=1.0)  # 4 s behind
    assert loop.deadline_misses == 1
    assert starts[1] - starts[0] >= 0.0099  # no catch-up burst
