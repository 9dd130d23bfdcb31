"""The `vehicle-runtime` command: selftest and model inspect, run as a user runs them."""

import json
import subprocess
import sys

from model_factory import two_camera_graph, write_model


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "vehicle_runtime.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_selftest_passes_and_reports_stages():
    r = cli("selftest", "--frames", "20", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["ok"] and result["policy_outputs"] == 20
    assert result["can_frames_ok"] == result["can_frames_sent"] == 20 * 5 * 3
    assert result["stages"]["session_run"]["count"] == 20
    assert "selftest: OK" in r.stdout


def test_selftest_with_two_camera_model(two_camera_dir):
    r = cli("selftest", "--frames", "10", "--model", str(two_camera_dir), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["model"] == "two_camera_test"


def test_selftest_fails_cleanly_on_a_broken_model(tmp_path):
    folder = write_model(tmp_path / "bad", two_camera_graph(cam_a_height=5))
    r = cli("selftest", "--model", str(folder))
    assert r.returncode == 1
    assert "selftest: FAIL" in r.stderr and "input 'cam_a'" in r.stderr and "Traceback" not in r.stderr


def test_model_inspect(reference_model_dir, tmp_path):
    r = cli("model", "inspect", str(reference_model_dir), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["contract"] == "ok" and info["inputs"]["image_front"]["shape"] == [1, 2, 3, 128, 256]
    assert info["vocab_size"] == 15
    r = cli("model", "inspect", str(reference_model_dir))
    assert "contract ok" in r.stdout and "trajectory" in r.stdout
    bad = write_model(tmp_path / "bad", two_camera_graph(cam_a_height=5))
    r = cli("model", "inspect", str(bad))
    assert r.returncode == 1 and "manifest shape [1, 3, 3, 4, 6], graph shape [1, 3, 3, 5, 6]" in r.stderr
    assert "Traceback" not in r.stderr
