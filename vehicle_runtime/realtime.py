"""A fixed-rate loop on absolute deadlines: sleep until shortly before the deadline, then spin.

onnxruntime releases the GIL while it runs, so this plain Python loop keeps its period even beside
an inference thread (DESIGN.md: p99 jitter 0.05–0.06 ms measured here).
"""

from __future__ import annotations

import ctypes
import functools
import gc
import os
import resource
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

from .latency import LatencyStats
from .memory_probe import mappings_rss_kb

# glibc malloc tunables for the node processes: multi-MB buffers (camera images) stay out of mmap, so an image
# costs no first-touch page faults; the default environment of `vehicle-runtime up`, the launch file and the
# graph runs (the launch file writes the same value out: it does not import this package)
MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES = 64 << 20, 256 << 20
GLIBC_TUNABLES = (
    f"glibc.malloc.mmap_threshold={MMAP_THRESHOLD_BYTES}:glibc.malloc.trim_threshold={TRIM_THRESHOLD_BYTES}"
)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # <malloc.h> mallopt parameters

MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT = 1, 2, 4  # <sys/mman.h>
# the heap a memory-locked process grows and touches at start-up (reserve_heap): a 60-minute soak with 90
# simulator restarts took the vehicle interface's locked heap 2.8 MB above its start before it levelled off
HEAP_RESERVE_BYTES = 8 << 20
_memory_locked = threading.Event()  # set once mlockall succeeded in this process


class PeriodicLoop:
    def __init__(self, period_s: float, spin_s: float = 0.0008, clock: Callable[[], float] = time.monotonic):
        self.period_s = period_s
        self.spin_s = spin_s
        self.clock = clock
        self.jitter = LatencyStats(1 << 16)  # |actual start − deadline|
        self.deadline_misses = 0  # starts later than one whole period

    def run(
        self,
        step: Callable[[float], None],
        stop: Optional[threading.Event] = None,
        ticks: Optional[int] = None,
        start_s: Optional[float] = None,
        until: Optional[Callable[[], bool]] = None,
    ) -> None:
        """Call step(now) once per period until `stop` is set, `until()` is true or `ticks` calls were made."""
        deadline = self.clock() if start_s is None else start_s
        k = 0
        while (
            (ticks is None or k < ticks)
            and not (stop is not None and stop.is_set())
            and not (until is not None and until())
        ):
            remaining = deadline - self.clock()
            if remaining > self.spin_s:
                time.sleep(remaining - self.spin_s)
            while self.clock() < deadline:
                pass
            now = self.clock()
            late = now - deadline
            self.jitter.add(late)
            if late > self.period_s:
                self.deadline_misses += 1
                deadline = now  # do not burst to catch up: the gate sees the stall in its dt
            step(now)
            deadline += self.period_s
            k += 1


def other_threads_at(frames: int = 3) -> Dict[str, str]:
    """Where every other Python thread of this process is now, innermost frame last ("file:line function >
    ..."). Called by a thread that was late: the thread that held the GIL meanwhile has just handed it over,
    and its frames say what ran instead."""
    me = threading.get_ident()
    names = {t.ident: t.name for t in threading.enumerate()}
    return {
        names.get(ident, f"thread {ident}"): " > ".join(
            f"{os.path.basename(f.filename)}:{f.lineno} {f.name}" for f in traceback.extract_stack(frame, frames)
        )
        for ident, frame in sys._current_frames().items()
        if ident != me
    }


def set_realtime_priority(priority: int) -> str:
    """SCHED_FIFO at `priority` for the calling thread and the threads it starts later (0: leave it alone;
    Linux schedules threads, not processes). The gate and the CAN writer
    should not wait behind camera decoding or a busy simulator. Returns '' or why it was refused."""
    if priority <= 0:
        return ""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        return ""
    except (PermissionError, OSError, AttributeError) as exc:
        return f"real-time priority {priority} refused ({exc}); running with normal scheduling"


