"""People and match review on real photos: persons follow matches, decisions hold against everything automatic."""

from __future__ import annotations

import threading

import pytest

from pipeline.api import persons as api_persons
from pipeline.api import reviews as api_reviews
from pipeline.faces.reviews import Decision
from pipeline.forget import forget
from pipeline.ids import image_id_for
from pipeline.reprocess import reprocess
from tests.pipeline_harness import Harness

PIPELINE = ("normalize", "faces", "facematch", "persist")
# The sample set's people: Grace Hopper in three photos, Eileen Collins in two, both in two_people.jpg.
PHOTOS = ("grace_hopper.jpg", "phone_rotated_exif.jpg", "astronaut.png", "two_people.jpg")


def rows(runtime, sql, *params):
    return runtime.database.query(sql, list(params))[1]


@pytest.fixture
def people(runtime, azurite, samples):
    runtime.pipeline = PIPELINE
    harness = Harness(runtime, azurite.connection_string)
    refs = {}
    for name in PHOTOS:
        refs[name] = harness.upload(samples / name, f"people/{name}")
        harness.ingest(refs[name])
        harness.run_all()
    return harness, refs


def faces_of(runtime, ref) -> list[str]:
    return [
        str(face).lower()
        for (face,) in rows(
            runtime, "SELECT face_id FROM faces WHERE image_id = ? ORDER BY rect_left", str(image_id_for(ref))
        )
    ]


def person_of(runtime, face: str) -> str:
    return str(rows(runtime, "SELECT person_id FROM v_person_faces WHERE face_id = ?", face)[0][0]).lower()


def partition(runtime) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for person, face in rows(runtime, "SELECT person_id, face_id FROM person_faces"):
        groups.setdefault(str(person).lower(), set()).add(str(face).lower())
    return {frozenset(group) for group in groups.values()}


def hopper_and_collins(runtime, refs) -> tuple[set[str], set[str]]:
    """Grace Hopper's faces and Eileen Collins's, told apart in two_people.jpg by who each one matches."""
    hopper = set(
        faces_of(runtime, refs["grace_hopper.jpg"]) + faces_of(runtime, refs["phone_rotated_exif.jpg"])
    )
    collins = set(faces_of(runtime, refs["astronaut.png"]))
    for face in faces_of(runtime, refs["two_people.jpg"]):
        matched = {
            str(other).lower()
            for (other,) in rows(runtime, "SELECT matched_face_id FROM face_matches WHERE face_id = ?", face)
        }
        (hopper if matched & hopper else collins).add(face)
    return hopper, collins


def test_each_persons_photos_share_one_person_and_different_people_never_do(people):
    harness, refs = people
    runtime = harness.runtime
    hopper, collins = hopper_and_collins(runtime, refs)
    assert len(hopper) == 3 and len(collins) == 2
    assert partition(runtime) == {frozenset(hopper), frozenset(collins)}
    listed = api_persons.list_persons(runtime.database, {"batch": "people"})[1]["items"]
    assert sorted((item["face_count"], item["image_count"]) for item in listed) == [(2, 2), (3, 3)]
    two = faces_of(runtime, refs["two_people.jpg"])
    assert person_of(runtime, two[0]) != person_of(runtime, two[1])  # two faces of one photo


def test_a_rejected_pair_splits_the_person_and_stays_split(people):
    harness, refs = people
    runtime = harness.runtime
    hopper, collins = hopper_and_collins(runtime, refs)
    phone = faces_of(runtime, refs["phone_rotated_exif.jpg"])[0]
    others = hopper - {phone}
    person = person_of(runtime, next(iter(others)))
    for other in others:
        pair = sorted((phone, other))
        runtime.reviews.decide(pair[0], pair[1], Decision.REJECT, "caseworker-7", "different ears")
    split = {frozenset(others), frozenset({phone}), frozenset(collins)}
    assert partition(runtime) == split
    assert person_of(runtime, next(iter(others))) == person  # the larger part keeps the id

    reprocess(runtime, batch="people", force=True, actor="operator")
    harness.run_all()
    assert partition(runtime) == split
    assert runtime.records.persons.recompute()["faces_moved"] == 0
    assert partition(runtime) == split
    _, decisions = runtime.database.query(
        "SELECT state, reviewer FROM v_match_reviews WHERE state <> 'pending'"
    )
    assert decisions and all(row == ("rejected", "caseworker-7") for row in decisions)
    actions = [action for (action,) in rows(runtime, "SELECT action FROM v_audit ORDER BY at")]
    assert actions.count("review") == len(others) and "split" in actions and "reprocess" in actions


