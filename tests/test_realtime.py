"""The periodic loop keeps absolute deadlines (checked by counting, not by timing thresholds)."""

import gc
import os
import subprocess
import sys
import threading
import time

import pytest

from vehicle_runtime import realtime
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


RESERVE_CHECK = """
import sys
from vehicle_runtime.realtime import reserve_heap
rss = lambda: int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0])
start = rss()
if sys.argv[1] == "reserve":
    assert reserve_heap(32 << 20)
reserved = rss()
blocks = [bytearray(100_000) for _ in range(200)]  # 20 MB of touched heap
grown = rss() - reserved
heap, text = {}, open("/proc/self/smaps").read().split("[heap]")
for field in text[1].splitlines()[1:] if len(text) > 1 else []:  # the [heap] mapping's fields
    if not field.split(":")[0].isalpha() and "_" not in field.split(":")[0]:
        break  # the next mapping's header
    if field.endswith(" kB"):
        heap[field.split(":")[0]] = int(field.split()[1])
print(reserved - start, grown, heap.get("Size", 0), heap.get("Rss", 0), heap.get("Locked", 0))
"""


@pytest.mark.parametrize("reserve", [True, False])
def test_a_reserved_heap_stays_resident_and_later_allocations_grow_into_it(reserve):
    """reserve_heap: 32 MB touched and freed stay resident (no GLIBC_TUNABLES needed), and 20 MB allocated
    afterwards costs (almost) no new resident memory; without the reserve the same 20 MB does."""
    if not mallinfo_kb():
        pytest.skip("not glibc 2.33+")
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    arg = "reserve" if reserve else "none"
    out = subprocess.run(
        [sys.executable, "-c", RESERVE_CHECK, arg], env=env, capture_output=True, text=True, check=True
    )
    reserved_kb, grown_kb, heap_kb, heap_rss_kb, heap_locked_kb = map(int, out.stdout.split())
    if reserve:
        assert reserved_kb > 30_000 and grown_kb < 3_000, (reserved_kb, grown_kb)
        if heap_locked_kb:  # where the memlock limit allowed mlock: the whole heap resident, no untouched holes
            assert heap_rss_kb >= heap_kb - 4 and heap_locked_kb >= heap_kb - 4, (heap_kb, heap_rss_kb, heap_locked_kb)
    else:
        assert reserved_kb < 2_000 and grown_kb > 18_000, (reserved_kb, grown_kb)


ARENA_CHECK = """
import ctypes, sys, threading
from vehicle_runtime.realtime import single_malloc_arena
if sys.argv[1] == "single":
    assert single_malloc_arena()
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
def arenas():  # glibc's thread arenas: anonymous mappings on a 64 MB boundary, followed by their reserve
    rows = [line.split() for line in open("/proc/self/maps")]
    return sum(
        len(r) == 5 and int(r[0].split("-")[0], 16) % (64 << 20) == 0 and n[1] == "---p" and len(n) == 5
        for r, n in zip(rows, rows[1:])
    )
before = arenas()
go = threading.Barrier(6)
def work():
    go.wait()  # all six threads allocate at once: each would get an arena of its own
    blocks = [libc.malloc(1000) for _ in range(1000)]
    go.wait()
    for b in blocks:
        libc.free(b)
threads = [threading.Thread(target=work) for _ in range(6)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(arenas() - before)
"""


@pytest.mark.parametrize("single", [True, False])
def test_with_a_single_malloc_arena_threads_allocate_from_the_locked_heap(single):
    """single_malloc_arena: threads started afterwards get no arena of their own (whose freed pages a locked
    process could never hand back); without it, glibc gives concurrent threads new arenas."""
    if not mallinfo_kb():
        pytest.skip("not glibc 2.33+")
    arg = "single" if single else "default"
    out = subprocess.run([sys.executable, "-c", ARENA_CHECK, arg], capture_output=True, text=True, check=True)
    new_arenas = int(out.stdout)
    assert new_arenas == 0 if single else new_arenas >= 1, new_arenas


def test_a_process_with_locked_memory_does_not_trim_its_heap(monkeypatch):
    """Locked pages cannot be handed back, and trimming would hand back the reserve: release is skipped."""
    trims = []
    monkeypatch.setattr(realtime, "_malloc_trim", lambda: trims.append)
    monkeypatch.setattr(realtime, "_memory_locked", threading.Event())  # this test process's own lock aside
    assert realtime.release_free_memory() >= 0.0 and trims == [0]
    realtime._memory_locked.set()
    assert realtime.release_free_memory() == 0.0 and trims == [0]


def test_other_threads_at_names_where_each_other_thread_is():
    """What a late control tick records: the other threads' innermost frames, not its own."""
    release, parked = threading.Event(), threading.Event()

    def park_here():
        parked.set()
        release.wait()

    t = threading.Thread(target=park_here, name="parker")
    t.start()
    try:
        assert parked.wait(5)
        where = realtime.other_threads_at()
    finally:
        release.set()
        t.join()
    assert "park_here" in where["parker"] and "test_realtime.py" in where["parker"]
    assert threading.current_thread().name not in where


def test_a_collection_is_kept_with_its_time_so_a_late_tick_can_blame_it():
    """The vehicle interface's gap report: a collection holds the GIL, so one inside a control-loop gap
    explains it; one outside the gap does not."""
    realtime.watch_collections()
    realtime.watch_collections()  # once only, however often it is called
    assert gc.callbacks.count(realtime._on_collection) == 1
    t0 = time.monotonic()
    gc.collect(2)
    t1 = time.monotonic()
    c = realtime.collection_between(t0, t1)
    assert c is not None and c.generation == 2 and c.thread == threading.current_thread().name
    assert t0 <= c.start_s and c.start_s + c.duration_s <= t1
    assert realtime.collection_between(t1 + 1e-6, t1 + 1.0) is None  # after it
    assert realtime.collection_between(t0 - 1.0, t0 - 1e-6) is None  # before it
