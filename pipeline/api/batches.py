"""GET /api/batches/{batch_id}: a batch's progress, images per status and every step's attempts by outcome."""

from __future__ import annotations

from typing import Any

from pipeline.api.images import NoParams
from pipeline.api.params import BatchId, NotFound, Params, parse
from pipeline.api.values import Result, endpoint, iso_time, rows
from pipeline.db import Database
from pipeline.records import JobStatus, StepRunStatus

BATCH_STATUS_SQL = "SELECT status, COUNT(*) FROM images WHERE batch_id = ? GROUP BY status"
# Attempts of each step of the images' current jobs (not of earlier uploads of the same blob).
BATCH_STEPS_SQL = (
    "SELECT r.step, r.status, COUNT(*), MIN(r.started_at) FROM step_runs AS r "
    "JOIN images AS i ON i.image_id = r.image_id AND i.job_id = r.job_id "
    "WHERE i.batch_id = ? GROUP BY r.step, r.status"
)


class BatchRoute(Params):
    batch_id: BatchId


@endpoint
def get_batch(database: Database, batch_id: str | None, params: dict[str, Any] | None = None) -> Result:
    """GET batches/{batch_id}: how many images are in each status, and every step's attempts by outcome."""
    parse(NoParams, params)
    batch_id = parse(BatchRoute, {"batch_id": batch_id}).batch_id
    statuses = dict.fromkeys(JobStatus.__members__.values(), 0)
    for status, count in rows(database, BATCH_STATUS_SQL, [batch_id]):
        statuses[JobStatus(status)] = count
    total = sum(statuses.values())
    if not total:
        raise NotFound(f"batch {batch_id} not found")
    first_run: dict[str, str] = {}
    steps: dict[str, dict[str, int]] = {}
    for step, status, count, started_at in rows(database, BATCH_STEPS_SQL, [batch_id]):
        steps.setdefault(step, {s.value: 0 for s in StepRunStatus})[status] = count
        started = iso_time(started_at) or ""
        first_run[step] = min(first_run.get(step, started), started)
    ordered = {step: steps[step] for step in sorted(steps, key=lambda s: (first_run[s], s))}
    status_counts = {status.value: count for status, count in statuses.items()}
    return 200, {"batch_id": batch_id, "images": total, "status": status_counts, "steps": ordered}
