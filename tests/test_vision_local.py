"""The vision steps on the open-model provider, through the real helper, Azurite and SQLite ODBC."""

import pytest

from devhost.scenes import printed_page
from pipeline.faces.local_index import LocalFaceIndex, distance_to_confidence
from pipeline.runtime import Runtime
from pipeline.settings import Settings
from pipeline.vision.local.faces import DEFAULT_FACE_MODEL, FACE_MODELS
from steps import STEPS_BY_NAME
from tests.pipeline_harness import Harness
from tests.vision.test_local_ocr import without_final_stop

DEFAULT_MATCH_DISTANCE = FACE_MODELS[DEFAULT_FACE_MODEL].match_distance
FULL = "normalize,analyze,ocr,faces,facematch,persist"


@pytest.fixture
def harness(runtime, azurite):
    runtime.pipeline = tuple(FULL.split(","))
    return Harness(runtime, azurite.connection_string)


def rows(runtime, sql, *params):
    return runtime.database.query(sql, list(params))[1]


def process(harness, samples, names, batch="v"):
    refs = {}
    for name in names:
        refs[name] = harness.upload(samples / name, f"{batch}/{name}")
        harness.ingest(refs[name])
        harness.run_all()  # one after another: each photo is matched against the ones before it
    return refs


def test_printed_page_text_lands_in_v_images_line_by_line(harness, samples):
    refs = process(harness, samples, ["page_of_text.png"])
    row = harness.image_row(refs["page_of_text.png"])
    assert row["status"] == "complete"
    assert "Let us first determine markers of the coins" in row["text"]
    lines = rows(
        harness.runtime, "SELECT line_index, text, rect_width, polygon FROM text_lines ORDER BY line_index"
    )
    assert len(lines) >= 4 and lines[0][2] > 0 and len(lines[0][3].split(",")) == 8
    assert row["text"].splitlines() == [line[1] for line in lines]


def test_tags_objects_and_the_composed_caption_land_in_sql(harness, samples):
    refs = process(harness, samples, ["coffee.png", "two_people.jpg"])
    coffee = harness.image_row(refs["coffee.png"])
    assert coffee["caption"] == "a cup"
    assert coffee["tags"].split(", ")[:2] == ["drink", "espresso"]
    people = harness.image_row(refs["two_people.jpg"])
    assert people["caption"] == "two people with a tie" and "person" in people["tags"].split(", ")
    objects = rows(
        harness.runtime,
        "SELECT o.name, o.rect_width FROM image_objects o JOIN v_images i ON i.image_id = o.image_id "
        "WHERE i.blob_name = ? ORDER BY o.object_index",
        refs["two_people.jpg"].name,
    )
    assert [name for name, _ in objects].count("person") == 2 and all(width > 0 for _, width in objects)
    tags = rows(
        harness.runtime, "SELECT tag, confidence FROM v_tags WHERE blob_name = ?", refs["coffee.png"].name
    )
    assert dict(tags)["cup"] >= 0.5  # the cup the detector boxed (the working copy is a re-encoded JPEG)
    output = rows(harness.runtime, "SELECT output_json FROM step_results WHERE step = 'analyze'")[0][0]
    assert '"caption_source":"composed"' in output and "unsupported by provider local" not in output.replace(
        '"adult.gore":"unsupported by provider local"', ""
    )
    assert '"is_adult":false' in output and '"dominant_colors":[' in output


def test_accented_text_is_intact_in_v_images(harness, tmp_path):
    lines = [
        "Avis de recherche : Hélène Dupré, née à Genève.",
        "Se busca a José Muñoz, visto en Córdoba.",
        "Procura-se João Conceição; gesucht wird Jürgen Weiß.",
    ]
    printed_page(lines).save(tmp_path / "notice.png")
    ref = harness.upload(tmp_path / "notice.png", "v/notice.png")
    harness.ingest(ref)
    harness.run_all()
    row = harness.image_row(ref)
    assert without_final_stop(row["text"].splitlines()) == without_final_stop(lines)
    assert row["caption"] == "a document with text" and "text" in row["tags"].split(", ")


def test_same_person_is_matched_and_different_people_are_not(harness, samples):
    process(
        harness, samples, ["grace_hopper.jpg", "astronaut.png", "phone_rotated_exif.jpg", "two_people.jpg"]
    )
    pairs = {
        (a.split("/")[-1], b.split("/")[-1]): confidence
        for a, b, confidence in rows(
            harness.runtime, "SELECT image_blob, matched_image_blob, confidence FROM v_face_matches"
        )
    }
    assert set(pairs) == {
        ("phone_rotated_exif.jpg", "grace_hopper.jpg"),
        ("two_people.jpg", "grace_hopper.jpg"),
        ("two_people.jpg", "phone_rotated_exif.jpg"),
        ("two_people.jpg", "astronaut.png"),
    }
    assert all(0.5 <= confidence <= 1 for confidence in pairs.values())
    assert rows(harness.runtime, "SELECT COUNT(*) FROM face_index")[0][0] == 5


def test_matching_survives_a_restart_and_a_repeated_step_adds_no_face_twice(harness, samples, azurite):
    process(harness, samples, ["grace_hopper.jpg"])
    restarted = Runtime.from_settings(
        Settings(pipeline_steps=FULL, sql_connection_string=harness.runtime.settings.sql_connection_string,
                 storage={"AzureWebJobsStorage": azurite.connection_string}),
        STEPS_BY_NAME,
    )  # fmt: skip
    second = Harness(restarted, azurite.connection_string)
    ref = second.upload(samples / "phone_rotated_exif.jpg", "v/phone.jpg")
    second.ingest(ref)
    for step in ("normalize", "analyze", "ocr", "faces"):
        second.deliver(step)
    second.deliver("facematch", keep=True)  # delivered twice
    second.run_all()
    assert rows(restarted, "SELECT COUNT(*) FROM face_index")[0][0] == 2
    assert len(rows(restarted, "SELECT * FROM v_face_matches")) == 1


def test_confidence_is_one_half_at_the_threshold():
    assert distance_to_confidence(0.0, DEFAULT_MATCH_DISTANCE) == 1.0
    assert distance_to_confidence(DEFAULT_MATCH_DISTANCE, DEFAULT_MATCH_DISTANCE) == pytest.approx(0.5)
    assert distance_to_confidence(3 * DEFAULT_MATCH_DISTANCE, DEFAULT_MATCH_DISTANCE) == 0.0
    assert LocalFaceIndex.provider == "local"
