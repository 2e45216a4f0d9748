"""Each step's own logic, run through an in-memory StepContext: no Azurite, no queue (SQLite where a step's
index keeps its rows)."""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image

from pipeline.contract import FACES_CONTAINER, WORKING_CONTAINER, utc_now
from pipeline.db import Database
from pipeline.faces.local_index import LocalFaceIndex
from pipeline.faces.store import FaceIndexStore
from pipeline.ids import face_id_for
from pipeline.imaging import make_working_copy
from pipeline.step_memory import memory_context
from pipeline.vision.base import Rectangle
from pipeline.vision.local import LocalVision
from steps.facematch import Facematch
from steps.faces import CROP_MARGIN, Faces, FacesOutput, _crop_box
from steps.normalize import Normalize, NormalizeOutput
from steps.persist import Persist, outcome_of


@pytest.fixture(scope="module")
def vision() -> LocalVision:
    return LocalVision()


def working_copy(samples, name: str) -> Image.Image:
    working = make_working_copy((samples / name).read_bytes())
    return Image.open(io.BytesIO(working.data)).convert("RGB")


def test_produces_comes_from_the_type_argument_and_requires_names_classes():
    assert Faces.produces is FacesOutput and Normalize.produces is NormalizeOutput
    assert Facematch.requires == (Faces,) and Faces.requires == (Normalize,)


@pytest.mark.parametrize(
    ("box", "size", "expected"),
    [
        (Rectangle(left=100, top=100, width=40, height=80), (400, 400), (90, 80, 150, 200)),
        (Rectangle(left=0, top=5, width=40, height=40), (400, 400), (0, 0, 50, 55)),  # clipped at the edges
        (Rectangle(left=370, top=370, width=30, height=30), (400, 400), (363, 363, 400, 400)),
    ],
)
def test_crop_box_keeps_a_margin_inside_the_image(box, size, expected):
    assert _crop_box(box, *size) == expected
    left, top, right, bottom = expected
    assert CROP_MARGIN == 0.25 and left <= box.left and top <= box.top
    assert right >= box.left + box.width and bottom >= box.top + box.height


def test_normalize_writes_the_working_copy_and_describes_the_upload(samples):
    context = memory_context(Normalize(), image=(samples / "phone_rotated_exif.jpg").read_bytes())
    output = Normalize().run(context)
    (ref,) = context.blobs
    assert ref.container == WORKING_CONTAINER and output.working_image == ref
    assert output.orientation == 6 and output.width < output.height  # EXIF rotation applied
    assert Image.open(io.BytesIO(context.blobs[ref][0])).size == (output.width, output.height)


def test_faces_step_writes_one_crop_per_face_around_its_box(samples, vision):
    picture = working_copy(samples, "two_people.jpg")
    context = memory_context(Faces(), image=picture, vision=vision)
    output = Faces().run(context)
    assert output.count == len(output.faces) == 2 and output.provider == "local"
    for face in output.faces:
        assert face.crop.container == FACES_CONTAINER
        left, top, right, bottom = _crop_box(face.rectangle, *picture.size)
        crop = Image.open(io.BytesIO(context.blobs[face.crop][0]))
        assert crop.size == (right - left, bottom - top)


def test_facematch_matches_a_second_photo_of_one_person_and_adds_each_face_once(samples, vision, tmp_path):
    database = Database(f"Driver=SQLite3;Database={tmp_path / 'index.db'}")
    database.upgrade()
    index = LocalFaceIndex(FaceIndexStore(database), vision.faces)
    outputs = []
    for name in ("grace_hopper.jpg", "phone_rotated_exif.jpg"):
        picture = working_copy(samples, name)
        found = Faces().run(memory_context(Faces(), image=picture, vision=vision, blob_name=f"m/{name}"))
        context = memory_context(
            Facematch(), image=picture, results={Faces: found}, face_index=index, blob_name=f"m/{name}"
        )
        _register_image(database, context.message)
        outputs.append((context.message, Facematch().run(context)))
    (first_message, first), (second_message, second) = outputs
    assert [face.matches for face in first.faces] == [[]]  # nothing earlier to match
    (face,) = second.faces
    assert face.face_id == face_id_for(second_message.job_id, 0)
    assert [match.face_id for match in face.matches] == [face_id_for(first_message.job_id, 0)]
    assert database.query("SELECT COUNT(*) FROM face_index")[1] == [(2,)]


def _register_image(database: Database, message) -> None:
    """The index adds faces of images the pipeline knows (ingest writes this row)."""
    with database.transaction() as cursor:
        cursor.execute(
            "INSERT INTO images (image_id, job_id, batch_id, container, blob_name, trace_id, pipeline, status, "
            "received_at, updated_at) VALUES (?, ?, 'm', 'images', ?, ?, 'facematch', 'processing', ?, ?)",
            str(message.image_id), str(message.job_id), message.image.name, uuid.uuid4().hex, utc_now(), utc_now(),
        )  # fmt: skip


def test_persist_maps_each_steps_output_to_rows_and_absent_steps_to_none(samples, vision):
    picture = working_copy(samples, "grace_hopper.jpg")
    normalized = Normalize().run(
        memory_context(Normalize(), image=(samples / "grace_hopper.jpg").read_bytes())
    )
    found = Faces().run(memory_context(Faces(), image=picture, vision=vision))
    context = memory_context(Persist(), results={Normalize: normalized, Faces: found})
    output = Persist().run(context)
    assert output.stored is True and output.face_count == 1
    (outcome,) = context.stored.outcomes
    assert (outcome.width, outcome.height) == (normalized.width, normalized.height)
    assert outcome.faces[0].detection_score == found.faces[0].score
    assert outcome.faces[0].embedding is not None and outcome.matches is None  # no facematch step ran
    assert outcome.tags is None and outcome.text_lines is None  # neither analyze nor ocr ran
    assert outcome_of({}).faces is None
