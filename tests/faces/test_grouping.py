"""The grouping rule itself, on hand-made links: strongest first, constraints never broken, ids kept."""

from __future__ import annotations

import random

from pipeline.faces.grouping import Link, assign_person_ids, group_faces


def pending(a: str, b: str, confidence: float) -> Link:
    return Link(a, b, False, confidence)


def as_sets(groups) -> set[frozenset[str]]:
    return set(groups)


def test_connected_faces_form_one_person_and_singletons_stay_alone():
    images = {"a": "1", "b": "2", "c": "3", "d": "4"}
    groups = group_faces(images, [pending("a", "b", 0.9), pending("b", "c", 0.7)], [])
    assert as_sets(groups) == {frozenset("abc"), frozenset("d")}


def test_two_faces_of_one_photo_never_share_a_person_and_the_weaker_link_gives_way():
    # b and c are two people in one photo; a matches both, b better.
    images = {"a": "1", "b": "2", "c": "2"}
    groups = group_faces(images, [pending("a", "c", 0.8), pending("a", "b", 0.9)], [])
    assert as_sets(groups) == {frozenset("ab"), frozenset("c")}


def test_a_rejected_pair_splits_a_chain_at_its_weakest_link():
    # a-b-c-d in a chain; a reviewer says a and d are different people: the weakest link (c-d) goes.
    images = {face: face for face in "abcd"}
    links = [pending("a", "b", 0.95), pending("b", "c", 0.9), pending("c", "d", 0.6)]
    assert as_sets(group_faces(images, links, [("a", "d")])) == {frozenset("abc"), frozenset("d")}


def test_confirmed_links_come_before_any_pending_one():
    images = {"a": "1", "b": "2", "c": "2"}  # b and c in one photo
    links = [pending("a", "b", 0.99), Link("a", "c", True, 0.1)]
    assert as_sets(group_faces(images, links, [])) == {frozenset("ac"), frozenset("b")}


def test_the_result_does_not_depend_on_the_order_links_arrive_in():
    rng = random.Random(7)
    images = {f"f{i}": f"img{i // 2}" for i in range(40)}
    links = [
        pending(f"f{rng.randrange(40)}", f"f{rng.randrange(40)}", round(rng.random(), 3)) for _ in range(120)
    ]
    rejected = [(f"f{rng.randrange(40)}", f"f{rng.randrange(40)}") for _ in range(10)]
    expected = as_sets(group_faces(images, links, rejected))
    for _ in range(5):
        rng.shuffle(links)
        assert as_sets(group_faces(images, links, rejected)) == expected


def test_a_person_keeps_its_id_as_it_grows_and_the_larger_part_keeps_it_on_a_split():
    current = {"a": "P", "b": "P", "c": "P", "d": "Q"}
    grown = assign_person_ids([frozenset("abce")], current, lambda person: False)
    assert grown == {frozenset("abce"): "P"}
    split = assign_person_ids([frozenset("a"), frozenset("bc")], current, lambda person: False)
    assert split[frozenset("bc")] == "P" and split[frozenset("a")] not in ("P", "Q")
    # New ids are derived from the group, so the same history gives the same ids.
    assert assign_person_ids([frozenset("xy")], {}, lambda person: False) == assign_person_ids(
        [frozenset("xy")], {}, lambda person: False
    )
    taken = assign_person_ids([frozenset("xy")], {}, lambda person: False)[frozenset("xy")]
    other = assign_person_ids([frozenset("xy")], {}, lambda person: person == taken)[frozenset("xy")]
    assert other != taken
