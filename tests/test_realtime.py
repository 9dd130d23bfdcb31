"""The periodic loop keeps absolute deadlines (checked by counting, not by timing thresholds)."""

import os
import subprocess
import sys
import threading

import pytest

from vehicle_runtime.memory_probe import mallinfo_kb
from vehicle_runtime.realtime import GLIBC_TUNABLES, GarbageCollector, PeriodicLoop


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


def test_the_garbage_collector_hands_freed_heap_back_after_each_full_collection():
    """Only after a full collection (every `full_every` calls), never on the young-generation calls."""
    released = []
    collector = GarbageCollector(full_every=3, release=lambda: released.append(collector.calls) or 0.002)
    for _ in range(7):
        collector()
    assert released == [3, 6] and collector.release_s_max == 0.002


RELEASE_CHECK = """
from vehicle_runtime.realtime import release_free_memory
rss = lambda: int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0])
blocks = [bytearray(200_000) for _ in range(200)]  # 40 MB on the heap (below mmap_threshold: not mmapped)
del blocks[::2]
before = rss()
release_free_memory()
print(before - rss())
"""


def test_release_free_memory_returns_freed_heap_pages_to_the_os():
    """Under the node processes' GLIBC_TUNABLES glibc keeps freed heap; malloc_trim gives it back."""
    if not mallinfo_kb():
        pytest.skip("not glibc 2.33+")
    env = {**os.environ, "GLIBC_TUNABLES": GLIBC_TUNABLES}
    out = subprocess.run([sys.executable, "-c", RELEASE_CHECK], env=env, capture_output=True, text=True, check=True)
    assert int(out.stdout) > 10_000, "less than 10 MB of the 20 MB freed went back to the OS"
