"""The same-host image path: a shared-memory ring (seqlock slots) plus a DDS descriptor, across real
processes on real Cyclone DDS; the ROS topic still carries whole images to readers that need them."""

import multiprocessing as mp
import os
import queue

import numpy as np
import pytest

from vehicle_runtime.transport import shm

pytestmark = pytest.mark.skipif(not shm.available(), reason="no writable /dev/shm on this machine")


def test_ring_slots_read_back_and_a_reused_slot_is_refused():
    ring = shm.ShmRing("test/ring", slots=2)
    reader = shm.ShmReader()
    try:
        a = np.arange(3000, dtype=np.uint32).astype(np.uint8)
        name, slot, seq, size = ring.write(a)
        assert size == 3000 and reader.read(name, slot, seq, size) == a.tobytes()
        ring.write(a[::-1].copy())
        ring.write(b"x" * 100)  # two slots: this reuses the first one
        assert reader.read(name, slot, seq, size) is None
        # a larger image: a new, larger segment
        big = np.ones(5000, np.uint8)
        name2, slot2, seq2, size2 = ring.write(big)
        assert name2 != name and reader.read(name2, slot2, seq2, size2) == big.tobytes()
        assert not (shm.SHM_DIR / name).exists()  # the outgrown segment is unlinked
        with pytest.raises(shm.ShmError, match="outside"):
            reader.read(name2, 7, seq2, size2)
        with pytest.raises(shm.ShmError, match="bad segment"):
            reader.read("../etc/passwd", 0, 2, 1)
        with pytest.raises(shm.ShmError, match="cannot open"):
            reader.read("vr-0-0-missing", 0, 2, 1)
    finally:
        reader.close()
        ring.close()
    assert not (shm.SHM_DIR / name2).exists()


def _resident_kib(name: str) -> list:
    """Rss in KiB of each of this process's mappings of /dev/shm/<name> (/proc/self/smaps)."""
    lines = open("/proc/self/smaps").read().splitlines()
    found = []
    for i, line in enumerate(lines):
        if line.endswith(str(shm.SHM_DIR / name)):
            found.append(next(int(f.split()[1]) for f in lines[i + 1 :] if f.startswith("Rss:")))
    return found


@pytest.mark.skipif(not shm._POPULATE, reason="no MAP_POPULATE on this platform")
def test_rings_are_populated_every_page_mapped_before_the_first_image_crosses():
    # first-touch page faults on a fresh 11 MB ring cost 3-4 ms per image for the first round of slots
    ring = shm.ShmRing("test/populate", slots=4)
    reader = shm.ShmReader()
    try:
        name, slot, seq, size = ring.write(np.zeros(720 * 1280 * 3, np.uint8))  # one slot written
        total_kib = os.path.getsize(shm.SHM_DIR / name) // 1024  # Rss counts whole pages: ≥
        assert [kib >= total_kib for kib in _resident_kib(name)] == [True]  # writer: all four slots resident
        reader.read(name, slot, seq, size)
        assert [kib >= total_kib for kib in _resident_kib(name)] == [True, True]  # reader: though it read one slot
    finally:
        reader.close()
        ring.close()


def _mapped_from_dev_shm(name: str) -> int:
    with open("/proc/self/maps") as maps:
        return sum(line.rstrip().endswith("/dev/shm/" + name) for line in maps)


def test_a_reader_unmaps_the_rings_of_writers_that_went_away():
    """A camera driver or simulator that restarts makes a new ring each time: the reader must not keep the
    old ones mapped (each held a whole ring's memory: +3.5 MB per simulator run in the soak)."""
    reader = shm.ShmReader(keep=4, idle_s=3600.0)
    rings, names = [], []
    try:
        for restart in range(6):
            ring = shm.ShmRing(f"test/restart{restart}", slots=2)
            name, slot, seq, size = ring.write(np.full(4096, restart, np.uint8))
            assert reader.read(name, slot, seq, size)[0] == restart
            names.append(name)
            ring.close()  # the writer exits: its ring is unlinked
        assert reader.mapped == [names[-1]]
        assert sum(_mapped_from_dev_shm(n) for n in names[:-1]) == 0
        idle = shm.ShmReader(keep=4, idle_s=0.0)  # a writer alive but silent for idle_s: unmapped too
        for restart in range(2):
            ring = shm.ShmRing(f"test/idle{restart}", slots=2)
            rings.append(ring)
            idle.read(*ring.write(b"y" * 64))
        assert idle.mapped == [rings[-1].name]
        idle.close()
    finally:
        reader.close()
        for ring in rings:
            ring.close()


