"""What the configuration provisions for security: the vehicle mode and the key files, read from the
vehicle interface's parameter file, and the SecOC ends built from them. docs/security.md.

A missing `vehicle_mode` counts as `vehicle` (the strict one): a configuration must say that it is
simulated or on a bench to get software engage and generated dev keys.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from . import keys
from .can.secoc import KEY_BYTES, ComputeEnd, GatewayEnd
from .config import NODE_FILES, ConfigError, load_params
from .paths import resolve

ENGAGE_KEY_BYTES = 32  # HMAC-SHA256


@dataclass(frozen=True)
class SecurityConfig:
    vehicle_mode: str = "vehicle"
    secoc_key_file: str = ""
    secoc_trip_file: str = ""
    engage_key_file: str = ""

    @property
    def software_engage_allowed(self) -> bool:
        return self.vehicle_mode in keys.DEV_MODES

    @classmethod
    def from_params(cls, v: dict) -> "SecurityConfig":
        return cls(**{k: v[k] for k in cls.__dataclass_fields__ if k in v})


def security_config(config_dir: str | Path) -> SecurityConfig:
    path = Path(config_dir) / NODE_FILES["vehicle_interface"]
    return SecurityConfig.from_params(load_params(path, "vehicle_interface", "vehicle_interface"))


def _path(p: str) -> Optional[Path]:
    return resolve(p) if p else None


def secoc_key(sec: SecurityConfig) -> bytes:
    """The provisioned SecOC key; KeyFileError (a start-up error) on a vehicle without one."""
    return keys.provision("secoc", _path(sec.secoc_key_file), sec.vehicle_mode, KEY_BYTES)


def engage_key(sec: SecurityConfig) -> bytes:
    if not sec.software_engage_allowed:
        raise keys.KeyFileError(
            f"vehicle_mode '{sec.vehicle_mode}': software engage does not exist here "
            "(only the driver's ENGAGE_BUTTON engages)"
        )
    return keys.provision("engage", _path(sec.engage_key_file), sec.vehicle_mode, ENGAGE_KEY_BYTES)


def compute_end(sec: SecurityConfig, persist_trip: bool = True) -> ComputeEnd:
    """The compute box's SecOC end; the trip counter is kept beside the key unless configured elsewhere
    (`persist_trip=False`: in memory, for a simulated car that lives one run)."""
    trip = None
    if persist_trip:
        trip = _path(sec.secoc_trip_file) or Path(
            str(_path(sec.secoc_key_file) or keys.dev_key_dir() / "secoc.key") + ".trip"
        )
    return ComputeEnd(secoc_key(sec), trip)


def gateway_end(sec: SecurityConfig, trip_file: Optional[str | Path] = None) -> GatewayEnd:
    """A simulated gateway's SecOC end, keyed from the same provisioning path as the compute box."""
    return GatewayEnd(secoc_key(sec), trip_file)


def engage_authority(sec: SecurityConfig, auto_engage: bool = False):
    """The engage authority the configuration asks for. On a vehicle there is no software engage and
    auto-engage is a configuration error; on a bench or in simulation requests need the engage key."""
    from .safety.engage_authority import EngageAuthority

    if auto_engage and not sec.software_engage_allowed:
        raise ConfigError("auto_engage on vehicle_mode 'vehicle': only the driver engages a real vehicle")
    return EngageAuthority(sec.vehicle_mode, engage_key(sec) if sec.software_engage_allowed else None)


def signed_request(sec: SecurityConfig, word: str) -> str:
    """A software request line for `vehicle-runtime request WORD`: counter time.time_ns() (grows across
    processes), stamp time.time(); the receiver verifies against its own time.time()."""
    from .safety.engage_authority import sign_request

    return sign_request(engage_key(sec), word, time.time_ns(), time.time())
