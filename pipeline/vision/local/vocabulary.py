"""The broad tag vocabulary (``vocabulary.toml``): ImageNet classes and COCO objects -> tags and categories.

A tag stands for a set of ImageNet classes: its own and those of every narrower tag (``dog`` is under
``mammal``, under ``animal``), so its classifier confidence is the summed probability of that set — a cat
photo split between "tabby" and "Egyptian cat" is still confidently a ``cat`` and an ``animal``. A detected
object gives its own name and every tag listing it (with their broader tags) the detection's confidence.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import numpy as np

CLASSES = 1000


@dataclass(frozen=True)
class TagEntry:
    name: str
    parents: tuple[str, ...] = ()
    imagenet: frozenset[int] = frozenset()
    coco: frozenset[str] = frozenset()
    category: str | None = None


@dataclass(frozen=True)
class Vocabulary:
    entries: dict[str, TagEntry]
    # Every tag -> the ImageNet classes it covers (its own and its descendants'), as an index array.
    class_sets: dict[str, np.ndarray] = field(repr=False)
    # ImageNet classes whose own name is never reported as a tag.
    unnamed: frozenset[int] = frozenset()

    def ancestors(self, tag: str) -> list[str]:
        """The tag itself, then every broader tag, nearest first, each once."""
        order, queue = [], [tag]
        while queue:
            current = queue.pop(0)
            if current not in order and current in self.entries:
                order.append(current)
                queue.extend(self.entries[current].parents)
        return order

    def from_probabilities(self, probabilities: np.ndarray) -> dict[str, float]:
        """Tag -> summed probability of its classes (capped at 1)."""
        return {
            tag: min(1.0, float(probabilities[indices].sum()))
            for tag, indices in self.class_sets.items()
            if len(indices)
        }

    def tags_of_object(self, name: str) -> list[str]:
        """The vocabulary tags a detected COCO object implies (with their broader tags)."""
        direct = [entry.name for entry in self.entries.values() if name in entry.coco]
        implied: list[str] = []
        for tag in direct:
            implied.extend(t for t in self.ancestors(tag) if t not in implied)
        return implied

    def category(self, tag: str) -> str | None:
        entry = self.entries.get(tag)
        return entry.category if entry else None


def _indices(values: list[int | str]) -> frozenset[int]:
    found: set[int] = set()
    for value in values:
        if isinstance(value, int):
            found.add(value)
        else:
            first, last = (int(part) for part in value.split("-"))
            found.update(range(first, last + 1))
    if any(not 0 <= index < CLASSES for index in found):
        raise ValueError(f"ImageNet class out of range in {values}")
    return frozenset(found)


def parse(text: str) -> Vocabulary:
    document = tomllib.loads(text)
    raw = document["tags"]
    unnamed = _indices(document.get("class_names", {}).get("never", []))
    entries = {
        name: TagEntry(
            name=name,
            parents=tuple(spec.get("parents", ())),
            imagenet=_indices(spec.get("imagenet", [])),
            coco=frozenset(spec.get("coco", ())),
            category=spec.get("category"),
        )
        for name, spec in raw.items()
    }
    for entry in entries.values():
        unknown = [parent for parent in entry.parents if parent not in entries]
        if unknown:
            raise ValueError(f"tag {entry.name!r} has unknown parents {unknown}")
    covered: dict[str, set[int]] = {name: set(entry.imagenet) for name, entry in entries.items()}
    vocabulary = Vocabulary(entries=entries, class_sets={})
    for entry in entries.values():
        for ancestor in vocabulary.ancestors(entry.name)[1:]:
            covered[ancestor].update(entry.imagenet)
    class_sets = {name: np.array(sorted(indices), dtype=int) for name, indices in covered.items()}
    return Vocabulary(entries=entries, class_sets=class_sets, unnamed=unnamed)


@cache
def vocabulary() -> Vocabulary:
    return parse(resources.files(__package__).joinpath("vocabulary.toml").read_text("utf-8"))