def test_a_file_that_is_not_a_ring_is_refused(tmp_path):
    path = shm.SHM_DIR / f"vr-{os.getpid()}-foreign-test"
    path.write_bytes(b"not a ring" + bytes(200))
    try:
        with pytest.raises(shm.ShmError, match="not an image ring"):
            shm.ShmReader().read(path.name, 0, 2, 10)
    finally:
        path.unlink()


def test_rings_of_dead_writers_are_removed():
    ctx = mp.get_context("spawn")
    proc = ctx.Process(target=os.getpid)
    proc.start()
    proc.join()
    mine = shm.ShmRing("alive")
    mine.write(b"abc")
    stale = shm.SHM_DIR / f"vr-{proc.pid}-0-stale"
    stale.write_bytes(bytes(64))
    assert shm.remove_stale() >= 1 and not stale.exists() and (shm.SHM_DIR / mine.name).exists()
    stale.write_bytes(bytes(64))
    mine.write(bytes(100))  # a new ring (larger image) sweeps too
    assert not stale.exists()
    mine.close()


DOMAIN = 29  # not shared with test_dds.py (17–19)
W, H = 640, 360


def _pixels(i: int) -> np.ndarray:
    return ((np.arange(H * W * 3, dtype=np.uint32) + i) % 251).astype(np.uint8)


def _image_publisher(ready, done, report):
    from vehicle_runtime.transport import msgs
    from vehicle_runtime.transport.dds import DdsParticipant

    p = DdsParticipant(DOMAIN)
    pub = p.publisher("sensor_msgs/msg/Image", "test/shm/image_raw", "sensor")
    ready.set()
    i = 0
    while not done.wait(0.03):
        i += 1
        pub.publish(
            msgs.new(
                "sensor_msgs/msg/Image",
                header=msgs.new("std_msgs/msg/Header", stamp=msgs.s_to_stamp(i)),
                height=H,
                width=W,
                encoding="rgb8",
                step=W * 3,
                data=_pixels(i),
            )
        )
        report.put(("published", i, pub.full_images))
    p.close()
    report.put(("closed", i, pub.full_images))


def test_images_cross_processes_through_shared_memory_and_whole_only_for_readers_that_need_them():
    from vehicle_runtime.transport.dds import DdsParticipant

    pytest.importorskip("cyclonedds", reason="cyclonedds (extra 'dds') not installed")
    ctx = mp.get_context("spawn")
    ready, done, report = ctx.Event(), ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_image_publisher, args=(ready, done, report))
    proc.start()
    try:
        assert ready.wait(30)
        fast, plain = queue.Queue(), queue.Queue()
        ours = DdsParticipant(DOMAIN)  # shared memory on (the default)
        ours.subscribe("sensor_msgs/msg/Image", "test/shm/image_raw", lambda m: fast.put(m), "sensor")
        got_fast = [fast.get(timeout=30) for _ in range(10)]
        # only our same-host reader is matched: no image went out whole on the ROS topic so far
        last = None
        while not report.empty() or last is None:
            last = report.get(timeout=30)
        assert last[2] == 0
        # a reader without shared memory (as an rclpy node or `ros2 topic echo` would be) gets whole images
        other = DdsParticipant(DOMAIN, image_shm=False)
        assert other.shm_host == ""
        other.subscribe("sensor_msgs/msg/Image", "test/shm/image_raw", lambda m: plain.put(m), "sensor")
        got_plain = []
        try:
            got_plain += [plain.get(timeout=30) for _ in range(10)]
        except queue.Empty:
            reports = []
            while not report.empty():
                reports.append(report.get())
            raise AssertionError(
                f"plain reader got {len(got_plain)}; publisher: {reports[-3:]}; ours: {vars(ours.shm_stats)}"
            ) from None
        got_fast += [fast.get(timeout=30) for _ in range(10)]
    finally:
        done.set()
        proc.join(30)
    while True:
        item = report.get(timeout=30)
        if item[0] == "closed":
            break
    published, full = item[1], item[2]
    while not fast.empty():
        got_fast.append(fast.get_nowait())
    for m in got_fast + got_plain:  # every image intact, whichever way it came
        assert (m.width, m.height, m.encoding, m.step) == (W, H, "rgb8", W * 3)
        assert np.array_equal(np.frombuffer(m.data, np.uint8), _pixels(m.header.stamp.sec))
    stamps = [m.header.stamp.sec for m in got_fast]
    assert stamps == sorted(set(stamps))  # the shared-memory reader never sees an image twice
    assert ours.shm_stats.shm_images == len(got_fast) and ours.shm_stats.ros_images == 0
    assert 10 <= full < published  # whole images only once the plain reader was there
    ours.close()
    other.close()
