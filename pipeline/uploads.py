"""A folder of images as a batch: upload it, follow its progress, print what the pipeline made of it.

Used by ``make run``, ``python -m pipeline.cli upload`` and the benchmarks. Blob names are
``<batch>/<path relative to the folder>``, as storage will keep them: a backslash becomes a slash (which
is what Azure and Azurite do with it), so the image ids computed here are the ids the pipeline uses.
Hidden files and everything in hidden folders are skipped, and so are names storage cannot hold; each
skipped file is reported with its reason.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from pipeline.contract import IMAGES_CONTAINER, BlobRef
from pipeline.db import Database
from pipeline.ids import image_id_for
from pipeline.records import FINISHED, JobStatus
from pipeline.storage import Storage

QUEUED = "queued"  # uploaded, its job not started yet
MAX_NAME_COLUMN = 60
_CONTROL = {chr(code) for code in (*range(0x20), 0x7F)}


def local_files(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The files under ``folder`` to upload, sorted, and the skipped ones with the reason."""
    chosen, skipped = [], []
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            skipped.append((path, "hidden (its name or a folder's starts with '.')"))
        elif any(character in _CONTROL for character in str(relative)):
            skipped.append(
                (path, "its name holds a control character (a newline or a tab), which storage refuses")
            )
        else:
            chosen.append(path)
    return chosen, skipped


def image_files(folder: Path) -> list[Path]:
    return local_files(folder)[0]


def blob_for(folder: Path, path: Path, batch: str) -> BlobRef:
    """The blob a local file becomes: a backslash turns into a slash, as storage itself turns it."""
    name = f"{batch}/{path.relative_to(folder).as_posix()}".replace("\\", "/")
    return BlobRef(container=IMAGES_CONTAINER, name=name)


def upload(storage: Storage, folder: Path, batch: str, err: IO[str] = sys.stderr) -> list[BlobRef]:
    """Upload every file under ``folder`` to ``images/<batch>/<relative path>``, with a progress bar."""
    files, skipped = local_files(folder)
    refs = []
    storage.ensure_containers()
    for index, path in enumerate(files, start=1):
        try:
            ref = blob_for(folder, path, batch)
        except ValidationError as exc:
            skipped.append((path, f"not a usable blob name: {exc.errors()[0]['msg']}"))
            continue
        storage.write(ref, path.read_bytes(), "application/octet-stream")
        refs.append(ref)
        done = int(30 * index / len(files))
        print(
            f"\rupload [{'#' * done}{'.' * (30 - done)}] {index}/{len(files)}", end="", file=err, flush=True
        )
    if files:
        print(file=err)
    for path, reason in skipped:
        print(f"skipped {path.relative_to(folder)!r}: {reason}", file=err)
    return refs


def _batches(refs: Iterable[BlobRef]) -> list[str]:
    return sorted({ref.name.split("/", 1)[0] for ref in refs})


def statuses(database: Database, refs: Sequence[BlobRef]) -> dict[str, str]:
    """Status of each uploaded image by image id ('queued' until its job has started)."""
    wanted = {str(image_id_for(ref)): QUEUED for ref in refs}
    for batch in _batches(refs):
        _, rows = database.query("SELECT image_id, status FROM v_images WHERE batch_id = ?", [batch])
        for image_id, status in rows:
            key = str(image_id).lower()
            if key in wanted:
                wanted[key] = status
    return wanted


def steps_done(database: Database, refs: Sequence[BlobRef]) -> dict[str, int]:
    """Per step, how many of the batch's current jobs have completed it (for the live progress line)."""
    done: dict[str, int] = {}
    for batch in _batches(refs):
        _, rows = database.query(
            "SELECT r.step, COUNT(DISTINCT r.job_id) FROM step_runs AS r JOIN images AS i ON i.job_id = r.job_id "
            "WHERE i.batch_id = ? AND r.status = 'ok' GROUP BY r.step",
            [batch],
        )
        for step, count in rows:
            done[step] = done.get(step, 0) + count
    return done


def wait_for(
    database: Database,
    refs: Sequence[BlobRef],
    timeout: float,
    alive=lambda: True,
    err: IO[str] = sys.stderr,
    step_order: Sequence[str] = (),
) -> bool:
    """Show live counts until every image is complete or failed; False on timeout or if ``alive()`` fails."""
    deadline = time.monotonic() + timeout
    live = err.isatty()  # redraw one line on a terminal, print each change in a log
    order = {step: index for index, step in enumerate(step_order)}
    shown = ""
    while True:
        current = statuses(database, refs)
        line = "  ".join(
            f"{state} {sum(1 for value in current.values() if value == state)}"
            for state in (QUEUED, *JobStatus)
        )
        per_step = steps_done(database, refs)
        if per_step:
            ordered = sorted(per_step, key=lambda step: (order.get(step, len(order)), step))
            line += "  |  done: " + "  ".join(f"{step} {per_step[step]}" for step in ordered)
        if line != shown:
            print("\r" + line if live else line, end="" if live else "\n", file=err, flush=True)
            shown = line
        done = all(value in FINISHED for value in current.values())
        if done or time.monotonic() > deadline or not alive():
            if live:
                print(file=err)
            return done
        time.sleep(1.0)


def shorten(text: str, width: int = MAX_NAME_COLUMN) -> str:
    """``text`` in at most ``width`` characters, the middle elided (both ends of a file name matter)."""
    if len(text) <= width:
        return text
    keep = width - 1
    return text[: keep - keep // 2] + "…" + text[len(text) - keep // 2 :]


def _datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def summary(database: Database, refs: Sequence[BlobRef], out: IO[str] = sys.stdout) -> None:
    """One line per uploaded image: status, faces, face matches with other photos, and why it failed."""
    ids = {str(image_id_for(ref)) for ref in refs}
    rows, matches, spans = [], {}, []
    for batch in _batches(refs):
        _, found = database.query(
            "SELECT image_id, blob_name, status, face_count, failed_step, error FROM v_images "
            "WHERE batch_id = ? ORDER BY blob_name",
            [batch],
        )
        rows += [row for row in found if str(row[0]).lower() in ids]
        _, counted = database.query(
            "SELECT f.image_id, COUNT(*) FROM faces AS f JOIN face_matches AS m "
            "ON m.face_id = f.face_id OR m.matched_face_id = f.face_id JOIN images AS i ON i.image_id = f.image_id "
            "WHERE i.batch_id = ? GROUP BY f.image_id",
            [batch],
        )
        matches.update({str(image_id).lower(): count for image_id, count in counted})
        _, span = database.query(
            "SELECT MIN(received_at), MAX(completed_at) FROM images WHERE batch_id = ?", [batch]
        )
        spans += span
    width = max([len(shorten(row[1])) for row in rows] + [10])
    print(f"{'image'.ljust(width)}  {'status':9} {'faces':>5} {'matches':>7}  detail", file=out)
    for image_id, blob_name, status, faces, failed_step, error in rows:
        detail = f"{failed_step}: {error}" if status == JobStatus.FAILED else ""
        face_text = "" if faces is None else str(faces)
        match_text = "" if faces is None else str(matches.get(str(image_id).lower(), 0))
        print(
            f"{shorten(blob_name).ljust(width)}  {status:9} {face_text:>5} {match_text:>7}  {detail}",
            file=out,
        )
    started = [moment for moment in (_datetime(first) for first, _ in spans) if moment]
    ended = [moment for moment in (_datetime(last) for _, last in spans) if moment]
    if started and ended:
        print(
            f"batch time: {(max(ended) - min(started)).total_seconds():.1f} s from the first job's start to the last job's end",
            file=out,
        )
