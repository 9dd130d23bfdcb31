"""Fleet bundles: every kind of bad bundle is refused by name with the active slot untouched; the
installer killed (SIGKILL) at every step leaves a working build; health check commits or rolls back."""
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from vehicle_runtime.bundle import archive, healthcheck, signing, slots
from vehicle_runtime.bundle.signing import BundleError

REPO = Path(__file__).resolve().parents[1]
HW = "box-gen2"


@pytest.fixture
def keys(tmp_path):
    signing.keygen(tmp_path / "k.pem", tmp_path / "k.pub")
    signing.keygen(tmp_path / "other.pem", tmp_path / "other.pub")
    return tmp_path


@pytest.fixture
def share(tmp_path):
    dst = tmp_path / "share"
    for top in ("config", "models"):
        shutil.copytree(REPO / top, dst / top)
    # a generous latency budget: these tests are about installing, not about this machine's load
    manifest = dst / "models" / "reference_geometric" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["latency_budget_ms"] = 1000.0
    manifest.write_text(json.dumps(data))
    return dst


def make(keys, share, name, version="1.0.0", counter=1, hw=(HW,), expires_days=30.0, files=None):
    out = keys / name
    archive.create(out, files or archive.collect(share), keys / "k.pem", version, counter, hw, "0.1.0", "9.0.0",
                   expires_days)
    return out


