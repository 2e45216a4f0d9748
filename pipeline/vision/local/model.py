"""The lifecycle every open model shares: load on first use, once per process; one thread at a time runs it.

A model class names what it is (``model_id``, recorded with what it produces so that results of different
models are never mixed), says how to load its weights from the package that ships them (``load``) and offers
plain methods that take pixels and return the pipeline's shapes — callable in tests with an image, no
storage, no queue. ONNX Runtime, OpenCV DNN and dlib objects are not documented as thread-safe, so each
model serialises its own calls while different models run in parallel on other worker threads.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar, Generic, TypeVar

LoadedT = TypeVar("LoadedT")


class LocalModel(ABC, Generic[LoadedT]):
    """Base of every open model. Subclasses set ``model_id`` and implement ``load``."""

    model_id: ClassVar[str]

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: LoadedT | None = None
        self.load_seconds: float | None = None

    @abstractmethod
    def load(self) -> LoadedT:
        """Build the model from weights shipped inside an installed package; never download anything."""

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    @contextmanager
    def session(self) -> Iterator[LoadedT]:
        """The loaded model, held by this thread alone for the duration of the ``with`` block."""
        with self._lock:
            if self._loaded is None:
                started = time.perf_counter()
                self._loaded = self.load()
                self.load_seconds = time.perf_counter() - started
            yield self._loaded

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.model_id}{'' if self.loaded else ' (not loaded)'}>"
