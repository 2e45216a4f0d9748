"""Azure SDK results as the pipeline's shapes: analysis, text, faces — rectangles clipped to the image.

The working copy is what gets uploaded, so every rectangle and box the services return is already in
working-copy pixels; they are only clipped to the image.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from PIL import Image

from pipeline.vision.base import (
    Adult,
    Analysis,
    Caption,
    Category,
    Colors,
    DetectedFace,
    DetectedObject,
    ImageType,
    Rectangle,
    Tag,
    TextLine,
    TextReading,
    VisionImage,
)

Size = tuple[int, int] | None


def image_size(image: VisionImage) -> Size:
    """Width and height of the working copy, from already-decoded pixels or from the header alone."""
    if "pixels" in image.__dict__:
        return image.pixels.size
    try:
        with Image.open(io.BytesIO(image.data)) as opened:
            return opened.size
    except Exception:
        return None


def _rectangle(left: float, top: float, width: float, height: float, size: Size) -> Rectangle:
    left, top = max(0, round(left)), max(0, round(top))
    right, bottom = left + max(1, round(width)), top + max(1, round(height))
    if size is not None:
        image_width, image_height = size
        left, top = min(left, image_width - 1), min(top, image_height - 1)
        right, bottom = min(right, image_width), min(bottom, image_height)
    return Rectangle(left=left, top=top, width=max(1, right - left), height=max(1, bottom - top))


def _unit(value: float | None) -> float:
    return min(1.0, max(0.0, float(value or 0.0)))


def enum_text(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _quality(attributes: Any) -> str | None:
    value = enum_text(getattr(attributes, "quality_for_recognition", None))
    value = value.lower() if value else None
    return value if value in ("low", "medium", "high") else None


def _hex_colour(value: str | None) -> str | None:
    text = (value or "").strip().lstrip("#").upper()
    return text if len(text) == 6 and all(c in "0123456789ABCDEF" for c in text) else None


def _image_type(result: Any, size: Size) -> ImageType:
    clip_art = int(result.clip_art_type or 0)
    line_drawing = int(result.line_drawing_type or 0)
    kind = "line_drawing" if line_drawing else "clip_art" if clip_art >= 2 else "photo"
    return ImageType(
        kind=kind, clip_art_type=min(3, max(0, clip_art)), line_drawing_type=min(1, max(0, line_drawing))
    )


def _tags(tags: Any, size: Size) -> list[Tag]:
    return [Tag(name=tag.name, confidence=_unit(tag.confidence)) for tag in tags]


def _caption(description: Any, size: Size) -> Caption | None:
    """The best caption; a description without captions is a result (nothing to say), not an absence."""
    captions = sorted(description.captions or [], key=lambda c: c.confidence or 0.0, reverse=True)
    return Caption(text=captions[0].text, confidence=_unit(captions[0].confidence)) if captions else None


def _categories(categories: Any, size: Size) -> list[Category]:
    return [Category(name=c.name, score=_unit(c.score)) for c in categories]


def _objects(objects: Any, size: Size) -> list[DetectedObject]:
    return [
        DetectedObject(
            name=o.object_property,
            confidence=_unit(o.confidence),
            rectangle=_rectangle(o.rectangle.x, o.rectangle.y, o.rectangle.w, o.rectangle.h, size),
        )
        for o in objects
    ]


def _adult(a: Any, size: Size) -> Adult:
    return Adult(
        is_adult=bool(a.is_adult_content),
        is_racy=bool(a.is_racy_content),
        is_gory=a.is_gory_content,
        adult_score=_unit(a.adult_score),
        racy_score=_unit(a.racy_score),
        gore_score=None if a.gore_score is None else _unit(a.gore_score),
    )


def _colors(c: Any, size: Size) -> Colors | object:
    accent = _hex_colour(c.accent_color)
    if accent is None:
        return UNUSABLE
    return Colors(
        dominant_foreground=c.dominant_color_foreground or "",
        dominant_background=c.dominant_color_background or "",
        dominant_colors=list(c.dominant_colors or []),
        accent_color=accent,
        is_black_and_white=bool(c.is_bw_img),
    )


# A converter's answer for a part that came back but cannot be used (it then counts as absent).
UNUSABLE = object()
ABSENT = "not returned by Azure Computer Vision"
# Each feature of the pipeline's Analysis: the ImageAnalysis attribute it comes from, and its converter.
# A feature the service did not return (None), or returned unusable, is listed as unsupported with ABSENT.
ANALYSIS_FEATURES: tuple[tuple[str, str, Callable[[Any, Size], Any]], ...] = (
    ("tags", "tags", _tags),
    ("caption", "description", _caption),
    ("categories", "categories", _categories),
    ("objects", "objects", _objects),
    ("adult", "adult", _adult),
    ("colors", "color", _colors),
    ("image_type", "image_type", _image_type),
)


def to_analysis(result: Any, size: Size) -> Analysis:
    """An SDK ``ImageAnalysis`` as the pipeline's :class:`Analysis`."""
    found: dict[str, Any] = {}
    unsupported: dict[str, str] = {}
    for feature, attribute, convert in ANALYSIS_FEATURES:
        value = getattr(result, attribute, None)
        converted = UNUSABLE if value is None else convert(value, size)
        if converted is UNUSABLE:
            unsupported[feature] = ABSENT
        else:
            found[feature] = converted
    adult = found.get("adult")
    if adult is not None and adult.gore_score is None:
        unsupported["adult.gore"] = ABSENT
    caption_source = "model" if found.get("caption") else None  # Computer Vision's captioning model wrote it
    return Analysis(**found, caption_source=caption_source, unsupported=unsupported)


def _box(values: list[float] | None, size: Size) -> list[int]:
    points = [round(v) for v in (values or [])][:8]
    points += [0] * (8 - len(points))
    if size is None:
        return [max(0, p) for p in points]
    width, height = size
    return [min(max(0, p), width if i % 2 == 0 else height) for i, p in enumerate(points)]


def to_text_reading(result: Any, size: Size) -> TextReading:
    """An SDK ``ReadOperationResult`` (succeeded) as the pipeline's :class:`TextReading`."""
    lines: list[TextLine] = []
    analyze = result.analyze_result
    for page in (analyze.read_results or []) if analyze is not None else []:
        for line in page.lines or []:
            confidences = [w.confidence for w in line.words or [] if w.confidence is not None]
            confidence = _unit(sum(confidences) / len(confidences)) if confidences else None
            lines.append(
                TextLine(
                    text=line.text,
                    confidence=None if confidence is None else round(confidence, 4),
                    bounding_box=_box(line.bounding_box, size),
                )
            )
    return TextReading(lines=lines, text="\n".join(line.text for line in lines))


def to_detected_faces(detected: list[Any] | None, size: Size) -> list[DetectedFace]:
    """SDK ``DetectedFace`` objects as the pipeline's; Azure gives no detector score, so ``score`` is None."""
    faces = []
    for face in detected or []:
        r = face.face_rectangle
        faces.append(
            DetectedFace(
                rectangle=_rectangle(r.left, r.top, r.width, r.height, size),
                quality=_quality(face.face_attributes),
                detection_id=face.face_id,
            )
        )
    return faces
