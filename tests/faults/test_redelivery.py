"""At-least-once delivery: every message delivered three times ends in the same SQL state as once."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from azure.functions.queue import QueueMessage

from pipeline.db import Database
from pipeline.runtime import Runtime
from pipeline.settings import Settings
from steps import STEPS_BY_NAME
from tests.faults.conftest import figures
from tests.pipeline_harness import Harness

PIPELINE = "normalize,faces,facematch,persist"
PHOTOS = [
    "grace_hopper.jpg",
    "two_people.jpg",
    "phone_rotated_exif.jpg",
    "coffee.png",
    "broken_truncated.jpg",
]
# Tables that hold the pipeline's results and bookkeeping; `_at` columns are wall-clock times.
SNAPSHOTS = {
    "images": "SELECT * FROM images",
    "step_runs": "SELECT * FROM step_runs",
    "step_results": "SELECT * FROM step_results",
    "faces": "SELECT * FROM faces",
    "face_matches": "SELECT * FROM face_matches",
    "face_index": "SELECT * FROM face_index",
    "image_tags": "SELECT * FROM image_tags",
    "image_objects": "SELECT * FROM image_objects",
    "text_lines": "SELECT * FROM text_lines",
    "rejected_messages": "SELECT * FROM rejected_messages",
}
TABLES = list(SNAPSHOTS)


def runtime_on(database_file: Path, storage: dict[str, str]) -> Runtime:
    settings = Settings(
        pipeline_steps=PIPELINE,
        sql_connection_string=f"Driver=SQLite3;Database={database_file};Timeout=30000",
        storage=storage,
    )
    runtime = Runtime.from_settings(settings, STEPS_BY_NAME)
    runtime.database.upgrade()
    return runtime


def deliver_every_message(harness: Harness, times: int) -> int:
    """Run the pipeline delivering each message ``times`` times (each copy of it, as a duplicate send)."""
    invocations = 0
    for step in PIPELINE.split(","):
        client = harness.queues.get_queue_client(f"step-{step}")
        while raw_messages := harness.receive_raw(f"step-{step}"):
            for raw in raw_messages:
                for _ in range(times):
                    harness.handlers[step](
                        QueueMessage(id=raw.id, body=base64.b64decode(raw.content), dequeue_count=1)
                    )
                    invocations += 1
                client.delete_message(raw.id, raw.pop_receipt)
    return invocations


def snapshot(database: Database) -> dict[str, list[tuple]]:
    state = {}
    for table in TABLES:
        columns, rows = database.query(SNAPSHOTS[table])
        keep = [index for index, column in enumerate(columns) if not column.endswith("_at")]
        state[table] = sorted(
            tuple(repr(row[index]) for index in keep) for row in rows
        )  # repr: bytes, floats and None compare exactly
    return state


@pytest.mark.timeout(600)
def test_three_deliveries_of_every_message_leave_the_same_state_as_one(runtime, azurite, samples, tmp_path):
    once = runtime_on(tmp_path / "once.db", runtime.settings.storage)
    harness = Harness(once, azurite.connection_string)
    refs = [harness.upload(samples / name, f"redelivery/{name}") for name in PHOTOS]
    for ref in refs:
        harness.ingest(ref)
    single = deliver_every_message(harness, times=1)
    expected = snapshot(once.database)

    # Same blobs (same ETags, so the same job ids), a fresh database: now every message arrives 3 times.
    thrice = runtime_on(tmp_path / "thrice.db", runtime.settings.storage)
    harness = Harness(thrice, azurite.connection_string)
    for ref in refs:
        harness.ingest(ref)
    tripled = deliver_every_message(harness, times=3)
    state = snapshot(thrice.database)

    assert [len(expected[table]) for table in TABLES] == [len(state[table]) for table in TABLES]
    assert state == expected
    _, statuses = thrice.database.query("SELECT status, COUNT(*) FROM images GROUP BY status")
    assert dict(statuses) == {"complete": 4, "failed": 1}
    assert len(state["faces"]) == 4 and len(state["face_matches"]) == 3
    figures(
        "redelivery", images=len(PHOTOS), invocations_once=single, invocations_thrice=tripled,
        rows=sum(len(rows) for rows in state.values()), differing_rows=0,
    )  # fmt: skip
