"""Provisioned symmetric keys (SecOC CAN key, engage-request key): one hex line in a file that only its
owner may read. Keys never live in a bundle or in the repository: the configuration names a path.

Where the configuration says the vehicle is simulated or on a test bench, a missing key file is
created with a fresh random *development* key (the embedded simulator and the DDS graph do this for
their run); on a real vehicle a missing or unreadable key is a start-up error.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from typing import Optional

VEHICLE_MODES = ("vehicle", "bench", "simulated")
DEV_MODES = ("bench", "simulated")


class KeyFileError(ValueError):
    """A key that cannot be used: missing on a real vehicle, wrong length, readable by others, not hex."""


def dev_key_dir() -> Path:
    """Per-user folder for development keys: `$XDG_RUNTIME_DIR/vehicle_runtime-keys` or the temp dir."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"vehicle_runtime-keys-{os.getuid()}"


def write_key(path: Path, nbytes: int) -> bytes:
    """A fresh random key, written atomically with mode 0600 (the file is never world-readable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(nbytes)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    try:
        os.link(tmp, path)  # never replaces a key another process provisioned first
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return read_key(path, nbytes)


def read_key(path: Path, nbytes: int) -> bytes:
    path = Path(path)
    try:
        st = path.stat()
        text = path.read_text().strip()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the key ({exc.strerror or exc})") from None
    if st.st_mode & 0o077:
        raise KeyFileError(f"{path}: readable by group or others (mode {st.st_mode & 0o777:o}); chmod 600 it")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise KeyFileError(f"{path}: not a hex key") from None
    if len(key) != nbytes:
        raise KeyFileError(f"{path}: {len(key)}-byte key, expected {nbytes} bytes ({nbytes * 8} bits)")
    return key


def provision(purpose: str, configured: Optional[str | Path], mode: str, nbytes: int) -> bytes:
    """The key for `purpose` ('secoc', 'engage'): from the configured file; on a bench or in simulation a
    missing file (or no configured path: the per-user dev-key folder) gets a generated dev key."""
    if mode not in VEHICLE_MODES:
        raise KeyFileError(f"vehicle_mode '{mode}' is not one of {', '.join(VEHICLE_MODES)}")
    if not configured:
        if mode not in DEV_MODES:
            raise KeyFileError(f"{purpose}_key_file is not set: a real vehicle needs a provisioned {purpose} key")
        configured = dev_key_dir() / f"{purpose}.key"
    path = Path(configured)
    if not path.exists():
        if mode not in DEV_MODES:
            raise KeyFileError(f"{path}: no {purpose} key provisioned (a real vehicle never runs without one)")
        return write_key(path, nbytes)
    return read_key(path, nbytes)
