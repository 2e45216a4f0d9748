"""Vision providers: one interface, chosen by configuration, that steps call without knowing which."""

from __future__ import annotations

import threading

from pipeline.settings import AzureVisionSettings
from pipeline.vision.base import VisionProvider

_lock = threading.Lock()
_providers: dict[str, VisionProvider] = {}


def provider(name: str) -> VisionProvider:
    """The process-wide instance of a provider: models and clients are built once per worker process."""
    with _lock:
        instance = _providers.get(name)
        if instance is None:
            if name == "local":
                from pipeline.vision.local import LocalVision

                instance = LocalVision()
            elif name == "azure":
                from pipeline.vision.azure import AzureVision

                instance = AzureVision(AzureVisionSettings.from_environment())
            else:
                raise ValueError(f"unknown vision provider {name!r}")
            _providers[name] = instance
        return instance