def isolate_control_thread(priority: int, cpu: int, lock_memory: bool) -> List[str]:
    """For the calling thread (Linux applies both calls per thread): SCHED_FIFO at `priority` (0: off),
    pinned to `cpu` (-1: off); and for the process, its memory locked so a page fault never stalls a tick.
    Returns one line per measure the box refused (the loop then runs without it)."""
    refused = []
    if priority > 0:
        reason = set_realtime_priority(priority) or _promote_other_threads(priority - 1)
        if reason:
            refused.append(reason)
    if cpu >= 0:
        try:
            os.sched_setaffinity(0, {cpu})
        except (OSError, ValueError) as exc:
            refused.append(f"pinning the control loop to CPU {cpu} refused ({exc})")
    if lock_memory:
        reason = _lock_memory()
        if reason:
            refused.append(reason)
    return refused


def _promote_other_threads(priority: int) -> str:
    """The process's other threads (executor, DDS receive threads) one step below the control thread. The
    control thread needs the GIL every tick: a normal-priority thread holding it, descheduled by a busy
    machine, stalled the loop for 80 ms (priority inversion); an RT holder runs on and hands it over within
    the switch interval."""
    me = threading.get_native_id()
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError as exc:
        return f"other threads not promoted ({exc})"
    for tid in tids:
        if tid == me:
            continue
        try:
            os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(max(priority, 1)))
        except ProcessLookupError:
            continue  # the thread ended meanwhile
        except (PermissionError, OSError) as exc:
            return f"other threads not promoted to real-time priority ({exc})"
    return ""


def _lock_memory() -> str:
    """mlockall(MCL_CURRENT | MCL_FUTURE), only where the memlock limit allows all of it: with a small
    limit MCL_FUTURE would make later allocations fail instead of fault."""
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if soft != resource.RLIM_INFINITY and os.geteuid() != 0:
        return f"memory not locked: RLIMIT_MEMLOCK is {soft} bytes (set LimitMEMLOCK=infinity in the unit)"
    libc = ctypes.CDLL(None, use_errno=True)
    # MCL_ONFAULT: a page is locked once touched instead of every mapping faulted in at once (untouched thread
    # stacks and library reservations made the vehicle interface 590 MB resident instead of 100 MB)
    if libc.mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0 and libc.mlockall(MCL_CURRENT | MCL_FUTURE) != 0:
        # (kernels before 4.4 have no MCL_ONFAULT)
        return f"memory not locked: mlockall failed ({os.strerror(ctypes.get_errno())})"
    _memory_locked.set()
    return ""


