"""Where the package's shared data (config/, models/, launch/) lives.

Order: $VEHICLE_RUNTIME_SHARE; the source checkout (pip install -e, or running from the tree);
<prefix>/share/vehicle_runtime beside the installed module (colcon and `pip install .` both put
data_files there); ament_index, when it is importable.
"""

from __future__ import annotations

import os
from pathlib import Path


def share_dir() -> Path:
    env = os.environ.get("VEHICLE_RUNTIME_SHARE")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "config").is_dir() and (checkout / "package.xml").is_file():
        return checkout
    installed = (
        Path(__file__).resolve().parents[4] / "share" / "vehicle_runtime"
    )  # <prefix>/lib/pythonX/site-packages/vehicle_runtime
    if (installed / "config").is_dir():
        return installed
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("vehicle_runtime"))
    except Exception:  # ament_index missing or package not installed: say where we looked
        raise FileNotFoundError(
            "cannot find vehicle_runtime's share directory (config/, models/): set VEHICLE_RUNTIME_SHARE, "
            f"run from a source checkout (looked in {checkout}), or source a colcon install"
        ) from None


def resolve(path: str | os.PathLike) -> Path:
    """Absolute paths as they are; relative ones against the share directory."""
    p = Path(path)
    return p if p.is_absolute() else share_dir() / p
