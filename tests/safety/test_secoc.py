"""SecOC on the by-wire link, closed loop in lockstep: the real vehicle interface (gate + CAN writer)
and the real gateway on a python-can `virtual` bus, keys generated into tmp dirs. Fault-matrix rows for
a foreign node, replayed frames and stale freshness: each refused by the gateway, and the reaction —
first injected frame to the gateway's fallback brake — measured against the deadline. Resynchronisation
after a restart of either end."""

import can
import pytest

from secoc_link import DEADLINE_S, DT, STEER_ID, Link
from vehicle_runtime import keys
from vehicle_runtime.can import Codec, Packer
from vehicle_runtime.can.checksum import frame_checksum
from vehicle_runtime.can.secoc import (
    COUNT_BITS,
    KEY_BYTES,
    SYNC,
    SYNC_ANNOUNCES,
    SYNC_REPEATS,
    Authenticator,
    Receiver,
    Sender,
    TripStore,
    fields,
)


@pytest.fixture
def link(tmp_path):
    lk = Link(tmp_path)
    yield lk
    lk.close()


def _react(link, inject):
    """Inject once per step (just before the gateway's step); the time to the first fallback step."""
    t0 = link.t + DT
    acts = link.step(1, before_gateway=inject)
    acts += link.step(int(0.3 / DT))
    times = [t0 + i * DT for i, a in enumerate(acts) if a.mode == "fallback"]
    return times[0] - t0 if times else None, acts


def test_authenticated_link_drives_and_every_frame_verifies(link):
    link.engaged()
    link.step(100)
    assert link.gw.frames_ok > 400 and not link.gw.rejected and not link.gw.faults.any()
    assert link.vi.parser.status(link.t).valid and not link.vi.parser.errors  # GATEWAY_STATUS authentic too
    assert link.gw.secoc.receiver.trip == link.vi.secoc.sender.trip == 1


def test_foreign_node_with_dbc_crc_and_counter_but_no_key_is_refused(link):
    link.engaged()
    foreign = Packer(Codec())  # copies the DBC and the CRC; continues the counter it just saw on the bus

    def inject(t):
        while (m := link.attacker.recv(timeout=0.0)) is not None:
            if m.arbitration_id == STEER_ID:
                foreign._counters["STEERING_CMD"] = Codec().decode(m).counter
        link.attacker.send(foreign.pack("STEERING_CMD", {"STEER_ANGLE_CMD": 0.5, "ENABLE": 1}, t))

    v0 = link.plant.state.speed_mps
    reaction, acts = _react(link, inject)
    assert link.gw.rejected.get("secoc_bad_mac") == 1 and link.gw.faults.auth
    assert all(abs(a.steer_rad - 0.5) > 0.1 for a in acts)  # never executed
    assert reaction is not None and reaction <= DEADLINE_S, reaction
    assert acts[-1].mode == "fallback" and acts[-1].accel_mps2 < 0 and link.plant.state.speed_mps < v0 - 0.1


def test_replayed_frames_are_refused(link):
    link.engaged()
    link.step(50)
    old = [m for t, m in link.recorded if t >= link.t - 0.5][:30]  # half a second of valid traffic, 0.5 s old

    def inject(t):
        for m in old:
            link.attacker.send(can.Message(arbitration_id=m.arbitration_id, data=bytes(m.data), is_extended_id=False))

    reaction, acts = _react(link, inject)
    refused = link.gw.rejected.get("secoc_stale_freshness", 0) + link.gw.rejected.get("bad_counter", 0)
    assert link.gw.rejected.get("secoc_stale_freshness", 0) >= 1 and refused >= 1 and link.gw.faults.auth
    assert reaction is not None and reaction <= DEADLINE_S, reaction