def single_malloc_arena() -> bool:
    """Every thread of this process allocates from the main heap (glibc's arena_max 1), the one that
    `reserve_heap` pre-faults and locks. Why: glibc gives each new thread its own arena (here 15 of them:
    the middleware's receive and event threads, the executor, the control loop); in a memory-locked process
    their freed pages cannot go back to the OS either, so each arena's high-water mark stayed resident and
    a 60-minute soak saw the vehicle interface climb 2.5 MB/h. Call it first thing, before the process
    starts threads (those that already have an arena keep it). False where there is no glibc malloc."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, 1))


def reserve_heap(nbytes: int = HEAP_RESERVE_BYTES) -> bool:
    """Grow the calling thread's malloc heap by `nbytes`, touch every page, and free it again: later
    allocations reuse these pages instead of growing the heap (ROS 2's real-time practice: lock, pre-fault,
    never trim). Why: once memory is locked, freed pages inside the heap cannot go back to the OS (madvise
    refuses locked pages), so every new high-water mark of a fragmented heap stays resident; a simulator
    restart raised it a little each time. Call it from the thread whose heap grows (the main thread's, for
    the node processes) before locking. False where there is no glibc malloc to ask."""
    try:
        libc = ctypes.CDLL(None)
        malloc, free, mallopt = libc.malloc, libc.free, libc.mallopt
    except (OSError, AttributeError):
        return False
    malloc.restype, malloc.argtypes, free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
    # GLIBC_TUNABLES' values, also where the process was started without them: the block comes from the heap,
    # not mmap, and freeing it does not trim it away at once
    if not (mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)):
        return False
    block = malloc(nbytes)
    if not block:
        return False
    ctypes.memset(block, 0, nbytes)  # touched: resident now (and locked once mlockall runs)
    free(block)  # back to the heap's top, where nothing trims it while the memory is locked
    # the heap's free chunks that were never touched (calloc on fresh pages, say) would become resident one by
    # one as allocations reuse them: mlock faults the whole heap in now (where the memlock limit allows)
    for start, (size_kb, _rss_kb, name) in mappings_rss_kb().items():
        if name == "[heap]":
            libc.mlock(ctypes.c_void_p(int(start, 16)), ctypes.c_size_t(size_kb * 1024))
    return True


def quiet_garbage_collector() -> None:
    """After start-up: everything allocated so far moves out of the collector's sight (gc.freeze), and
    automatic collection stops; a `GarbageCollector` runs it outside the control tick instead."""
    gc.collect()
    gc.freeze()
    gc.disable()
    watch_collections()


@dataclass(frozen=True)
class Collection:
    """One pass of the garbage collector: it holds the GIL throughout, so no other Python thread runs."""

    start_s: float  # time.monotonic()
    duration_s: float
    generation: int
    thread: str


_collections: List[Optional[Collection]] = [None]  # the last pass
_collection_start_s = [0.0]


def _on_collection(phase: str, info: dict) -> None:
    now_s = time.monotonic()
    if phase == "start":  # passes never overlap (the GIL): a start is followed by its own stop
        _collection_start_s[0] = now_s
    else:
        start_s = _collection_start_s[0]
        _collections[0] = Collection(start_s, now_s - start_s, info["generation"], threading.current_thread().name)


def watch_collections() -> None:
    """Keep when the collector last ran (gc.callbacks), so a late control tick can tell whether a collection
    took its time (`collection_between`)."""
    if _on_collection not in gc.callbacks:
        gc.callbacks.append(_on_collection)


def collection_between(start_s: float, end_s: float) -> Optional[Collection]:
    """The last collection, if it overlapped [start_s, end_s] (time.monotonic())."""
    c = _collections[0]
    return c if c is not None and c.start_s < end_s and c.start_s + c.duration_s > start_s else None


def release_free_memory() -> float:
    """glibc's malloc_trim(0): the free pages inside the heap go back to the OS. With GLIBC_TUNABLES'
    trim_threshold glibc never does it by itself, and a soak showed the node processes' resident memory
    creeping up by ~2 MB/h while the bytes malloc had in use stayed flat (freed, kept, fragmented).
    Not once the process has locked its memory: locked pages cannot be handed back, and trimming the heap's
    top would hand back the reserve (reserve_heap) that the next restart grows into again.
    Returns the seconds it took (0.0 where there is no malloc_trim: not glibc, or memory locked)."""
    trim = _malloc_trim()
    if trim is None or _memory_locked.is_set():
        return 0.0
    t0 = time.perf_counter()
    trim(0)
    return time.perf_counter() - t0


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Optional[Callable[[int], int]]:
    try:
        return ctypes.CDLL(None).malloc_trim  # the GIL is released while it runs (ctypes)
    except (OSError, AttributeError):
        return None


class GarbageCollector:
    """Called once a second from the executor (never from the control tick): the young generations every
    time; every `full_every` calls everything, so nothing piles up in the oldest generation, and then the
    freed heap pages go back to the OS (release_free_memory; a few ms at most, off the control thread)."""

    def __init__(self, full_every: int = 30, release: Callable[[], float] = release_free_memory):
        self.full_every, self.calls, self.release = full_every, 0, release
        self.release_s_max = 0.0

    def __call__(self) -> None:
        self.calls += 1
        full = self.calls % self.full_every == 0
        gc.collect(2 if full else 1)
        if full:
            self.release_s_max = max(self.release_s_max, self.release())
