"""Synchronous mode for exactly one ticking client, restored on every exit path.

CARLA advances only when the client ticks; two ticking clients would each advance the world. A
world that is already synchronous when we connect means another client is (or was) ticking it: we
refuse unless told to take over. On exit (normal, error, Ctrl-C) the settings found at the start
are applied again and the Traffic Manager leaves synchronous mode, so the server never stays frozen.
"""

from __future__ import annotations

import logging
from typing import Literal, Optional, Tuple

log = logging.getLogger(__name__)
FIXED_DELTA_S = 0.05


class AlreadySynchronous(RuntimeError):
    pass


class SynchronousMode:
    def __init__(self, world, traffic_manager=None, fixed_delta_s: float = FIXED_DELTA_S, take_over: bool = False):
        self.world, self.tm = world, traffic_manager
        self.fixed_delta_s, self.take_over = fixed_delta_s, take_over
        self._original: Optional[Tuple[bool, Optional[float]]] = None  # (synchronous, fixed delta) to restore

    def __enter__(self) -> "SynchronousMode":
        current = self.world.get_settings()
        if current.synchronous_mode and not self.take_over:
            raise AlreadySynchronous(
                "the CARLA world is already in synchronous mode: another client may be ticking "
                "it (exactly one may); stop it, or pass --carla-take-over"
            )
        self._original = (bool(current.synchronous_mode), current.fixed_delta_seconds)
        settings = self.world.get_settings()
        settings.synchronous_mode = True
        settings.fixed_delta_seconds = self.fixed_delta_s
        self.world.apply_settings(settings)
        if self.tm is not None:
            self.tm.set_synchronous_mode(True)
        return self

    def tick(self) -> int:
        """Advance the world by one fixed step; returns the new frame id."""
        return int(self.world.tick())

    def __exit__(self, *exc) -> Literal[False]:
        self.restore()
        return False

    def restore(self) -> None:
        if self._original is None:
            return
        try:
            if self.tm is not None:
                self.tm.set_synchronous_mode(False)
            restored = self.world.get_settings()
            restored.synchronous_mode, restored.fixed_delta_seconds = self._original
            self.world.apply_settings(restored)
        except RuntimeError as exc:  # the server went away: nothing left to restore
            log.warning("could not restore CARLA's settings: %s", exc)
        finally:
            self._original = None
