"""`vehicle-runtime record` as a real process beside real Cyclone DDS publishers (loopback): a clean
close on SIGTERM, and a bag cut by SIGKILL that is readable up to its last chunk after `--repair`.
Plus the writer's bounded disk (split, ring of files) and JPEG recording with its loss stated."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("cyclonedds", reason="cyclonedds (extra 'dds') not installed")

from vehicle_runtime.record import reader  # noqa: E402
from vehicle_runtime.record.recorder import Recorder  # noqa: E402
from vehicle_runtime.record.writer import BagError, BagWriter, WriterOptions, typestore  # noqa: E402
from vehicle_runtime.transport import msgs  # noqa: E402
from vehicle_runtime.types import CameraFrame  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DOMAIN = 23  # a domain of its own
W, H = 1280, 720


def start_recorder(bag: Path, *extra) -> subprocess.Popen:
    env = {**os.environ, "ROS_DOMAIN_ID": str(DOMAIN)}
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vehicle_runtime.cli",
            "record",
            str(bag),
            "--transport",
            "dds",
            "--topics",
            "/camera/image_raw",
            "/policy/reasoning",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert p.stdout is not None and p.stderr is not None
    line = p.stdout.readline()  # printed once every reader exists
    assert line.startswith("recording"), line + p.stderr.read()
    return p


def publish_until(bag: Path, done, limit: int = 400):
    """Publish 720p images and texts until `done(bag)`; returns how many images were published."""
    from vehicle_runtime.transport.dds import DdsParticipant

    part = DdsParticipant(DOMAIN, image_shm=False)
    try:
        img = part.publisher("sensor_msgs/msg/Image", "camera/image_raw", "sensor")
        text = part.publisher("std_msgs/msg/String", "policy/reasoning", "default")
        pixels = np.zeros(W * H * 3, np.uint8)
        for i in range(limit):
            pixels[:8] = np.frombuffer(np.int64(i).tobytes(), np.uint8)  # the frame number, to check the order
            img.publish(
                msgs.new(
                    "sensor_msgs/msg/Image",
                    header=msgs.new("std_msgs/msg/Header", stamp=msgs.s_to_stamp(i)),
                    height=H,
                    width=W,
                    encoding="rgb8",
                    step=W * 3,
                    data=pixels,
                )
            )
            text.publish(msgs.new("std_msgs/msg/String", data=f"reason {i}"))
            if done(bag):
                return i + 1
            import time

            time.sleep(0.02)  # the publisher's camera rate, not a synchronisation
        raise AssertionError(f"{bag} never reached the expected state")
    finally:
        part.close()


def mcap_size(bag: Path) -> int:
    return sum(f.stat().st_size for f in bag.glob("*.mcap"))


def test_sigterm_closes_the_bag_cleanly(tmp_path):
    bag = tmp_path / "clean"
    p = start_recorder(bag)
    try:
        publish_until(bag, lambda b: mcap_size(b) > 12e6)
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert "closed" in out
    info = reader.info(bag)  # readable as it is: no repair
    n = sum(1 for _ in reader.raw_messages(bag))
    assert n == info.message_count and info.counts["/camera/image_raw"] >= 4


def test_sigkill_leaves_a_bag_readable_up_to_its_last_chunk(tmp_path):
    from rosbags.rosbag2 import Reader

    bag = tmp_path / "cut"
    p = start_recorder(bag)
    try:
        publish_until(bag, lambda b: mcap_size(b) > 30e6)
        size_at_kill = mcap_size(bag)
    finally:
        p.kill()  # SIGKILL: no handler, no close, no footer
        p.communicate(timeout=30)
    assert p.returncode == -signal.SIGKILL
    with pytest.raises(BagError, match="--repair"):
        list(reader.raw_messages(bag))
    out = subprocess.run(
        [sys.executable, "-m", "vehicle_runtime.cli", "record", "--repair", str(bag)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    ts = typestore()
    frames = []
    with Reader(bag) as r:  # rosbags, independently of our code
        for conn, _, raw in r.messages():
            m = ts.deserialize_cdr(raw, conn.msgtype)
            if conn.topic == "/camera/image_raw":
                assert (m.width, m.height, len(m.data)) == (W, H, W * H * 3)
                frames.append(int(np.frombuffer(m.data[:8].tobytes(), np.int64)[0]))
    # every chunk written before the kill is there: at most the open 4 MB chunk (one frame) and what was
    # queued is lost
    assert len(frames) >= size_at_kill / (W * H * 3) - 2
    assert frames == sorted(frames)


def test_split_files_and_ring_bound_the_disk(tmp_path):
    bag = tmp_path / "ring"
    w = BagWriter(bag, WriterOptions(split_size_bytes=200_000, max_files=3, chunk_size_bytes=50_000))
    w.add_topic("/policy/reasoning", "std_msgs/msg/String")
    rec = Recorder(w)
    for i in range(3000):
        rec.record("/policy/reasoning", msgs.new("std_msgs/msg/String", data=f"{i:06d} " + "x" * 200), i * 0.01)
    rec.close()
    files = sorted(bag.glob("*.mcap"))
    assert len(files) == 3 and w.deleted_files > 0
    assert all(f.stat().st_size < 200_000 + 60_000 for f in files)
    texts = [m.data for _, _, m in reader.messages(bag)]
    assert len(texts) == reader.info(bag).message_count > 0
    assert texts[-1].startswith("002999")  # the newest kept, the oldest files gone
    assert not texts[0].startswith("000000")
    # metadata.yaml as rosbag2 reads it: the topic's count is what the kept files hold, not all ever written
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["message_count"] == len(texts) == meta["topics_with_message_count"][0]["message_count"]
    assert sum(f["message_count"] for f in meta["files"]) == len(texts)


def test_channels_and_schemas_carry_what_rosbag2_writes(tmp_path):
    """rosbag2_storage_mcap puts the QoS and the type hash on each channel (`ros2 bag reindex` reads them back
    from a file without metadata.yaml) and names every dependency of a schema in full (pkg/msg/Type)."""
    from mcap.reader import make_reader

    w = BagWriter(tmp_path / "b", WriterOptions())
    w.add_topic("/navigation/odometry", "nav_msgs/msg/Odometry")
    rec = Recorder(w)
    rec.record("/navigation/odometry", msgs.new("nav_msgs/msg/Odometry"), 1.0)
    rec.close()
    with open(next((tmp_path / "b").glob("*.mcap")), "rb") as f:
        summary = make_reader(f).get_summary()
    (channel,) = summary.channels.values()
    assert channel.metadata["topic_type_hash"] == typestore().hash_rihs01("nav_msgs/msg/Odometry")
    assert yaml.safe_load(channel.metadata["offered_qos_profiles"])[0]["reliability"]
    text = summary.schemas[channel.schema_id].data.decode()
    dependencies = re.findall(r"^MSG: (\S+)$", text, re.M)
    assert "std_msgs/msg/Header" in dependencies and all(d.count("/") == 2 for d in dependencies)
    assert [m.header for _, _, m in reader.messages(tmp_path / "b")]  # rosbags still reads the bag


def test_jpeg_recording_states_its_loss(tmp_path):
    bag = tmp_path / "jpeg"
    rec = Recorder.to_bag(bag, {"model_sha256": "x"}, jpeg_quality=80)
    rng = np.random.default_rng(0)
    base = np.tile(np.linspace(0, 255, W, dtype=np.uint8)[None, :, None], (H, 1, 3))
    for i in range(12):
        img = np.clip(base.astype(int) + rng.integers(-3, 4, base.shape), 0, 255).astype(np.uint8)
        rec.camera(CameraFrame("front", i * 0.05, "rgb8", img, W, H), i * 0.05)
    rec.close()
    info = reader.info(bag)
    assert info.topics == {"/camera/image_raw/compressed": "sensor_msgs/msg/CompressedImage"}
    psnr = float(info.custom_data["camera_jpeg_psnr_db_mean"])
    assert 25.0 < psnr < 60.0 and info.custom_data["camera_storage"] == "jpeg:80"
    sizes = [len(m.data) for _, _, m in reader.messages(bag)]
    assert len(sizes) == 12 and max(sizes) < W * H * 3 / 5


class _GatedWriter(BagWriter):
    """A real BagWriter whose disk 'stalls' until the test opens the gate."""

    def __init__(self, *a, **kw):
        import threading

        super().__init__(*a, **kw)
        self.gate = threading.Event()

    def write(self, name, data, t_ns):
        self.gate.wait(30)
        super().write(name, data, t_ns)


@pytest.mark.parametrize("block", [False, True])
def test_writer_thread_memory_is_bounded(tmp_path, block):
    import threading

    from vehicle_runtime.record.background import BackgroundWriter

    w = _GatedWriter(tmp_path / "b", WriterOptions())
    sink = BackgroundWriter(w, max_bytes=1_000_000, block=block)
    rec = Recorder(sink)
    img = np.zeros((H, W, 3), np.uint8)  # 2.76 MB: one fills the budget
    rec.camera(CameraFrame("front", 0.0, "rgb8", img, W, H), 0.0)
    if block:  # a lockstep simulator waits for the disk instead of losing a frame
        t = threading.Thread(target=rec.camera, args=(CameraFrame("front", 0.05, "rgb8", img, W, H), 0.05))
        t.start()
        t.join(0.5)
        assert t.is_alive()  # waiting: the stalled disk holds the only buffer
        w.gate.set()
        t.join(30)
    else:
        rec.camera(CameraFrame("front", 0.05, "rgb8", img, W, H), 0.05)  # no buffer free: dropped, counted
        assert sink.dropped == 1
        w.gate.set()
    rec.close()
    assert sink.stats()["pooled_bytes"] < 2 * W * H * 3 + 1_000_000
    assert reader.info(tmp_path / "b").counts["/camera/image_raw"] == (2 if block else 1)
