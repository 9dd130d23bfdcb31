"""SIGINT and SIGTERM end every long-running command the same way.

`cli.main` installs one `StopRequest` for the whole command. A command whose loop can stop cleanly
(drive, sim, up) sets `polled = True` while it runs: the first signal only asks the loop to stop, so
the safe-state frames are sent, the CAN log is closed and the partial report is written. Everywhere
else, and on a second signal, the handler raises `Interrupted` (a KeyboardInterrupt), so `finally`
blocks still run. Either way the exit status is 128 + the signal number: 130 for SIGINT, 143 for
SIGTERM.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any, Dict, Optional

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopRequest:
    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self.polled = False
        self._previous: Dict[int, Any] = {}  # signal → the handler it had before install
        self._pid = os.getpid()

    def __bool__(self) -> bool:
        return self.signum is not None

    def __call__(self) -> bool:  # usable as a `stop()` predicate
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)

    def install(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():  # signal.signal works only there
            for sig in HANDLED:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum, _frame) -> None:
        if os.getpid() != self._pid:  # a forked worker that has not set its own handlers yet: the default
            os._exit(128 + signum)
        first = self.signum is None
        if first:
            self.signum = signum
        if not (first and self.polled):
            raise Interrupted(signum)
