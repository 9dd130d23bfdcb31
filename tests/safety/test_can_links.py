"""Feedback parser and by-wire gateway on real virtual buses: timeouts, counters, checksums,
malformed frames (never a crash, always counted), override and fallback."""

import itertools

import can
from hypothesis import given, settings
from hypothesis import strategies as st

from sim_bridge.gateway import ByWireGateway, VehicleMeasurement
from vehicle_runtime.can import BusConfig, Codec, Packer, open_bus
from vehicle_runtime.can.feedback import FeedbackParser

_n = itertools.count()
STILL = VehicleMeasurement(0.0, 0.0, 0.0, 0.0)
MOVING = VehicleMeasurement(10.0, 0.0, 0.0, 0.0)


def pair():
    ch = f"links-{next(_n)}"
    return open_bus(BusConfig("virtual", ch)), open_bus(BusConfig("virtual", ch))


def drain(parser, bus, t):
    while (m := bus.recv(timeout=0.0)) is not None:
        parser.update(m, t)


def test_parser_valid_then_timeout():
    gw_bus, rt_bus = pair()
    gw, parser = ByWireGateway(gw_bus), FeedbackParser(Codec())
    assert not parser.status(0.0).valid and "nothing received" in parser.status(0.0).reason
    for k in range(5):
        gw.step(k * 0.01, MOVING)
        drain(parser, rt_bus, k * 0.01)
    st_ = parser.status(0.05)
    assert st_.valid and st_.speed_mps == 10.0 and not st_.driver_override
    assert parser.status(0.04 + 0.1).valid and not parser.status(0.04 + 0.1001).valid
    gw_bus.shutdown(), rt_bus.shutdown()


def test_parser_invalid_after_five_net_bad_frames_and_recovers():
    gw_bus, rt_bus = pair()
    gw, parser = ByWireGateway(gw_bus), FeedbackParser(Codec())
    t = 0.0
    for k in range(3):
        t = k * 0.01
        gw.step(t, MOVING)
        drain(parser, rt_bus, t)
    gw.report_tamper = "checksum"
    for k in range(3, 8):
        t = k * 0.01
        gw.step(t, MOVING)
        drain(parser, rt_bus, t)
        assert parser.status(t).valid == (k < 7), k
    assert parser.errors["bad_checksum"] == 15
    gw.report_tamper = None
    for k in range(8, 14):  # counters re-sync after one frame, then good frames pay the debt back
        t = k * 0.01
        gw.step(t, MOVING)
        drain(parser, rt_bus, t)
    assert parser.status(t).valid
    gw_bus.shutdown(), rt_bus.shutdown()


frames = st.builds(
    lambda i, d, ext, err: can.Message(arbitration_id=i, data=d, is_extended_id=ext, is_error_frame=err),
    st.sampled_from([0x100, 0x101, 0x102, 0x200, 0x201, 0x202, 0x7FF, 0x1]) | st.integers(0, 0x7FF),
    st.binary(min_size=0, max_size=8),
    st.booleans(),
    st.just(False),
)


@settings(max_examples=200, deadline=None)
@given(junk=st.lists(frames, max_size=30))
def test_malformed_frames_never_crash_either_side_and_are_counted(junk):
    ch = f"fuzz-{next(_n)}"
    gw_bus, rt_bus, attacker = (open_bus(BusConfig("virtual", ch)) for _ in range(3))
    try:
        gw, parser = ByWireGateway(gw_bus), FeedbackParser(Codec())
        for m in junk:
            attacker.send(m)
        act = gw.step(0.0, MOVING)
        drain(parser, rt_bus, 0.0)
        assert act.mode == "manual"  # junk never puts the gateway in control
        feedback_junk = [m for m in junk if not m.is_extended_id and m.arbitration_id in (0x200, 0x201, 0x202)]
        # every feedback frame (the junk plus the gateway's own 3 reports) is parsed or refused with a reason
        assert parser.frames_ok + sum(parser.errors.values()) == len(feedback_junk) + 3
        command_junk = [m for m in junk if not m.is_extended_id and m.arbitration_id in (0x100, 0x101, 0x102)]
        assert gw.frames_ok + sum(gw.rejected.values()) == len(command_junk)
    finally:
        for b in (gw_bus, rt_bus, attacker):
            b.shutdown()


class Compute:
    """Sends well-formed command frames like the vehicle interface does."""

    def __init__(self, bus):
        self.bus, self.packer = bus, Packer()

    def send(self, t, state=2, steer=0.05, accel=-1.0, enable=1):
        self.bus.send(self.packer.pack("STEERING_CMD", {"STEER_ANGLE_CMD": steer, "ENABLE": enable}, t))
        self.bus.send(self.packer.pack("LONGITUDINAL_CMD", {"ACCEL_CMD": accel, "ENABLE": enable, "BRAKE_HOLD": 0}, t))
        self.bus.send(self.packer.pack("HEARTBEAT", {"STATE": state, "HAZARD_REQUEST": 0}, t))


