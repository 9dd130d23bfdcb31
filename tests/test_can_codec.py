"""The by-wire DBC round trip on python-can `virtual` buses, with counter and checksum checks."""

import os

import can
import pytest

from vehicle_runtime.can import BusConfig, BusConfigError, Codec, CounterCheck, FrameError, Packer, load_dbc, open_bus
from vehicle_runtime.can.checksum import crc8_sae_j1850, frame_checksum
from vehicle_runtime.can.feedback import FeedbackParser


@pytest.fixture
def buses():
    channel = f"test-{os.getpid()}-{id(object())}"
    tx, rx = open_bus(BusConfig("virtual", channel)), open_bus(BusConfig("virtual", channel))
    yield tx, rx
    tx.shutdown()
    rx.shutdown()


def test_crc8_sae_j1850_check_value():
    assert crc8_sae_j1850(b"123456789") == 0x4B  # the catalogue check value of CRC-8/SAE-J1850
    assert crc8_sae_j1850(b"") == 0x00


def test_dbc_has_the_contract_messages_with_counter_checksum_and_cycle_time():
    db = load_dbc()
    names = {m.name for m in db.messages}
    assert {
        "STEERING_CMD",
        "LONGITUDINAL_CMD",
        "HEARTBEAT",
        "SPEED_REPORT",
        "STEERING_REPORT",
        "GATEWAY_STATUS",
    } <= names
    for m in db.messages:
        signals = {s.name for s in m.signals}
        assert {"COUNTER", "CHECKSUM"} <= signals, m.name
        assert m.cycle_time == (1000 if m.name == "SECOC_SYNC" else 10), m.name  # the SecOC sync is 1 Hz
        assert m.length == 8


def test_round_trip_over_virtual_bus(buses):
    tx, rx = buses
    codec = Codec()
    packer = Packer(codec)
    check = CounterCheck()
    for i in range(40):  # wraps the 4-bit counter twice
        steer = -0.5 + i * 0.025
        tx.send(packer.pack("STEERING_CMD", {"STEER_ANGLE_CMD": steer, "ENABLE": 1}))
        decoded = codec.decode(rx.recv(timeout=1.0))
        check.check(decoded)
        assert decoded.name == "STEERING_CMD" and decoded.counter == i % 16
        assert decoded.signals["STEER_ANGLE_CMD"] == pytest.approx(steer, abs=5e-5)
        assert decoded.signals["ENABLE"] == 1


def test_corrupted_checksum_is_detected(buses):
    tx, rx = buses
    codec = Codec()
    msg = Packer(codec).pack("LONGITUDINAL_CMD", {"ACCEL_CMD": -1.5, "ENABLE": 1, "BRAKE_HOLD": 0})
    for byte in range(8):  # any single-byte corruption is caught
        data = bytearray(msg.data)
        data[byte] ^= 0x10
        tx.send(can.Message(arbitration_id=msg.arbitration_id, data=data, is_extended_id=False))
        with pytest.raises(FrameError) as err:
            codec.decode(rx.recv(timeout=1.0))
        assert err.value.reason == "bad_checksum"


def test_frame_on_wrong_id_fails_checksum():
    codec = Codec()
    msg = Packer(codec).pack("STEERING_CMD", {"STEER_ANGLE_CMD": 0.1, "ENABLE": 1})
    moved = can.Message(arbitration_id=codec.message("LONGITUDINAL_CMD").frame_id, data=msg.data, is_extended_id=False)
    with pytest.raises(FrameError, match="bad_checksum"):
        codec.decode(moved)


def test_bad_counter_repeated_and_skipped(buses):
    tx, rx = buses
    codec = Codec()
    packer = Packer(codec)
    check = CounterCheck()
    first = packer.pack("HEARTBEAT", {"STATE": 2, "HAZARD_REQUEST": 0})
    for msg in (first, first):  # a frozen counter (sender stalled, BCM repeating)
        tx.send(msg)
    check.check(codec.decode(rx.recv(timeout=1.0)))
    with pytest.raises(FrameError, match="bad_counter: HEARTBEAT: counter 0 after 0"):
        check.check(codec.decode(rx.recv(timeout=1.0)))
    packer.pack("HEARTBEAT", {"STATE": 2, "HAZARD_REQUEST": 0})  # skipped, never sent
    tx.send(packer.pack("HEARTBEAT", {"STATE": 2, "HAZARD_REQUEST": 0}))
    with pytest.raises(FrameError, match="counter 2 after 0"):
        check.check(codec.decode(rx.recv(timeout=1.0)))


@pytest.mark.parametrize(
    "msg,reason",
    [
        (can.Message(arbitration_id=0x7FF, data=bytes(8), is_extended_id=False), "unknown_id"),
        (can.Message(arbitration_id=0x100, data=bytes(8), is_extended_id=True), "unknown_id"),
        (can.Message(arbitration_id=0x100, data=bytes(5), is_extended_id=False), "bad_length"),
        (can.Message(is_error_frame=True), "error_frame"),
    ],
)
def test_malformed_frames_get_a_reason(msg, reason):
    with pytest.raises(FrameError) as err:
        Codec().decode(msg)
    assert err.value.reason == reason


def test_out_of_range_value_refused_at_encode():
    with pytest.raises(Exception, match="STEER_ANGLE_CMD"):
        Packer().pack("STEERING_CMD", {"STEER_ANGLE_CMD": 3.0, "ENABLE": 1})


def test_checksum_covers_address_and_first_seven_bytes():
    data = bytes(range(8))
    assert frame_checksum(0x100, data) != frame_checksum(0x101, data)
    assert frame_checksum(0x100, data) == frame_checksum(0x100, data[:7] + b"\xff")


def test_bus_factory_errors():
    with pytest.raises(BusConfigError, match="not supported"):
        open_bus(BusConfig("carrier_pigeon", "x"))
    with pytest.raises(BusConfigError, match="cannot open CAN interface 'socketcan'"):
        open_bus(BusConfig("socketcan", "vcan_does_not_exist"))


def test_feedback_yaw_rate_is_zero_until_a_speed_report_then_the_decoded_value():
    codec = Codec()
    parser, packer = FeedbackParser(codec), Packer(codec)
    assert parser.yaw_rate_radps() == 0.0  # nothing received: no rotation assumed
    frame = packer.pack("SPEED_REPORT", {"VEHICLE_SPEED": 8.0, "LONG_ACCEL": 0.5, "YAW_RATE": -0.1234})
    assert parser.update(frame, arrival_s=1.0) is None
    assert parser.yaw_rate_radps() == pytest.approx(-0.1234, abs=1e-4)
