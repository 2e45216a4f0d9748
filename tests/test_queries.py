"""The worked queries of infra/sql/queries.sql answer correctly, and hostile names, tags and text are data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot

from pipeline.contract import BlobRef
from pipeline.db import MIGRATIONS_ROOT, SQLITE, TSQL
from pipeline.ids import image_id_for
from pipeline.records import JobOutcome, TextLineRecord
from tests.pipeline_harness import Harness

QUERIES = MIGRATIONS_ROOT / "queries.sql"
FULL = "normalize,analyze,ocr,faces,facematch,persist"
SAMPLES = ["grace_hopper.jpg", "astronaut.png", "phone_rotated_exif.jpg", "two_people.jpg", "page_of_text.png",
           "not_an_image.jpg"]  # fmt: skip


def worked_queries() -> list[tuple[str, str]]:
    """(title, statement) for each numbered query in queries.sql."""
    text = QUERIES.read_text(encoding="utf-8")
    blocks = re.split(r"^-- (\d+\. .*)$", text, flags=re.MULTILINE)[1:]
    return [(title, SQLITE.split(body)[0]) for title, body in zip(blocks[::2], blocks[1::2], strict=True)]


@pytest.fixture
def answered(runtime, azurite, samples):
    runtime.pipeline = tuple(FULL.split(","))
    harness = Harness(runtime, azurite.connection_string)
    for name in SAMPLES:
        harness.ingest(harness.upload(samples / name, f"samples/{name}"))
        harness.run_all()

    # A caseworker labels Grace Hopper's person and moves the phone photo's face out of it (queries 10, 12).
    def face_of(name: str) -> str:
        image = str(image_id_for(BlobRef(container="images", name=f"samples/{name}")))
        return str(runtime.database.query("SELECT face_id FROM faces WHERE image_id = ?", [image])[1][0][0])

    hopper = face_of("grace_hopper.jpg")
    (person,) = runtime.database.query("SELECT person_id FROM person_faces WHERE face_id = ?", [hopper])[1][0]
    runtime.reviews.label(str(person), "case-0001", "caseworker-1")
    runtime.reviews.move_out(str(person), face_of("phone_rotated_exif.jpg"), "caseworker-1")
    return {title: runtime.database.query(sql)[1] for title, sql in worked_queries()}


def by_number(answered: dict, number: int) -> list[tuple]:
    return next(rows for title, rows in answered.items() if title.startswith(f"{number}."))


def names(rows, column=0) -> set[str]:
    return {row[column].removeprefix("samples/") for row in rows}


def test_every_worked_query_answers_its_question(answered):
    assert len(answered) == 12
    # The phone photo's face was moved out of Grace Hopper's person: query 1 follows the decision.
    assert names(by_number(answered, 1)) == {"two_people.jpg"}
    assert by_number(answered, 2) == []  # the example face id matches nothing
    assert names(by_number(answered, 3)) == {"grace_hopper.jpg", "astronaut.png", "phone_rotated_exif.jpg",
                                             "two_people.jpg"}  # fmt: skip
    assert names(by_number(answered, 4)) == {"page_of_text.png"}
    assert dict(by_number(answered, 5)) == {"complete": 5, "failed": 1}
    steps = {(step, status): count for step, status, count in by_number(answered, 6)}
    assert steps[("persist", "ok")] == 5 and steps[("normalize", "failed")] == 1
    [(step, error, images, attempts)] = by_number(answered, 7)
    assert (step, images, attempts) == ("normalize", 1, 1) and "not a decodable image" in error
    assert names(by_number(answered, 8)) == {"two_people.jpg"}
    queue = by_number(answered, 9)
    assert [row[4] for row in queue] == sorted((row[4] for row in queue), reverse=True) and len(
        queue
    ) == 2  # 4 pairs, 2 decided
    assert names(by_number(answered, 10)) == {"grace_hopper.jpg", "two_people.jpg"}
    persons = by_number(answered, 11)
    assert sorted(row[2] for row in persons)[-2:] == [2, 2] and any(row[1] == "case-0001" for row in persons)
    decisions = by_number(answered, 12)  # the phone face against the two other photos of her that matched it
    assert len(decisions) == 2 and {row[2] for row in decisions} == {"rejected"}


@pytest.mark.parametrize("path", sorted(MIGRATIONS_ROOT.parent.rglob("*.sql")), ids=lambda p: str(p.name))
def test_every_sql_file_under_infra_parses_as_tsql(path: Path):
    dialect = TSQL if "tsql" in path.parts else SQLITE
    for statement in dialect.split(path.read_text(encoding="utf-8")):
        parsed = sqlglot.parse(statement, read="tsql")
        assert parsed and all(tree is not None for tree in parsed), statement[:80]


def test_hostile_names_tags_and_text_are_stored_as_data(runtime, azurite, samples):
    harness = Harness(runtime, azurite.connection_string)
    hostile_name = "evil/x'); DROP TABLE images;--\" 100% _ .jpg"
    ref = harness.upload(samples / "coffee.png", hostile_name)
    job = harness.ingest(ref)
    tags = [("x' OR '1'='1", 0.9), ("%_", 0.5), ("Robert'); DROP TABLE image_tags;--", 0.4)]
    line = "'; DELETE FROM text_lines; --"
    stored = runtime.records.complete_job(
        job,
        JobOutcome(width=10, height=10, faces=[], outputs={"ocr": {"text": line}}, tags=tags,
                   text_lines=[TextLineRecord(line, 0.9, [0, 0, 5, 0, 5, 5, 0, 5])], full_text=line),
    )  # fmt: skip
    assert stored
    row = harness.image_row(ref)
    assert row["blob_name"] == hostile_name and row["text"] == line
    _, found = runtime.database.query("SELECT tag FROM v_tags WHERE tag = ?", ["x' OR '1'='1"])
    assert found == [("x' OR '1'='1",)]
    _, all_tags = runtime.database.query("SELECT tag FROM image_tags ORDER BY confidence DESC")
    assert [tag for (tag,) in all_tags] == [tag for tag, _ in tags]
    _, tables = runtime.database.query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'images'"
    )
    assert tables == [("images",)]
