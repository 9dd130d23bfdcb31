"""Record and replay on real parts: an embedded drive recorded as a rosbag2 (MCAP), read back by
`rosbags` independently of our writer, replayed through the same build (zero differences, bit for bit
twice), through a changed config and a changed ONNX model (differences where expected), the gate's
exit code and report, and a bag written by another tool with other topic names."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model_factory import shifted_student
from sim_bridge.embedded.drive import DT_S, DriveOptions, camera_model, run_drive
from vehicle_runtime.config import load_runtime_config
from vehicle_runtime.record import mapping, reader, report
from vehicle_runtime.record.compare import compare
from vehicle_runtime.record.gate import failures, load_thresholds
from vehicle_runtime.record.identity import model_sha256
from vehicle_runtime.record.recorder import for_run
from vehicle_runtime.record.replay import load_build, replay
from vehicle_runtime.record.topics import OUTPUTS
from vehicle_runtime.record.writer import BagError, typestore

REPO = Path(__file__).resolve().parents[2]
STUDENT = REPO / "models" / "distilled_student"


def record_drive(bag: Path, duration_s: float = 3.0, **kw):
    cfg = load_runtime_config()
    cam = camera_model()
    rec = for_run(bag, cfg, None, "student", camera_info=(cam.width, cam.height, cam.fx), lockstep_dt_s=DT_S, **kw)
    try:
        result = run_drive(DriveOptions(scenario="curvy_road", policy="student", duration_s=duration_s, recorder=rec))
    finally:
        rec.close()
    return result


@pytest.fixture(scope="module")
def drive_bag(tmp_path_factory):
    bag = tmp_path_factory.mktemp("rec") / "drive"
    result = record_drive(bag)
    return bag, result


def test_rosbags_reads_every_message_of_our_bag(drive_bag):
    from rosbags.rosbag2 import Reader

    bag, result = drive_bag
    ts = typestore()
    counts, first = {}, {}
    with Reader(bag) as r:  # rosbags' own MCAP reader and CDR decoder, not our codec
        assert r.storage.metadata.custom["model_sha256"] == model_sha256(STUDENT)
        assert (
            r.storage.metadata.custom["clock"] == "lockstep:0.01"
            and len(r.storage.metadata.custom["config_hash"]) == 64
        )
        for conn, t, raw in r.messages():
            msg = ts.deserialize_cdr(raw, conn.msgtype)
            counts[conn.topic] = counts.get(conn.topic, 0) + 1
            first.setdefault(conn.topic, (t, msg))
        declared = {c.topic: c.msgcount for c in r.connections}
    assert counts == declared
    # and Foxglove's reference reader (the `mcap` package) finds a valid, indexed ros2-profile file
    from mcap.reader import make_reader

    with open(next(bag.glob("*.mcap")), "rb") as f:
        r = make_reader(f, validate_crcs=True)
        assert r.get_header().profile == "ros2"
        summary = r.get_summary()
        assert summary.statistics.message_count == sum(counts.values()) and summary.chunk_indexes
        assert {s.encoding for s in summary.schemas.values()} == {"ros2msg"}
        assert {c.message_encoding for c in summary.channels.values()} == {"cdr"}
        assert sum(1 for _ in r.iter_messages()) == sum(counts.values())
    for topic in (
        "/camera/image_raw",
        "/camera/camera_info",
        "/navigation/route",
        "/navigation/odometry",
        "/vehicle/status/drive",
        "/can/rx",
        "/can/tx",
        "/policy/trajectory",
        "/policy/reasoning",
        "/control/request",
        "/vehicle/command",
        "/vehicle/safety_state",
        "/vehicle/safety_transition",
        "/diagnostics",
        "/vehicle_runtime/tick",
    ):
        assert counts.get(topic, 0) > 0, topic
    assert counts["/camera/image_raw"] == result.frames
    assert counts["/policy/reasoning"] == len(result.reasoning)
    img = first["/camera/image_raw"][1]
    cam = camera_model()
    assert (img.width, img.height, img.encoding, len(img.data)) == (
        cam.width,
        cam.height,
        "rgb8",
        cam.width * cam.height * 3,
    )
    # the recorded transitions are the gate's, in order
    with Reader(bag) as r:
        texts = [
            json.loads(ts.deserialize_cdr(raw, c.msgtype).data)
            for c, _, raw in r.messages()
            if c.topic == "/vehicle/safety_transition"
        ]
    assert [(d["from"], d["to"]) for d in texts] == [(tr.before.name, tr.after.name) for tr in result.transitions]
    # a CAN frame decodes with the project DBC
    from vehicle_runtime.can import Codec, load_dbc

    frame = first["/can/tx"][1]
    codec = Codec(load_dbc(load_runtime_config().dbc_path))
    assert codec.db.get_message_by_frame_id(frame.id) is not None


def test_same_build_replays_with_zero_differences_bit_for_bit(drive_bag):
    bag, _ = drive_bag
    build = load_build()
    a, b = replay(bag, build), replay(bag, build)
    assert a.outputs == b.outputs  # deterministic: the same bytes on every topic
    summary, _ = compare(reader.outputs(bag, OUTPUTS), a.outputs)
    traj, cmd = summary["/policy/trajectory"], summary["/vehicle/command"]
    assert traj["matched"] == a.frames > 0 and traj["missing"] == traj["added"] == 0
    assert traj["max_m"] == 0.0 and cmd["steer_max_rad"] == 0.0 and cmd["accel_max_mps2"] == 0.0
    assert cmd["matched"] > 0 and cmd["missing"] == cmd["added"] == 0
    assert summary["/policy/reasoning"]["token_agreement_min"] == 1.0
    assert summary["/vehicle/safety_transition"]["added"] == [] == summary["/vehicle/safety_transition"]["missing"]
    assert summary["/can/tx"]["identical"]
    assert a.speed_x_realtime > 0


def test_changed_config_changes_commands_not_trajectories(drive_bag, tmp_path):
    bag, _ = drive_bag
    cfg_dir = tmp_path / "config"
    shutil.copytree(REPO / "config", cfg_dir)
    (tmp_path / "models").symlink_to(REPO / "models")  # relative paths resolve against the copied folder
    p = cfg_dir / "policy.param.yaml"
    p.write_text(p.read_text().replace("lookahead_min_m: 5.0", "lookahead_min_m: 9.0"))
    run = replay(bag, load_build(config=cfg_dir))
    summary, _ = compare(reader.outputs(bag, OUTPUTS), run.outputs)
    assert summary["/policy/trajectory"]["max_m"] == 0.0  # open loop: same inputs, same model
    assert summary["/control/request"]["steer_max_rad"] > 1e-4  # the tracker's look-ahead changed
    assert run.identity["config_hash"] != reader.info(bag).custom_data["config_hash"]
    # the gate: strict thresholds → exit 1 and an HTML report naming the failure; loose → no failure
    strict, loose = tmp_path / "strict.yaml", tmp_path / "loose.yaml"
    strict.write_text("steer_max_rad: 0.0001\n")
    loose.write_text("steer_max_rad: 1.0\naccel_max_mps2: 10.0\n")
    assert failures(summary, load_thresholds(loose)) == []
    assert any("request steering" in f for f in failures(summary, load_thresholds(strict)))
    html = tmp_path / "gate.html"
    out = cli(
        "replay", str(bag), "--config", str(cfg_dir), "--thresholds", str(strict), "--report", str(html), "--json"
    )
    assert out.returncode == 1, out.stderr
    verdict = json.loads(out.stdout.strip().splitlines()[-1])
    assert verdict["pass"] is False and any("steering" in f for f in verdict["bags"][0]["failures"])
    page = html.read_text()
    assert "FAIL" in page and "data:image/png;base64" in page


def test_changed_model_moves_trajectories_by_its_change(drive_bag, tmp_path):
    bag, _ = drive_bag
    run = replay(bag, load_build(model=shifted_student(tmp_path / "shifted", 0.25)))
    summary, _ = compare(reader.outputs(bag, OUTPUTS), run.outputs)
    traj = summary["/policy/trajectory"]
    assert traj["matched"] == run.frames and abs(traj["max_m"] - 0.25) < 1e-3 and abs(traj["p99_m"] - 0.25) < 1e-3
    assert summary["/policy/reasoning"]["token_agreement_min"] == 1.0  # the reasoning head is untouched
    assert summary["/vehicle/command"]["steer_max_rad"] > 1e-4


def foreign_bag(bag: Path, path: Path, names: dict, jpeg_quality=None) -> None:
    """`bag`'s topics in `names` under their names there, written by rosbags' own Writer (sqlite3 storage, not
    ours) at epoch times as a real stack has; with `jpeg_quality` the camera as image_transport's JPEG
    (sensor_msgs/CompressedImage)."""
    import cv2
    from rosbags.rosbag2 import Writer

    ts = typestore()
    with Writer(path, version=9) as w:
        conns = {}
        for topic, typename, t, raw in reader.raw_messages(bag, sorted(names)):
            if jpeg_quality and typename == "sensor_msgs/msg/Image":
                m = ts.deserialize_cdr(raw, typename)
                rgb = np.asarray(m.data, np.uint8).reshape(m.height, m.step)[:, : m.width * 3]
                bgr = cv2.cvtColor(rgb.reshape(m.height, m.width, 3), cv2.COLOR_RGB2BGR)
                jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])[1]
                typename = "sensor_msgs/msg/CompressedImage"
                msg = ts.types[typename](m.header, "rgb8; jpeg compressed bgr8", jpeg)
                raw = ts.serialize_cdr(msg, typename)
            if topic not in conns:
                conns[topic] = w.add_connection(names[topic], typename, typestore=ts)
            w.write(conns[topic], t + 1_700_000_000 * 10**9, raw)


def test_bag_from_another_stack_replays_with_a_mapping(drive_bag, tmp_path):
    """Standard topics only, other names, written by rosbags' own Writer; the camera as Image or as JPEG."""
    bag, _ = drive_bag
    theirs = {
        "/camera/image_raw": "/sensing/camera/front/image_raw",
        "/navigation/route": "/planning/path",
        "/navigation/odometry": "/localization/odom",
    }
    other = tmp_path / "other"
    foreign_bag(bag, other, theirs)
    mfile = tmp_path / "mapping.yaml"
    mfile.write_text("topics:\n" + "".join(f"  {v}: {k}\n" for k, v in theirs.items()))
    run = replay(other, load_build(), mapping.load(mfile))
    traj = run.outputs["/policy/trajectory"]
    assert run.frames == reader.info(bag).counts["/camera/image_raw"] and len(traj) == run.frames
    bad = tmp_path / "bad.yaml"
    bad.write_text("topics:\n  /localization/odom: /navigation/route\n")
    with pytest.raises(mapping.MappingError, match="needs nav_msgs/msg/Path"):
        replay(other, load_build(), mapping.load(bad))
    # the same drive from a camera driver's JPEGs, mapped onto /camera/image_raw (the type picks /compressed):
    # every frame reaches the policy, and the trajectories differ from the lossless ones by the loss only
    jpeg = tmp_path / "jpeg"
    foreign_bag(bag, jpeg, theirs, jpeg_quality=95)
    run_jpeg = replay(jpeg, load_build(), mapping.load(mfile))
    assert run_jpeg.frames == run.frames
    summary, _ = compare(run.outputs, run_jpeg.outputs)
    traj = summary["/policy/trajectory"]
    assert traj["matched"] == run.frames and 0.0 < traj["max_m"] < 0.25


