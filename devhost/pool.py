"""The worker thread pool shared by all triggers, as in the Python worker.

All invocations (queue, blob, timer, HTTP) compete for ``PYTHON_THREADPOOL_THREAD_COUNT`` threads,
so local concurrency, and the contention bugs it exposes, match Azure's. The pool also counts
pending work so a graceful stop can wait for in-flight invocations.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from devhost.indexing import HostStartupError

logger = logging.getLogger("devhost")
T = TypeVar("T")
_MAX_THREADS = 32  # the Python worker's upper limit for PYTHON_THREADPOOL_THREAD_COUNT


def pool_size(settings: Mapping[str, str]) -> int:
    """``PYTHON_THREADPOOL_THREAD_COUNT`` (1 to 32), defaulting to the number of CPUs."""
    raw = settings.get("PYTHON_THREADPOOL_THREAD_COUNT", "").strip()
    if not raw:
        return os.cpu_count() or 1
    if not raw.isdigit() or not 1 <= int(raw) <= _MAX_THREADS:
        raise HostStartupError(
            f"PYTHON_THREADPOOL_THREAD_COUNT must be an integer in 1..{_MAX_THREADS}, got {raw!r}"
        )
    return int(raw)


class InvocationPool:
    """A ``ThreadPoolExecutor`` that knows how much submitted work has not finished yet."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="devhost-worker")
        self._pending = 0
        self._changed = threading.Condition()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        with self._changed:
            self._pending += 1
        try:
            future = self._executor.submit(fn, *args)
        except BaseException:
            self._finished(None)
            raise
        future.add_done_callback(self._finished)
        return future

    def _finished(self, future: Future[Any] | None) -> None:
        # Tasks handle their own errors (that is the host's job); anything escaping is a host bug.
        if future is not None and not future.cancelled() and future.exception() is not None:
            logger.error("Unhandled error in a devhost task", exc_info=future.exception())
        with self._changed:
            self._pending -= 1
            self._changed.notify_all()

    def idle_threads(self) -> int:
        """Threads that would start a task submitted now (0 when work is already waiting)."""
        with self._changed:
            return max(0, self.size - self._pending)

    def drain(self, timeout: float) -> bool:
        """Wait until no submitted work is left; ``False`` if ``timeout`` seconds passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: self._pending == 0, timeout)

    def shutdown(self, wait: bool) -> None:
        """Release the threads; with ``wait=False`` still-running invocations are abandoned."""
        self._executor.shutdown(wait=wait, cancel_futures=True)
