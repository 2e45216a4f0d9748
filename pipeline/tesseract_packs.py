"""Which Tesseract language packs are installed: asked of the binary itself, without loading any model.

Read by the settings (``OCR_LANGUAGES`` is checked at startup) and by the local Tesseract engine.
"""

from __future__ import annotations

import shutil
import subprocess

# What OCR_LANGUAGES=latin means to Tesseract: the Latin-script languages the project's users write.
LATIN_PACKS = ("eng", "fra", "spa", "por", "deu")


def tesseract_binary() -> str | None:
    return shutil.which("tesseract")


def installed_languages(binary: str) -> set[str]:
    listed = subprocess.run([binary, "--list-langs"], capture_output=True, text=True, check=True, timeout=30)
    return {line.strip() for line in listed.stdout.splitlines()[1:] if line.strip()}


def missing_packs(codes: tuple[str, ...]) -> str | None:
    """Why Tesseract cannot read these language codes here (what to install), or None when it can."""
    binary = tesseract_binary()
    if binary is None:
        return "Tesseract is not installed: apt-get install tesseract-ocr (make deps does)"
    missing = [code for code in codes if code not in installed_languages(binary)]
    if missing:
        packages = " ".join(f"tesseract-ocr-{code}" for code in missing)
        return f"Tesseract has no language pack for {', '.join(missing)}: apt-get install {packages}"
    return None
