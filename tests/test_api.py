"""The query API: pipeline/api.py on real pipeline output (Azurite + SQLite ODBC), and its HTTP routes in
the local host."""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlglot
from sqlglot.errors import ParseError

from pipeline import api
from pipeline.api import batches as api_batches
from pipeline.api import faces as api_faces
from pipeline.api import images as api_images
from pipeline.db import SQLITE, TSQL, Database
from pipeline.ids import image_id_for
from pipeline.runtime import Runtime
from pipeline.settings import Settings
from steps import STEPS_BY_NAME
from tests.conftest import _empty_storage
from tests.pipeline_harness import Harness, start_host

FULL = "normalize,analyze,ocr,faces,facematch,persist"
# Processed in this order: each photo is matched against the ones before it.
PEOPLE = ["grace_hopper.jpg", "astronaut.png", "two_people.jpg"]
OTHERS = ["page_of_text.png", "not_an_image.jpg"]
INJECTION_TAG = "x' OR '1'='1"
WILDCARD_TAG = "%_"


class RecordingDatabase(Database):
    """The real database, remembering every statement it ran (for the T-SQL parse check)."""

    def __init__(self, connection_string: str) -> None:
        super().__init__(connection_string)
        self.statements: list[str] = []

    def query(self, sql, params=()):
        self.statements.append(sql)
        return super().query(sql, params)


class Processed:
    def __init__(self, database: RecordingDatabase, ids: dict[str, str]) -> None:
        self.database = database
        self.ids = ids  # sample file name -> image id

    def names(self, body: dict) -> list[str]:
        return [item["blob_name"].split("/", 1)[1] for item in body["items"]]

    def list(self, **params) -> dict:
        status, body = api.list_images(self.database, {k: str(v) for k, v in params.items()})
        assert status == 200, body
        return body


@pytest.fixture(scope="module")
def processed(azurite, samples, tmp_path_factory) -> Iterator[Processed]:
    """The samples through the whole pipeline once for the module: people in batch 'people', the rest in
    'misc'; then tags inserted by hand beside the open models' own, some looking like SQL."""
    connection_string = f"Driver=SQLite3;Database={tmp_path_factory.mktemp('api') / 'api.db'};Timeout=30000"
    settings = Settings(
        pipeline_steps=FULL,
        sql_connection_string=connection_string,
        storage={"AzureWebJobsStorage": azurite.connection_string},
    )
    runtime = Runtime.from_settings(settings, STEPS_BY_NAME)
    runtime.database.upgrade()
    _empty_storage(azurite, runtime)
    harness = Harness(runtime, azurite.connection_string)
    ids = {}
    for batch, names in (("people", PEOPLE), ("misc", OTHERS)):
        for name in names:
            ref = harness.upload(samples / name, f"{batch}/{name}")
            harness.ingest(ref)
            harness.run_all()
            ids[name] = str(image_id_for(ref))
    with runtime.database.transaction() as cursor:
        cursor.executemany(
            "INSERT INTO image_tags (image_id, tag, confidence) VALUES (?, ?, ?)",
            [
                (ids["grace_hopper.jpg"], INJECTION_TAG, 0.5),
                (ids["grace_hopper.jpg"], WILDCARD_TAG, 0.4),
                (ids["astronaut.png"], "Person", 0.95),
                (ids["astronaut.png"], "space", 0.7),
            ],
        )
    runtime.database.close()
    database = RecordingDatabase(connection_string)
    yield Processed(database, ids)
    database.close()


def face_ids(processed: Processed, name: str) -> list[str]:
    status, body = api.get_image(processed.database, processed.ids[name])
    assert status == 200
    return [face["face_id"] for face in body["faces"]]


# --- list -----------------------------------------------------------------------------------------------


def test_list_without_filters_returns_every_image_ordered_by_blob_name(processed):
    body = processed.list()
    assert body["total"] == 5 and body["limit"] == 50 and body["offset"] == 0
    blobs = [item["blob_name"] for item in body["items"]]
    assert blobs == sorted(blobs) and len(blobs) == 5
    item = next(i for i in body["items"] if i["blob_name"] == "people/grace_hopper.jpg")
    assert set(item) == {
        "image_id", "blob_name", "batch_id", "status", "failed_step", "error", "face_count", "tags", "caption",
    }  # fmt: skip
    assert item["image_id"] == processed.ids["grace_hopper.jpg"] and item["batch_id"] == "people"
    assert (
        item["status"] == "complete" and item["face_count"] == 1 and item["caption"] == "a person with a tie"
    )
    tags = item["tags"]  # best first: the detector's person (0.9) before the hand-made 0.5 and 0.4
    assert tags.index("person") < tags.index(INJECTION_TAG) < tags.index(WILDCARD_TAG)


