"""The one error path of `vehicle-runtime`: bad arguments are one line and status 2, refused inputs one
line and status 1 (plus one JSON object with --json), tracebacks only with --debug; relative paths in a
parameter file are read from the file's folder."""

import io
import json
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import yaml

from vehicle_runtime import cli, cli_errors
from vehicle_runtime.commands import selftest
from vehicle_runtime.config import load_runtime_config
from vehicle_runtime.paths import share_dir


def run_cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = cli.main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture()
def config_copy(tmp_path):
    """The shipped config folder, copied: relative paths in it must now be read from the copy."""
    dest = tmp_path / "cfg"
    shutil.copytree(share_dir() / "config", dest)
    return dest


def edit_params(path: Path, **changes):
    doc = yaml.safe_load(path.read_text())
    params = doc["/**"]["ros__parameters"]
    for k, v in changes.items():
        if v is ...:
            params.pop(k)
        else:
            params[k] = v
    path.write_text(yaml.safe_dump(doc))


def test_bad_argument_is_one_line_status_2_and_json_names_it():
    rc, out, err = run_cli("drive", "--duration", "nan", "--json")
    assert rc == 2
    line = one_line(err)
    assert "--duration" in line and "nan" in line
    assert json.loads(out.strip().splitlines()[-1]) == {"error": line.split(": ", 1)[1], "input": "--duration"}


def test_refused_input_is_one_line_status_1_naming_the_file(config_copy):
    bad = config_copy / "fusion.param.yaml"
    bad.write_text("/**:\n  ros__parameters: [unclosed\n")
    rc, out, err = run_cli("selftest", "--config", config_copy, "--frames", "1", "--json")
    assert rc == 1
    line = one_line(err)
    assert line.startswith("selftest: FAIL: ") and str(bad) in line and "YAML" in line
    obj = json.loads(out.strip().splitlines()[-1])
    assert obj["input"] == str(bad) and str(bad) in obj["error"]


def test_debug_shows_the_traceback(config_copy, monkeypatch):
    edit_params(config_copy / "policy.param.yaml", model_path="nowhere")
    rc, _, err = run_cli("selftest", "--config", config_copy, "--frames", "1")
    assert rc == 1 and "Traceback" not in err and str(config_copy / "nowhere") in one_line(err)
    rc, _, err = run_cli("--debug", "selftest", "--config", config_copy, "--frames", "1")
    assert rc == 1 and "Traceback (most recent call last)" in err
    monkeypatch.setenv("VEHICLE_RUNTIME_DEBUG", "1")
    rc, _, err = run_cli("selftest", "--config", config_copy, "--frames", "1")
    assert rc == 1 and "Traceback (most recent call last)" in err


def test_a_bug_is_one_line_marked_internal(monkeypatch):
    def broken(args):
        return {}["no such key"]

    monkeypatch.setattr(selftest, "run", broken)
    rc, out, err = run_cli("selftest", "--json")
    assert rc == 1
    assert "internal error" in one_line(err) and "KeyError" in err
    assert json.loads(out.strip().splitlines()[-1])["input"] is None


@pytest.mark.parametrize(
    "exc, text, named",
    [
        (
            FileNotFoundError(2, "No such file or directory", "/x/y.yaml"),
            "/x/y.yaml: No such file or directory",
            "/x/y.yaml",
        ),
        (IsADirectoryError(21, "Is a directory", "runs"), "runs: Is a directory", "runs"),
        (ValueError("config/a.yaml: bad\n  first\n  second"), "config/a.yaml: bad; first; second", "config/a.yaml"),
        (cli_errors.Refused("too late", "--inject"), "too late", "--inject"),
    ],
)
def test_describe_names_the_input(exc, text, named):
    assert cli_errors.is_refusal(exc)
    assert cli_errors.describe(exc) == (text, named)


def test_an_output_folder_checked_at_run_time_is_a_refusal(tmp_path, monkeypatch):
    """drive's default report folder runs/... is checked before driving, like --out."""
    (tmp_path / "runs").write_text("a file where the runs folder belongs")
    monkeypatch.chdir(tmp_path)
    rc, _, err = run_cli("drive", "--policy", "expert", "--scenario", "lead_braking", "--duration", "0.1")
    line = one_line(err)
    assert rc == 1 and "internal error" not in line and "runs is a file, not a folder" in line


def test_only_inputs_count_as_refusals():
    import tarfile

    import yaml as _yaml

    assert cli_errors.is_refusal(tarfile.ReadError("not a tar file"))
    assert cli_errors.is_refusal(_yaml.YAMLError("bad"))
    assert cli_errors.is_refusal(PermissionError(13, "Permission denied", "/root/x"))
    assert not cli_errors.is_refusal(KeyError("x")) and not cli_errors.is_refusal(ZeroDivisionError())
    assert not cli_errors.is_refusal(RuntimeError("a bug"))


