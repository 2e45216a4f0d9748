"""What the host starts and stops: a listener, and the thread most listeners run on."""

from __future__ import annotations

import threading
from typing import Protocol


class Listener(Protocol):
    def start(self) -> None: ...

    def stop(self, timeout: float) -> None: ...


class ListenerThread:
    """A listener with a thread of its own: :meth:`_run` runs until :meth:`stop` sets ``_stopping``."""

    def __init__(self, thread_name: str) -> None:
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        raise NotImplementedError
