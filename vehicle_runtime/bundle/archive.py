"""The bundle file: a tar with `metadata.json` (signed) and `payload/<path>` for every file of a
build (models/…, config/… — the share-directory layout, so a slot runs as a share directory).

verify() refuses, with a message naming the problem: a bad or foreign signature, expired metadata,
another hardware id, a release counter below the installed one (unless a downgrade is allowed with a
reason), a runtime version outside the range, and any payload file that is missing, extra, or whose
size or sha256 differs. Unsafe tar members (links, absolute paths, '..') are refused outright.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Dict, Iterable, Optional, Tuple

from .. import __version__
from .signing import BundleError, check_signature, load_private, sign

PAYLOAD = "payload/"
FORMAT = 1


@dataclass(frozen=True)
class BundleInfo:
    signed: dict
    keyid: str

    @property
    def version(self) -> str:
        return self.signed["version"]

    @property
    def release_counter(self) -> int:
        return int(self.signed["release_counter"])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def collect(share_dir: Path, extra: Iterable[Tuple[str, Path]] = ()) -> Dict[str, Path]:
    """The files of a build: config/** and models/** of a share directory, plus extras."""
    files = {}
    for top in ("config", "models"):
        for p in sorted((share_dir / top).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                files[p.relative_to(share_dir).as_posix()] = p
    for rel, path in extra:
        files[rel] = Path(path)
    return files


def create(out: Path, files: Dict[str, Path], key_path: Path, version: str, release_counter: int,
           hardware_ids: Iterable[str], runtime_min: str, runtime_max: str, expires_days: float,
           build_info: Optional[dict] = None) -> BundleInfo:
    entries = {}
    for rel, path in files.items():
        data = path.read_bytes()
        entries[rel] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    signed = {
        "format": FORMAT, "version": version, "release_counter": int(release_counter),
        "hardware_ids": sorted(set(hardware_ids)), "runtime": {"min": runtime_min, "max": runtime_max},
        "created": _now().isoformat(timespec="seconds"),
        "expires": (_now() + dt.timedelta(days=expires_days)).isoformat(timespec="seconds"),
        "build_info": build_info or {}, "files": entries,
    }
    envelope = sign(signed, load_private(key_path))
    with tarfile.open(out, "w") as tar:
        _add(tar, "metadata.json", json.dumps(envelope, indent=1).encode())
        for rel, path in sorted(files.items()):
            _add(tar, PAYLOAD + rel, path.read_bytes())
    return BundleInfo(signed, envelope["signatures"][0]["keyid"])


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def read(path: Path) -> Tuple[dict, Dict[str, bytes]]:
    """(metadata envelope, payload files) from a bundle file, refusing unsafe members."""
    try:
        tar = tarfile.open(path, "r")
    except (tarfile.TarError, FileNotFoundError, IsADirectoryError) as exc:
        raise BundleError(f"{path}: not a bundle ({exc})") from None
    envelope, payload = None, {}
    with tar:
        for m in tar.getmembers():
            name = PurePosixPath(m.name)
            if not m.isfile() or name.is_absolute() or ".." in name.parts:
                raise BundleError(f"{path}: unsafe member '{m.name}' (only plain relative files are allowed)")
            data = tar.extractfile(m).read()
            if m.name == "metadata.json":
                try:
                    envelope = json.loads(data)
                except json.JSONDecodeError as exc:
                    raise BundleError(f"metadata.json is not valid JSON ({exc})") from None
            elif m.name.startswith(PAYLOAD):
                payload[m.name[len(PAYLOAD):]] = data
            else:
                raise BundleError(f"{path}: unexpected member '{m.name}'")
    if envelope is None:
        raise BundleError(f"{path}: no metadata.json")
    return envelope, payload


def verify(path: Path, trusted, hardware_id: str, installed_counter: Optional[int] = None,
           allow_downgrade: Optional[str] = None, runtime_version: str = __version__,
           now: Optional[dt.datetime] = None) -> Tuple[BundleInfo, Dict[str, bytes]]:
    envelope, payload = read(path)
    signed, keyid = check_signature(envelope, trusted)
    now = now or _now()
    try:
        expires = dt.datetime.fromisoformat(signed["expires"])
        counter = int(signed["release_counter"])
        files = signed["files"]
        lo, hi = signed["runtime"]["min"], signed["runtime"]["max"]
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"metadata is incomplete or malformed ({exc})") from None
    if now > expires:
        raise BundleError(f"metadata expired at {signed['expires']} (now {now.isoformat(timespec='seconds')})")
    if hardware_id not in signed.get("hardware_ids", []):
        raise BundleError(f"built for hardware {signed.get('hardware_ids')}, this box is '{hardware_id}'")
    if installed_counter is not None and counter < installed_counter:
        if not allow_downgrade:
            raise BundleError(f"release counter {counter} is lower than the installed {installed_counter} "
                              "(a rollback?): refused; pass --allow-downgrade with a reason to force it")
    if not (_ver(lo) <= _ver(runtime_version) <= _ver(hi)):
        raise BundleError(f"needs runtime {lo}..{hi}, this runtime is {runtime_version}")
    missing = sorted(set(files) - set(payload))
    extra = sorted(set(payload) - set(files))
    if missing or extra:
        raise BundleError(f"payload does not match the metadata: missing {missing}, not listed {extra}")
    for rel, data in payload.items():
        want = files[rel]
        if len(data) != want["size"]:
            raise BundleError(f"file '{rel}': {len(data)} bytes, metadata says {want['size']} (tampered)")
        if hashlib.sha256(data).hexdigest() != want["sha256"]:
            raise BundleError(f"file '{rel}': sha256 differs from the metadata (tampered)")
    return BundleInfo(signed, keyid), payload


def _ver(v: str) -> tuple:
    try:
        return tuple(int(x) for x in v.split("."))
    except ValueError:
        raise BundleError(f"version '{v}' is not numeric (major.minor.patch)") from None
