"""An :class:`Analysis` as Computer Vision v3.2 ``analyze`` answers it, one visual feature at a time.

Each feature maps one field of the Analysis. A field the provider left None (it cannot compute it) is answered
as Azure shapes an empty finding for the list features (tags, categories, objects, a description without
captions) and is left out for the others (adult, color, imageType): present, never invented.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.vision.base import Adult, Analysis, Caption, Category, Colors, DetectedObject, ImageType, Tag

_ABSENT: Any = object()


@dataclass(frozen=True)
class Feature:
    """A visual feature: the body key it answers under, the Analysis field it maps, and how."""

    key: str
    field: str | None  # None: no Analysis field holds it (Brands, Faces), so it is answered ``empty``
    render: Callable[[Any], Any]
    empty: Any = _ABSENT  # the answer when the field is None; _ABSENT leaves the key out


def _tags(tags: list[Tag]) -> list[dict[str, Any]]:
    return [{"name": t.name, "confidence": t.confidence} for t in tags]


def _description(caption: Caption) -> dict[str, Any]:
    return {"tags": [], "captions": [{"text": caption.text, "confidence": caption.confidence}]}


def _categories(categories: list[Category]) -> list[dict[str, Any]]:
    return [{"name": c.name, "score": c.score} for c in categories]


def _objects(objects: list[DetectedObject]) -> list[dict[str, Any]]:
    return [
        {
            "rectangle": {
                "x": o.rectangle.left,
                "y": o.rectangle.top,
                "w": o.rectangle.width,
                "h": o.rectangle.height,
            },
            "object": o.name,
            "confidence": o.confidence,
        }
        for o in objects
    ]


def _adult(adult: Adult) -> dict[str, Any]:
    body: dict[str, Any] = {
        "isAdultContent": adult.is_adult,
        "isRacyContent": adult.is_racy,
        "adultScore": adult.adult_score,
        "racyScore": adult.racy_score,
    }
    if adult.is_gory is not None and adult.gore_score is not None:
        body.update(isGoryContent=adult.is_gory, goreScore=adult.gore_score)
    return body


def _color(colors: Colors) -> dict[str, Any]:
    return {
        "dominantColorForeground": colors.dominant_foreground,
        "dominantColorBackground": colors.dominant_background,
        "dominantColors": colors.dominant_colors,
        "accentColor": colors.accent_color,
        "isBwImg": colors.is_black_and_white,
        "isBWImg": colors.is_black_and_white,
    }


def _image_type(image_type: ImageType) -> dict[str, Any]:
    return {"clipArtType": image_type.clip_art_type, "lineDrawingType": image_type.line_drawing_type}


# In the order analyze writes the body; the names are visualFeatures' values as Azure spells them.
FEATURES: dict[str, Feature] = {
    "Categories": Feature("categories", "categories", _categories, empty=[]),
    "Adult": Feature("adult", "adult", _adult),
    "Tags": Feature("tags", "tags", _tags, empty=[]),
    "Description": Feature("description", "caption", _description, empty={"tags": [], "captions": []}),
    "Color": Feature("color", "colors", _color),
    "ImageType": Feature("imageType", "image_type", _image_type),
    "Objects": Feature("objects", "objects", _objects, empty=[]),
    "Brands": Feature("brands", None, list, empty=[]),
    # No open model estimates what analyze says of faces (age, gender): accepted, nothing answered.
    "Faces": Feature("faces", None, list),
}
VISUAL_FEATURES = {name.lower(): name for name in FEATURES}


def analysis_body(analysis: Analysis, features: list[str]) -> dict[str, Any]:
    """The requested ``features`` (Azure's spelling) of ``analysis``, keyed as analyze's JSON keys them."""
    body: dict[str, Any] = {}
    for name, feature in FEATURES.items():
        if name not in features:
            continue
        value = None if feature.field is None else getattr(analysis, feature.field)
        if value is not None:
            body[feature.key] = feature.render(value)
        elif feature.empty is not _ABSENT:
            body[feature.key] = copy.deepcopy(feature.empty)
    return body
