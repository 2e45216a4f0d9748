"""Vision providers: one interface, chosen by configuration, that steps call without knowing which."""

from __future__ import annotations

import threading

from pipeline.vision.base import VisionProvider

_lock = threading.Lock()
_providers: dict[str, VisionProvider] = {}


def provider(name: str = "local") -> VisionProvider:
    """The process-wide provider instance (models load once per worker process, on first use)."""
    with _lock:
        instance = _providers.get(name)
        if instance is None:
            if name != "local":
                raise ValueError(f"unknown vision provider {name!r}")
            from pipeline.vision.local import LocalVision

            instance = _providers[name] = LocalVision()
        return instance
