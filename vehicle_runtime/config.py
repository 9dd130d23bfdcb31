"""Parameter files in ROS 2 form (`/**: ros__parameters:`), validated against the package's JSON
schemas, turned into typed parameter objects. One source of truth for `ros2 launch` and the
ROS-free runner: the ROS nodes load the same files through the launch system."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Optional

import yaml

from .camera_rig import RIG_FILE, default_rig_path
from .can.bus import BusConfig
from .control import TrackerParams, VehicleProfile
from .fusion import FusionParams
from .paths import share_dir
from .safety.envelope import EnvelopeParams
from .safety.gate import INPUT_WATCHDOGS, SafetyParams
from .safety.mrm import MrmParams
from .schema import load_schema, problems
from .student.session import SessionConfig
from .validation import ValidatorParams, params_from

NODE_FILES = {
    "fusion": "fusion.param.yaml",
    "policy": "policy.param.yaml",
    "vehicle_interface": "vehicle_interface.param.yaml",
}


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
    control_cpu: int = -1  # the vehicle interface's control thread pinned here (-1: not pinned)
    lock_memory: bool = False  # mlockall in the vehicle interface process
    route_corridor_m: float = 5.0  # the route stays valid while the ego is this close to it
    validator: Optional[ValidatorParams] = None  # None: outputs reach the tracker unchecked (tests only)

    @property
    def camera_rig_path(self) -> Path:
        """The cameras this build's config folder describes (the installed rig when the folder has none): a
        candidate config's rig is the one its drives, evaluations and checks use."""
        own = Path(self.config_dir) / RIG_FILE
        return own if own.is_file() else default_rig_path()


def load_node_params(config_dir: Optional[str | Path] = None) -> dict:
    """{'fusion': {...}, 'policy': {...}, 'vehicle_interface': {...}}: each node's validated parameters."""
    config_dir = Path(config_dir) if config_dir else share_dir() / "config"
    return {node: load_params(config_dir / file, node, node) for node, file in NODE_FILES.items()}


def relative_to_file(param_file: Path, value: str | Path) -> Path:
    """A path from a parameter file: absolute as written, relative to the file's own folder, so that a
    copied config folder (`--config DIR`, a fleet slot) reads its own profile, DBC and model."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else Path(os.path.normpath(param_file.parent / p))


def load_runtime_config(config_dir: Optional[str | Path] = None) -> RuntimeConfig:
    config_dir = Path(config_dir) if config_dir else share_dir() / "config"
    return runtime_config(load_node_params(config_dir), config_dir)


def runtime_config(params: dict, config_dir: Path) -> RuntimeConfig:
    """The typed configuration from each node's parameters (files, or ROS parameters after overrides).
    Relative paths resolve against the parameter files' folder (all node files lie in config_dir)."""
    resolve = partial(relative_to_file, config_dir / NODE_FILES["policy"])
    f, p, v = params["fusion"], params["policy"], params["vehicle_interface"]
    for node, values in params.items():
        validate(values, node, f"{node} parameters")
    vehicle = load_vehicle_profile(resolve(v["vehicle_profile"]))
    return RuntimeConfig(
        fusion=FusionParams(**f),
        model_path=resolve(p["model_path"]),
        session=SessionConfig(
            providers=tuple(p["providers"]),
            intra_op_threads=p["intra_op_threads"],
            io_binding=p["io_binding"],
            trt_fp16=p["trt_fp16"],
            trt_cache_dir=str(resolve(p["trt_cache_dir"])) if p["trt_cache_dir"] else None,
        ),
        warm_up_runs=p["warm_up_runs"],
        policy_realtime_priority=p["realtime_priority"],
        tracker=TrackerParams(**{k: p[k] for k in TrackerParams.__dataclass_fields__}),
        vehicle=vehicle,
        bus=BusConfig(interface=v["can_interface"], channel=v["can_channel"], bitrate=v["can_bitrate"]),
        dbc_path=resolve(v["dbc_path"]) if v["dbc_path"] else None,
        control_rate_hz=v["control_rate_hz"],
        realtime_priority=v["realtime_priority"],
        max_command_age_s=v["max_command_age_s"],
        safety=safety_params(v, vehicle.wheelbase_m, str(config_dir)),
        config_dir=config_dir,
        control_cpu=v.get("control_cpu", -1),
        lock_memory=v.get("lock_memory", False),
        route_corridor_m=p.get("route_corridor_m", 5.0),
        validator=validator_params(v, vehicle, str(config_dir)),
    )


def validator_params(v: dict, vehicle: VehicleProfile, where: str = "vehicle_interface") -> ValidatorParams:
    try:
        return params_from(v, vehicle)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: validator: {exc}") from None


def safety_params(v: dict, wheelbase_m: float, where: str = "vehicle_interface") -> SafetyParams:
    tables = (
        "steer_lim_rad",
        "steer_rate_lim_radps",
        "accel_lim_mps2",
        "decel_lim_mps2",
        "lon_jerk_lim_mps3",
        "lat_acc_lim_mps2",
        "lat_jerk_lim_mps3",
    )
    try:
        envelope = EnvelopeParams(
            wheelbase_m=wheelbase_m,
            reference_speeds_mps=tuple(v["reference_speeds_mps"]),
            max_speed_mps=v["max_speed_mps"],
            **{k: tuple(v[k]) for k in tables},
        )
    except ValueError as exc:
        raise ConfigError(f"{where}: envelope: {exc}") from None
    return SafetyParams(
        timeouts_s={n: v[f"timeout_{n}_s"] for n in (*INPUT_WATCHDOGS, "control_loop")},
        max_clock_jump_s=v["max_clock_jump_s"],
        max_request_age_s=v["max_request_age_s"],
        auto_engage=v["auto_engage"],
        envelope=envelope,
        mrm=MrmParams(
            target_decel_mps2=v["mrm_target_decel_mps2"],
            jerk_mps3=v["mrm_jerk_mps3"],
            standstill_speed_mps=v["standstill_speed_mps"],
            hold_decel_mps2=v["mrm_hold_decel_mps2"],
            release_jerk_mps3=v["mrm_release_jerk_mps3"],
        ),
    )


def load_vehicle_profile(path: str | Path) -> VehicleProfile:
    return VehicleProfile(**load_params(path, "vehicle_profile"))
