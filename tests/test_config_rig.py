"""The camera rig belongs to the config folder: a candidate config's cameras are the ones its drives,
evaluations and model checks use (they used the installed rig whatever --config said)."""

import argparse
import shutil

import pytest
import yaml

from sim_bridge.embedded.drive import DriveOptions, run_drive
from vehicle_runtime.camera_rig import default_rig_path
from vehicle_runtime.commands import model_inspect
from vehicle_runtime.config import load_runtime_config
from vehicle_runtime.paths import share_dir


@pytest.fixture
def small_camera_config(tmp_path):
    """A copy of the installed config whose rig has the front camera at 640x360."""
    dst = tmp_path / "config"
    shutil.copytree(share_dir() / "config", dst)
    rig = yaml.safe_load((dst / "camera_rig.yaml").read_text())
    rig["cameras"]["front"].update(width=640, height=360)
    (dst / "camera_rig.yaml").write_text(yaml.safe_dump(rig))
    policy = yaml.safe_load((dst / "policy.param.yaml").read_text())
    policy["/**"]["ros__parameters"]["model_path"] = str(load_runtime_config().model_path)  # the installed student
    (dst / "policy.param.yaml").write_text(yaml.safe_dump(policy))
    return dst


def test_the_config_folders_rig_is_the_builds_and_the_installed_one_stands_in_when_it_has_none(small_camera_config):
    assert load_runtime_config(small_camera_config).camera_rig_path == small_camera_config / "camera_rig.yaml"
    (small_camera_config / "camera_rig.yaml").unlink()
    assert load_runtime_config(small_camera_config).camera_rig_path == default_rig_path()
    assert load_runtime_config().camera_rig_path == default_rig_path()


def test_a_drive_with_a_config_folder_renders_that_folders_cameras(small_camera_config):
    result = run_drive(DriveOptions(scenario="curvy_road", duration_s=1.0), load_runtime_config(small_camera_config))
    assert result.snapshots and result.snapshots[0][1].shape[:2] == (360 // 4, 640 // 4)  # quarter-size snapshots
    installed = run_drive(DriveOptions(scenario="curvy_road", duration_s=1.0))
    assert installed.snapshots[0][1].shape[:2] == (720 // 4, 1280 // 4)


def test_model_inspect_checks_the_model_against_the_config_folders_rig(small_camera_config, capsys):
    rig = yaml.safe_load((small_camera_config / "camera_rig.yaml").read_text())
    rig["cameras"]["front"]["hfov_deg"] = 60.0  # the shipped student expects a 90 deg front camera
    (small_camera_config / "camera_rig.yaml").write_text(yaml.safe_dump(rig))
    model = str(load_runtime_config().model_path)
    code = model_inspect.run(argparse.Namespace(path=model, rig=None, config=str(small_camera_config), json=True))
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "90 deg field of view" in err and str(small_camera_config / "camera_rig.yaml") in err
    # a rig named on the command line still wins
    code = model_inspect.run(
        argparse.Namespace(path=model, rig=str(default_rig_path()), config=str(small_camera_config), json=True)
    )
    assert code == 0, capsys.readouterr().err


def test_a_config_folders_broken_or_mismatched_rig_is_refused_in_one_line_before_anything_runs(
    small_camera_config, tmp_path
):
    from test_cli_errors import one_line, run_cli

    rig_file = small_camera_config / "camera_rig.yaml"
    rig_file.write_text("cameras: {front: {width: -5}}\n")
    rc, _, err = run_cli("drive", "--config", small_camera_config, "--duration", "1")
    assert rc == 1 and str(rig_file) in one_line(err) and "minimum of 16" in err
    rig = yaml.safe_load((share_dir() / "config" / "camera_rig.yaml").read_text())
    rig["cameras"]["front"]["hfov_deg"] = 60.0  # the shipped student expects 90 deg
    rig_file.write_text(yaml.safe_dump(rig))
    results = tmp_path / "results.jsonl"
    rc, _, err = run_cli(
        "eval", "--config", small_camera_config, "--seeds", "1000", "--scenarios", "curvy_road", "--duration", "1",
        "--workers", "1", "--results", results,
    )  # fmt: skip
    assert rc == 1 and "90 deg field of view" in one_line(err) and str(rig_file) in err
    assert not results.exists()  # refused before a run was planned, not in a worker
