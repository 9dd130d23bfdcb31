"""A/B slots on the box (RAUC / Mender style): install into the inactive slot, boot it as a trial,
commit after a health check or roll back; a trial that keeps crashing is rolled back at the next start.

    ROOT/state.json        active slot, trial slot, trial boots, installed release counter, history
    ROOT/slots/a, slots/b  each a share directory (config/, models/) plus its metadata.json

Every switch is atomic on the file system: write a temporary name, fsync, rename, fsync the folder.
The active slot is never written by an install, so killing the installer at any step leaves the box
with its working build. VEHICLE_RUNTIME_BUNDLE_KILL_AT=<step> makes the installer SIGKILL itself at
that step (for the tests that prove this).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Dict, Optional

from .archive import BundleInfo, verify
from .signing import BundleError

SLOTS = ("a", "b")
MAX_TRIAL_BOOTS = 3
KILL_ENV = "VEHICLE_RUNTIME_BUNDLE_KILL_AT"
STEPS = (
    "verified",
    "trial_cleared",
    "files_written",
    "files_synced",
    "old_moved",
    "slot_renamed",
    "dir_synced",
    "state_written",
)


def _checkpoint(step: str) -> None:
    if os.environ.get(KILL_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def load_state(root: Path) -> dict:
    try:
        return json.loads((root / "state.json").read_text())
    except FileNotFoundError:
        return {"active": None, "trial": None, "trial_boots": 0, "installed_counter": None, "slots": {}, "history": []}
    except json.JSONDecodeError as exc:
        raise BundleError(f"{root / 'state.json'}: corrupt ({exc})") from None


def save_state(root: Path, state: dict) -> None:
    state["history"] = state.get("history", [])[-50:]
    write_atomic(root / "state.json", json.dumps(state, indent=1).encode())


def _event(state: dict, what: str) -> None:
    state.setdefault("history", []).append({"t": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "event": what})


def install(
    bundle: Path,
    root: Path,
    trusted,
    hardware_id: str,
    allow_downgrade: Optional[str] = None,
    allow_reinstall: Optional[str] = None,
) -> BundleInfo:
    root.mkdir(parents=True, exist_ok=True)
    (root / "slots").mkdir(exist_ok=True)
    state = load_state(root)
    info, payload = verify(
        bundle, trusted, hardware_id, state.get("installed_counter"), allow_downgrade, allow_reinstall=allow_reinstall
    )
    _checkpoint("verified")
    target = next(s for s in SLOTS if s != state.get("active"))
    if state.get("trial") == target:  # the slot is about to be overwritten: stop pointing at it first
        state["trial"] = None
        _event(state, f"trial in slot {target} replaced by a new install")
        save_state(root, state)
    _checkpoint("trial_cleared")
    slots = root / "slots"
    tmp, old, final = slots / f".{target}.tmp", slots / f".{target}.old", slots / target
    for leftover in (tmp, old):  # from an install that was killed
        shutil.rmtree(leftover, ignore_errors=True)
    tmp.mkdir()
    for rel, data in {**payload, "metadata.json": json.dumps(info.signed, indent=1).encode()}.items():
        dest = tmp / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    _checkpoint("files_written")
    for d in sorted({p.parent for p in tmp.rglob("*")} | {tmp}, key=lambda p: -len(p.parts)):
        _fsync_dir(d)
    _checkpoint("files_synced")
    if final.exists():
        os.replace(final, old)
    _checkpoint("old_moved")
    os.replace(tmp, final)
    _checkpoint("slot_renamed")
    _fsync_dir(slots)
    _checkpoint("dir_synced")
    state["slots"][target] = {"version": info.version, "release_counter": info.release_counter, "keyid": info.keyid}
    state["trial"], state["trial_boots"] = target, 0
    if allow_downgrade:
        _event(state, f"downgrade to {info.version} allowed: {allow_downgrade}")
    if allow_reinstall:
        _event(state, f"re-install of counter {info.release_counter} allowed: {allow_reinstall}")
    _event(state, f"installed {info.version} (counter {info.release_counter}) into slot {target} as a trial")
    save_state(root, state)
    _checkpoint("state_written")
    shutil.rmtree(old, ignore_errors=True)
    return info


def _slot_ok(root: Path, slot: Optional[str]) -> bool:
    if not slot:
        return False
    return (root / "slots" / slot / "metadata.json").is_file()


def selected(root: Path) -> Optional[str]:
    """The slot the next start runs: the trial if there is one, else the active one."""
    state = load_state(root)
    if _slot_ok(root, state.get("trial")):
        return state["trial"]
    return state.get("active") if _slot_ok(root, state.get("active")) else None


def boot(root: Path) -> Path:
    """Called once per start (e.g. ExecStartPre): counts trial boots and rolls a trial back that has
    been started MAX_TRIAL_BOOTS times without a passed health check. Returns the slot to run."""
    state = load_state(root)
    trial = state.get("trial")
    if trial and _slot_ok(root, trial):
        state["trial_boots"] = state.get("trial_boots", 0) + 1
        if state["trial_boots"] > MAX_TRIAL_BOOTS:
            _event(
                state,
                f"trial in slot {trial} started {MAX_TRIAL_BOOTS} times without a passed health check: rolled back",
            )
            state["trial"], state["trial_boots"] = None, 0
        save_state(root, state)
    slot = selected(root)
    if slot is None:
        raise BundleError(f"{root}: no build installed")
    return root / "slots" / slot


def commit(root: Path) -> str:
    state = load_state(root)
    trial = state.get("trial")
    if not trial:
        return state.get("active") or ""
    state["active"], state["trial"], state["trial_boots"] = trial, None, 0
    state["installed_counter"] = state["slots"][trial]["release_counter"]
    _event(state, f"committed slot {trial} ({state['slots'][trial]['version']})")
    save_state(root, state)
    return trial


def rollback(root: Path, reason: str = "requested") -> Optional[str]:
    """Drop a trial; without one, go back to the other slot's (previous) build if it is intact.
    The installed release counter keeps the highest committed value (the safer rule, as Uptane): after
    a rollback the box runs a lower counter than it accepts, and re-installing the build it now runs
    needs --allow-downgrade with a reason."""
    state = load_state(root)
    if state.get("trial"):
        _event(state, f"trial in slot {state['trial']} rolled back: {reason}")
        state["trial"], state["trial_boots"] = None, 0
    else:
        other = next((s for s in SLOTS if s != state.get("active")), None)
        if not _slot_ok(root, other):
            raise BundleError("nothing to roll back to: no trial and no previous build")
        _event(state, f"rolled back from slot {state.get('active')} to slot {other}: {reason}")
        state["active"] = other
    save_state(root, state)
    return state.get("active")


def status(root: Path) -> Dict:
    state = load_state(root)
    return {
        "active": state.get("active"),
        "trial": state.get("trial"),
        "trial_boots": state.get("trial_boots", 0),
        "installed_counter": state.get("installed_counter"),
        "slots": state.get("slots", {}),
        "next_start_runs": selected(root),
        "history": state.get("history", [])[-10:],
    }
