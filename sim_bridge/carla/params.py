"""config/carla_hil.param.yaml → typed bridge parameters (validated against carla_bridge.schema.json)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from vehicle_runtime.can import BusConfig
from vehicle_runtime.config import ConfigError, load_params
from vehicle_runtime.paths import share_dir

from .connection import Endpoint
from .control import Calibration

PARAM_FILE = "carla_hil.param.yaml"


@dataclass(frozen=True)
class BridgeParams:
    host: str = "127.0.0.1"
    port: int = 2000
    timeout_s: float = 10.0
    town: str = "Town01"
    take_over: bool = False
    fixed_delta_s: float = 0.05
    duration_s: float = 120.0
    vehicle_blueprint: str = "vehicle.lincoln.mkz_2020"
    spawn_index: int = 0
    goal_index: int = 40
    gnss_noise_std_m: float = 0.5
    imu_noise_accel_std_mps2: float = 0.02
    imu_noise_gyro_std_radps: float = 0.002
    steer_lag_s: float = 0.1
    throttle_accel_mps2: Sequence[float] = Calibration.throttle_accel_mps2
    throttle: Sequence[float] = Calibration.throttle
    brake_decel_mps2: Sequence[float] = Calibration.brake_decel_mps2
    brake: Sequence[float] = Calibration.brake
    coast_band_mps2: float = Calibration.coast_band_mps2
    can_interface: str = "socketcan"
    can_channel: str = "can0"
    namespace: str = ""

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.host, self.port, self.timeout_s)

    @property
    def calibration(self) -> Calibration:
        try:
            return Calibration(
                tuple(self.throttle_accel_mps2),
                tuple(self.throttle),
                tuple(self.brake_decel_mps2),
                tuple(self.brake),
                self.coast_band_mps2,
            )
        except ValueError as exc:
            raise ConfigError(f"{PARAM_FILE}: {exc}") from None

    @property
    def bus(self) -> BusConfig:
        return BusConfig(self.can_interface, self.can_channel)

    @property
    def substeps(self) -> int:
        """Control periods (10 ms, the runtime's and the gateway's rate) per CARLA step."""
        return max(1, round(self.fixed_delta_s / 0.01))


def load_bridge_params(path: Optional[Path] = None, **overrides) -> BridgeParams:
    """The parameter file (default: the package's), then non-None overrides (command-line flags)."""
    raw = load_params(path or share_dir() / "config" / PARAM_FILE, "carla_bridge")
    known = {f.name for f in fields(BridgeParams)}
    values: Dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in known}
    params = BridgeParams(**values)
    params = replace(params, **{k: v for k, v in overrides.items() if v is not None})
    params.calibration  # noqa: B018 - refuse a bad pedal map at start-up, naming the file
    return params
