"""The Azure face match index (LargeFaceList + SQL) through the real SDK and the local Azure server."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from pipeline.contract import utc_now
from pipeline.db import Database
from pipeline.faces.face_list_index import AzureFaceIndex
from pipeline.faces.index import IndexedFace
from pipeline.faces.store import FaceIndexStore
from pipeline.imaging import make_working_copy
from pipeline.vision.azure import AzureFaceList, AzureVision
from pipeline.vision.base import VisionImage
from tests.vision.conftest import settings_for


def detected(vision: AzureVision, image, database: Database) -> list[IndexedFace]:
    """The faces of a newly registered image (the index takes faces of images the pipeline knows)."""
    image_id = str(uuid.uuid4())
    with database.transaction() as cursor:
        cursor.execute(
            "INSERT INTO images (image_id, job_id, batch_id, container, blob_name, trace_id, pipeline, status, "
            "received_at, updated_at) VALUES (?, ?, 'b', 'images', ?, ?, 'facematch', 'processing', ?, ?)",
            image_id, str(uuid.uuid4()), f"b/{image_id}.jpg", uuid.uuid4().hex, utc_now(), utc_now(),
        )  # fmt: skip
    return [
        IndexedFace(
            face_id=str(uuid.uuid4()),
            image_id=image_id,
            model=vision.face_model,
            rectangle=face.rectangle,
            detection_id=face.detection_id,
        )
        for face in vision.detect_faces(image)
    ]


@pytest.fixture
def azure_index(server, sql_connection_string):
    """A fresh database and face list, the index over them, and the provider that detects faces for it."""
    database = Database(sql_connection_string)
    database.upgrade()
    settings = settings_for(server, face_list_id=f"list-{uuid.uuid4().hex[:8]}")
    face_list = AzureFaceList(settings)
    face_list.ensure()
    return database, AzureFaceIndex(FaceIndexStore(database), face_list), AzureVision(settings)


def test_pending_faces_match_before_training_and_trained_ones_after(azure_index, images):
    database, index, vision = azure_index
    hopper = images("grace_hopper.jpg")
    astronaut = images("astronaut.png")

    assert index.train_if_pending() is False  # nothing added yet
    [first] = detected(vision, hopper, database)
    matches, persisted = index.match_and_add(first, hopper.data)
    assert matches == [] and persisted
    assert index.match_and_add(first, hopper.data) == ([], persisted)  # a retried step adds nothing twice

    upright = VisionImage(make_working_copy(images("phone_rotated_exif.jpg").data).data)
    [rotated] = detected(
        vision, upright, database
    )  # found through its pending detection id: the list is untrained
    matches, _ = index.match_and_add(rotated, upright.data)
    assert [match.face_id for match in matches] == [first.face_id]

    assert index.train_if_pending() is True
    assert index.train_if_pending() is False  # nothing added since
    [other] = detected(vision, astronaut, database)
    assert index.match_and_add(other, astronaut.data)[0] == []  # a different person
    pair = images("two_people.jpg")
    found = {
        match.face_id
        for face in detected(vision, pair, database)
        for match in index.match_and_add(face, pair.data)[0]
    }
    assert {first.face_id, rotated.face_id, other.face_id} <= found
    _, rows = database.query("SELECT COUNT(*) FROM face_index WHERE provider = 'azure'")
    assert rows[0][0] == 5


def test_a_stale_pending_detection_id_is_forgotten_instead_of_failing_every_job(azure_index, images):
    database, index, vision = azure_index
    hopper = images("grace_hopper.jpg")
    [first] = detected(vision, hopper, database)
    index.match_and_add(first, hopper.data)
    stale = str(uuid.uuid4())  # e.g. issued more than 24 hours ago, or by another Face resource
    with database.transaction() as cursor:
        cursor.execute(
            "INSERT INTO face_index (face_id, image_id, provider, detection_id, added_at) VALUES (?, ?, 'azure', ?, ?)",
            str(uuid.uuid4()), str(uuid.uuid4()), stale, utc_now(),
        )  # fmt: skip
    pair = images("two_people.jpg")
    found = {
        match.face_id
        for face in detected(vision, pair, database)
        for match in index.match_and_add(face, pair.data)[0]
    }
    assert first.face_id in found
    _, rows = database.query("SELECT COUNT(*) FROM face_index WHERE detection_id = ?", [stale])
    assert rows[0][0] == 0


def test_an_add_whose_answer_was_lost_leaves_no_copy_in_the_list(azure_index, images):
    database, index, vision = azure_index
    hopper = images("grace_hopper.jpg")
    [face] = detected(vision, hopper, database)
    # A first attempt wrote its intent and the service added the face, but the answer never came back.
    with database.transaction() as cursor:
        cursor.execute(
            "INSERT INTO face_list_adds (face_id, list_id, started_at) VALUES (?, ?, ?)",
            face.face_id, index.list_id, utc_now(),
        )  # fmt: skip
    lost = index.face_list.add(hopper.data, face.rectangle, face.face_id)
    _, persisted = index.match_and_add(face, hopper.data)  # the retry adds it again, and records that one

    def in_list() -> list[str]:
        return sorted(pid for pid, owner in index.face_list.persisted_faces() if owner == face.face_id)

    assert persisted != lost and in_list() == sorted([lost, persisted])
    assert index.reconcile_adds() == 0  # too recent to judge: the add might still be in flight
    assert index.reconcile_adds(settle=timedelta(0)) == 1
    assert in_list() == [persisted]
    assert database.query("SELECT COUNT(*) FROM face_list_adds")[1][0][0] == 0


def test_an_ordinary_add_leaves_no_intent_behind(azure_index, images):
    database, index, vision = azure_index
    hopper = images("grace_hopper.jpg")
    [face] = detected(vision, hopper, database)
    index.match_and_add(face, hopper.data)
    assert database.query("SELECT COUNT(*) FROM face_list_adds")[1][0][0] == 0
    assert [owner for _, owner in index.face_list.persisted_faces()] == [face.face_id]
