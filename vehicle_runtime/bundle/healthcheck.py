"""The health check of a booted build: config valid, model loads and matches its contract,
inference within the manifest's latency budget, CAN interface opens. It commits a trial that
passes and rolls back one that fails."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List

import numpy as np

from ..can import open_bus
from ..config import load_runtime_config
from ..student import Student
from . import slots


@dataclass
class HealthReport:
    slot: str
    checks: List[tuple] = field(default_factory=list)  # (name, ok, detail)

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.checks)


def check_slot(slot_dir: Path, runs: int = 30) -> HealthReport:
    report = HealthReport(slot_dir.name)
    previous = os.environ.get("VEHICLE_RUNTIME_SHARE")
    os.environ["VEHICLE_RUNTIME_SHARE"] = str(slot_dir)  # relative paths in the slot's config resolve inside it
    try:
        try:
            cfg = load_runtime_config(slot_dir / "config")
            report.checks.append(("config", True, "parameter files valid"))
        except Exception as exc:
            report.checks.append(("config", False, str(exc)))
            return report
        try:
            student = Student.load(cfg.model_path, cfg.session)
            report.checks.append(("model", True, f"{student.manifest.name} {student.manifest.version} on {student.provider}"))
        except Exception as exc:
            report.checks.append(("model", False, str(exc)))
            return report
        student.warm_up(3)
        times = []
        for _ in range(runs):
            student.run_raw(None)
            times.append(student.last_latency_s * 1e3)
        p99 = float(np.percentile(times, 99))
        budget = student.manifest.latency_budget_ms
        report.checks.append(("latency", p99 <= budget, f"p99 {p99:.2f} ms, budget {budget:.1f} ms"))
        try:
            bus = open_bus(cfg.bus)
            bus.shutdown()
            report.checks.append(("can", True, f"{cfg.bus.interface}:{cfg.bus.channel} opens"))
        except Exception as exc:
            report.checks.append(("can", False, str(exc)))
    finally:
        if previous is None:
            os.environ.pop("VEHICLE_RUNTIME_SHARE", None)
        else:
            os.environ["VEHICLE_RUNTIME_SHARE"] = previous
    return report


def healthcheck(root: Path, runs: int = 30) -> HealthReport:
    """Check the build the box runs now; commit it if it is a trial that passed, roll it back if not."""
    slot = slots.selected(root)
    if slot is None:
        return HealthReport("none", [("installed", False, f"{root}: no build installed")])
    report = check_slot(root / "slots" / slot, runs)
    trial = slots.load_state(root).get("trial")
    if trial == slot:
        if report.ok:
            slots.commit(root)
        else:
            failed = "; ".join(f"{n}: {d}" for n, ok, d in report.checks if not ok)
            slots.rollback(root, f"health check failed ({failed})")
    return report
