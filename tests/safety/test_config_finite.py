"""No configuration disables a guard: NaN and ±inf are refused wherever a number is read, and every
parameter set the loader accepts keeps every watchdog and envelope bound working (property test)."""

import json
import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vehicle_runtime.config import ConfigError, load_params, load_vehicle_profile, safety_params, validate
from vehicle_runtime.paths import share_dir
from vehicle_runtime.safety.envelope import EnvelopeLimiter
from vehicle_runtime.safety.gate import INPUT_WATCHDOGS
from vehicle_runtime.safety.watchdog import Watchdog
from vehicle_runtime.schema import load_schema, problems

CONFIG = share_dir() / "config"
BASE_VI = load_params(CONFIG / "vehicle_interface.param.yaml", "vehicle_interface")
NON_FINITE = (math.nan, math.inf, -math.inf)


def _write(tmp_path, name, params):
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
    return path


@pytest.mark.parametrize(
    "key",
    [
        "max_speed_mps",
        "timeout_camera_s",
        "timeout_odometry_s",
        "max_request_age_s",
        "mrm_target_decel_mps2",
        "standstill_speed_mps",
    ],
)
@pytest.mark.parametrize("value", NON_FINITE)
def test_vehicle_interface_refuses_non_finite(tmp_path, key, value):
    path = _write(tmp_path, "vi.yaml", {**BASE_VI, key: value})
    with pytest.raises(ConfigError) as err:
        load_params(path, "vehicle_interface")
    msg = str(err.value)
    assert "\n" not in msg and f"parameter '{key}'" in msg and "not a finite number" in msg


def test_non_finite_in_a_table_is_named(tmp_path):
    table = list(BASE_VI["steer_lim_rad"])
    table[2] = math.nan
    with pytest.raises(ConfigError, match=r"parameter 'steer_lim_rad\.2': nan is not a finite number"):
        load_params(_write(tmp_path, "vi.yaml", {**BASE_VI, "steer_lim_rad": table}), "vehicle_interface")


def test_yaml_dot_nan_wheelbase_is_a_one_line_error(tmp_path):
    text = (
        (CONFIG / "vehicles" / "generic_sedan.param.yaml").read_text().replace("wheelbase_m: 2.8", "wheelbase_m: .nan")
    )
    assert ".nan" in text
    path = tmp_path / "car.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_vehicle_profile(path)
    assert str(err.value) == f"{path}: parameter 'wheelbase_m': nan is not a finite number"


def test_manifest_schema_refuses_json_nan_and_infinity():
    manifest = json.loads((share_dir() / "models" / "distilled_student" / "manifest.json").read_text())
    assert problems(manifest, load_schema("model_manifest")) == []
    bad = json.loads(json.dumps({**manifest, "version": "1.0.0", "opset": float("inf")}))
    found = problems(bad, load_schema("model_manifest"))
    assert any("opset" in p and "not a finite number" in p for p in found), found


def test_scenario_refuses_nan(tmp_path):
    from sim_bridge.embedded.scenario import SCENARIO_DIR, ScenarioError, load_scenario

    text = (SCENARIO_DIR / "curvy_road.yaml").read_text()
    doc = yaml.safe_load(text)
    doc["target_speed_mps"] = math.nan
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ScenarioError, match="'target_speed_mps': nan is not a finite number"):
        load_scenario(str(path))


# --- property: every accepted parameter set keeps every guard ------------------------------------
_number = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64), st.floats(0.001, 50.0))
_TABLES = (
    "steer_lim_rad",
    "steer_rate_lim_radps",
    "accel_lim_mps2",
    "decel_lim_mps2",
    "lon_jerk_lim_mps3",
    "lat_acc_lim_mps2",
    "lat_jerk_lim_mps3",
)
_SCALARS = (
    "max_speed_mps",
    "max_request_age_s",
    "max_clock_jump_s",
    *[f"timeout_{n}_s" for n in (*INPUT_WATCHDOGS, "control_loop")],
)


@st.composite
def _params(draw):
    p = dict(BASE_VI)
    for key in draw(st.sets(st.sampled_from(_SCALARS + _TABLES), min_size=1, max_size=5)):
        if key in _TABLES:
            p[key] = [draw(_number) for _ in p[key]]
        else:
            p[key] = draw(_number)
    return p


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_params(), st.floats(0.0, 40.0), st.floats(-2.0, 2.0), st.floats(-20.0, 20.0))
def test_every_accepted_parameter_set_keeps_every_guard(p, speed_mps, steer_rad, accel_mps2):
    try:
        validate(p, "vehicle_interface", "vi")
        sp = safety_params(p, 2.8, "vi")
    except ConfigError:
        return  # refused with a one-line error: nothing can run with it
    for name, timeout_s in sp.timeouts_s.items():
        assert math.isfinite(timeout_s) and timeout_s > 0
        dog = Watchdog(name, timeout_s, sp.max_clock_jump_s)
        dog.feed(10.0)
        assert not dog.expired(10.0) and dog.expired(10.0 + timeout_s + 1e-6)
    env = sp.envelope
    lim = EnvelopeLimiter(env)
    lim.seed(steer_rad, accel_mps2)
    out = lim.limit(steer_rad * 3, accel_mps2, speed_mps, 0.01)
    assert abs(out.steer_rad) <= env.at("steer_lim_rad", speed_mps) + 1e-12
    assert -env.at("decel_lim_mps2", speed_mps) - 1e-12 <= out.accel_mps2 <= env.at("accel_lim_mps2", speed_mps) + 1e-12
    if speed_mps >= env.max_speed_mps:
        assert out.accel_mps2 <= 0.0
    lat = abs(lim.lateral_accel_mps2(out.steer_rad, max(speed_mps, 0.0317)))
    assert lat <= env.at("lat_acc_lim_mps2", speed_mps) + 1e-9


def test_parameter_objects_refuse_non_finite_numbers_built_in_code():
    """Defence in depth: what bypasses the loader still cannot switch a guard off."""
    from dataclasses import replace

    from vehicle_runtime.config import load_runtime_config
    from vehicle_runtime.safety.envelope import EnvelopeParams
    from vehicle_runtime.safety.gate import SafetyGate
    from vehicle_runtime.safety.mrm import MrmParams
    from vehicle_runtime.validation import ValidatorParams

    cfg = load_runtime_config()
    env = cfg.safety.envelope
    for bad in NON_FINITE:
        with pytest.raises(ValueError, match="max_speed_mps"):
            EnvelopeParams(**{**vars(env), "max_speed_mps": bad})
        with pytest.raises(ValueError, match="wheelbase_m"):
            EnvelopeParams(**{**vars(env), "wheelbase_m": bad})
        with pytest.raises(ValueError, match="target_decel_mps2"):
            MrmParams(**{**vars(cfg.safety.mrm), "target_decel_mps2": bad})
        with pytest.raises(ValueError, match="timeout camera"):
            SafetyGate(replace(cfg.safety, timeouts_s={**cfg.safety.timeouts_s, "camera": bad}))
        with pytest.raises(ValueError, match="max_request_age_s"):
            SafetyGate(replace(cfg.safety, max_request_age_s=bad))
        with pytest.raises(ValueError, match="plan_shift_base_m"):
            ValidatorParams(**{**vars(cfg.validator), "plan_shift_base_m": bad})