def test_tag_filter_treats_sql_and_wildcards_in_tags_as_data(processed):
    people = processed.list(tag="person")
    assert processed.names(people) == ["astronaut.png", "grace_hopper.jpg", "two_people.jpg"]
    assert processed.names(processed.list(tag=INJECTION_TAG)) == ["grace_hopper.jpg"]
    assert processed.names(processed.list(tag=WILDCARD_TAG)) == ["grace_hopper.jpg"]
    for not_a_tag in ("%", "_", "pers%", "' OR 1=1 --", "person'; DROP TABLE images; --"):
        assert processed.list(tag=not_a_tag)["total"] == 0, not_a_tag
    assert processed.list()["total"] == 5  # nothing was dropped


def test_text_filter_finds_a_word_in_the_ocr_text_case_insensitively(processed):
    assert processed.names(processed.list(text="coins")) == ["page_of_text.png"]
    assert processed.names(processed.list(text="COINS")) == ["page_of_text.png"]
    assert processed.names(processed.list(text="markers of the")) == ["page_of_text.png"]
    # Wildcards and quotes in the search text are literal characters.
    for literal in ("%", "_", "[a-z]", "c_ins", "coins' OR '1'='1", "!"):
        assert processed.list(text=literal)["total"] == 0, literal


def test_text_filter_escapes_like_wildcards():
    assert api_images.like_contains("50%_off [x]!") == "%50!%!_off ![x]!!%"


def test_batch_status_and_face_filters(processed):
    assert processed.names(processed.list(batch="people")) == sorted(PEOPLE)
    assert processed.names(processed.list(batch="misc")) == sorted(OTHERS)
    assert processed.list(batch="peop")["total"] == 0
    failed = processed.list(status="failed")
    assert processed.names(failed) == ["not_an_image.jpg"]
    assert failed["items"][0]["failed_step"] == "normalize" and failed["items"][0]["error"]
    assert processed.list(status="processing")["total"] == 0
    assert processed.names(processed.list(has_faces="true")) == sorted(PEOPLE)
    # Analysed and no face found; a failed image was never analysed, so it matches neither.
    assert processed.names(processed.list(has_faces="false")) == ["page_of_text.png"]
    combined = processed.list(batch="people", has_faces="TRUE", tag="person", status="complete")
    assert processed.names(combined) == sorted(PEOPLE)
    assert processed.list(batch="misc", tag="person")["total"] == 0


def test_paging_is_stable_and_pages_do_not_overlap(processed):
    everything = [item["image_id"] for item in processed.list()["items"]]
    pages = [processed.list(limit=2, offset=offset) for offset in (0, 2, 4, 6)]
    assert [len(page["items"]) for page in pages] == [2, 2, 1, 0]
    assert all(page["total"] == 5 and page["limit"] == 2 for page in pages)
    assert [page["offset"] for page in pages] == [0, 2, 4, 6]
    assert [item["image_id"] for page in pages for item in page["items"]] == everything
    assert processed.list(limit=2, offset=2) == pages[1]  # the same page twice
    filtered = processed.list(batch="people", limit=1, offset=1)
    assert processed.names(filtered) == ["grace_hopper.jpg"] and filtered["total"] == 3


# --- one image, faces, batches --------------------------------------------------------------------------


