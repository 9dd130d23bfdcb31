"""Envelope limiter: unit cases and hypothesis property tests audited by the independent checker."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim_bridge.envelope_audit import CommandRecord, audit
from vehicle_runtime.config import load_runtime_config
from vehicle_runtime.safety.envelope import EnvelopeLimiter, EnvelopeParams

P = load_runtime_config().safety.envelope
DT = 0.01


def test_tables_interpolate_and_hold_outside():
    assert P.at("steer_lim_rad", 0.0) == P.steer_lim_rad[0]
    assert P.at("steer_lim_rad", 100.0) == P.steer_lim_rad[-1]
    mid = 0.5 * (P.reference_speeds_mps[1] + P.reference_speeds_mps[2])
    assert P.at("steer_lim_rad", mid) == pytest.approx(0.5 * (P.steer_lim_rad[1] + P.steer_lim_rad[2]))


def test_lateral_acceleration_limit_uses_autoware_formula():
    lim = EnvelopeLimiter(P)
    v = 20.0
    lim.seed(0.2, 0.0)
    out = lim.limit(0.2, 0.0, v, DT)
    assert "lat_acc" in out.filters
    assert out.steer_rad == pytest.approx(math.atan(P.at("lat_acc_lim_mps2", v) * P.wheelbase_m / v**2))


def test_rate_limits_against_last_sent_command():
    lim = EnvelopeLimiter(P)
    out = lim.limit(0.3, 2.0, 1.0, DT)
    assert out.steer_rad == pytest.approx(P.at("steer_rate_lim_radps", 1.0) * DT)
    assert out.accel_mps2 == pytest.approx(P.at("lon_jerk_lim_mps3", 1.0) * DT)
    assert {"steer_rate", "lon_jerk"} <= set(out.filters)


def test_non_finite_rejected_and_flagged():
    lim = EnvelopeLimiter(P)
    lim.seed(0.01, -0.5)
    out = lim.limit(math.nan, math.inf, 5.0, DT)
    assert math.isfinite(out.steer_rad) and math.isfinite(out.accel_mps2)
    assert out.filters[0] == "non_finite"
    assert out.steer_rad == pytest.approx(0.01) and out.accel_mps2 <= 0.0


def test_no_acceleration_at_max_speed():
    lim = EnvelopeLimiter(P)
    lim.seed(0.0, 0.01)
    out = lim.limit(0.0, 1.0, P.max_speed_mps + 0.1, DT)
    assert out.accel_mps2 == 0.0 and "velocity" in out.filters


@pytest.mark.parametrize("speed_mps", [math.nan, math.inf, -math.inf])
def test_non_finite_speed_gets_the_tightest_limits(speed_mps):
    """An unknown speed is judged as the top speed (the tightest steering limits), not a crash."""
    unknown, top = EnvelopeLimiter(P), EnvelopeLimiter(P)
    out = unknown.limit(0.3, 1.0, speed_mps, DT)
    ref = top.limit(0.3, 1.0, P.max_speed_mps, DT)
    assert (out.steer_rad, out.accel_mps2, out.filters) == (ref.steer_rad, ref.accel_mps2, ref.filters)
    assert "steer_lim" in out.filters or "steer_rate" in out.filters


def test_invalid_tables_rejected():
    with pytest.raises(ValueError, match="steer_lim_rad has 2 values"):
        EnvelopeParams(
            2.8, (0.0, 1.0, 2.0), (0.5, 0.5), (1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 1, 1), 20
        )
    with pytest.raises(ValueError, match="positive"):
        EnvelopeParams(2.8, (0.0, 1.0), (0.5, -1), (1, 1), (1, 1), (1, 1), (1, 1), (1, 1), (1, 1), 20)


finite_or_not = st.one_of(st.floats(-5.0, 5.0), st.sampled_from([math.nan, math.inf, -math.inf, 1e9, -1e9]))


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(
        st.tuples(finite_or_not, st.floats(-50.0, 50.0).filter(math.isfinite) | finite_or_not, st.floats(0.0, 40.0)),
        min_size=1,
        max_size=80,
    ),
    seed_steer=st.floats(-0.5, 0.5),
    seed_accel=st.floats(-3.0, 2.0),
)
def test_property_every_command_inside_envelope_and_rate_limits(steps, seed_steer, seed_accel):
    """Arbitrary policy outputs and speeds (speed changing within physical bounds per step)."""
    lim = EnvelopeLimiter(P)
    lim.seed(seed_steer, seed_accel)
    # the seed itself is what the previous (disengaged) frame carried
    records = [CommandRecord(0.0, steps[0][2], lim.prev_steer_rad, lim.prev_accel_mps2, enabled=False)]
    speed = steps[0][2]
    for i, (steer, accel, target_speed) in enumerate(steps, start=1):
        speed = min(max(target_speed, speed - 0.1), speed + 0.1)  # ≤ 10 m/s² between two periods
        out = lim.limit(steer, accel, speed, DT)
        records.append(CommandRecord(i * DT, speed, out.steer_rad, out.accel_mps2, enabled=True))
    assert audit(records, P) == []


def test_audit_catches_violations():
    """The checker is not vacuous: hand-made bad commands are reported."""
    recs = [
        CommandRecord(0.0, 10.0, 0.0, 0.0, True),
        CommandRecord(0.01, 10.0, 0.2, 3.0, True),
        CommandRecord(0.02, 30.0, 0.2, 3.0, True),
    ]
    rules = {v.rule for v in audit(recs, P)}
    assert {"steer_rate", "lon_jerk", "lon_acc", "lat_acc", "velocity"} <= rules
