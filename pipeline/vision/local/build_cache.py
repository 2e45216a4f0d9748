"""A cache of model files the local provider builds from shipped weights (never fetched from anywhere).

The classifier's ONNX graph is converted from a PyTorch weight file once and kept on disk under a name
that holds the source file's sha256 and the converter's version, so a new weight file or a changed
converter builds a new entry and a stale one is never read. Writes go to a temporary file renamed into
place, so processes that build at the same moment never read half a file. Where no directory is writable
(a read-only deployment), the model is simply built in memory at every start, which takes well under a
second.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """Without MODEL_CACHE_DIR: ``$XDG_CACHE_HOME/imaginem``, else ``~/.cache/imaginem``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "imaginem"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def built_from(source: Path, name: str, version: int, build: Callable[[], bytes], cache_dir: Path) -> bytes:
    """The bytes ``build`` makes from ``source``, read from the cache when an entry for this exact file exists."""
    entry = cache_dir / f"{name}-{sha256_of(source)[:16]}-v{version}.onnx"
    if entry.is_file():
        return entry.read_bytes()
    data = build()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=cache_dir, prefix=entry.name, suffix=".part")
        with os.fdopen(handle, "wb") as target:
            target.write(data)
        os.replace(temporary, entry)
        log.info("built %s from %s into %s", name, source.name, entry)
    except OSError as error:
        log.warning("model cache %s is not writable (%s); %s stays in memory", cache_dir, error, name)
    return data
