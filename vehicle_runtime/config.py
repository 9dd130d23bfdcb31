"""Parameter files in ROS 2 form (`/**: ros__parameters:`), validated against the package's JSON
schemas, turned into typed parameter objects. One source of truth for `ros2 launch` and the
ROS-free runner: the ROS nodes load the same files through the launch system."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import yaml

from .can.bus import BusConfig
from .control import TrackerParams, VehicleProfile
from .fusion import FusionParams
from .paths import resolve, share_dir
from .safety.envelope import EnvelopeParams
from .safety.gate import INPUT_WATCHDOGS, SafetyParams
from .safety.mrm import MrmParams
from .schema import load_schema, problems
from .student.session import SessionConfig
from .validation import ValidatorParams, params_from

NODE_FILES = {"fusion": "fusion.param.yaml", "policy": "policy.param.yaml",
              "vehicle_interface": "vehicle_interface.param.yaml"}


class ConfigError(ValueError):
    """A parameter file that cannot be used; the message names the file and the parameter."""


def load_params(path: str | Path, schema: str, node_name: Optional[str] = None) -> dict:
    """The `ros__parameters` of `node_name` (or of the `/**` wildcard section), validated."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such parameter file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping of node names to 'ros__parameters'")
    section = None
    for key in ([node_name, "/" + node_name] if node_name else []) + ["/**"]:
        if key in doc:
            section = doc[key]
            break
    if not isinstance(section, dict) or "ros__parameters" not in section:
        raise ConfigError(f"{path}: no '/**' (or '{node_name}') section with 'ros__parameters'")
    params = section["ros__parameters"] or {}
    validate(params, schema, str(path))
    return params


def validate(params: dict, schema: str, where: str) -> None:
    found = problems(params, load_schema(schema), word="parameter")
    if found:
        raise ConfigError(f"{where}: " + "; ".join(p.replace("/", ".") for p in found))


@dataclass(frozen=True)
class RuntimeConfig:
    """Everything one runtime instance needs, typed."""

    fusion: FusionParams
    model_path: Path
    session: SessionConfig
    warm_up_runs: int
    policy_realtime_priority: int
    tracker: TrackerParams
    vehicle: VehicleProfile
    bus: BusConfig
    dbc_path: Optional[Path]
    control_rate_hz: float
    realtime_priority: int
    max_command_age_s: float
    safety: SafetyParams
    config_dir: Path
    validator: Optional[ValidatorParams] = None  # None: outputs reach the tracker unchecked (tests only)


def load_runtime_config(config_dir: Optional[str | Path] = None) -> RuntimeConfig:
    config_dir = Path(config_dir) if config_dir else share_dir() / "config"
    f = load_params(config_dir / NODE_FILES["fusion"], "fusion", "fusion")
    p = load_params(config_dir / NODE_FILES["policy"], "policy", "policy")
    v = load_params(config_dir / NODE_FILES["vehicle_interface"], "vehicle_interface", "vehicle_interface")
    return RuntimeConfig(
        fusion=FusionParams(**f),
        model_path=resolve(p["model_path"]),
        session=SessionConfig(providers=tuple(p["providers"]), intra_op_threads=p["intra_op_threads"],
                              io_binding=p["io_binding"], trt_fp16=p["trt_fp16"],
                              trt_cache_dir=p["trt_cache_dir"] or None),
        warm_up_runs=p["warm_up_runs"],
        policy_realtime_priority=p["realtime_priority"],
        tracker=TrackerParams(**{k: p[k] for k in TrackerParams.__dataclass_fields__}),
        vehicle=load_vehicle_profile(resolve(v["vehicle_profile"])),
        bus=BusConfig(interface=v["can_interface"], channel=v["can_channel"], bitrate=v["can_bitrate"]),
        dbc_path=resolve(v["dbc_path"]) if v["dbc_path"] else None,
        control_rate_hz=v["control_rate_hz"],
        realtime_priority=v["realtime_priority"],
        max_command_age_s=v["max_command_age_s"],
        safety=safety_params(v, load_vehicle_profile(resolve(v["vehicle_profile"])).wheelbase_m, str(config_dir)),
        config_dir=config_dir,
        validator=validator_params(v, load_vehicle_profile(resolve(v["vehicle_profile"])), str(config_dir)),
    )


def validator_params(v: dict, vehicle: VehicleProfile, where: str = "vehicle_interface") -> ValidatorParams:
    try:
        return params_from(v, vehicle)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: validator: {exc}") from None


def safety_params(v: dict, wheelbase_m: float, where: str = "vehicle_interface") -> SafetyParams:
    tables = ("steer_lim_rad", "steer_rate_lim_radps", "accel_lim_mps2", "decel_lim_mps2", "lon_jerk_lim_mps3",
              "lat_acc_lim_mps2", "lat_jerk_lim_mps3")
    try:
        envelope = EnvelopeParams(wheelbase_m=wheelbase_m, reference_speeds_mps=tuple(v["reference_speeds_mps"]),
                                  max_speed_mps=v["max_speed_mps"], **{k: tuple(v[k]) for k in tables})
    except ValueError as exc:
        raise ConfigError(f"{where}: envelope: {exc}") from None
    return SafetyParams(
        timeouts_s={n: v[f"timeout_{n}_s"] for n in (*INPUT_WATCHDOGS, "control_loop")},
        max_clock_jump_s=v["max_clock_jump_s"], max_request_age_s=v["max_request_age_s"],
        auto_engage=v["auto_engage"], envelope=envelope,
        mrm=MrmParams(target_decel_mps2=v["mrm_target_decel_mps2"], jerk_mps3=v["mrm_jerk_mps3"],
                      standstill_speed_mps=v["standstill_speed_mps"], hold_decel_mps2=v["mrm_hold_decel_mps2"],
                      release_jerk_mps3=v["mrm_release_jerk_mps3"]))


def load_vehicle_profile(path: str | Path) -> VehicleProfile:
    return VehicleProfile(**load_params(path, "vehicle_profile"))
