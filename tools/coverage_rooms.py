"""Line coverage per room, from the .coverage data a `pytest --cov` run left (make test).

    python tools/coverage_rooms.py [--data-file .coverage] [--min-percent 95]

Prints one line per room (statements, missed, percent); a file the tests never imported counts as
all missed. Exits 1 when a guarded room (safety, CAN: where an untested line is a defect on the road)
is under the minimum, 2 when there is no coverage data. Only the test process itself is measured:
code run in subprocesses (the CLI as a process, the node graph) is not counted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import coverage
from coverage.exceptions import CoverageException

REPO = Path(__file__).resolve().parents[1]
ROOMS = [f"vehicle_runtime/{r}" for r in ("safety", "can", "control", "student", "transport", "bundle", "record")]
ROOMS += ["vehicle_runtime/validation", "ros_nodes"]
GUARDED = ("vehicle_runtime/safety", "vehicle_runtime/can")


def rooms() -> list[tuple[str, list[Path]]]:
    """(name, its .py files) for every room; sim_bridge by sub-package; the rest of each package last."""
    sim = sorted(p for p in (REPO / "sim_bridge").iterdir() if (p / "__init__.py").exists())
    named = ROOMS + [str(p.relative_to(REPO)) for p in sim]
    out, claimed = [], set()
    for name in named:
        files = sorted((REPO / name).rglob("*.py"))
        claimed.update(files)
        out.append((name, files))
    for package in ("vehicle_runtime", "sim_bridge"):
        rest = sorted(p for p in (REPO / package).rglob("*.py") if p not in claimed)
        out.append((f"{package} (rest)", rest))
    return out


def measure(cov: coverage.Coverage, files: list[Path]) -> tuple[int, int]:
    """(statements, missed) over `files`."""
    statements = missed = 0
    for path in files:
        _, stmts, _, missing, _ = cov.analysis2(str(path))
        statements += len(stmts)
        missed += len(missing)
    return statements, missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-file", default=str(REPO / ".coverage"))
    parser.add_argument("--min-percent", type=float, default=95.0, help="for " + ", ".join(GUARDED))
    args = parser.parse_args(argv)
    if not Path(args.data_file).is_file():
        print(f"coverage_rooms: no coverage data at {args.data_file} (run pytest with --cov first)", file=sys.stderr)
        return 2
    cov = coverage.Coverage(data_file=args.data_file, config_file=str(REPO / "pyproject.toml"))
    try:
        cov.load()
    except CoverageException as exc:
        print(f"coverage_rooms: unreadable coverage data {args.data_file}: {exc}", file=sys.stderr)
        return 2
    failed = []
    print(f"{'line coverage per room':<32}{'statements':>11}{'missed':>8}{'percent':>9}")
    for name, files in rooms():
        statements, missed = measure(cov, files)
        percent = 100.0 * (statements - missed) / statements if statements else 100.0
        guard = name in GUARDED
        if guard and percent < args.min_percent:
            failed.append(f"{name} {percent:.1f} %")
        mark = f"  (>= {args.min_percent:g} % required)" if guard else ""
        print(f"{name:<32}{statements:>11}{missed:>8}{percent:>8.1f}%{mark}")
    if failed:
        print(f"coverage_rooms: under {args.min_percent:g} %: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