def test_recompute_from_nothing_gives_the_persons_the_incremental_path_gave(people):
    harness, refs = people
    runtime = harness.runtime
    hopper, _ = hopper_and_collins(runtime, refs)
    phone = faces_of(runtime, refs["phone_rotated_exif.jpg"])[0]
    runtime.reviews.decide(phone, sorted(hopper - {phone})[0], Decision.REJECT, "r")
    incremental = partition(runtime)
    with runtime.database.transaction() as cursor:
        cursor.execute("DELETE FROM person_faces")
        cursor.execute("DELETE FROM persons")
    runtime.records.persons.recompute()
    assert partition(runtime) == incremental


def test_a_confirm_on_two_faces_of_one_photo_is_refused(people):
    harness, refs = people
    two = faces_of(harness.runtime, refs["two_people.jpg"])
    status, body = api_reviews.post_review(
        harness.runtime.reviews,
        {"face_id": two[0], "matched_face_id": two[1], "decision": "confirm", "reviewer": "r"},
    )
    assert status == 409 and "two faces of one photo" in body["error"]


def test_label_merge_and_move_out_with_their_audit(people):
    harness, refs = people
    runtime = harness.runtime
    hopper, collins = hopper_and_collins(runtime, refs)
    h, c = person_of(runtime, next(iter(hopper))), person_of(runtime, next(iter(collins)))
    hostile = "'); DROP TABLE persons; --"
    assert api_persons.change_person(runtime.reviews, h, {"label": hostile, "reviewer": "r1"})[0] == 200
    assert api_persons.get_person(runtime.database, h)[1]["label"] == hostile  # stored as data
    status, body = api_persons.change_person(runtime.reviews, h, {"merge": c, "reviewer": "r1"})
    assert status == 409 and "both have a face in image" in body["error"]  # two_people.jpg holds both

    phone = faces_of(runtime, refs["phone_rotated_exif.jpg"])[0]
    status, body = api_persons.change_person(runtime.reviews, h, {"move_out": phone, "reviewer": "r2"})
    assert status == 200 and body["persons"][phone] != h
    moved = body["persons"][phone]
    assert person_of(runtime, phone) == moved and len(hopper - {phone}) == 2
    status, body = api_persons.change_person(runtime.reviews, h, {"merge": moved, "reviewer": "r2"})
    assert (
        status == 409 and "rejected" in body["error"]
    )  # moving out rejected every pair: merge cannot undo it

    audit = rows(runtime, "SELECT actor, action, detail FROM v_audit ORDER BY at")
    assert ("r1", "label") in [(actor, action) for actor, action, _ in audit]
    assert ("r2", "move-out") in [(actor, action) for actor, action, _ in audit]
    assert all(hostile not in (detail or "") for _, _, detail in audit)  # free text stays out of the audit


def test_forget_takes_the_image_out_of_its_persons_and_leaves_one_audit_row(people):
    harness, refs = people
    runtime = harness.runtime
    hopper, collins = hopper_and_collins(runtime, refs)
    two = set(faces_of(runtime, refs["two_people.jpg"]))
    phone = faces_of(runtime, refs["phone_rotated_exif.jpg"])[0]
    runtime.reviews.decide(phone, sorted(hopper - two - {phone})[0], Decision.CONFIRM, "r", "same glasses")
    image_id = str(image_id_for(refs["two_people.jpg"]))
    forget(runtime, image_id=image_id, actor="data-protection")
    assert partition(runtime) == {frozenset(hopper - two), frozenset(collins - two)}
    mentions = rows(
        runtime,
        "SELECT COUNT(*) FROM v_match_reviews WHERE image_blob = ? OR matched_image_blob = ?",
        "people/two_people.jpg", "people/two_people.jpg",
    )  # fmt: skip
    assert mentions == [(0,)]
    assert all(
        face not in {str(f).lower() for (f,) in rows(runtime, "SELECT face_id FROM match_reviews")}
        for face in two
    )
    (row,) = rows(runtime, "SELECT actor, image_id, detail FROM v_audit WHERE action = 'forget'")
    assert row == ("data-protection", image_id, None)


def test_a_person_photographed_40_times_is_matched_in_every_photo(runtime, azurite, samples, tmp_path):
    from PIL import Image, ImageEnhance

    runtime.pipeline = PIPELINE
    harness = Harness(runtime, azurite.connection_string)
    original = Image.open(samples / "grace_hopper.jpg").convert("RGB")
    refs = []
    for number in range(40):
        variant = original.rotate((number % 9) - 4, resample=Image.Resampling.BILINEAR)
        variant = ImageEnhance.Brightness(variant).enhance(0.8 + 0.01 * number)
        path = tmp_path / f"hopper-{number:02d}.jpg"
        variant.save(path, "JPEG", quality=70 + number % 25)
        refs.append(harness.upload(path, f"forty/{path.name}"))
        harness.ingest(refs[-1])
        harness.run_all()
    faces = {face for ref in refs for face in faces_of(runtime, ref)}
    assert len(faces) == 40
    (pairs,) = rows(runtime, "SELECT COUNT(*) FROM v_face_matches")[0]
    assert pairs == 40 * 39 // 2  # every pair: no cap of 20 matches per face
    assert partition(runtime) == {frozenset(faces)}