def test_one_image_has_all_its_results(processed):
    status, body = api.get_image(processed.database, processed.ids["page_of_text.png"].upper())
    assert status == 200
    assert body["image_id"] == processed.ids["page_of_text.png"]
    assert body["blob_name"] == "misc/page_of_text.png" and body["status"] == "complete"
    assert body["pipeline"] == FULL.split(",") and body["width"] > 0 and body["face_count"] == 0
    assert body["received_at"].endswith("Z") and body["completed_at"] >= body["received_at"]
    for section in ("tags", "objects", "text", "text_lines", "faces", "steps", "results"):
        assert section in body, section
    assert {"text", "document"} <= {tag["name"] for tag in body["tags"]}
    assert body["objects"] == [] and body["faces"] == [] and body["caption"] == "a document with text"
    assert "markers of the coins" in body["text"]
    assert [line["text"] for line in body["text_lines"]] == body["text"].splitlines()
    line = body["text_lines"][0]
    assert set(line) == {"text", "confidence", "polygon", "rectangle"}
    assert len(line["polygon"]) == 8 and line["rectangle"]["width"] > 0
    assert [run["step"] for run in body["steps"]] == FULL.split(",")
    assert all(run["status"] == "ok" and run["attempt"] == 1 for run in body["steps"])
    assert all(run["started_at"] <= run["finished_at"] for run in body["steps"])
    assert set(body["results"]) == set(FULL.split(",")) - {"persist"}
    assert body["results"]["analyze"]["caption_source"] == "composed"
    assert body["results"]["analyze"]["unsupported"] == {"adult.gore": "unsupported by provider local"}
    json.dumps(body)  # JSON-able as it is


def test_an_image_with_tags_faces_and_a_failed_image(processed):
    _, grace = api.get_image(processed.database, processed.ids["grace_hopper.jpg"])
    confidences = [tag["confidence"] for tag in grace["tags"]]
    assert confidences == sorted(confidences, reverse=True)
    assert {"name": INJECTION_TAG, "confidence": 0.5} in grace["tags"] and "person" in {
        tag["name"] for tag in grace["tags"]
    }
    assert [o["name"] for o in grace["objects"]] == ["person", "tie"] and grace["objects"][0]["rectangle"]
    [face] = grace["faces"]
    assert set(face) == {"face_id", "face_index", "rectangle", "detection_score", "crop_blob", "matches"}
    assert face["matches"] == 1 and face["crop_blob"] and face["rectangle"]["height"] > 0
    _, two = api.get_image(processed.database, processed.ids["two_people.jpg"])
    assert [f["matches"] for f in two["faces"]] == [1, 1]
    status, broken = api.get_image(processed.database, processed.ids["not_an_image.jpg"])
    assert status == 200 and broken["status"] == "failed" and broken["failed_step"] == "normalize"
    assert broken["steps"][-1]["status"] == "failed" and broken["steps"][-1]["error"]


def test_face_matches_are_read_in_both_directions(processed):
    [grace] = face_ids(processed, "grace_hopper.jpg")
    [astronaut] = face_ids(processed, "astronaut.png")
    two = face_ids(processed, "two_people.jpg")
    status, earlier = api.get_face_matches(processed.database, grace)
    assert status == 200
    assert earlier["face_id"] == grace and earlier["blob_name"] == "people/grace_hopper.jpg"
    assert earlier["image_id"] == processed.ids["grace_hopper.jpg"]
    [match] = earlier["matches"]  # stored as two_people -> grace_hopper
    assert match["face_id"] in two and match["blob_name"] == "people/two_people.jpg"
    assert match["image_id"] == processed.ids["two_people.jpg"] and 0.5 <= match["confidence"] <= 1
    _, later = api.get_face_matches(processed.database, match["face_id"])
    assert [m["face_id"] for m in later["matches"]] == [grace]
    assert later["matches"][0]["confidence"] == match["confidence"]
    matched = {
        m["blob_name"] for face in two for m in api.get_face_matches(processed.database, face)[1]["matches"]
    }
    assert matched == {"people/grace_hopper.jpg", "people/astronaut.png"}
    _, lone = api.get_face_matches(processed.database, astronaut)
    assert [m["blob_name"] for m in lone["matches"]] == ["people/two_people.jpg"]


def test_batch_progress_counts_images_by_status_and_step_attempts_by_outcome(processed):
    status, people = api.get_batch(processed.database, "people")
    assert status == 200
    assert people == {
        "batch_id": "people",
        "images": 3,
        "status": {"processing": 0, "complete": 3, "failed": 0},
        "steps": {step: {"ok": 3, "retrying": 0, "failed": 0} for step in FULL.split(",")},
    }
    assert list(people["steps"]) == FULL.split(",")  # in the order they ran
    _, misc = api.get_batch(processed.database, "misc")
    assert misc["images"] == 2 and misc["status"] == {"processing": 0, "complete": 1, "failed": 1}
    assert misc["steps"]["normalize"] == {"ok": 1, "retrying": 0, "failed": 1}
    assert misc["steps"]["persist"] == {"ok": 1, "retrying": 0, "failed": 0}