def test_a_fault_after_the_end_of_the_run_is_refused():
    rc, _, err = run_cli(
        "drive", "--policy", "expert", "--scenario", "lead_braking", "--duration", "3", "--inject", "camera_stall@500"
    )
    assert rc == 1
    line = one_line(err)
    assert "camera_stall@500" in line and "after the run's end at 3 s" in line


def test_injected_reports_what_fired_and_when(tmp_path):
    rc, out, err = run_cli(
        "drive",
        "--policy",
        "expert",
        "--scenario",
        "lead_braking",
        "--duration",
        "1",
        "--inject",
        "driver_override@0.505",
        "--out",
        tmp_path / "run",
        "--json",
    )
    assert rc == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["injected"] == ["driver_override@0.51"]  # the first 10 ms step at or after 0.505 s


def test_model_with_the_expert_policy_is_refused(tmp_path):
    rc, _, err = run_cli("drive", "--policy", "expert", "--model", share_dir() / "models" / "distilled_student")
    assert rc == 1 and "--policy student" in one_line(err)


def test_relative_paths_are_read_from_the_parameter_files_folder(config_copy, tmp_path):
    profile = config_copy / "vehicles" / "generic_sedan.param.yaml"
    edit_params(profile, name="copied_sedan")
    shutil.copy(share_dir() / "vehicle_runtime" / "can" / "bywire.dbc", config_copy / "own.dbc")
    edit_params(config_copy / "vehicle_interface.param.yaml", dbc_path="own.dbc")
    (tmp_path / "models").symlink_to(share_dir() / "models")  # ../models from the copy
    cfg = load_runtime_config(config_copy)
    assert cfg.vehicle.name == "copied_sedan"
    assert cfg.dbc_path == config_copy / "own.dbc"
    assert cfg.model_path == tmp_path / "models" / "distilled_student"
    assert load_runtime_config().vehicle.name == "generic_sedan"  # the shipped folder reads its own
    rc, out, err = run_cli("selftest", "--config", config_copy, "--frames", "2", "--json")
    assert rc == 0, err
    assert json.loads(out.strip().splitlines()[-1])["ok"]


def test_selftest_config_never_falls_back_to_the_share_directory(config_copy, tmp_path):
    """Before: a copied folder without its profile silently used the checkout's. Now: refused, naming
    the path in the copy."""
    shutil.rmtree(config_copy / "vehicles")
    rc, _, err = run_cli("selftest", "--config", config_copy, "--frames", "1")
    assert rc == 1
    assert str(config_copy / "vehicles" / "generic_sedan.param.yaml") in one_line(err)
    edit_params(
        config_copy / "vehicle_interface.param.yaml",
        vehicle_profile=str(share_dir() / "config" / "vehicles" / "generic_sedan.param.yaml"),
        dbc_path="missing.dbc",
    )
    (tmp_path / "models").symlink_to(share_dir() / "models")
    rc, _, err = run_cli("selftest", "--config", config_copy, "--frames", "1")
    assert rc == 1 and str(config_copy / "missing.dbc") in one_line(err)


def test_a_broken_dbc_is_named(config_copy, tmp_path):
    (tmp_path / "models").symlink_to(share_dir() / "models")
    (config_copy / "broken.dbc").write_text("garbage {{\n")
    edit_params(config_copy / "vehicle_interface.param.yaml", dbc_path="broken.dbc")
    rc, _, err = run_cli("selftest", "--config", config_copy, "--frames", "1")
    line = one_line(err)
    assert rc == 1 and str(config_copy / "broken.dbc") in line and "cantools" in line


def test_request_with_a_nan_timeout_returns_at_once():
    """It waited forever before: NaN never compares greater than the clock."""
    r = subprocess.run(
        [sys.executable, "-m", "vehicle_runtime.cli", "request", "engage", "--timeout", "nan", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "--timeout" in one_line(r.stderr)
    assert json.loads(r.stdout.strip().splitlines()[-1])["input"] == "--timeout"


def test_a_model_onnxruntime_cannot_load_is_one_line_before_any_bus_opens(tmp_path):
    import hashlib

    model = tmp_path / "garbage"
    shutil.copytree(share_dir() / "models" / "distilled_student", model)
    (model / "model.onnx").write_bytes(b"not a protobuf")
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["sha256"] = hashlib.sha256(b"not a protobuf").hexdigest()  # the file is what the manifest says
    (model / "manifest.json").write_text(json.dumps(manifest))
    r = subprocess.run(
        [sys.executable, "-m", "vehicle_runtime.cli", "drive", "--model", str(model), "--duration", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = one_line(r.stderr)  # a real process: no "VirtualBus was not properly shut down" after it either
    assert r.returncode == 1 and line.startswith("drive: onnxruntime: ") and str(model / "model.onnx") in line
    assert json.loads(r.stdout.strip().splitlines()[-1])["input"] == str(model / "model.onnx")
