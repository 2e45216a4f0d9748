"""Tesseract 5 (Debian's ``tesseract-ocr``, Apache-2.0) for the scripts PP-OCR's dictionary lacks.

Arabic (``ara``), Russian (``rus``), Ukrainian (``ukr``) and any other installed language pack, by its
Tesseract code; several are read together (``ara+rus``). The packs are Debian packages
(``tesseract-ocr-ara``…) that ``make deps`` installs; a code without its pack stops the engine when it
loads, naming the package to install. The binary runs once per image, single-threaded (worker threads
already run images in parallel), and only when PP-OCR's detector found a text region, so photos without
text cost one detection pass as with the Latin engine.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
from collections import defaultdict
from dataclasses import dataclass

from PIL import Image

from pipeline.tesseract_packs import LATIN_PACKS, missing_packs, tesseract_binary
from pipeline.vision.base import TextReading
from pipeline.vision.local.model import LocalModel
from pipeline.vision.local.ppocr import OnnxOcr
from pipeline.vision.local.text_layout import reading

TIMEOUT_SECONDS = 120
PAGE_SEGMENTATION = "3"  # fully automatic page segmentation, as for a photographed notice


@dataclass(frozen=True)
class _Loaded:
    binary: str
    languages: str  # Tesseract's "ara+rus" form


class TesseractOcr(LocalModel[_Loaded]):
    def __init__(self, codes: tuple[str, ...], detector: OnnxOcr | None = None) -> None:
        super().__init__()
        expanded: list[str] = []
        for code in codes:
            for pack in LATIN_PACKS if code == "latin" else (code,):
                if pack not in expanded:
                    expanded.append(pack)
        self.codes = tuple(expanded)
        self.detector = detector or OnnxOcr()

    @property
    def model_id(self) -> str:  # type: ignore[override]
        return f"tesseract-5/{'+'.join(self.codes)}"

    def load(self) -> _Loaded:
        problem = missing_packs(self.codes)
        if problem is not None:
            raise RuntimeError(f"OCR_LANGUAGES: {problem}")
        return _Loaded(binary=str(tesseract_binary()), languages="+".join(self.codes))

    def read(self, image: Image.Image) -> TextReading:
        if not self.detector.text_regions(image):
            return reading([])
        encoded = io.BytesIO()
        image.convert("RGB").save(encoded, "PNG")
        with self.session() as loaded:
            command = [
                loaded.binary,
                "stdin",
                "stdout",
                "-l",
                loaded.languages,
                "--psm",
                PAGE_SEGMENTATION,
                "tsv",
            ]
        finished = subprocess.run(
            command,
            input=encoded.getvalue(),
            capture_output=True,
            check=True,
            timeout=TIMEOUT_SECONDS,
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        )
        return reading(_lines(finished.stdout.decode("utf-8")), keep_order=True)


def _lines(tsv: str) -> list[tuple[list[int], str, float]]:
    """Tesseract's TSV (one row per page, block, paragraph, line and word) as lines in its reading order."""
    boxes: dict[tuple[str, str, str], list[int]] = {}
    words: dict[tuple[str, str, str], list[tuple[str, float]]] = defaultdict(list)
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        key = (row["block_num"], row["par_num"], row["line_num"])
        if row["level"] == "4":
            left, top, width, height = (int(row[k]) for k in ("left", "top", "width", "height"))
            boxes[key] = [left, top, left + width, top, left + width, top + height, left, top + height]
        elif row["level"] == "5" and (row.get("text") or "").strip() and float(row["conf"]) >= 0:
            words[key].append((row["text"].strip(), float(row["conf"]) / 100))
    return [
        (boxes[key], " ".join(text for text, _ in found), sum(conf for _, conf in found) / len(found))
        for key, found in words.items()
        if key in boxes
    ]