def test_a_stale_freshness_value_is_refused(link):
    """A frame held back by an attacker and released later (its rolling counter chosen to fit, its
    freshness behind the receiver's), and one whose truncated freshness the attacker rewrote to the
    expected value (the MAC no longer fits)."""
    link.engaged()
    link.step(20)
    codec = Codec()

    def forge(rewrite_fv):
        def inject(t):
            last = None
            while (m := link.attacker.recv(timeout=0.0)) is not None:
                if m.arbitration_id == STEER_ID:
                    last = m
            want = (codec.decode(last).counter + 1) % 16  # what the gateway's counter check expects next
            held = next(
                m
                for _, m in reversed(link.recorded)
                if m.arbitration_id == STEER_ID and codec.decode(m).counter == want
            )
            data = bytearray(held.data)
            if rewrite_fv:
                v = int.from_bytes(data, "little") & ~(0xFF << 20) | ((fields(last.data)[0] + 1) & 0xFF) << 20
                data[:] = v.to_bytes(8, "little")
                data[7] = frame_checksum(STEER_ID, data)
            link.attacker.send(can.Message(arbitration_id=STEER_ID, data=bytes(data), is_extended_id=False))

        return inject

    for rewrite_fv, reason in ((False, "secoc_stale_freshness"), (True, "secoc_bad_mac")):
        link.gw.faults.auth = False
        before = link.gw.rejected.get(reason, 0)
        reaction, acts = _react(link, forge(rewrite_fv))
        assert link.gw.rejected.get(reason, 0) == before + 1, link.gw.rejected
        assert reaction is not None and reaction <= DEADLINE_S, reaction
        assert link.gw.faults.auth


def test_compute_box_restart_resynchronises_and_old_trip_frames_stay_refused(link):
    link.engaged()
    old_sync = next(m for _, m in link.recorded if m.arbitration_id == 0x103)
    old_frames = [m for _, m in link.recorded[-6:]]
    link.start_compute()  # the box restarts: same trip file, a new trip
    link.step(80)
    assert link.vi.secoc.sender.trip == 2 and link.gw.secoc.receiver.trip == 2
    assert not link.gw.faults.auth and link.gw.last_actuation.mode in ("command", "manual")
    ok_before = link.gw.frames_ok
    for m in [old_sync] + old_frames:  # everything recorded in trip 1
        link.attacker.send(can.Message(arbitration_id=m.arbitration_id, data=bytes(m.data), is_extended_id=False))
    link.step(1)
    assert link.gw.rejected.get("sync_stale_freshness") == 1 and link.gw.secoc.receiver.trip == 2
    assert link.gw.faults.auth and link.gw.frames_ok - ok_before <= 3  # only the box's own 3 frames of the step


def test_gateway_restart_asks_for_a_new_trip_and_refuses_the_old_one(link):
    link.engaged()
    old = [m for _, m in link.recorded[-6:]]
    link.start_gateway()  # the gateway restarts: it knows trip 1 was used and trusts nothing yet
    acts = link.step(1)
    assert acts[0].mode != "command" and link.gw.rejected.get("secoc_unsynced") == 3
    acts = link.step(3)  # SYNC_REQUEST → the box raises its trip → SECOC_SYNC → adopted
    assert link.gw.secoc.receiver.trip == 2 and link.vi.secoc.sender.trip == 2
    for m in old:
        link.attacker.send(can.Message(arbitration_id=m.arbitration_id, data=bytes(m.data), is_extended_id=False))
    link.step(1)
    assert link.gw.rejected.get("secoc_stale_freshness", 0) + link.gw.rejected.get("secoc_bad_mac", 0) >= 1


def test_a_gateway_that_forgets_its_trip_waits_for_a_new_one_and_its_feedback_verifies_at_once(link):
    """A simulated gateway keeps its trip in memory. Restarted, it must not follow the 1 Hz repeat of the trip in
    use: its counts would start again at 0 in a trip whose values it already sent, and the box would refuse
    every feedback frame until they caught up (a simulator restarted after a 20 s run: 20 s without feedback)."""
    link.start_gateway(persist_trip=False)
    link.step(150)  # the box's start-up SYNC announces trip 1 to a gateway that is listening: adopted at once
    assert link.gw.secoc.receiver.trip == link.vi.secoc.sender.trip == 1
    assert link.gw.rejected.get("secoc_unsynced", 0) == 0
    link.step(2000)  # 20 s: the gateway's counts run far ahead in trip 1
    link.start_gateway(persist_trip=False)  # the simulator restarts: a gateway that remembers no trip
    link.step(150)  # the repeat of trip 1 is not followed; SYNC_REQUEST → the box announces trip 2 → adopted
    assert link.gw.secoc.receiver.trip == link.vi.secoc.sender.trip == 2
    unsynced = link.gw.rejected.get("secoc_unsynced", 0)
    assert 0 < unsynced <= 3 * 3, unsynced  # commands refused for at most the box's reaction (3 frames a step)
    refused = sum(link.vi.secoc.receiver.rejected.values())
    link.step(20)
    assert sum(link.vi.secoc.receiver.rejected.values()) == refused  # every feedback frame of trip 2 verifies
    assert link.vi.parser.status(link.t).valid


