"""The resumable results file: one JSON object per finished run, appended as it arrives.

A run is counted under its key (scenario with grid point, seed, policy) once: a line whose key is
already there (a retried task, a resumed evaluation) is ignored. A torn last line (the process was
killed mid-write) is dropped on load, so that run simply runs again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, Iterator, Optional, TextIO


class ResultsFile:
    def __init__(self, path: Optional[Path]):
        self.path = Path(path) if path else None
        self.rows: Dict[str, dict] = {}
        self.torn = 0
        if self.path and self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    self.torn += 1
                    continue
                if isinstance(row, dict) and "key" in row:
                    self.rows.setdefault(row["key"], row)
            if self.torn:  # rewrite without the torn line so that appends start on a fresh line
                self._rewrite(self.path)
        self._fh: Optional[TextIO] = None

    def _rewrite(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in self.rows.values()))
        os.replace(tmp, path)

    def done(self) -> set:
        return set(self.rows)

    def add(self, row: dict) -> bool:
        """False (and nothing written) when the key is already counted."""
        if row["key"] in self.rows:
            return False
        self.rows[row["key"]] = row
        if self.path:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open(self.path, "a")
            self._fh.write(json.dumps(row) + "\n")
            self._fh.flush()  # a killed evaluation keeps every run it reported
            os.fsync(self._fh.fileno())
        return True

    def close(self) -> None:
        if self._fh:
            self._fh.close()
            self._fh = None

    def __iter__(self) -> Iterator[dict]:
        return iter(self.rows.values())
