"""What the pipeline writes to SQL: jobs, their step runs, their results, and set-aside messages.

Every write is idempotent, because queue delivery is at-least-once: a message handled twice leaves the
same rows as a message handled once. All SQL here is parameterized and portable between the SQLite and
T-SQL dialects.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pipeline import audit
from pipeline.audit import Action
from pipeline.contract import JobMessage, utc_now
from pipeline.db import Database
from pipeline.faces.persons import PersonStore
from pipeline.faces.rows import FaceRecord, FaceRows, MatchRecord

ERROR_TEXT_LIMIT = 4000


class JobStatus(StrEnum):
    """``images.status``: where an image's current job stands."""

    PROCESSING = "processing"
    COMPLETE = "complete"
    FAILED = "failed"


FINISHED = (JobStatus.COMPLETE, JobStatus.FAILED)
# The failed_step of an upload whose job never started (the blob trigger gave up on it).
INGEST_STEP = "ingest"


class StepRunStatus(StrEnum):
    """``step_runs.status``: how one attempt of one step ended."""

    OK = "ok"
    RETRYING = "retrying"
    FAILED = "failed"


def _clip(text: str | None, limit: int = ERROR_TEXT_LIMIT) -> str | None:
    return None if text is None else text[:limit]


@dataclass(frozen=True)
class ObjectRecord:
    name: str
    confidence: float
    left: int
    top: int
    width: int
    height: int


@dataclass(frozen=True)
class TextLineRecord:
    text: str
    confidence: float | None
    polygon: Sequence[int]

    @property
    def rectangle(self) -> tuple[int, int, int, int]:
        xs, ys = self.polygon[0::2], self.polygon[1::2]
        return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


@dataclass(frozen=True)
class JobOutcome:
    """The normalized view of a finished job, built by the persist step from the step outputs.

    ``None`` means the job's pipeline had no step producing that part (as opposed to "found nothing").
    """

    width: int | None
    height: int | None
    faces: Sequence[FaceRecord] | None
    outputs: dict[str, dict[str, Any]]
    tags: Sequence[tuple[str, float]] | None = None
    objects: Sequence[ObjectRecord] | None = None
    caption: tuple[str, float] | None = None
    is_adult: bool | None = None
    is_racy: bool | None = None
    text_lines: Sequence[TextLineRecord] | None = None
    full_text: str | None = None
    matches: Sequence[MatchRecord] | None = None


_FAIL_JOB = (
    "UPDATE images SET status = 'failed', failed_step = ?, error = ?, completed_at = ?, updated_at = ? "
    "WHERE image_id = ? AND job_id = ?"
)
_FAIL_UNFINISHED_JOB = (
    "UPDATE images SET status = 'failed', failed_step = ?, error = ?, completed_at = ?, updated_at = ? "
    "WHERE image_id = ? AND job_id = ? AND status = 'processing'"
)


