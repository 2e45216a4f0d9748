"""Grouping faces into persons: links in, groups out — pure, so the incremental and the full path agree.

A person is a connected group of faces through confirmed and pending links (matches and reviewers'
confirmations). Two faces of one photo, and a pair a reviewer rejected, must never end in one person
(cannot-link constraints). Links are taken strongest first — every confirmed link before any pending one,
pending ones by confidence — and a link whose union would break a constraint does not happen, so when a
chain of links contradicts a decision, the weakest links give way.

The result for a set of faces depends only on the links among them. Links never cross two components of the
link graph, so grouping one component (the incremental path, after a job or a decision) gives exactly what
grouping everything gives for it (``persons --recompute``).

Ids: groups take, largest first, the id of the existing person holding most of their faces (a person keeps
its id as it grows, and on a split the larger part keeps it); a group with no existing person gets a new id
derived from its first face, so the same history always yields the same ids.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

PERSON_NAMESPACE = uuid.UUID("2d6f5b8e-5a43-4c7a-9f51-3b1a0e8c6d21")


@dataclass(frozen=True)
class Link:
    """A reason to put two faces in one person: a match (pending) or a reviewer's confirmation."""

    face: str
    other: str
    confirmed: bool
    confidence: float

    def strength(self) -> tuple:
        return (not self.confirmed, -self.confidence, *sorted((self.face, self.other)))


class _Groups:
    """Union-find whose unions refuse to join faces of one photo or a rejected pair."""

    def __init__(self, image_of: Mapping[str, str], rejected: Mapping[str, set[str]]) -> None:
        self.parent = {face: face for face in image_of}
        self.members = {face: {face} for face in image_of}
        self.images = {face: {image} for face, image in image_of.items()}
        self.forbidden = {face: set(rejected.get(face, ())) for face in image_of}

    def find(self, face: str) -> str:
        root = face
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[face] != root:
            self.parent[face], face = root, self.parent[face]
        return root

    def union(self, face: str, other: str) -> bool:
        a, b = self.find(face), self.find(other)
        if a == b:
            return True
        if len(self.members[a]) < len(self.members[b]):
            a, b = b, a
        if not self.images[a].isdisjoint(self.images[b]):
            return False  # two faces of one photo
        if not self.forbidden[a].isdisjoint(self.members[b]):
            return False  # a rejected pair (kept from both sides, so one check covers it)
        self.parent[b] = a
        self.members[a] |= self.members.pop(b)
        self.images[a] |= self.images.pop(b)
        self.forbidden[a] |= self.forbidden.pop(b)
        return True

    def groups(self) -> list[frozenset[str]]:
        return [frozenset(members) for members in self.members.values()]


def group_faces(
    image_of: Mapping[str, str], links: Iterable[Link], rejected: Iterable[tuple[str, str]]
) -> list[frozenset[str]]:
    """The persons of these faces (face -> its image), given their links and the rejected pairs."""
    forbidden: dict[str, set[str]] = {}
    for face, other in rejected:
        forbidden.setdefault(face, set()).add(other)
        forbidden.setdefault(other, set()).add(face)
    groups = _Groups(image_of, forbidden)
    for link in sorted(links, key=Link.strength):
        if link.face in image_of and link.other in image_of:
            groups.union(link.face, link.other)
    return groups.groups()


def new_person_id(group: frozenset[str], taken: Callable[[str], bool]) -> str:
    """A person id derived from the group's first face; the next derivation when that one is taken."""
    seed = min(group)
    for attempt in range(1000):
        candidate = str(uuid.uuid5(PERSON_NAMESPACE, seed if attempt == 0 else f"{seed}#{attempt}"))
        if not taken(candidate):
            return candidate
    raise RuntimeError(f"no free person id for face {seed}")


def assign_person_ids(
    groups: Iterable[frozenset[str]], current: Mapping[str, str], taken: Callable[[str], bool]
) -> dict[frozenset[str], str]:
    """Each group's person id: largest groups first take the existing person holding most of their faces.

    ``current`` maps faces to their person today; ``taken`` says whether an id is in use outside these groups.
    """
    sizes = Counter(current.values())
    chosen: dict[frozenset[str], str] = {}
    used: set[str] = set()
    for group in sorted(groups, key=lambda g: (-len(g), min(g))):
        votes = Counter(current[face] for face in group if face in current)
        candidates = sorted(votes, key=lambda person: (-votes[person], -sizes[person], person))
        person = next((candidate for candidate in candidates if candidate not in used), None)
        if person is None:
            person = new_person_id(group, lambda candidate: candidate in used or taken(candidate))
        chosen[group] = person
        used.add(person)
    return chosen