def test_gateway_applies_commands_only_in_control_and_falls_back_on_timeout():
    gw_bus, c_bus = pair()
    gw, compute = ByWireGateway(gw_bus), Compute(c_bus)
    compute.send(0.0, state=0, enable=0)
    assert gw.step(0.0, MOVING).mode == "manual"
    compute.send(0.01)
    act = gw.step(0.01, MOVING)
    assert act.mode == "command" and abs(act.steer_rad - 0.05) < 1e-4 and abs(act.accel_mps2 + 1.0) < 1e-3
    t = 0.01
    while gw.step(t, MOVING).mode == "command":  # the frames stop
        t = round(t + 0.01, 6)
    assert t - 0.01 <= 0.1 + 0.01 + 1e-9
    act = gw.last_actuation
    assert act.mode == "fallback" and act.accel_mps2 == -3.0 and gw.faults.timeout
    # latched: fresh commands do not end it while moving ...
    compute.send(t + 0.01)
    assert gw.step(t + 0.01, MOVING).mode == "fallback"
    # ... only standstill plus the compute box saying it is no longer in control
    compute.send(t + 0.02, state=0, enable=0)
    assert gw.step(t + 0.02, STILL).mode == "manual" and not gw.faults.any()
    gw_bus.shutdown(), c_bus.shutdown()


def test_gateway_faults_on_bad_checksum_rate_and_range():
    for kind in ("checksum", "range", "rate"):
        gw_bus, c_bus = pair()
        gw, compute = ByWireGateway(gw_bus), Compute(c_bus)
        compute.send(0.0)
        assert gw.step(0.0, MOVING).mode == "command"
        if kind == "checksum":
            m = compute.packer.pack("STEERING_CMD", {"STEER_ANGLE_CMD": 0.0, "ENABLE": 1})
            for _ in range(3):
                c_bus.send(
                    can.Message(arbitration_id=m.arbitration_id, data=bytes(m.data[:7]) + b"\x00", is_extended_id=False)
                )
        elif kind == "range":
            for _ in range(3):
                compute.send(0.01, steer=1.2)
        else:
            for _ in range(25):
                compute.send(0.01)  # 25 frames of each message within 10 ms: babbling
        act = gw.step(0.01, MOVING)
        assert act.mode == "fallback", kind
        assert getattr(gw.faults, kind), kind
        gw_bus.shutdown(), c_bus.shutdown()


def test_gateway_driver_override_hands_over_and_is_reported():
    gw_bus, c_bus = pair()
    gw, compute = ByWireGateway(gw_bus), Compute(c_bus)
    compute.send(0.0)
    assert gw.step(0.0, MOVING).mode == "command"
    gw.driver.steering_torque_nm = 5.0
    compute.send(0.01)
    assert gw.step(0.01, MOVING).mode == "manual"
    parser = FeedbackParser(Codec())
    while (m := c_bus.recv(timeout=0.0)) is not None:
        parser.update(m, 0.01)
    assert parser.status(0.01).driver_override
    gw_bus.shutdown(), c_bus.shutdown()


def test_car_does_not_move_when_frames_stop():
    """A standing car with a timed-out link stays put: fallback brake with hold."""
    gw_bus, c_bus = pair()
    gw, compute = ByWireGateway(gw_bus), Compute(c_bus)
    compute.send(0.0, accel=1.0)
    gw.step(0.0, STILL)
    for k in range(1, 30):
        act = gw.step(k * 0.01, STILL)
    assert act.mode == "fallback" and act.brake_hold and act.accel_mps2 < 0
    gw_bus.shutdown(), c_bus.shutdown()


def test_a_late_gateway_step_draining_a_backlog_is_no_rate_fault_when_judged_by_arrival():
    """Real-time buses: the gateway judges the rate by when frames arrived, not when its step read them.
    A 100 Hz sender whose frames a late step (here 250 ms) drains at once is no babbling sender; 25 frames
    sent back to back still are."""
    import time

    from sim_bridge.gateway import GatewayParams

    for paced, want_fault in ((True, False), (False, True)):
        gw_bus, c_bus = pair()
        gw, compute = ByWireGateway(gw_bus, params=GatewayParams(rate_from_arrival=True)), Compute(c_bus)
        compute.send(0.0)
        assert gw.step(0.0, MOVING).mode == "command"
        for k in range(25):
            compute.send(0.01 * (k + 1))
            if paced:
                time.sleep(0.01)  # the sender's own 100 Hz pace (traffic shape, not synchronisation)
        gw.step(0.26, MOVING)
        assert gw.faults.rate is want_fault, (paced, dict(gw.rejected))
        gw_bus.shutdown(), c_bus.shutdown()