class JobRecords:
    def __init__(self, database: Database) -> None:
        self._db = database
        self.persons = PersonStore(database)
        self.face_rows = FaceRows(self.persons)

    def start_job(self, job: JobMessage) -> bool:
        """Record a job as processing. False when this very job already finished (a repeated trigger);
        a job that failed to start (failed at ``ingest``) starts again."""
        now = utc_now()
        with self._db.transaction() as cursor:
            row = cursor.execute(
                "SELECT job_id, status, failed_step FROM images WHERE image_id = ?", str(job.image_id)
            ).fetchone()
            same_job = row is not None and str(row[0]).lower() == str(job.job_id)
            if same_job and row[1] != JobStatus.PROCESSING and row[2] != INGEST_STEP:
                return False
            # Both statements take the same parameters, in this order.
            params = (
                str(job.job_id), job.batch_id, job.image.container, job.image.name, job.trace_id,
                ",".join(job.pipeline), now, now, str(job.image_id),
            )  # fmt: skip
            if row is None:
                cursor.execute(
                    "INSERT INTO images (job_id, batch_id, container, blob_name, trace_id, pipeline, received_at, "
                    "updated_at, image_id, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'processing')",
                    *params,
                )
            else:
                cursor.execute(
                    "UPDATE images SET job_id = ?, batch_id = ?, container = ?, blob_name = ?, trace_id = ?, "
                    "pipeline = ?, received_at = ?, updated_at = ?, status = 'processing', failed_step = NULL, "
                    "error = NULL, face_count = NULL, completed_at = NULL WHERE image_id = ?",
                    *params,
                )
        return True

    def record_step_run(
        self,
        job: JobMessage,
        step: str,
        attempt: int,
        status: str,
        started_at: datetime,
        error: str | None = None,
    ) -> None:
        finished_at = utc_now()
        with self._db.transaction() as cursor:
            cursor.execute(
                "UPDATE step_runs SET status = ?, started_at = ?, finished_at = ?, error = ? "
                "WHERE job_id = ? AND trace_id = ? AND step = ? AND attempt = ?",
                status, started_at, finished_at, _clip(error), str(job.job_id), job.trace_id, step, attempt,
            )  # fmt: skip
            if cursor.rowcount == 0:
                # Not for an image erased while its job was in flight: nothing of it may come back.
                cursor.execute(
                    "INSERT INTO step_runs (status, started_at, finished_at, error, job_id, trace_id, step, attempt, "
                    "image_id) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM images WHERE image_id = ?)",
                    status, started_at, finished_at, _clip(error), str(job.job_id), job.trace_id, step, attempt,
                    str(job.image_id), str(job.image_id),
                )  # fmt: skip

    def fail_job(self, job: JobMessage, step: str, reason: str, *, only_if_processing: bool = False) -> bool:
        """Mark the image failed at ``step`` — only if it still belongs to this job (not a newer upload), and
        with ``only_if_processing`` only if it has not finished meanwhile. True if the row changed."""
        now = utc_now()
        with self._db.transaction() as cursor:
            cursor.execute(
                _FAIL_UNFINISHED_JOB if only_if_processing else _FAIL_JOB,
                step, _clip(reason), now, now, str(job.image_id), str(job.job_id),
            )  # fmt: skip
            return cursor.rowcount > 0

    def fail_ingest(self, job: JobMessage, reason: str) -> bool:
        """An upload whose job could not start, failed at ``ingest`` with the reason; True if recorded.

        Nothing changes when this very job already finished, or a newer upload of the blob owns the row.
        """
        return self.start_job(job) and self.fail_job(job, INGEST_STEP, reason)

    def complete_job(self, job: JobMessage, outcome: JobOutcome) -> bool:
        """Write the job's results and mark it complete, in one transaction. False if superseded."""
        now = utc_now()
        image_id = str(job.image_id)
        job_id = str(job.job_id)
        with self._db.transaction() as cursor:
            caption, caption_confidence = outcome.caption or (None, None)
            cursor.execute(
                "UPDATE images SET status = 'complete', failed_step = NULL, error = NULL, face_count = ?, "
                "width = ?, height = ?, caption = ?, caption_confidence = ?, full_text = ?, is_adult = ?, "
                "is_racy = ?, completed_at = ?, updated_at = ? WHERE image_id = ? AND job_id = ?",
                None if outcome.faces is None else len(outcome.faces), outcome.width, outcome.height, caption,
                caption_confidence, outcome.full_text, outcome.is_adult, outcome.is_racy, now, now, image_id, job_id,
            )  # fmt: skip
            if cursor.rowcount == 0:
                return False
            self.face_rows.store(cursor, job, outcome.faces, outcome.matches)
            self._replace_rows(
                cursor, "image_tags", image_id,
                "INSERT INTO image_tags (image_id, tag, confidence) VALUES (?, ?, ?)",
                [(image_id, tag, confidence) for tag, confidence in outcome.tags or ()],
            )  # fmt: skip
            self._replace_rows(
                cursor, "image_objects", image_id,
                "INSERT INTO image_objects (image_id, object_index, name, confidence, rect_left, rect_top, "
                "rect_width, rect_height) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(image_id, i, o.name, o.confidence, o.left, o.top, o.width, o.height)
                 for i, o in enumerate(outcome.objects or ())],
            )  # fmt: skip
            self._replace_rows(
                cursor, "text_lines", image_id,
                "INSERT INTO text_lines (image_id, line_index, text, confidence, polygon, rect_left, rect_top, "
                "rect_width, rect_height) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(image_id, i, line.text, line.confidence, ",".join(map(str, line.polygon)), *line.rectangle)
                 for i, line in enumerate(outcome.text_lines or ())],
            )  # fmt: skip
            cursor.execute("DELETE FROM step_results WHERE image_id = ?", image_id)
            result_rows = [
                (image_id, step, job_id, json.dumps(output, separators=(",", ":")))
                for step, output in outcome.outputs.items()
            ]
            if result_rows:
                cursor.executemany(
                    "INSERT INTO step_results (image_id, step, job_id, output_json) VALUES (?, ?, ?, ?)",
                    result_rows,
                )
        return True

    def erase_image(self, image_id: str, actor: str) -> None:
        """Delete every row of an image, in one transaction (tags, text, faces, results cascade), its faces out
        of their persons and its decisions; the audit keeps one row naming only the image id, actor and time."""
        with self._db.transaction() as cursor:
            self.face_rows.erase(cursor, image_id)
            cursor.execute(
                "DELETE FROM rejected_messages WHERE job_id IN (SELECT job_id FROM step_runs WHERE image_id = ?) "
                "OR job_id IN (SELECT job_id FROM images WHERE image_id = ?)",
                image_id, image_id,
            )  # fmt: skip
            cursor.execute("DELETE FROM step_runs WHERE image_id = ?", image_id)
            cursor.execute("DELETE FROM images WHERE image_id = ?", image_id)
            audit.record(cursor, actor, Action.FORGET, image_id)

    def restart_job(self, job: JobMessage) -> None:
        """Mark an image processing again for a reprocess of its current job."""
        with self._db.transaction() as cursor:
            cursor.execute(
                "UPDATE images SET status = 'processing', failed_step = NULL, error = NULL, completed_at = NULL, "
                "pipeline = ?, trace_id = ?, updated_at = ? WHERE image_id = ? AND job_id = ?",
                ",".join(job.pipeline), job.trace_id, utc_now(), str(job.image_id), str(job.job_id),
            )  # fmt: skip

    # Tables whose rows belong to one image and are rewritten whole by each persist.
    _PER_IMAGE_TABLES = {
        "image_tags": "DELETE FROM image_tags WHERE image_id = ?",
        "image_objects": "DELETE FROM image_objects WHERE image_id = ?",
        "text_lines": "DELETE FROM text_lines WHERE image_id = ?",
    }

    def _replace_rows(self, cursor, table: str, image_id: str, insert: str, rows: list[tuple]) -> None:
        cursor.execute(self._PER_IMAGE_TABLES[table], image_id)
        if rows:
            cursor.executemany(insert, rows)

    def reject_message(self, queue: str, message_id: str | None, reason: str, body: bytes | str) -> None:
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        job_id = _job_id_hint(text)
        with self._db.transaction() as cursor:
            cursor.execute(
                "INSERT INTO rejected_messages (queue_name, message_id, job_id, reason, body_excerpt, rejected_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                queue, message_id, job_id, _clip(reason), _clip(text, 2000), utc_now(),
            )  # fmt: skip


def _job_id_hint(text: str) -> str | None:
    """The job id of a rejected message when one can be read, so operators can find its image."""
    try:
        value = json.loads(text).get("job_id")
        return str(uuid.UUID(str(value)))
    except (ValueError, AttributeError, TypeError, RecursionError):
        return None