def test_concurrent_jobs_of_one_person_end_in_one_person(runtime, azurite, samples):
    runtime.pipeline = PIPELINE
    harness = Harness(runtime, azurite.connection_string)
    refs = [
        harness.upload(samples / name, f"together/{name}")
        for name in ("grace_hopper.jpg", "phone_rotated_exif.jpg")
    ]
    for ref in refs:
        harness.ingest(ref)
    for step in ("normalize", "faces"):
        harness.deliver(step)
    # Both jobs match and persist at the same moment, on two worker threads.
    messages = harness.receive_raw("step-facematch")
    assert len(messages) == 2
    threads = [
        threading.Thread(target=harness.deliver_one, args=("facematch", message)) for message in messages
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    messages = harness.receive_raw("step-persist")
    threads = [
        threading.Thread(target=harness.deliver_one, args=("persist", message)) for message in messages
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    faces = {face for ref in refs for face in faces_of(runtime, ref)}
    assert len(faces) == 2 and partition(runtime) == {frozenset(faces)}
    assert rows(runtime, "SELECT COUNT(*) FROM v_face_matches") == [(1,)]  # the pair, once


def test_every_people_statement_parses_as_tsql():
    """No SQL Server runs here: the people and review statements must at least parse as T-SQL."""
    import sqlglot

    from pipeline.db import TSQL
    from pipeline.faces import persons, reviews
    from pipeline.faces import rows as face_rows

    statements = [
        value
        for module in (persons, reviews, face_rows, api_persons, api_reviews)
        for name, value in vars(module).items()
        if name.endswith("_SQL") and isinstance(value, str)
    ]
    assert len(statements) >= 15
    for statement in statements:
        if statement in (api_reviews.REVIEW_QUEUE_SQL, api_persons.PERSON_LIST_SQL):
            statement += TSQL.page_clause
        parsed = sqlglot.parse(statement, read="tsql")
        assert len(parsed) == 1 and parsed[0] is not None, statement


def test_a_face_model_switch_then_reprocess_reembeds_without_duplicates_and_keeps_decisions(
    azurite, sql_connection_string, samples
):
    from pipeline.runtime import Runtime
    from pipeline.settings import LocalVisionSettings
    from steps import STEPS_BY_NAME
    from tests.conftest import fresh_runtime

    names = ("grace_hopper.jpg", "phone_rotated_exif.jpg", "two_people.jpg")
    before = fresh_runtime(
        azurite, sql_connection_string, pipeline_steps=",".join(PIPELINE), local={"face_model": "dlib"}
    )
    harness = Harness(before, azurite.connection_string)
    refs = [harness.upload(samples / name, f"switch/{name}") for name in names]
    for ref in refs:
        harness.ingest(ref)
        harness.run_all()
    hopper, phone = faces_of(before, refs[0])[0], faces_of(before, refs[1])[0]
    before.reviews.decide(phone, hopper, Decision.CONFIRM, "caseworker-9", "same brooch")
    dlib_pairs = rows(before, "SELECT COUNT(*) FROM v_face_matches")[0][0]
    assert rows(before, "SELECT DISTINCT face_model FROM face_index") == [("dlib-hog+mmod/resnet-v1",)]

    # The host restarts with the default face model: same storage, same database.
    after = Runtime.from_settings(
        before.settings.model_copy(update={"local": LocalVisionSettings()}), STEPS_BY_NAME
    )
    harness = Harness(after, azurite.connection_string)
    assert reprocess(after, batch="switch").queued == 3  # every image's faces came from the other model
    harness.run_all()
    model = after.vision("faces").face_model
    assert rows(after, "SELECT DISTINCT face_model FROM faces") == [(model,)]
    assert rows(after, "SELECT DISTINCT face_model FROM face_index") == [(model,)]
    assert rows(after, "SELECT COUNT(*), COUNT(DISTINCT face_id) FROM faces") == [(4, 4)]
    assert rows(after, "SELECT COUNT(*) FROM face_index") == [(4,)]
    (pairs,) = rows(after, "SELECT COUNT(*) FROM v_face_matches")[0]
    assert pairs >= dlib_pairs and rows(
        after, "SELECT COUNT(*) FROM (SELECT DISTINCT face_id, matched_face_id FROM face_matches) AS d"
    ) == [(pairs,)]
    assert rows(
        after,
        "SELECT state, reviewer FROM match_reviews WHERE face_id = ? AND other_face_id = ?",
        phone,
        hopper,
    ) == [("confirmed", "caseworker-9")]
    assert person_of(after, phone) == person_of(after, hopper)
    assert reprocess(after, batch="switch").queued == 0  # now up to date
