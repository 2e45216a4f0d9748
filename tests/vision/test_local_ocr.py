"""The open OCR engines: accents and word spaces kept (PP-OCRv6), Arabic and Cyrillic (Tesseract)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from devhost.scenes import ACCENTED_LINES, ARABIC_LINES, CYRILLIC_LINES, printed_page, scene
from pipeline.tesseract_packs import installed_languages
from pipeline.vision.base import VisionImage
from pipeline.vision.local import LocalVision
from pipeline.vision.local.ocr import OnnxOcr, TesseractOcr, ocr_engine, parse_languages

pytestmark = pytest.mark.timeout(180)


def without_final_stop(lines: list[str]) -> list[str]:
    """The lines without a final full stop, which PP-OCR's recogniser sometimes misses (not what is tested)."""
    return [line.removesuffix(".") for line in lines]


def tesseract_reads(*codes: str) -> bool:
    binary = shutil.which("tesseract")
    return binary is not None and set(codes) <= installed_languages(binary)


@pytest.fixture(scope="module")
def latin(local_vision) -> OnnxOcr:
    return local_vision.text_detector  # the session's engine: its models are already loaded


def test_a_printed_page_keeps_every_accent_and_the_spaces_between_words(latin):
    reading = latin.read(printed_page(ACCENTED_LINES))
    assert without_final_stop(reading.text.splitlines()) == without_final_stop(ACCENTED_LINES), reading.text
    for line in reading.lines:
        assert 0.9 <= line.confidence <= 1


def test_a_real_scanned_page_is_read_in_order_with_its_boxes(latin):
    page = scene("page")
    reading = latin.read(page)
    assert reading.lines[0].text == "Region-based segmentation"
    assert "Let us first determine markers of the coins and the" in reading.text
    assert "background. These markers are pixels that we can label" in reading.text
    tops = [line.bounding_box[1] for line in reading.lines]
    assert tops == sorted(tops)
    for line in reading.lines:
        assert all(0 <= x <= page.width for x in line.bounding_box[0::2])
        assert all(0 <= y <= page.height for y in line.bounding_box[1::2])


def test_photos_without_text_stop_after_detection(latin):
    # No text region at all: recognition never runs.
    assert latin.text_regions(scene("astronaut")) == []
    assert latin.read(scene("astronaut")).lines == []
    # Regions the detector marks on textured surfaces are read, found empty and dropped.
    assert latin.read(scene("coffee")).lines == []


def test_the_ocr_step_reuses_the_detection_the_analyze_step_made(latin):
    page = scene("page")
    assert latin.text_regions(page) is latin.text_regions(page.copy())  # same pixels: detected once
    assert latin.text_regions(page) is not latin.text_regions(page.rotate(180))


def test_ocr_languages_choose_the_engine():
    assert parse_languages("") == ("latin",) and parse_languages(" ARA, rus+ukr ,ara") == (
        "ara",
        "rus",
        "ukr",
    )
    assert isinstance(ocr_engine("latin"), OnnxOcr)
    engine = ocr_engine("latin,ara")
    assert isinstance(engine, TesseractOcr) and engine.codes == ("eng", "fra", "spa", "por", "deu", "ara")
    detector = OnnxOcr()
    assert ocr_engine("ara", detector).detector is detector and ocr_engine("latin", detector) is detector


@pytest.mark.skipif(
    not shutil.which("tesseract"), reason="tesseract-ocr is not installed (make deps installs it)"
)
def test_a_missing_language_pack_is_named_when_the_engine_loads():
    with pytest.raises(RuntimeError, match="apt-get install tesseract-ocr-xyz"):
        ocr_engine("ara,xyz").read(printed_page(ARABIC_LINES, right_to_left=True))


@pytest.mark.skipif(
    not tesseract_reads("ara", "rus", "ukr"), reason="Tesseract's ara/rus/ukr packs are missing"
)
def test_arabic_and_cyrillic_through_tesseract(local_vision):
    arabic = LocalVision(ocr_languages="ara").read_text(
        VisionImage(b"", printed_page(ARABIC_LINES, right_to_left=True))
    )
    assert arabic.text.splitlines() == ARABIC_LINES, arabic.text
    cyrillic = ocr_engine("rus,ukr", local_vision.text_detector).read(printed_page(CYRILLIC_LINES))
    assert cyrillic.text.splitlines() == CYRILLIC_LINES, cyrillic.text
    assert all(0.5 <= line.confidence <= 1 for line in cyrillic.lines)
    assert ocr_engine("ara", local_vision.text_detector).read(scene("astronaut")).lines == []


def test_loading_onnxocr_leaves_the_hosts_logging_alone():
    # onnxocr's import replaces the root logger's handlers (logging.basicConfig(force=True)); a fresh
    # interpreter shows whether the pipeline undoes it.
    script = (
        "import logging, sys\n"
        "handler = logging.StreamHandler(sys.stdout); logging.getLogger().addHandler(handler)\n"
        "logging.getLogger().setLevel(logging.INFO)\n"
        "from pipeline.vision.local.ppocr import OnnxOcr\n"
        "from PIL import Image\n"
        "OnnxOcr().read(Image.new('RGB', (64, 64), 'white'))\n"
        "root = logging.getLogger()\n"
        "print(root.handlers == [handler], root.level == logging.INFO)\n"
    )
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert finished.stdout.splitlines()[-1] == "True True", finished.stdout + finished.stderr
    assert "Creating ONNX session" not in finished.stderr  # onnxocr's console logging is silenced