def test_sync_announces_a_new_trip_once_then_repeats_and_only_a_remembering_receiver_follows_a_repeat(tmp_path):
    auth = Authenticator(bytes(range(16)))
    box = Sender(auth, ["STEERING_CMD"])
    packer = Packer(Codec(), box)
    sync_id = Codec().message(SYNC).frame_id

    def sync():
        return bytes(packer.pack(SYNC, {"TRIP_COUNTER": box.trip}).data)

    box.start()
    announce, repeat = sync(), sync()
    assert [fields(announce)[0], fields(repeat)[0], fields(sync())[0]] == [SYNC_ANNOUNCES, SYNC_REPEATS, SYNC_REPEATS]
    forgetful = Receiver(auth, ["STEERING_CMD"])
    assert forgetful.on_sync(sync_id, repeat) is None and forgetful.trip is None  # maybe a trip it used before
    assert forgetful.on_sync(sync_id, announce) is None and forgetful.trip == 1
    box.start()
    assert forgetful.on_sync(sync_id, sync()) is None and forgetful.trip == 2  # a newer trip: announce or repeat
    assert forgetful.on_sync(sync_id, sync()) is None and forgetful.trip == 2
    remembering = Receiver(auth, ["STEERING_CMD"], TripStore(tmp_path / "gw.trip"))
    assert remembering.on_sync(sync_id, sync()) is None and remembering.trip == 2  # above the file's 0: new
    assert remembering.on_sync(sync_id, repeat) == "stale_freshness"  # trip 1, recorded earlier
    forged = bytearray(repeat)
    auth.seal(sync_id, forged, 1 << COUNT_BITS | 2)  # a valid MAC over a count no SYNC carries
    assert Receiver(auth, ["STEERING_CMD"]).on_sync(sync_id, bytes(forged)) == "bad_mac"


def test_receiver_tolerates_lost_frames_and_rebuilds_the_freshness():
    auth = Authenticator(bytes(range(16)))
    tx, rx = Sender(auth, ["STEERING_CMD"]), Receiver(auth, ["STEERING_CMD"])
    tx.follow(7), rx.adopt(7)
    packer = Packer(Codec(), tx)
    frames = [packer.pack("STEERING_CMD", {"STEER_ANGLE_CMD": 0.0, "ENABLE": 1}) for _ in range(600)]
    kept = frames[:10] + frames[10 + 255 :]  # 255 frames lost in a row
    assert all(rx.verify("STEERING_CMD", STEER_ID, bytes(m.data)) is None for m in kept)
    assert rx.verify("STEERING_CMD", STEER_ID, bytes(frames[-2].data)) == "stale_freshness"
    other = Receiver(Authenticator(bytes(16)), ["STEERING_CMD"])
    other.adopt(7)
    assert other.verify("STEERING_CMD", STEER_ID, bytes(frames[0].data)) == "bad_mac"  # another key


def test_keys_dev_on_bench_and_sim_start_up_error_on_a_vehicle(tmp_path):
    with pytest.raises(keys.KeyFileError, match="real vehicle"):
        keys.provision("secoc", "", "vehicle", KEY_BYTES)
    with pytest.raises(keys.KeyFileError, match="no secoc key provisioned"):
        keys.provision("secoc", tmp_path / "missing.key", "vehicle", KEY_BYTES)
    dev = keys.provision("secoc", tmp_path / "dev.key", "simulated", KEY_BYTES)
    assert len(dev) == KEY_BYTES and (tmp_path / "dev.key").stat().st_mode & 0o777 == 0o600
    assert keys.provision("secoc", tmp_path / "dev.key", "vehicle", KEY_BYTES) == dev  # provisioned: used as is
    (tmp_path / "dev.key").chmod(0o644)
    with pytest.raises(keys.KeyFileError, match="readable by group or others"):
        keys.read_key(tmp_path / "dev.key", KEY_BYTES)


def test_two_processes_provisioning_the_same_dev_key_path_get_the_same_key(tmp_path):
    """The compute box and a simulated gateway in other processes (the DDS graph) key from one path."""
    import subprocess
    import sys

    code = (
        "import sys; from vehicle_runtime import keys; "
        "print(keys.provision('secoc', sys.argv[1], 'simulated', 16).hex())"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "k" / "secoc.key")], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    outs = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert len(outs) == 1 and len(outs.pop()) == 32
