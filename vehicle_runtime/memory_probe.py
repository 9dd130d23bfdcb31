"""Where a node process's memory goes, for soak diagnosis; off unless VEHICLE_RUNTIME_MEMORY_PROBE=DIR is set.

Then every call (the node's executor calls it every PROBE_EVERY_S) appends one JSON line to DIR/<name>-<pid>.jsonl:
resident memory by kind (/proc/self/smaps_rollup), glibc's arena (mallinfo2: bytes in use vs freed but
kept), the Python objects the collector tracks counted by type, and with tracemalloc (started here) the
sites whose Python allocations grew most since the first probe. Resident memory that rises while
`malloc_in_use_kb` stays flat is the allocator keeping freed memory, not a leak.
"""

from __future__ import annotations

import collections
import ctypes
import gc
import json
import os
import time
import tracemalloc
from pathlib import Path
from typing import Dict, Optional, Tuple

ENV = "VEHICLE_RUNTIME_MEMORY_PROBE"
PROBE_EVERY_S = 5.0
TOP_SITES = 12
TOP_TYPES = 25


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


def mallinfo_kb() -> dict:
    """glibc's main and thread arenas: in use, free but kept, and mmapped chunks, in kB ({} without glibc 2.33+)."""
    try:
        fn = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return {}
    fn.restype = _MallInfo2
    m = fn()
    return {
        "malloc_in_use_kb": m.uordblks // 1024,
        "malloc_free_kb": m.fordblks // 1024,
        "mmapped_kb": m.hblkhd // 1024,
    }


def mappings_rss_kb() -> Dict[str, Tuple[int, int, str]]:
    """Every mapping of this process: start address → (size kB, resident kB, what is mapped)."""
    out: Dict[str, Tuple[int, int, str]] = {}
    start, size, name = "", 0, ""
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and not head[0].endswith(":"):
            lo, hi = head[0].split("-")
            start, size, name = lo, (int(hi, 16) - int(lo, 16)) // 1024, head[5] if len(head) > 5 else "[anon]"
        elif head[0] == "Rss:":
            out[start] = (size, int(head[1]), name)
    return out


def smaps_kb() -> dict:
    rollup = Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]
    fields = dict(line.split(":", 1) for line in rollup)
    return {k: int(fields[k].split()[0]) for k in ("Rss", "Anonymous", "Private_Dirty", "Shared_Clean") if k in fields}


class MemoryProbe:
    def __init__(self, directory: str, name: str, python: bool, frames: int = 6):
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.path = Path(directory) / f"{name}-{os.getpid()}.jsonl"
        self.python = python  # tracemalloc and object counts: slow, they disturb a loaded machine
        if python:
            tracemalloc.start(frames)
        self.maps: Dict[str, Tuple[int, int, str]] = {}
        self.first: Optional[tracemalloc.Snapshot] = None
        self.t0 = time.monotonic()

    def __call__(self) -> None:
        maps = mappings_rss_kb()
        changed = {a: m for a, m in maps.items() if self.maps.get(a) != m}  # new or resident size changed
        row = {
            "t_s": round(time.monotonic() - self.t0, 1),
            "wall_s": round(time.time(), 1),
            **smaps_kb(),
            **mallinfo_kb(),
            "maps_changed": {a: [*m, m[1] - self.maps.get(a, (0, 0))[1]] for a, m in changed.items()},
            "maps_gone": [[a, *self.maps[a]] for a in self.maps if a not in maps],
        }
        self.maps = maps
        if self.python:
            row.update(self._python())
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")

    def _python(self) -> dict:
        counts = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
        snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        self.first = self.first or snap
        sites = snap.compare_to(self.first, "traceback")[:TOP_SITES]
        return {
            "traced_kb": tracemalloc.get_traced_memory()[0] // 1024,
            "objects": len(gc.get_objects()),
            "types": dict(counts.most_common(TOP_TYPES)),
            "growth": [
                {"kb": s.size_diff // 1024, "n": s.count_diff, "at": [f"{f.filename}:{f.lineno}" for f in s.traceback]}
                for s in sites
            ],
        }


def from_environment(name: str) -> Optional[MemoryProbe]:
    directory = os.environ.get(ENV)
    return MemoryProbe(directory, name, os.environ.get(ENV + "_PYTHON") == "1") if directory else None
