"""Engage authority: who may engage the car. Pure (no transport, no clock of its own).

- `vehicle_mode: vehicle`: only the driver engages, with the gateway's ENGAGE_BUTTON (a rising edge in
  CAN feedback that passed SecOC). Software requests do not exist: each one is refused and counted.
- `bench` / `simulated`: software requests exist, and each must be authenticated: an HMAC-SHA256 with
  the provisioned engage key over (command word, counter, timestamp). A counter not above the last
  accepted one is a replay; a timestamp off the receiver's clock by more than `max_age_s` is stale.

A signed request is one text line, so it fits a std_msgs/String or a local socket datagram:

    <word>:<counter>:<stamp_s>:<hmac hex>        e.g. engage:1733130000123456789:1733130000.123456:9f…

`sign_request` is for the `vehicle-runtime request` command; `EngageAuthority.software_request` and
`driver_edge` for the vehicle interface, which turns an accepted word into gate.request_engage() /
request_disengage() / reset().
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import math
from typing import Any, Optional, Tuple, cast

WORDS = ("engage", "disengage", "reset")
SOFTWARE_MODES = ("bench", "simulated")
MAX_REQUEST_CHARS = 256


def _tag(key: bytes, word: str, counter: int, stamp_s: float) -> str:
    return hmac.new(key, f"{word}:{counter}:{stamp_s:.6f}".encode(), hashlib.sha256).hexdigest()


def sign_request(key: bytes, word: str, counter: int, stamp_s: float) -> str:
    """One signed request line. `counter` must grow with every request of this key (time.time_ns() does,
    across processes); `stamp_s` is the sender's wall-clock time."""
    if word not in WORDS:
        raise ValueError(f"'{word}' is not one of {', '.join(WORDS)}")
    return f"{word}:{int(counter)}:{stamp_s:.6f}:{_tag(key, word, int(counter), stamp_s)}"


class RequestVerifier:
    """Checks signed requests: MAC, then replay (counter), then age. Counts each refusal by reason."""

    def __init__(self, key: bytes, max_age_s: float = 1.0):
        self.key = key
        self.max_age_s = max_age_s
        self.last_counter = -1
        self.refused: collections.Counter[str] = collections.Counter()

    def verify(self, text: str, now_s: float) -> Tuple[Optional[str], str]:
        """(word, "ok") or (None, reason) with reason one of malformed, bad_mac, replay, stale."""
        reason, word = self._check(text, now_s)
        if reason != "ok":
            self.refused[reason] += 1
            return None, reason
        return word, reason

    def _check(self, text: str, now_s: float) -> Tuple[str, Optional[str]]:
        if not isinstance(text, str) or len(text) > MAX_REQUEST_CHARS:
            return "malformed", None
        parts = text.strip().split(":")
        if len(parts) != 4 or parts[0] not in WORDS:
            return "malformed", None
        word, counter_s, stamp_text, tag = parts
        try:
            counter, stamp_s = int(counter_s), float(stamp_text)
        except ValueError:
            return "malformed", None
        if not math.isfinite(stamp_s):
            return "malformed", None
        # the MAC is over the text as sent (the stamp re-formatted the same way: 6 decimals)
        if f"{stamp_s:.6f}" != stamp_text or not hmac.compare_digest(_tag(self.key, word, counter, stamp_s), tag):
            return "bad_mac", None
        if counter <= self.last_counter:
            return "replay", None
        if abs(now_s - stamp_s) > self.max_age_s:
            return "stale", None
        self.last_counter = counter
        return "ok", word


class EngageAuthority:
    """Decides, per vehicle mode, whether an engage source is allowed; counts every refusal."""

    def __init__(self, vehicle_mode: str, key: Optional[bytes] = None, max_age_s: float = 1.0):
        if vehicle_mode not in ("vehicle", *SOFTWARE_MODES):
            raise ValueError(f"vehicle_mode '{vehicle_mode}' is not one of vehicle, bench, simulated")
        if vehicle_mode in SOFTWARE_MODES and key is None:
            raise ValueError(f"vehicle_mode '{vehicle_mode}': software engage needs a provisioned engage key")
        self.vehicle_mode = vehicle_mode
        # cast: a software mode without a key was refused just above
        self.verifier = RequestVerifier(cast(bytes, key), max_age_s) if vehicle_mode in SOFTWARE_MODES else None
        self.refused: collections.Counter[str] = collections.Counter()
        self.accepted: collections.Counter[str] = collections.Counter()
        self._button = False

    @property
    def software_allowed(self) -> bool:
        return self.verifier is not None

    def software_request(self, text: str, now_s: float) -> Optional[str]:
        """The word to execute, or None (refused and counted under `refused`)."""
        if self.verifier is None:
            self.refused["software_engage_disabled"] += 1  # a vehicle: only the driver engages
            return None
        word, reason = self.verifier.verify(text, now_s)
        if word is None:
            self.refused[reason] += 1
            return None
        self.accepted[f"software_{word}"] += 1
        return word

    def driver_edge(self, engage_button: bool, feedback_valid: bool) -> bool:
        """True on the rising edge of the driver's ENGAGE_BUTTON in valid (authenticated) feedback."""
        pressed = bool(engage_button) and feedback_valid
        edge = pressed and not self._button
        self._button = pressed
        if edge:
            self.accepted["driver_engage"] += 1
        return edge

    def report(self) -> dict[str, Any]:
        """For /diagnostics: mode, accepted and refused requests by reason."""
        return {
            "vehicle_mode": self.vehicle_mode,
            "software_engage": self.software_allowed,
            "accepted": dict(self.accepted),
            "refused": dict(self.refused),
        }
