"""The bundle file: a tar with `metadata.json` (signed) and `payload/<path>` for every file of a
build (models/…, config/… — the share-directory layout, so a slot runs as a share directory).

verify() refuses, with a message naming the problem: a bad or foreign signature, expired metadata,
another hardware id, a release counter below the installed one (unless a downgrade is allowed with a
reason), a runtime version outside the range, and any payload file that is missing, extra, or whose
size or sha256 differs. Unsafe tar members (links, absolute paths, '..') are refused outright.

A bundle is a plain (uncompressed) tar. Before any member's data is read: the file size, the member
count and every member's size are bounded, a compressed file (gzip, bzip2, xz, zstd) is refused by its
magic bytes, and each member must lie inside the file (a truncated file is named as such). Only then is
`metadata.json` read (≤ MAX_METADATA_BYTES) and its signature checked; payload data is read after the
signature, against the signed sizes. Every malformed archive is one BundleError, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Dict, Iterable, Optional, Tuple

from .. import __version__
from .signing import BundleError, check_signature, load_private, sign

PAYLOAD = "payload/"
FORMAT = 1
MAX_BUNDLE_BYTES = 4 << 30  # a build is a model + config: the shipped one is a few MB
MAX_MEMBERS = 10_000
MAX_METADATA_BYTES = 4 << 20
KEY_SUFFIXES = (".key", ".pem", ".trip")
# magic bytes of the compressors tarfile would otherwise undo for us (zip bombs: 300 MB from 300 kB)
COMPRESSED_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}


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


def create(
    out: Path,
    files: Dict[str, Path],
    key_path: Path,
    version: str,
    release_counter: int,
    hardware_ids: Iterable[str],
    runtime_min: str,
    runtime_max: str,
    expires_days: float,
    build_info: Optional[dict] = None,
) -> BundleInfo:
    keyfiles = sorted(rel for rel in files if PurePosixPath(rel).suffix in KEY_SUFFIXES)
    if keyfiles:  # SecOC / engage / signing keys are provisioned per box, never shipped (docs/security.md)
        raise BundleError(f"key files never ship in a bundle: {keyfiles}")
    entries = {}
    for rel, path in files.items():
        data = path.read_bytes()
        entries[rel] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    signed = {
        "format": FORMAT,
        "version": version,
        "release_counter": int(release_counter),
        "hardware_ids": sorted(set(hardware_ids)),
        "runtime": {"min": runtime_min, "max": runtime_max},
        "created": _now().isoformat(timespec="seconds"),
        "expires": (_now() + dt.timedelta(days=expires_days)).isoformat(timespec="seconds"),
        "build_info": build_info or {},
        "files": entries,
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


def _open_plain_tar(path: Path) -> Tuple[tarfile.TarFile, int]:
    """The bundle opened as a plain tar, after the checks that need no member data."""
    try:
        size = os.stat(path).st_size
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise BundleError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if size > MAX_BUNDLE_BYTES:
        raise BundleError(f"{path}: {size} bytes, more than the {MAX_BUNDLE_BYTES} a bundle may have")
    for magic, kind in COMPRESSED_MAGIC.items():
        if head.startswith(magic):
            raise BundleError(
                f"{path}: {kind}-compressed; a bundle is a plain tar (compression is refused: "
                "its expanded size is unknown until it is expanded)"
            )
    try:
        return tarfile.open(path, "r:"), size  # "r:": never decompress
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise BundleError(f"{path}: not a bundle (not a tar archive: {exc or 'empty'})") from None


def _members(tar: tarfile.TarFile, path: Path, size: int) -> Dict[str, tarfile.TarInfo]:
    """Member headers only (tarfile seeks past the data): safe, bounded, inside the file, unique."""
    members: Dict[str, tarfile.TarInfo] = {}
    try:
        for m in tar:  # one header at a time
            if len(members) >= MAX_MEMBERS:
                raise BundleError(f"{path}: more than {MAX_MEMBERS} members")
            name = PurePosixPath(m.name)
            if not m.isfile() or m.issparse() or name.is_absolute() or ".." in name.parts:
                raise BundleError(f"{path}: unsafe member '{m.name}' (only plain relative files are allowed)")
            if m.offset_data + m.size > size:
                raise BundleError(
                    f"{path}: truncated (member '{m.name}' claims {m.size} bytes past the end of the {size}-byte file)"
                )
            if m.name in members:
                raise BundleError(f"{path}: member '{m.name}' appears twice")
            if m.name != "metadata.json" and not m.name.startswith(PAYLOAD):
                raise BundleError(f"{path}: unexpected member '{m.name}'")
            members[m.name] = m
    except (tarfile.TarError, OSError, EOFError, ValueError, UnicodeError) as exc:
        raise BundleError(f"{path}: malformed or truncated tar ({exc})") from None
    if "metadata.json" not in members:
        raise BundleError(f"{path}: no metadata.json")
    return members


def _read_member(tar: tarfile.TarFile, m: tarfile.TarInfo, path: Path) -> bytes:
    try:
        member = tar.extractfile(m)
        if member is None:  # _members admits plain files only
            raise BundleError(f"{path}: member '{m.name}' is not a plain file")
        data = member.read()
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise BundleError(f"{path}: member '{m.name}' unreadable ({exc})") from None
    if len(data) != m.size:
        raise BundleError(f"{path}: truncated (member '{m.name}': {len(data)} of {m.size} bytes)")
    return data


def read(path: Path, trusted=None) -> Tuple[dict, Dict[str, bytes]]:
    """(metadata envelope, payload files) from a bundle file, refusing unsafe or malformed archives.
    With `trusted`, the signature is checked before any payload byte is read."""
    tar, size = _open_plain_tar(path)
    with tar:
        members = _members(tar, path, size)
        meta = members.pop("metadata.json")
        if meta.size > MAX_METADATA_BYTES:
            raise BundleError(f"{path}: metadata.json is {meta.size} bytes (at most {MAX_METADATA_BYTES})")
        try:
            envelope = json.loads(_read_member(tar, meta, path))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BundleError(f"metadata.json is not valid JSON ({exc})") from None
        if trusted is not None:
            signed, _ = check_signature(envelope, trusted)
            files = signed.get("files") if isinstance(signed, dict) else None
            if not isinstance(files, dict):
                raise BundleError("metadata is incomplete or malformed (no 'files')")
            present = {name[len(PAYLOAD) :] for name in members}
            missing, extra = sorted(set(files) - present), sorted(present - set(files))
            if missing or extra:
                raise BundleError(f"payload does not match the metadata: missing {missing}, not listed {extra}")
            for name, m in members.items():  # signed sizes bound what is read next
                want = files[name[len(PAYLOAD) :]]
                if not isinstance(want, dict) or m.size != want.get("size"):
                    raise BundleError(
                        f"file '{name[len(PAYLOAD) :]}': {m.size} bytes, metadata says {want.get('size')} (tampered)"
                    )
        payload = {name[len(PAYLOAD) :]: _read_member(tar, m, path) for name, m in members.items()}
    return envelope, payload


def verify(
    path: Path,
    trusted,
    hardware_id: str,
    installed_counter: Optional[int] = None,
    allow_downgrade: Optional[str] = None,
    runtime_version: str = __version__,
    now: Optional[dt.datetime] = None,
    allow_reinstall: Optional[str] = None,
) -> Tuple[BundleInfo, Dict[str, bytes]]:
    envelope, payload = read(path, trusted)
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
            raise BundleError(
                f"release counter {counter} is lower than the installed {installed_counter} "
                "(a rollback?): refused; pass --allow-downgrade with a reason to force it"
            )
    if installed_counter is not None and counter == installed_counter and not (allow_reinstall or allow_downgrade):
        # a replay of the running release would overwrite the other slot, the rollback target
        raise BundleError(
            f"release counter {counter} equals the installed one: a re-install (replay?) would "
            "overwrite the rollback slot; refused; pass --reinstall with a reason to force it"
        )
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
