"""ORIGINAL_RETENTION: the uploaded original is kept, or deleted once its job is complete — nothing else."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from pipeline.contract import IMAGES_CONTAINER, BlobRef
from pipeline.errors import ConfigurationError
from pipeline.reprocess import reprocess
from pipeline.settings import Retention, Settings
from tests.conftest import fresh_runtime
from tests.hostile import IMAGE_CASES
from tests.pipeline_harness import Harness

GPS_PHOTO = next(case for case in IMAGE_CASES if case.kind == "JPEG with EXIF GPS")


@pytest.fixture
def deleting(azurite, sql_connection_string):
    runtime = fresh_runtime(
        azurite, sql_connection_string, original_retention=Retention.DELETE_AFTER_COMPLETE
    )
    yield Harness(runtime, azurite.connection_string)
    runtime.database.close()


def upload_gps_photo(harness: Harness, samples, name: str = "retention/gps.jpg") -> BlobRef:
    ref = BlobRef(container=IMAGES_CONTAINER, name=name)
    harness.runtime.storage.write(ref, GPS_PHOTO.build(samples, ""), "image/jpeg")
    return ref


def waiting_for_persist(harness: Harness, samples) -> BlobRef:
    """The GPS photo's job, run up to its last step."""
    ref = upload_gps_photo(harness, samples)
    harness.ingest(ref)
    harness.deliver("normalize")
    harness.deliver("faces")
    return ref


def working_copy(harness: Harness) -> bytes:
    (name,) = harness.runtime.storage.list_names("working")
    return harness.runtime.storage.read(BlobRef(container="working", name=name))


def test_keep_is_the_default_and_keeps_the_original(runtime, azurite, samples):
    assert (
        Settings.from_environment(
            {
                "SQL_CONNECTION_STRING": "Driver=SQLite3;Database=x.db",
                "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            }
        ).original_retention
        == Retention.KEEP
    )
    harness = Harness(runtime, azurite.connection_string)
    ref = upload_gps_photo(harness, samples)
    harness.ingest(ref)
    harness.run_all()
    assert harness.image_row(ref)["status"] == "complete"
    assert harness.runtime.storage.exists(ref)


def test_delete_after_complete_leaves_only_the_bare_working_copy(deleting, samples):
    ref = waiting_for_persist(deleting, samples)
    assert deleting.runtime.storage.exists(ref)  # kept until the job is complete
    deleting.deliver("persist")
    row = deleting.image_row(ref)
    assert row["status"] == "complete" and row["face_count"] == 1
    assert not deleting.runtime.storage.exists(ref)
    with Image.open(io.BytesIO(working_copy(deleting))) as image:
        assert image.format == "JPEG" and not image.getexif() and "exif" not in image.info
    assert deleting.ingest(ref) is None  # a late trigger for the deleted blob starts nothing
    assert deleting.image_row(ref)["status"] == "complete"


def test_a_failed_image_keeps_its_original(deleting):
    ref = BlobRef(container=IMAGES_CONTAINER, name="retention/text.jpg")
    deleting.runtime.storage.write(ref, b"not a picture", "image/jpeg")
    deleting.ingest(ref)
    deleting.run_all()
    assert deleting.image_row(ref)["status"] == "failed"
    assert deleting.runtime.storage.exists(ref)


def test_a_newer_upload_is_not_deleted_by_the_older_job(deleting, samples):
    ref = waiting_for_persist(deleting, samples)  # the older job waits for persist ...
    deleting.runtime.storage.write(ref, (samples / "coffee.png").read_bytes(), "image/png")
    deleting.ingest(ref)  # ... when the same name is uploaded again
    deleting.deliver("persist")
    assert deleting.runtime.storage.read(ref) == (samples / "coffee.png").read_bytes()
    deleting.run_all()
    row = deleting.image_row(ref)
    assert row["status"] == "complete" and row["face_count"] == 0  # the newer upload's result
    assert not deleting.runtime.storage.exists(ref)


def test_forced_reprocess_without_the_original_starts_from_the_working_copy(deleting, samples):
    ref = upload_gps_photo(deleting, samples)
    deleting.ingest(ref)
    deleting.run_all()
    assert not deleting.runtime.storage.exists(ref)
    assert reprocess(deleting.runtime, batch="retention", force=True).as_dict() == {
        "queued": 1,
        "up_to_date": 0,
    }
    assert deleting.deliver("normalize") == 0  # normalize cannot run again: its result is reused
    deleting.run_all()
    row = deleting.image_row(ref)
    assert row["status"] == "complete" and row["face_count"] == 1
    _, runs = deleting.runtime.database.query(
        "SELECT step, COUNT(*) FROM step_runs WHERE status = 'ok' GROUP BY step ORDER BY step"
    )
    assert runs == [("faces", 2), ("normalize", 1), ("persist", 2)]


@pytest.mark.parametrize("value", ["forever", "delete", "30"])
def test_an_unknown_policy_stops_startup_naming_the_setting(value):
    with pytest.raises(ConfigurationError, match=f"ORIGINAL_RETENTION: unknown policy '{value}'"):
        Settings.from_environment(
            {
                "SQL_CONNECTION_STRING": "Driver=SQLite3;Database=x.db",
                "AzureWebJobsStorage": "UseDevelopmentStorage=true",
                "ORIGINAL_RETENTION": value,
            }
        )


def test_deleting_an_original_is_conditional_on_the_upload_the_job_read(runtime, samples):
    ref = BlobRef(container=IMAGES_CONTAINER, name="retention/hopper.jpg")
    runtime.storage.write(ref, (samples / "grace_hopper.jpg").read_bytes(), "image/jpeg")
    etag = runtime.storage.info(ref).etag
    runtime.storage.write(ref, (samples / "coffee.png").read_bytes(), "image/png")  # a newer upload
    assert runtime.storage.delete(ref, etag=etag) is False and runtime.storage.exists(ref)
    assert runtime.storage.delete(ref, etag=runtime.storage.info(ref).etag) is True
    assert not runtime.storage.exists(ref) and runtime.storage.info(ref) is None
