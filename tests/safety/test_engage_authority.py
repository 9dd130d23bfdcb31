"""Engage authority: on a vehicle only the driver's ENGAGE_BUTTON (in authenticated CAN feedback)
engages; on a bench / in simulation software requests engage only when signed with the provisioned key,
fresh and not replayed. Refusals are counted. Closed loop on the real vehicle interface and gateway."""

import time

import pytest

from secoc_link import Link
from vehicle_runtime import keys
from vehicle_runtime.can import Codec, Packer
from vehicle_runtime.safety.engage_authority import EngageAuthority, RequestVerifier, sign_request
from vehicle_runtime.safety.state_machine import SafetyState
from vehicle_runtime.security import ENGAGE_KEY_BYTES, SecurityConfig, engage_authority

KEY = bytes(range(32))


def test_verifier_accepts_a_signed_request_once_and_refuses_every_forgery():
    v = RequestVerifier(KEY, max_age_s=1.0)
    now = 1000.0
    ok = sign_request(KEY, "engage", 5, now)
    assert v.verify(ok, now + 0.2) == ("engage", "ok")
    assert v.verify(ok, now + 0.3) == (None, "replay")  # the same line again
    assert v.verify(sign_request(KEY, "engage", 4, now), now) == (None, "replay")  # an older counter
    assert v.verify(sign_request(KEY, "engage", 6, now - 5.0), now) == (None, "stale")
    assert v.verify(sign_request(KEY, "engage", 7, now + 5.0), now) == (None, "stale")  # from the future
    assert v.verify(sign_request(bytes(32), "engage", 8, now), now) == (None, "bad_mac")  # another key
    word, counter, stamp, tag = sign_request(KEY, "disengage", 9, now).split(":")
    assert v.verify(f"engage:{counter}:{stamp}:{tag}", now) == (None, "bad_mac")  # word changed
    for junk in ("engage", "", "engage:1:2", "launch:1:2.000000:ab", "engage:x:1.0:ab", "engage:1:nan:ab", "e" * 999):
        assert v.verify(junk, now) == (None, "malformed"), junk
    assert v.verify(sign_request(KEY, "reset", 10, now), now) == ("reset", "ok")
    assert v.refused == {"replay": 2, "stale": 2, "bad_mac": 2, "malformed": 7}


def test_signed_request_from_the_configured_key_verifies(tmp_path):
    from vehicle_runtime.security import signed_request

    sec = SecurityConfig("bench", engage_key_file=str(tmp_path / "engage.key"))
    line = signed_request(sec, "engage")  # generates the bench dev key on first use
    auth = engage_authority(sec)
    assert auth.software_request(line, time.time()) == "engage"
    assert auth.software_request(line, time.time()) is None and auth.refused == {"replay": 1}


def test_on_a_vehicle_software_engage_does_not_exist_and_auto_engage_is_a_config_error(tmp_path):
    auth = EngageAuthority("vehicle")
    assert auth.software_request(sign_request(KEY, "engage", 1, 0.0), 0.0) is None
    assert auth.refused == {"software_engage_disabled": 1}
    sec = SecurityConfig("vehicle", engage_key_file=str(tmp_path / "e.key"))
    with pytest.raises(ValueError, match="only the driver engages"):
        engage_authority(sec, auto_engage=True)
    with pytest.raises(keys.KeyFileError, match="software engage does not exist"):
        from vehicle_runtime.security import engage_key

        engage_key(sec)
    assert engage_authority(sec).software_allowed is False


def test_vehicle_driver_button_engages_and_software_or_spoofed_buttons_do_not(tmp_path):
    auth = EngageAuthority("vehicle")
    link = Link(tmp_path, auto_engage=False, engage_authority=auth)
    try:
        link.step(30)
        assert link.gate.sm.state is SafetyState.READY
        # a software request (validly signed with some key): refused, counted, the car unaffected
        assert link.vi.request(sign_request(KEY, "engage", time.time_ns(), time.time()), link.t) is None
        link.step(5)
        assert link.gate.sm.state is SafetyState.READY and auth.refused["software_engage_disabled"] == 1
        # a foreign node spoofs GATEWAY_STATUS with ENGAGE_BUTTON pressed (right DBC, CRC, counter; no key)
        foreign, codec = Packer(Codec()), Codec()
        status_id = codec.message("GATEWAY_STATUS").frame_id
        for _ in range(5):
            last = None
            while (m := link.attacker.recv(timeout=0.0)) is not None:
                if m.arbitration_id == status_id:
                    last = m
            foreign._counters["GATEWAY_STATUS"] = codec.decode(last).counter
            sig = dict(codec.decode(last).signals, ENGAGE_BUTTON=1)
            sig = {k: v for k, v in sig.items() if k not in ("COUNTER", "CHECKSUM")}
            link.step(1, before_gateway=lambda t, sig=sig: link.attacker.send(foreign.pack("GATEWAY_STATUS", sig, t)))
        assert link.gate.sm.state is not SafetyState.ENGAGED
        assert link.vi.parser.errors["secoc_bad_mac"] >= 4  # refused by the box (one may fail the counter first)
        assert auth.accepted.get("driver_engage", 0) == 0
        link.step(40)  # the debt of bad frames is paid back: ready again
        assert link.gate.sm.state is SafetyState.READY
        # the driver presses the button on the gateway: engaged at the rising edge
        link.gw.driver.engage_button = True
        acts = link.step(3)
        assert link.gate.sm.state is SafetyState.ENGAGED and auth.accepted["driver_engage"] == 1
        link.step(10)
        assert link.gw.last_actuation.mode == "command" and acts
    finally:
        link.close()


def test_bench_software_engage_needs_a_signed_fresh_request(tmp_path):
    key = keys.write_key(tmp_path / "engage.key", ENGAGE_KEY_BYTES)
    auth = EngageAuthority("bench", key)
    link = Link(tmp_path, auto_engage=False, engage_authority=auth)
    try:
        link.step(30)
        assert link.gate.sm.state is SafetyState.READY
        # the verifier compares the stamp with the receiver's clock: here the loop's clock (link.t)
        forged = sign_request(bytes(32), "engage", 1, link.t)
        stale = sign_request(key, "engage", 2, link.t - 10.0)
        for line in (forged, stale, "engage"):
            assert link.vi.request(line, link.t) is None
            link.step(2)
            assert link.gate.sm.state is SafetyState.READY
        good = sign_request(key, "engage", 3, link.t)
        assert link.vi.request(good, link.t) == "engage"
        link.step(2)
        assert link.gate.sm.state is SafetyState.ENGAGED
        assert link.vi.request(sign_request(key, "disengage", 4, link.t), link.t) == "disengage"
        link.step(2)
        assert link.gate.sm.state is not SafetyState.ENGAGED
        link.step(30)
        assert link.vi.request(good, link.t) is None  # the recorded engage, replayed
        link.step(2)
        assert link.gate.sm.state is not SafetyState.ENGAGED
        assert dict(auth.refused) == {"bad_mac": 1, "stale": 1, "malformed": 1, "replay": 1}
        assert link.vi.requests_refused == 4 and auth.report()["software_engage"] is True
        report = link.vi.security_report()
        assert report["engage"]["refused"]["replay"] == 1 and report["secoc_trip"] == 1
    finally:
        link.close()
