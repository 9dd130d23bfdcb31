"""Ed25519 keys and signed metadata for fleet bundles.

Why `cryptography` and not python-tuf's Metadata API: a bundle has one role (the build signer) and
one document; TUF's root / targets / snapshot / timestamp roles and their repository layout are for
serving many targets to many clients. We keep TUF's ideas that matter here — signatures over a
canonical JSON `signed` object, key ids, expiry — and enforce Uptane's release counter ourselves
(TUF does not track image release counters).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Tuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class BundleError(ValueError):
    """A bundle that must not be installed; the message names the problem."""


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def keygen(private_path: Path, public_path: Path) -> str:
    """Write a new key pair (private key PEM with 0600 permissions); returns its key id."""
    key = Ed25519PrivateKey.generate()
    private_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    private_path.chmod(0o600)
    public_path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return key_id(key.public_key())


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def load_private(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError(f"{path}: not an ed25519 private key")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (ValueError, FileNotFoundError) as exc:
        raise BundleError(f"{path}: cannot read the public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError(f"{path}: not an ed25519 public key")
    return key


def sign(signed: dict, key: Ed25519PrivateKey) -> dict:
    return {
        "signed": signed,
        "signatures": [{"keyid": key_id(key.public_key()), "sig": key.sign(canonical(signed)).hex()}],
    }


def check_signature(envelope: dict, trusted: Ed25519PublicKey) -> Tuple[dict, str]:
    """The signed object, if `trusted` signed it; BundleError naming the problem otherwise."""
    try:
        signed, signatures = envelope["signed"], envelope["signatures"]
    except (KeyError, TypeError):
        raise BundleError("metadata is not a signed envelope ('signed' and 'signatures')") from None
    want = key_id(trusted)
    ids = [s.get("keyid") for s in signatures if isinstance(s, dict)]
    for sig in signatures:
        if isinstance(sig, dict) and sig.get("keyid") == want:
            try:
                trusted.verify(bytes.fromhex(sig.get("sig", "")), canonical(signed))
            except (InvalidSignature, ValueError):
                raise BundleError(
                    f"signature of key {want[:16]}… does not verify: the metadata was changed "
                    "after signing, or the signature is corrupt"
                ) from None
            return signed, want
    raise BundleError(
        f"signed by key(s) {[i[:16] + '…' for i in ids if i]}, not by the trusted key {want[:16]}… (wrong key)"
    )
