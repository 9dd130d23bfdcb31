"""`vehicle-runtime bundle keygen|create|verify|install|status|rollback|boot` and `healthcheck`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict

from .. import __version__
from .. import cli_types as T
from ..bundle import archive, signing, slots
from ..bundle import healthcheck as health
from ..bundle.signing import BundleError
from ..paths import share_dir


def add_parser(sub) -> None:
    b = sub.add_parser("bundle", help="fleet builds: signed bundles, A/B install, rollback")
    bs = b.add_subparsers(dest="bundle_command", required=True)
    p = bs.add_parser("keygen", help="a new ed25519 signing key pair")
    p.add_argument("--private", type=Path, required=True)
    p.add_argument("--public", type=Path, required=True)
    p.set_defaults(run=_keygen)
    p = bs.add_parser("create", help="sign the build of a share directory (config/, models/) into a bundle")
    p.add_argument("--key", type=Path, required=True, help="private signing key (PEM)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--version", required=True)
    p.add_argument(
        "--release-counter",
        type=T.int_range(0, 2**31 - 1, "a release counter"),
        required=True,
        help="never decreases across releases (Uptane)",
    )
    p.add_argument("--hardware-id", action="append", required=True, help="compatible box (repeatable)")
    p.add_argument("--share-dir", type=Path, help="default: this installation's share directory")
    p.add_argument("--dbc", type=Path, help="a vehicle DBC to ship as config/dbc/<name>")
    p.add_argument("--runtime-min", default=__version__)
    p.add_argument("--runtime-max", default="999.0.0")
    p.add_argument("--expires-days", type=T.positive(3650.0, "days until the bundle expires"), default=90.0)
    p.add_argument(
        "--replay-verdict",
        type=T.existing_file,
        metavar="FILE.json",
        help="the last JSON line of `vehicle-runtime replay --json`: signed into the build info; a "
        "failing verdict is refused (docs/fleet.md: record → replay → sign → flash)",
    )
    p.set_defaults(run=_create)
    for name, fn, helptext in (
        ("verify", _verify, "check a bundle without installing it"),
        ("install", _install, "verify, then install into the inactive slot as a trial"),
    ):
        p = bs.add_parser(name, help=helptext)
        p.add_argument("bundle", type=Path)
        p.add_argument("--key", type=Path, required=True, help="trusted public key (PEM)")
        p.add_argument("--hardware-id", required=True)
        p.add_argument("--root", type=Path, help="the box's update root (for the installed release counter)")
        p.add_argument("--allow-downgrade", metavar="REASON", help="accept a lower release counter, for this reason")
        p.add_argument(
            "--reinstall",
            metavar="REASON",
            help="accept the installed release counter again (overwrites the rollback slot), for this reason",
        )
        p.add_argument("--json", action="store_true")
        p.set_defaults(run=fn)
    for name, fn, helptext in (
        ("status", _status, "slots, trial and history"),
        ("rollback", _rollback, "drop the trial, or go back to the previous build"),
        ("boot", _boot, "select the slot for this start (counts trial boots)"),
    ):
        p = bs.add_parser(name, help=helptext)
        p.add_argument("--root", type=Path, required=True)
        p.add_argument("--json", action="store_true")
        p.set_defaults(run=fn)
    h = sub.add_parser(
        "healthcheck", help="check the running build; commit a trial that passes, roll back one that fails"
    )
    h.add_argument("--root", type=Path, required=True)
    h.add_argument("--runs", type=T.int_range(5, 10_000, "health-check runs"), default=30)
    h.add_argument("--json", action="store_true")
    h.set_defaults(run=_healthcheck)


def _guard(fn):
    def wrapped(args) -> int:
        try:
            return fn(args)
        except BundleError as exc:
            print(f"bundle: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:  # an unreadable key, an unwritable output: one line, not a traceback
            print(f"bundle: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
            return 1

    return wrapped


@_guard
def _keygen(args) -> int:
    print(f"key id {signing.keygen(args.private, args.public)}")
    return 0


@_guard
def _create(args) -> int:
    extra = [(f"config/dbc/{args.dbc.name}", args.dbc)] if args.dbc else []
    build_info: Dict[str, Any] = {"runtime": __version__}
    if args.replay_verdict:
        build_info["replay"] = _replay_verdict(args.replay_verdict)
    files = archive.collect(args.share_dir or share_dir(), extra)
    info = archive.create(
        args.out,
        files,
        args.key,
        args.version,
        args.release_counter,
        args.hardware_id,
        args.runtime_min,
        args.runtime_max,
        args.expires_days,
        build_info,
    )
    print(f"{args.out}: {info.version}, counter {info.release_counter}, {len(files)} files, key {info.keyid[:16]}…")
    return 0


def _replay_verdict(path: Path) -> dict:
    """The replay gate's verdict, signed with the build: only a passing one (a failing build is not signed)."""
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
        verdict = json.loads(lines[-1]) if lines else None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(
            f"--replay-verdict {path}: not the JSON `vehicle-runtime replay --json` prints ({exc})"
        ) from None
    if not isinstance(verdict, dict) or "pass" not in verdict:
        raise BundleError(f"--replay-verdict {path}: no 'pass' field: not a replay verdict")
    if verdict["pass"] is not True:
        raise BundleError(f"--replay-verdict {path}: the candidate failed the replay gate; not signing it")
    return verdict


def _counter(args):
    return slots.load_state(args.root).get("installed_counter") if args.root else None


@_guard
def _verify(args) -> int:
    info, payload = archive.verify(
        args.bundle,
        signing.load_public(args.key),
        args.hardware_id,
        _counter(args),
        args.allow_downgrade,
        allow_reinstall=args.reinstall,
    )
    out = {"ok": True, "version": info.version, "release_counter": info.release_counter, "files": len(payload)}
    print(
        json.dumps(out) if args.json else f"ok: {info.version} (counter {info.release_counter}, {len(payload)} files)"
    )
    return 0


@_guard
def _install(args) -> int:
    if not args.root:
        raise BundleError("install needs --root")
    info = slots.install(
        args.bundle, args.root, signing.load_public(args.key), args.hardware_id, args.allow_downgrade, args.reinstall
    )
    st = slots.status(args.root)
    print(
        json.dumps(st)
        if args.json
        else f"installed {info.version} into slot {st['trial']} as a trial; "
        "run `vehicle-runtime healthcheck` to commit it"
    )
    return 0


@_guard
def _status(args) -> int:
    if not args.root.is_dir():
        raise BundleError(f"--root {args.root}: no such update root")
    st = slots.status(args.root)
    print(json.dumps(st) if args.json else json.dumps(st, indent=1))
    return 0


@_guard
def _rollback(args) -> int:
    active = slots.rollback(args.root, "operator request")
    print(f"running slot {active} from the next start")
    return 0


@_guard
def _boot(args) -> int:
    print(slots.boot(args.root))
    return 0


@_guard
def _healthcheck(args) -> int:
    report = health.healthcheck(args.root, args.runs)
    for name, ok, detail in report.checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {name:<8} {detail}")
    st = slots.status(args.root)
    if args.json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "slot": report.slot,
                    "checks": report.checks,
                    "active": st["active"],
                    "trial": st["trial"],
                }
            )
        )
    return 0 if report.ok else 1
