"""Parameter files: the shipped ones load; a bad parameter is named in the error."""

import shutil

import pytest
import yaml

from vehicle_runtime.config import ConfigError, load_params, load_runtime_config
from vehicle_runtime.paths import share_dir


def test_shipped_config_loads():
    cfg = load_runtime_config()
    assert cfg.model_path.is_dir() and (cfg.model_path / "manifest.json").is_file()
    assert cfg.vehicle.wheelbase_m > 0 and cfg.control_rate_hz == 100.0
    assert cfg.session.providers[-1] == "CPUExecutionProvider"


@pytest.fixture
def config_copy(tmp_path):
    dst = tmp_path / "config"
    shutil.copytree(share_dir() / "config", dst)
    return dst


def _edit(path, key, value):
    doc = yaml.safe_load(path.read_text())
    if value is None:
        del doc["/**"]["ros__parameters"][key]
    else:
        doc["/**"]["ros__parameters"][key] = value
    path.write_text(yaml.safe_dump(doc))


@pytest.mark.parametrize(
    "file,key,value,message",
    [
        (
            "fusion.param.yaml",
            "sync_slop_s",
            -1,
            "parameter 'sync_slop_s': -1 is less than or equal to the minimum of 0",
        ),
        ("fusion.param.yaml", "route_points", None, "'route_points' is a required property"),
        ("policy.param.yaml", "providers", ["GPU"], "parameter 'providers.0': 'GPU' is not one of"),
        ("vehicle_interface.param.yaml", "can_interface", "can0", "parameter 'can_interface': 'can0' is not one of"),
        (
            "vehicle_interface.param.yaml",
            "typo_param",
            1,
            "Additional properties are not allowed ('typo_param' was unexpected)",
        ),
    ],
)
def test_bad_parameter_is_named(config_copy, file, key, value, message):
    _edit(config_copy / file, key, value)
    with pytest.raises(ConfigError) as err:
        load_runtime_config(config_copy)
    assert file in str(err.value) and message in str(err.value)


def test_node_specific_section_and_malformed_yaml(tmp_path):
    p = tmp_path / "x.param.yaml"
    p.write_text("fusion:\n  ros__parameters: {}\n")
    with pytest.raises(ConfigError, match="is a required property"):
        load_params(p, "fusion", "fusion")
    p.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(p, "fusion")
    p.write_text("other:\n  x: 1\n")
    with pytest.raises(ConfigError, match="no '/\\*\\*'"):
        load_params(p, "fusion", "fusion")
    with pytest.raises(ConfigError, match="no such parameter file"):
        load_params(tmp_path / "missing.yaml", "fusion")
