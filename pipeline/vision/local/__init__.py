"""The ``local`` provider: open models whose weights ship inside registry packages (one module per model)."""

from pipeline.vision.local.provider import LocalVision

__all__ = ["LocalVision"]
