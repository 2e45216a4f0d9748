"""The labelled face photos as a detector meets them: upright, turned without EXIF, tilted, small, in a crowd.

Each case is a picture and its labelled faces moved to that picture's pixels, so recall and false
detections are counted the same way in the tests and in ``bench.face_models`` / ``bench.face_threshold``:
a detection whose rectangle contains a labelled face's centre found that face; one containing none is a
false detection.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from PIL import Image

from devhost.face_photos import Face, Photo, load
from pipeline.vision.base import Rectangle

GREY = (128, 128, 128)
# PIL's transposes that turn a picture counter-clockwise by 90, 180 and 270 degrees.
QUARTER_TURNS = {
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    image: Image.Image
    faces: tuple[Face, ...]


def _moved(faces: Iterable[Face], move, scale: float = 1.0) -> tuple[Face, ...]:
    return tuple(
        replace(
            face, centre=tuple(round(value) for value in move(*face.centre)), width=round(face.width * scale)
        )
        for face in faces
    )


def upright(photo: Photo) -> Case:
    return Case(photo.name, "upright", load(photo), photo.faces)


def turned(photo: Photo, degrees: int) -> Case:
    """Turned counter-clockwise by 90, 180 or 270 degrees, as a phone stores a photo without an EXIF tag."""
    image = load(photo)
    width, height = image.size
    move = {
        90: lambda x, y: (y, width - x),
        180: lambda x, y: (width - x, height - y),
        270: lambda x, y: (height - y, x),
    }[degrees]
    return Case(
        f"{photo.name} turned {degrees}", f"turned {degrees}", image.transpose(QUARTER_TURNS[degrees]),
        _moved(photo.faces, move),
    )  # fmt: skip


def tilted(photo: Photo, degrees: float) -> Case:
    """Rotated counter-clockwise by a few degrees, the canvas grown to hold it (a hand-held shot)."""
    image = load(photo)
    tilted_image = image.rotate(degrees, expand=True, fillcolor=GREY)
    angle = math.radians(degrees)
    cx, cy = image.width / 2, image.height / 2
    nx, ny = tilted_image.width / 2, tilted_image.height / 2

    def move(x: float, y: float) -> tuple[float, float]:
        dx, dy = x - cx, y - cy
        return nx + dx * math.cos(angle) + dy * math.sin(angle), ny - dx * math.sin(angle) + dy * math.cos(
            angle
        )

    return Case(f"{photo.name} tilted {degrees:g}", "tilted", tilted_image, _moved(photo.faces, move))


def small(photo: Photo, face_px: int) -> Case:
    """The photo reduced until its faces are ``face_px`` wide (their median), as a thumbnail or a scan."""
    image = load(photo)
    widths = sorted(face.width for face in photo.faces)
    scale = face_px / widths[len(widths) // 2]
    reduced = image.resize(
        (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.LANCZOS
    )
    return Case(
        f"{photo.name} at {face_px} px faces", f"small {face_px} px", reduced,
        _moved(photo.faces, lambda x, y: (x * scale, y * scale), scale),
    )  # fmt: skip


def crowd(photos: Sequence[Photo], face_px: int, size: tuple[int, int] = (4096, 3072)) -> Case:
    """Group photos reduced until their faces are ``face_px`` wide, side by side on one large picture."""
    canvas = Image.new("RGB", size, GREY)
    faces: list[Face] = []
    left, top, row_height = 40, 40, 0
    for photo in photos:
        part = small(photo, face_px)
        if left + part.image.width > size[0]:
            left, top, row_height = 40, top + row_height + 40, 0
        canvas.paste(part.image, (left, top))
        faces += _moved(part.faces, lambda x, y, dx=left, dy=top: (x + dx, y + dy))
        left, row_height = left + part.image.width + 40, max(row_height, part.image.height)
    return Case(
        f"{len(photos)} group photos at {face_px} px faces on {size[0]} x {size[1]}",
        "crowd",
        canvas,
        tuple(faces),
    )


def contains(rectangle: Rectangle, point: tuple[int, int]) -> bool:
    x, y = point
    return (
        rectangle.left <= x <= rectangle.left + rectangle.width
        and rectangle.top <= y <= rectangle.top + rectangle.height
    )


def assign(rectangles: Sequence[Rectangle], faces: Sequence[Face]) -> tuple[list[int | None], int]:
    """For each labelled face, the index of the detection that found it (or None); and how many detections
    found no labelled face (false detections)."""
    found: list[int | None] = []
    for face in faces:
        hits = [index for index, rectangle in enumerate(rectangles) if contains(rectangle, face.centre)]
        found.append(hits[0] if hits else None)
    false = sum(1 for rectangle in rectangles if not any(contains(rectangle, face.centre) for face in faces))
    return found, false