def test_unreadable_bag_is_one_clear_error(tmp_path):
    with pytest.raises(BagError, match="not a rosbag2 folder"):
        replay(tmp_path, load_build())
    out = cli("replay", str(tmp_path))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "not a rosbag2 folder" in out.stderr


def cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "vehicle_runtime.cli", *args], capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


def test_gate_against_a_baseline_build_and_its_saved_outputs(drive_bag, tmp_path) -> None:
    from vehicle_runtime.record.gate import replay_verdict

    bag, _ = drive_bag
    shifted = load_build(model=shifted_student(tmp_path / "shifted", 0.25))
    runs: list = []
    verdict = replay_verdict(
        [bag],
        shifted,
        load_build(label="baseline"),
        load_thresholds(None),
        save_outputs=tmp_path / "out",
        keep_runs=runs,
    )
    assert verdict["pass"] is False and any("p99" in f for f in verdict["bags"][0]["failures"])
    # the report shows where: the camera frames at the largest trajectory differences (0.25 m everywhere)
    page = report.write(tmp_path / "gate.html", verdict, runs).read_text()
    assert "Camera at the largest trajectory differences" in page
    assert (
        page.count("<figure") == report.FRAMES_SHOWN
        and page.count("distance 0.250 m</figcaption>") == report.FRAMES_SHOWN
    )
    assert json.loads(json.dumps(verdict)) == verdict  # JSON-ready, for the signed build info
    assert verdict["candidate_identity"]["model_sha256"] != verdict["bags"][0]["baseline_identity"]["model_sha256"]
    # the saved outputs are a baseline bag: the same candidate against them has no difference at all
    again = replay_verdict([bag], shifted, tmp_path / "out" / bag.name)
    assert again["pass"] and again["bags"][0]["differences"]["/policy/trajectory"]["max_m"] == 0.0


