"""The desk's own script, stylesheet and icon (``pipeline/desk/static``), read once per app, under versioned URLs.

A URL carries a hash of its file (``/desk/static/desk.js?v=…``), so browsers may keep a file for a year and
still load the new one after a deployment. Only the files listed here are served; no front-end library
and no CDN are used.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pipeline.desk.html import url

STATIC = Path(__file__).resolve().parent / "static"
TYPES = {"desk.css": "text/css", "desk.js": "text/javascript", "favicon.svg": "image/svg+xml"}


@dataclass(frozen=True)
class Assets:
    files: dict[str, tuple[bytes, str]]  # name -> (content, media type)
    urls: dict[str, str]  # name -> versioned URL

    @classmethod
    def load(cls, folder: Path = STATIC) -> Assets:
        files = {name: ((folder / name).read_bytes(), media_type) for name, media_type in TYPES.items()}
        urls = {
            name: url("desk", "static", name, v=hashlib.sha256(content).hexdigest()[:12])
            for name, (content, _) in files.items()
        }
        return cls(files=files, urls=urls)

    def get(self, name: str) -> tuple[bytes, str] | None:
        return self.files.get(name)
