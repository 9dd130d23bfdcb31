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


def _keys_check(config_dir: Path) -> tuple:
    """A build for a real vehicle needs the box's provisioned SecOC key (keys never ship in a bundle)."""
    from ..keys import KeyFileError
    from ..security import secoc_key, security_config

    try:
        sec = security_config(config_dir)
        if sec.vehicle_mode != "vehicle":
            return ("keys", True, f"vehicle_mode {sec.vehicle_mode}: dev keys are generated where missing")
        secoc_key(sec)
        return ("keys", True, "SecOC key provisioned")
    except (KeyFileError, ValueError) as exc:
        return ("keys", False, str(exc))


MEDIAN_SHARE_OF_BUDGET = 0.5  # typical inference must leave half the budget to the tail


def latency_verdict(times_ms: List[float], budget_ms: float) -> tuple:
    """Pass when the median of the runs is within half the budget; p90 and p99 are reported, not gated.

    A build's speed is systematic, a scheduling spike is the box's load at that moment. Of 30 runs the
    p99 is the slowest one (one spike decides) and even the p90 fell to the load measured here: with one
    core busy on the shared 2-core machine (load average ~9), 8 health checks of the shipped student
    (10 ms budget) gave p50 0.27–0.51 ms, p90 5.7–46 ms, p99 59–98 ms: a p99 gate failed 8 of 8, a p90
    gate 7 of 8, this gate 0 of 8. The median moves only if more than half the runs are hit; a build
    that is really too slow (wrong provider, a bigger model) is slow in every run. The 2x margin leaves
    the other half of the budget to the tail (idle, the student's p99 is 1.2x its p50)."""
    p50, p90, p99 = (float(np.percentile(times_ms, q)) for q in (50, 90, 99))
    limit = MEDIAN_SHARE_OF_BUDGET * budget_ms
    return p50 <= limit, (
        f"p50 {p50:.2f} ms (≤ {limit:.1f}: half the {budget_ms:.1f} ms budget), "
        f"p90 {p90:.2f} ms, p99 {p99:.2f} ms (not gated: scheduling spikes)"
    )


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
        report.checks.append(_keys_check(slot_dir / "config"))
        try:
            student = Student.load(cfg.model_path, cfg.session)
            report.checks.append(
                ("model", True, f"{student.manifest.name} {student.manifest.version} on {student.provider}")
            )
        except Exception as exc:
            report.checks.append(("model", False, str(exc)))
            return report
        student.warm_up(3)
        times = []
        for _ in range(runs):
            student.run_raw(None)
            times.append(student.last_latency_s * 1e3)
        budget = student.manifest.latency_budget_ms
        ok, detail = latency_verdict(times, budget)
        report.checks.append(("latency", ok, detail))
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