# --- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit must be an integer from 1 to 500"),
        ({"limit": "501"}, "limit must be an integer from 1 to 500"),
        ({"limit": "ten"}, "limit must be an integer from 1 to 500"),
        ({"limit": "-1"}, "limit must be an integer from 1 to 500"),
        ({"limit": " 5"}, "limit must be an integer from 1 to 500"),
        ({"offset": "-1"}, "offset must be an integer from 0 to 2147483647"),
        ({"offset": "1.5"}, "offset must be an integer from 0 to 2147483647"),
        ({"status": "done"}, "status must be one of processing, complete, failed"),
        ({"status": "failed' OR '1'='1"}, "status must be one of processing, complete, failed"),
        ({"has_faces": "yes"}, "has_faces must be true or false"),
        ({"tag": ""}, "tag must not be empty"),
        ({"text": "x" * 201}, "text must be at most 200 characters"),
        ({"batch": "a/b"}, "batch must be at most 256 characters, without '/'"),
        ({"sort": "blob_name"}, "unknown parameter 'sort'; expected: tag, text, batch, status, has_faces, limit, offset"),
    ],
)  # fmt: skip
def test_invalid_list_parameters_are_400_with_a_message(processed, params, message):
    assert api.list_images(processed.database, params) == (400, {"error": message})


def test_the_function_key_parameter_is_not_a_filter(processed):
    status, body = api.list_images(processed.database, {"code": "secret", "limit": "1"})
    assert status == 200 and body["total"] == 5


def test_invalid_ids_are_400_and_unknown_ids_404(processed):
    db = processed.database
    for bad in ("42", "not-a-uuid", processed.ids["astronaut.png"] + "0", "' OR '1'='1", ""):
        assert api.get_image(db, bad) == (400, {"error": "image_id must be a UUID"})
        assert api.get_face_matches(db, bad) == (400, {"error": "face_id must be a UUID"})
    unknown = "00000000-0000-4000-8000-000000000000"
    assert api.get_image(db, unknown) == (404, {"error": f"image {unknown} not found"})
    # An image id is not a face id.
    image_id = processed.ids["grace_hopper.jpg"]
    assert api.get_face_matches(db, image_id) == (404, {"error": f"face {image_id} not found"})
    assert api.get_batch(db, "nope") == (404, {"error": "batch nope not found"})
    assert api.get_batch(db, "") == (400, {"error": "batch_id must not be empty"})
    assert api.get_image(db, image_id, {"x": "1"}) == (
        400,
        {"error": "unknown parameter 'x'; expected: none"},
    )


# --- SQL portability ------------------------------------------------------------------------------------


def test_every_statement_parses_as_tsql(processed):
    """No SQL Server runs here: every statement the API ran on SQLite, with the T-SQL paging substituted,
    must parse as T-SQL, and together they must include every SQL constant of pipeline/api/."""
    db = processed.database
    db.statements.clear()
    names = ["batch", "status", "tag", "text", "has_faces"]
    values = {"batch": "people", "status": "complete", "tag": "person", "text": "coins"}
    for size in range(len(names) + 1):
        for chosen in itertools.combinations(names, size):
            for faces in ("true", "false") if "has_faces" in chosen else (None,):
                params = {name: values.get(name, faces) for name in chosen}
                assert api.list_images(db, params)[0] == 200, params
    for image_id in processed.ids.values():
        assert api.get_image(db, image_id)[0] == 200
    assert api.get_face_matches(db, face_ids(processed, "grace_hopper.jpg")[0])[0] == 200
    assert api.get_batch(db, "people")[0] == 200

    statements = set(db.statements)
    constants = {
        value
        for module in (api_images, api_faces, api_batches)
        for name, value in vars(module).items()
        if name.endswith("_SQL") and isinstance(value, str)
    }
    constants |= set(api_images.IMAGE_FILTERS_SQL.values())
    # A template counts as run when a statement holds each of its constant parts.
    missing = {
        constant
        for constant in constants
        if not any(all(part in statement for part in constant.split("{}")) for statement in statements)
    }
    assert not missing, f"statements never run by this test: {missing}"
    # 1 + 2 + 2 per combination of filters (count, page, tags when the page is not empty), and the rest.
    assert len(statements) > 2 * 48

    for statement in statements:
        tsql = statement.replace(SQLITE.page_clause, TSQL.page_clause)
        assert "LIMIT" not in tsql.upper(), tsql
        if TSQL.page_clause in tsql:
            assert "ORDER BY" in tsql  # OFFSET ... FETCH needs one
        parsed = sqlglot.parse(tsql, read="tsql")
        assert len(parsed) == 1 and parsed[0] is not None, tsql
    assert (TSQL.page_clause, TSQL.page_parameters(10, 20)) == (
        " OFFSET ? ROWS FETCH NEXT ? ROWS ONLY",
        [20, 10],
    )
    assert (SQLITE.page_clause, SQLITE.page_parameters(10, 20)) == (" LIMIT ? OFFSET ?", [10, 20])


