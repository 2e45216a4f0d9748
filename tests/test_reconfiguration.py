"""Changing PIPELINE_STEPS affects new images only: jobs in flight finish with the steps they started with."""

from pipeline.runtime import Runtime
from pipeline.settings import Settings
from steps import STEPS_BY_NAME
from tests.pipeline_harness import Harness


def restarted_with(runtime: Runtime, steps: str, connection_string: str) -> Harness:
    """What an app-setting change does in Azure: the host restarts and reads the new step list."""
    settings = Settings(
        pipeline_steps=steps,
        sql_connection_string=runtime.settings.sql_connection_string,
        storage=runtime.settings.storage,
    )
    return Harness(Runtime.from_settings(settings, STEPS_BY_NAME), connection_string)


def test_new_step_list_applies_to_new_images_while_jobs_in_flight_keep_theirs(runtime, azurite, samples):
    before = restarted_with(runtime, "normalize,faces,persist", azurite.connection_string)
    in_flight = before.upload(samples / "page_of_text.png", "reconf/in-flight.png")
    before.ingest(in_flight)
    before.deliver("normalize")  # the job is between steps when the setting changes

    after = restarted_with(runtime, "normalize,ocr,persist", azurite.connection_string)
    new = after.upload(samples / "page_of_text.png", "reconf/new.png")
    after.ingest(new)
    after.run_all()

    old_row, new_row = after.image_row(in_flight), after.image_row(new)
    assert old_row["status"] == new_row["status"] == "complete"
    assert old_row["face_count"] == 0 and old_row["text"] is None  # faces ran, ocr did not
    assert new_row["face_count"] is None and "coins" in new_row["text"]  # ocr ran, faces did not
    _, steps = after.runtime.database.query(
        "SELECT i.blob_name, r.step FROM step_runs AS r JOIN images AS i ON i.job_id = r.job_id "
        "WHERE r.status = 'ok' ORDER BY i.blob_name, r.started_at"
    )
    assert [step for blob, step in steps if blob == "reconf/in-flight.png"] == [
        "normalize",
        "faces",
        "persist",
    ]
    assert [step for blob, step in steps if blob == "reconf/new.png"] == ["normalize", "ocr", "persist"]