def test_replay_a_signed_bundle(drive_bag, tmp_path):
    from vehicle_runtime.bundle import archive, signing
    from vehicle_runtime.paths import share_dir

    bag, _ = drive_bag
    signing.keygen(tmp_path / "k.pem", tmp_path / "k.pub")
    archive.create(
        tmp_path / "b.vrb",
        archive.collect(share_dir()),
        tmp_path / "k.pem",
        "9.9.9",
        1,
        ["box"],
        "0.0.0",
        "999.0.0",
        1.0,
    )
    out = cli("replay", str(bag), "--bundle", str(tmp_path / "b.vrb"), "--json")
    assert out.returncode == 0, out.stderr
    verdict = json.loads(out.stdout.strip().splitlines()[-1])
    assert verdict["candidate_identity"]["bundle_version"] == "9.9.9"
    assert verdict["candidate_identity"]["model_sha256"] == model_sha256(STUDENT)
    d = verdict["bags"][0]["differences"]
    assert d["/policy/trajectory"]["max_m"] == 0.0 and d["/vehicle/command"]["steer_max_rad"] == 0.0


def test_drive_cli_records_a_bag_that_replays_clean(tmp_path):
    bag = tmp_path / "bag"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "vehicle_runtime.cli",
            "drive",
            "--duration",
            "1",
            "--record",
            str(bag),
            "--record-jpeg",
            "85",
            "--out",
            str(tmp_path / "run"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["bag"] == str(bag)
    info = reader.info(bag)
    assert info.topics["/camera/image_raw/compressed"] == "sensor_msgs/msg/CompressedImage"
    assert "/camera/image_raw" not in info.topics and float(info.custom_data["camera_jpeg_psnr_db_mean"]) > 25
    assert info.custom_data["model_sha256"] == model_sha256(STUDENT) and info.custom_data["camera_storage"] == "jpeg:85"
    run = replay(bag, load_build())  # the runtime decodes the JPEGs: lossy, yet every frame gives an output
    summary, _ = compare(reader.outputs(bag, OUTPUTS), run.outputs)
    assert summary["/policy/trajectory"]["matched"] == run.frames > 0
    again = cli("drive", "--duration", "1", "--record", str(bag))  # never overwritten: one line, exit 2
    assert again.returncode == 2 and "exists already" in again.stderr
