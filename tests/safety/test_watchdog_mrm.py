"""Watchdogs (timeouts, clock jumps) and the MRM operator's profile."""

import math

import pytest

from vehicle_runtime.safety.mrm import MrmOperator, MrmParams
from vehicle_runtime.safety.watchdog import Watchdog, WatchdogSet


def test_watchdog_expires_strictly_after_timeout():
    w = Watchdog("camera", 0.2)
    assert w.expired(0.0)  # never fed
    w.feed(1.0)
    assert not w.expired(1.2) and w.expired(1.2001)
    assert w.age_s(1.1) == pytest.approx(0.1) and w.expires_at_s() == pytest.approx(1.2)


def test_clock_jump_refused_until_relearned():
    w = Watchdog("odometry", 0.1, max_clock_jump_s=0.5)
    assert w.feed(10.0, stamp_s=1000.0)  # offset learned: stamps are another clock
    assert w.feed(10.05, stamp_s=1000.05)
    assert not w.feed(10.1, stamp_s=1010.1)  # +10 s jump
    assert not w.feed(10.1, stamp_s=math.nan)
    assert w.refused_clock_jumps == 2 and w.expired(10.16)
    w.relearn_clock()
    assert w.feed(10.2, stamp_s=1010.2)


def test_watchdog_set():
    ws = WatchdogSet({"a": 0.1, "b": 1.0})
    ws.feed("a", 0.0)
    ws.feed("b", 0.0)
    assert ws.expired(0.5) == ["a"]
    assert ws.ages_s(0.5) == {"a": 0.5, "b": 0.5}


MRM = MrmParams(
    target_decel_mps2=2.5, jerk_mps3=1.5, standstill_speed_mps=0.05, hold_decel_mps2=2.5, release_jerk_mps3=5.0
)


def test_mrm_reaches_target_at_the_jerk_limit_and_holds_steering():
    m = MrmOperator(MRM)
    m.start(0.0, 0.05)
    trace = [m.step(0.01) for _ in range(300)]
    accels = [a for _, a in trace]
    assert all(s == 0.05 for s, _ in trace)
    steps = [b - a for a, b in zip([0.0] + accels, accels)]
    assert min(steps) >= -1.5 * 0.01 - 1e-12
    assert accels[-1] == -2.5
    t_reach = next(i for i, a in enumerate(accels) if a == -2.5) * 0.01
    assert t_reach == pytest.approx(2.5 / 1.5, abs=0.011)


def test_mrm_cuts_throttle_then_brakes_and_eases_hard_braking():
    m = MrmOperator(MRM)
    m.start(1.0, 0.0)
    first = [m.step(0.01)[1] for _ in range(20)]
    assert first[0] == pytest.approx(0.95) and first[19] == 0.0
    m.start(-3.5, 0.0)
    assert m.step(0.01)[1] == pytest.approx(-3.485)
    assert m.hold() == (0.0, -2.5)