def test_the_tsql_parse_check_can_fail():
    with pytest.raises(ParseError):
        sqlglot.parse_one("SELECT image_id FROM images WHERE (status = ?", read="tsql")


# --- HTTP -----------------------------------------------------------------------------------------------


def _get(port: int, path: str) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/{path}", timeout=30) as response:
            return response.status, response.headers.get("Content-Type"), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type"), json.loads(error.read())


def _post(port: int, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/{path}", data=json.dumps(body).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.timeout(180)
def test_endpoints_over_http_in_the_local_host(processed, host_env, tmp_path: Path):
    host_env["SQL_CONNECTION_STRING"] = processed.database.connection_string
    log = tmp_path / "host.log"
    host = start_host(host_env, log)
    try:
        port = next(
            int(line.rsplit(":", 1)[1].split("/")[0])
            for line in log.read_text().splitlines()
            if "http://127.0.0.1:" in line
        )
        status, content_type, body = _get(port, "images?batch=people&has_faces=true&limit=2")
        assert (status, content_type) == (200, "application/json")
        assert body["total"] == 3 and [i["blob_name"] for i in body["items"]] == [
            "people/astronaut.png",
            "people/grace_hopper.jpg",
        ]
        status, _, body = _get(port, "images?text=Coins")
        assert status == 200 and [i["blob_name"] for i in body["items"]] == ["misc/page_of_text.png"]
        status, _, body = _get(port, "images?tag=x%27%20OR%20%271%27%3D%271")
        assert status == 200 and [i["blob_name"] for i in body["items"]] == ["people/grace_hopper.jpg"]
        status, _, body = _get(port, f"images/{processed.ids['page_of_text.png']}")
        assert status == 200 and "coins" in body["text"] and body["text_lines"]
        status, _, body = _get(port, "batches/misc")
        assert status == 200 and body["status"] == {"processing": 0, "complete": 1, "failed": 1}
        [face] = face_ids(processed, "grace_hopper.jpg")
        status, _, body = _get(port, f"faces/{face}/matches")
        assert status == 200 and [m["blob_name"] for m in body["matches"]] == ["people/two_people.jpg"]
        status, content_type, body = _get(port, "images?limit=1000")
        assert (status, content_type) == (400, "application/json")
        assert body == {"error": "limit must be an integer from 1 to 500"}
        status, _, body = _get(port, "images/not-a-uuid")
        assert (status, body) == (400, {"error": "image_id must be a UUID"})
        unknown = "00000000-0000-4000-8000-000000000000"
        status, _, body = _get(port, f"images/{unknown}")
        assert (status, body) == (404, {"error": f"image {unknown} not found"})
        status, _, body = _get(port, f"faces/{unknown}/matches")
        assert (status, body) == (404, {"error": f"face {unknown} not found"})
        # Defects found by a new user: a trailing newline, a repeated parameter, oversized and mistyped bodies.
        assert _get(port, "images?limit=5%0A")[::2] == (
            400,
            {"error": "limit must be an integer from 1 to 500"},
        )
        assert _get(port, f"images/{unknown}%0A")[::2] == (400, {"error": "image_id must be a UUID"})
        assert _get(port, "images?limit=1&limit=2")[::2] == (400, {"error": "limit must be given once"})
        assert _post(port, "forget", {"batch": "x" * (5 * 2**20)})[0] == 413
        assert _post(port, "forget", {"batch": 5}) == (400, {"error": "batch must be a string"})
        assert _post(port, "reprocess", {"batch": "nope"}) == (404, {"error": "no images in batch nope"})
    finally:
        host.terminate()
        host.wait(timeout=30)
