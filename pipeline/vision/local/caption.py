"""A one-line caption composed from what the detectors found — never a word that nothing detected.

The caption names at most two things: the main subject (people first, then animals, vehicles, then the
largest other object) and one other, joined by a relation read from their rectangles: ``on`` when the
subject's lowest point rests inside a thing one sits or lies on, ``with`` when the other thing's centre is
inside the subject (worn or held), ``beside`` otherwise. Without any detected object, the most specific
classifier tag that is confident enough stands alone ("a cat"), or a page of text regions makes "a document
with text". Counts come from the detections ("two people"). The caption's confidence is that of its least
certain part, and no caption is returned when nothing reaches ``CAPTION_FLOOR``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.vision.base import Caption, DetectedObject, Rectangle

CAPTION_FLOOR = 0.5
NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five"}
GROUP_FROM = 6
# Detected things a person or an animal sits, lies or rides on.
SUPPORTS = frozenset(
    {"couch", "bed", "chair", "bench", "dining table", "motorcycle", "bicycle", "horse", "boat", "surfboard",
     "skateboard", "skis", "snowboard"}
)  # fmt: skip
ANIMALS = frozenset({"bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"})
VEHICLES = frozenset({"bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat"})
PLURALS = {"person": "people", "bus": "buses", "couch": "couches", "bench": "benches", "sheep": "sheep",
           "knife": "knives", "skis": "skis", "glass": "glasses"}  # fmt: skip
UNCOUNTABLE = frozenset({"food", "clothing", "furniture", "livestock", "water", "tableware", "electronics"})
# Classifier tags that may stand alone as a caption, most specific first (a tag listed earlier wins).
CAPTION_TAGS = (
    "dog", "cat", "horse", "cow", "sheep", "bird", "fish", "bear", "elephant", "wild cat", "primate", "insect",
    "car", "bus", "truck", "bicycle", "motorcycle", "boat", "train", "aircraft", "tent", "bridge",
    "place of worship", "shop", "building", "book", "food", "drink", "flower", "plant", "mountain", "beach",
    "landscape", "animal", "vehicle",
)  # fmt: skip


@dataclass(frozen=True)
class _Group:
    name: str
    count: int
    confidence: float
    main: Rectangle  # the group's most confident rectangle

    def phrase(self) -> str:
        if self.count == 1:
            return _with_article(self.name)
        plural = PLURALS.get(self.name, self.name + "s")
        if self.count >= GROUP_FROM:
            return f"a group of {plural}"
        return f"{NUMBERS[self.count]} {plural}"


def _with_article(noun: str) -> str:
    if noun in UNCOUNTABLE:
        return noun
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _priority(group: _Group) -> tuple[int, float]:
    kind = 0 if group.name == "person" else 1 if group.name in ANIMALS else 2 if group.name in VEHICLES else 3
    return kind, -group.main.width * group.main.height


def _groups(objects: list[DetectedObject]) -> list[_Group]:
    by_name: dict[str, list[DetectedObject]] = {}
    for found in objects:
        if found.confidence >= CAPTION_FLOOR:
            by_name.setdefault(found.name, []).append(found)
    groups = [
        _Group(name=name, count=len(found), confidence=max(o.confidence for o in found),
               main=max(found, key=lambda o: o.confidence).rectangle)
        for name, found in by_name.items()
    ]  # fmt: skip
    return sorted(groups, key=_priority)


def _inside(x: float, y: float, box: Rectangle) -> bool:
    return box.left <= x <= box.left + box.width and box.top <= y <= box.top + box.height


def _relation(subject: _Group, other: _Group) -> str:
    s, o = subject.main, other.main
    if other.name in SUPPORTS and _inside(s.left + s.width / 2, s.top + s.height, o):
        return "on"
    if _inside(o.left + o.width / 2, o.top + o.height / 2, s) and o.width * o.height < s.width * s.height:
        return "with"
    return "beside"


def compose_caption(
    objects: list[DetectedObject], tags: Mapping[str, float], document_confidence: float | None
) -> Caption | None:
    """The caption, or None when no detection, tag or text reaches ``CAPTION_FLOOR``."""
    groups = _groups(objects)
    if groups:
        subject = groups[0]
        text, confidence = subject.phrase(), subject.confidence
        if len(groups) > 1:
            other = groups[1]
            text = f"{text} {_relation(subject, other)} {other.phrase()}"
            confidence = min(confidence, other.confidence)
        return Caption(text=text, confidence=round(confidence, 4))
    if document_confidence is not None and document_confidence >= CAPTION_FLOOR:
        return Caption(text="a document with text", confidence=round(document_confidence, 4))
    for tag in CAPTION_TAGS:
        if tags.get(tag, 0.0) >= CAPTION_FLOOR:
            return Caption(text=_with_article(tag), confidence=round(tags[tag], 4))
    return None
