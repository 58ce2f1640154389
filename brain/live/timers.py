"""Background timers of a running server: run once things go quiet (Debounced), or every N seconds (Every)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Debounced:
    """Run `fn` in a background thread once things go quiet for `delay_s` after a trigger."""

    def __init__(self, fn: Callable[[], Any], delay_s: float = 2.0, name: str = "brain-debounced"):
        self.fn = fn
        self.delay_s = delay_s
        self.runs = 0
        self._due: float | None = None
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def trigger(self) -> None:
        """Ask for a run after the quiet period."""
        with self._cond:
            self._due = time.monotonic() + self.delay_s
            self._cond.notify_all()

    def stop(self) -> None:
        """Stop the thread (a pending run is dropped)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stop and (self._due is None or time.monotonic() < self._due):
                    self._cond.wait(None if self._due is None else max(0.0, self._due - time.monotonic()))
                if self._stop:
                    return
                self._due = None
            try:
                self.fn()
            except Exception:
                log.exception("background refresh failed; will retry on the next change")
            with self._cond:
                self.runs += 1
                self._cond.notify_all()


class Every:
    """Run `fn` every `interval_s` in a background thread until stopped."""

    def __init__(self, fn: Callable[[], Any], interval_s: float, name: str):
        self._stop = threading.Event()
        self._fn = fn
        self._interval_s = interval_s
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._fn()
            except Exception:
                log.exception("periodic %s failed; will retry", self._thread.name)

    def stop(self) -> None:
        """Stop the thread (waiting for a run in progress)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
