"""Tags, categories and a caption from what the local models found: classifier, object and text detectors.

Tags (best first, like Computer Vision's): the vocabulary's broad tags with their summed classifier
probability (``vocabulary.py``), the classifier's own class name when it is confident on its own, each
detected object's name and the broad tags it implies with the detection's confidence, and ``text`` /
``document`` from the text detector's regions. When two sources give one tag, the higher confidence wins.
Categories follow Computer Vision's 86-category names (``animal_cat``, ``people_group``…) through the
vocabulary's ``category`` fields and the number of people detected. docs/MODELS.md lists every rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.vision.base import Caption, Category, DetectedObject, Tag
from pipeline.vision.local.caption import CAPTION_FLOOR, compose_caption
from pipeline.vision.local.text_layout import TextRegion
from pipeline.vision.local.vocabulary import Vocabulary

# Vocabulary tags from the classifier below this summed probability are left out: a broad tag sums
# hundreds of classes, whose small probabilities alone reach 0.25 on pictures of none of them.
TAG_FLOOR = 0.4
# An ImageNet class is a tag of its own from this probability, if its name is short and plain.
CLASS_NAME_FLOOR = 0.3
CLASS_NAME_MAX_WORDS = 3
CATEGORY_FLOOR = 0.3
# A text region counts as a line of text when it is long and thin: at least this much longer than high,
# and no higher than this share of the picture's short side (the detector also marks big textured areas).
LINE_ASPECT = 2.0
LINE_MAX_HEIGHT = 0.25
# The detector also fires on fabric, foliage and medals, so "text" needs the recogniser to read at least
# TEXT_MIN_CHARACTERS letters or digits with TEXT_TAG_FLOOR confidence in one of the CONFIRM_LINES
# best-scoring lines.
CONFIRM_LINES = 3
TEXT_TAG_FLOOR = 0.8
TEXT_MIN_CHARACTERS = 3
# A document: at least this many lines, together covering at least this share of the picture.
DOCUMENT_LINES = 3
DOCUMENT_COVERAGE = 0.08
PORTRAIT_COVERAGE = 0.3
PEOPLE_GROUP_FROM, PEOPLE_MANY_FROM = 2, 6


@dataclass(frozen=True)
class Scene:
    tags: list[Tag]
    categories: list[Category]
    caption: Caption | None


def text_lines(regions: list[TextRegion], size: tuple[int, int]) -> list[TextRegion]:
    short_side = min(size)
    lines = []
    for region in regions:
        points = region.points
        width = float(np.linalg.norm(points[0] - points[1]))
        height = float(np.linalg.norm(points[0] - points[3]))
        if height > 0 and width / height >= LINE_ASPECT and height <= LINE_MAX_HEIGHT * short_side:
            lines.append(region)
    return lines


def lines_to_confirm(regions: list[TextRegion], size: tuple[int, int]) -> list[TextRegion]:
    """The lines whose recognition decides the ``text`` tag: the detector's most confident ones."""
    return sorted(text_lines(regions, size), key=lambda line: -line.score)[:CONFIRM_LINES]


def _text_tags(
    regions: list[TextRegion], recognised: list[tuple[str, float]], size: tuple[int, int]
) -> dict[str, float]:
    read = [score for text, score in recognised if sum(c.isalnum() for c in text) >= TEXT_MIN_CHARACTERS]
    if max(read, default=0.0) < TEXT_TAG_FLOOR:
        return {}
    found = {"text": max(read)}
    lines = text_lines(regions, size)
    covered = sum(line.area for line in lines) / (size[0] * size[1])
    if len(lines) >= DOCUMENT_LINES and covered >= DOCUMENT_COVERAGE:
        found["document"] = float(np.mean([line.score for line in lines]))
    return found


def _class_name_tags(probabilities: np.ndarray, names: list[str], vocab: Vocabulary) -> dict[str, float]:
    found = {}
    for index in np.flatnonzero(probabilities >= CLASS_NAME_FLOOR):
        if int(index) in vocab.unnamed:
            continue
        name = names[index].lower()
        if len(name.split()) <= CLASS_NAME_MAX_WORDS and not any(mark in name for mark in ",/()"):
            found[name] = float(probabilities[index])
    return found


def _merge(into: dict[str, float], found: dict[str, float]) -> None:
    for name, confidence in found.items():
        into[name] = max(into.get(name, 0.0), confidence)


def _categories(
    tags: dict[str, float], objects: list[DetectedObject], vocab: Vocabulary, size
) -> list[Category]:
    scores: dict[str, float] = {}
    for tag, confidence in tags.items():
        category = vocab.category(tag)
        if category and confidence >= CATEGORY_FLOOR:
            scores[category] = max(scores.get(category, 0.0), confidence)
    people = [o for o in objects if o.name == "person" and o.confidence >= CAPTION_FLOOR]
    if people:
        best = max(o.confidence for o in people)
        if len(people) >= PEOPLE_MANY_FROM:
            scores["people_many"] = best
        elif len(people) >= PEOPLE_GROUP_FROM:
            scores["people_group"] = best
        elif (
            max(o.rectangle.width * o.rectangle.height for o in people)
            >= PORTRAIT_COVERAGE * size[0] * size[1]
        ):
            scores["people_portrait"] = best
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    return [Category(name=name, score=round(score, 4)) for name, score in ranked]


def describe(
    probabilities: np.ndarray,
    class_names: list[str],
    objects: list[DetectedObject],
    regions: list[TextRegion],
    recognised: list[tuple[str, float]],
    size: tuple[int, int],
    vocab: Vocabulary,
) -> Scene:
    """What the picture shows, from the models' outputs for it: class probabilities, objects, text regions
    and the recognition of ``lines_to_confirm(regions)``; ``size`` is (width, height)."""
    tags: dict[str, float] = {
        tag: confidence
        for tag, confidence in vocab.from_probabilities(probabilities).items()
        if confidence >= TAG_FLOOR
    }
    _merge(tags, _class_name_tags(probabilities, class_names, vocab))
    for found in objects:
        _merge(tags, {name: found.confidence for name in [found.name, *vocab.tags_of_object(found.name)]})
    text = _text_tags(regions, recognised, size)
    _merge(tags, text)
    ranked = sorted(tags.items(), key=lambda item: (-item[1], item[0]))
    return Scene(
        tags=[Tag(name=name, confidence=round(min(confidence, 1.0), 4)) for name, confidence in ranked],
        categories=_categories(tags, objects, vocab, size),
        caption=compose_caption(objects, tags, text.get("document")),
    )