def slot_digest(root: Path, slot: str) -> str:
    h = hashlib.sha256()
    for p in sorted((root / "slots" / slot).rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture
def box(keys, share, tmp_path):
    """A box running a committed 1.0.0 in slot a."""
    root = tmp_path / "box"
    slots.install(make(keys, share, "v1.vrb"), root, signing.load_public(keys / "k.pub"), HW)
    assert healthcheck.healthcheck(root, runs=5).ok
    assert slots.status(root)["active"] == "a"
    return root


def _rewrite(src: Path, dst: Path, change):
    """Copy a bundle tar, letting `change(name, data)` alter members."""
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        for m in tin.getmembers():
            data = change(m.name, tin.extractfile(m).read())
            info = tarfile.TarInfo(m.name)
            info.size = len(data)
            tout.addfile(info, io.BytesIO(data))
    return dst


def tampered_file(keys, share):
    src = make(keys, share, "v2.vrb", "2.0.0", 2)
    return _rewrite(src, keys / "bad.vrb", lambda n, d: d.replace(b"wheelbase_m: 2.8", b"wheelbase_m: 9.9")
                    if n.endswith("generic_sedan.param.yaml") else d)


def tampered_metadata(keys, share):
    src = make(keys, share, "v2.vrb", "2.0.0", 2)

    def change(name, data):
        if name != "metadata.json":
            return data
        env = json.loads(data)
        env["signed"]["hardware_ids"].append("any-box")
        return json.dumps(env).encode()
    return _rewrite(src, keys / "bad.vrb", change)


def wrong_key(keys, share):
    out = keys / "bad.vrb"
    archive.create(out, archive.collect(share), keys / "other.pem", "2.0.0", 2, (HW,), "0.1.0", "9.0.0", 30)
    return out


CASES = {
    "tampered file": (tampered_file, "sha256 differs"),
    "tampered metadata": (tampered_metadata, "does not verify"),
    "wrong key": (wrong_key, "not by the trusted key"),
    "expired metadata": (lambda k, s: make(k, s, "bad.vrb", "2.0.0", 2, expires_days=-1), "expired"),
    "lower release counter": (lambda k, s: make(k, s, "bad.vrb", "0.9.0", 0), "lower than the installed 1"),
    "wrong hardware id": (lambda k, s: make(k, s, "bad.vrb", "2.0.0", 2, hw=("box-gen1",)), "this box is 'box-gen2'"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_bundles_are_refused_by_name_and_the_box_is_untouched(case, keys, share, box):
    build, message = CASES[case]
    bundle = build(keys, share)
    before = (json.dumps(slots.status(box)), slot_digest(box, "a"))
    with pytest.raises(BundleError, match=message):
        slots.install(bundle, box, signing.load_public(keys / "k.pub"), HW)
    assert (json.dumps(slots.status(box)), slot_digest(box, "a")) == before
    assert not (box / "slots" / "b").exists()


def test_downgrade_needs_a_reason_and_is_recorded(keys, share, box):
    old = make(keys, share, "old.vrb", "0.9.0", 0)
    slots.install(old, box, signing.load_public(keys / "k.pub"), HW, allow_downgrade="field issue #12 in 1.0.0")
    st = slots.status(box)
    assert st["trial"] == "b" and st["slots"]["b"]["version"] == "0.9.0"
    assert any("field issue #12" in h["event"] for h in st["history"])


def test_unsafe_archive_members_are_refused(keys, share, box):
    bad = keys / "evil.vrb"
    with tarfile.open(bad, "w") as tar:
        info = tarfile.TarInfo("payload/../../etc/evil")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(BundleError, match="unsafe member"):
        slots.install(bad, box, signing.load_public(keys / "k.pub"), HW)


@pytest.mark.parametrize("step", slots.STEPS)
def test_installer_killed_at_every_step_leaves_a_working_box(step, keys, share, box):
    v2 = make(keys, share, "v2.vrb", "2.0.0", 2)
    cmd = [sys.executable, "-m", "vehicle_runtime.cli", "bundle", "install", str(v2), "--key", str(keys / "k.pub"),
           "--hardware-id", HW, "--root", str(box)]
    r = subprocess.run(cmd, env={**os.environ, slots.KILL_ENV: step}, capture_output=True, text=True, timeout=120)
    assert r.returncode == -9, r.stderr  # SIGKILL at the step
    st = slots.status(box)
    assert st["active"] == "a" and st["slots"]["a"]["version"] == "1.0.0"
    running = slots.selected(box)
    checks = healthcheck.check_slot(box / "slots" / running, runs=3).checks
    assert all(ok for name, ok, _ in checks), checks  # whatever starts next works
    if step == "state_written":
        assert st["trial"] == "b"
    else:
        assert st["trial"] is None  # a half-written slot is never pointed at
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)  # the next install succeeds
    assert r.returncode == 0, r.stderr
    assert slots.status(box)["trial"] == "b" and slots.status(box)["slots"]["b"]["version"] == "2.0.0"


def test_failing_health_check_rolls_back(keys, share, box):
    manifest = share / "models" / "distilled_student" / "manifest.json"  # the default model
    data = json.loads(manifest.read_text())
    data["latency_budget_ms"] = 1e-6  # an impossible budget: the trial must fail its check
    manifest.write_text(json.dumps(data))
    slots.install(make(keys, share, "v2.vrb", "2.0.0", 2), box, signing.load_public(keys / "k.pub"), HW)
    report = healthcheck.healthcheck(box, runs=5)
    assert not report.ok and dict((n, ok) for n, ok, _ in report.checks)["latency"] is False
    st = slots.status(box)
    assert st["active"] == "a" and st["trial"] is None and st["installed_counter"] == 1
    assert "health check failed" in st["history"][-1]["event"]


def test_passing_health_check_commits_and_operator_rollback_returns(keys, share, box):
    slots.install(make(keys, share, "v2.vrb", "2.0.0", 2), box, signing.load_public(keys / "k.pub"), HW)
    assert slots.boot(box).name == "b"
    assert healthcheck.healthcheck(box, runs=5).ok
    st = slots.status(box)
    assert st["active"] == "b" and st["installed_counter"] == 2
    assert slots.rollback(box) == "a" and slots.selected(box) == "a"


def test_a_trial_that_keeps_crashing_is_rolled_back_on_the_next_start(keys, share, box):
    slots.install(make(keys, share, "v2.vrb", "2.0.0", 2), box, signing.load_public(keys / "k.pub"), HW)
    started = [slots.boot(box).name for _ in range(slots.MAX_TRIAL_BOOTS + 1)]  # crashes: no health check
    assert started == ["b"] * slots.MAX_TRIAL_BOOTS + ["a"]
    st = slots.status(box)
    assert st["trial"] is None and "without a passed health check" in st["history"][-1]["event"]


def test_cli_round_trip(keys, share, tmp_path):
    v = [sys.executable, "-m", "vehicle_runtime.cli"]
    b = make(keys, share, "cli.vrb")
    r = subprocess.run(v + ["bundle", "verify", str(b), "--key", str(keys / "k.pub"), "--hardware-id", HW, "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(r.stdout)["version"] == "1.0.0"
    r = subprocess.run(v + ["bundle", "verify", str(b), "--key", str(keys / "other.pub"), "--hardware-id", HW],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "not by the trusted key" in r.stderr and "Traceback" not in r.stderr


def test_sd_notify_reaches_a_notify_socket(tmp_path, monkeypatch):
    import socket

    from vehicle_runtime.sd_notify import notify

    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        server.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        assert notify("READY=1") and notify("WATCHDOG=1")
        assert server.recv(64) == b"READY=1" and server.recv(64) == b"WATCHDOG=1"
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert notify("READY=1") is False


def test_systemd_unit_uses_the_watchdog_and_the_update_root():
    unit = (REPO / "config" / "systemd" / "vehicle-runtime.service").read_text()
    for line in ("Type=notify", "WatchdogSec=", "NotifyAccess=all", "up --root", "healthcheck --root"):
        assert line in unit
