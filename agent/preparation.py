"""Build a slow resource once, in the background, with progress anyone can watch (the demo's first launch).

The app starts at once; the first launch trains the classifier and builds the index while the page shows the
progress; every handler waits on the same preparation instead of starting its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Preparation(Generic[T]):
    """Run ``build(progress)`` once on a thread; ``state()`` reports progress, ``result()`` waits for the value."""

    def __init__(self, build: Callable[[Callable[[float, str], None]], T], *, name: str = "preparation") -> None:
        self._build = build
        self.name = name
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._fraction, self._message = 0.0, "waiting to start"
        self._value: T | None = None
        self._error: BaseException | None = None
        self.started_at: float | None = None
        self.seconds: float | None = None

    def start(self) -> Preparation[T]:
        with self._lock:
            if self._thread is None:
                self.started_at = time.perf_counter()
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        return self

    def _report(self, fraction: float, message: str) -> None:
        with self._lock:
            self._fraction, self._message = max(0.0, min(1.0, float(fraction))), str(message)
        logger.info("%s: %3.0f%% %s", self.name, 100 * fraction, message)

    def _run(self) -> None:
        try:
            value = self._build(self._report)
        except BaseException as err:  # noqa: BLE001 - kept and re-raised to every waiter
            logger.exception("%s failed", self.name)
            with self._lock:
                self._error = err
                self._message = f"failed: {err}"
        else:
            with self._lock:
                self._value, self._fraction, self._message = value, 1.0, "ready"
        finally:
            self.seconds = time.perf_counter() - (self.started_at or time.perf_counter())
            self._done.set()

    @property
    def ready(self) -> bool:
        return self._done.is_set() and self._error is None

    def state(self) -> tuple[float, str, bool]:
        """(fraction done, what is happening, finished)."""
        with self._lock:
            return self._fraction, self._message, self._done.is_set()

    def result(self, timeout: float | None = None) -> T:
        """The built value (starting the build if needed); re-raises the build's error."""
        self.start()
        if not self._done.wait(timeout):
            raise TimeoutError(f"{self.name} is still running: {self._message}")
        if self._error is not None:
            raise RuntimeError(f"{self.name} failed: {self._error}") from self._error
        return self._value  # type: ignore[return-value]
