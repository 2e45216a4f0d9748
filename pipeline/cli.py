"""Operator commands: ``python -m pipeline.cli <command>`` (the Makefile targets call these).

Settings come from the environment, then ``local.settings.json`` for what the environment lacks — the
same rule as the local host — so the commands work against Azurite and SQLite locally and against a
real storage account and Azure SQL when those settings point there.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pyodbc

from pipeline import api
from pipeline.contract import IMAGES_CONTAINER, BlobRef
from pipeline.db import Database
from pipeline.errors import PipelineError
from pipeline.forget import forget
from pipeline.helper import image_id_for
from pipeline.replay import replay_poison
from pipeline.reprocess import reprocess
from pipeline.runtime import Runtime
from pipeline.settings import Settings
from pipeline.storage import Storage
from steps import REGISTERED_STEPS, STEPS_BY_NAME

REPO_ROOT = Path(__file__).resolve().parent.parent
FINISHED = ("complete", "failed")
STEP_ORDER = {step.name: index for index, step in enumerate(REGISTERED_STEPS)}


def load_settings(settings_file: Path) -> Settings:
    from devhost.settings import export_settings, load_local_settings

    if not settings_file.exists():
        # Before the first `make run` there is no local.settings.json; the documented defaults apply.
        settings_file = REPO_ROOT / "local.settings.json.example"
    export_settings(load_local_settings(settings_file))
    return Settings.from_environment()


def _database(settings: Settings) -> Database:
    return Database(settings.sql_connection_string)


def query(settings: Settings, sql: str, out=sys.stdout) -> int:
    """Print one statement's rows as CSV with a header row, and nothing else."""
    columns, rows = _database(settings).query(sql)
    writer = csv.writer(out, lineterminator="\n")
    if columns:
        writer.writerow(columns)
        writer.writerows(rows)
    return 0


def db_upgrade(settings: Settings) -> int:
    applied = _database(settings).upgrade()
    print(f"database schema: applied {len(applied)} migration(s) {applied or ''}".rstrip(), file=sys.stderr)
    return 0


def image_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file() and not path.name.startswith("."))


def upload(storage: Storage, folder: Path, batch: str, err=sys.stderr) -> list[BlobRef]:
    """Upload every file under ``folder`` to ``images/<batch>/<relative path>``, with a progress bar."""
    files = image_files(folder)
    refs = []
    storage.ensure_containers()
    for index, path in enumerate(files, start=1):
        ref = BlobRef(container=IMAGES_CONTAINER, name=f"{batch}/{path.relative_to(folder).as_posix()}")
        storage.write(ref, path.read_bytes(), "application/octet-stream")
        refs.append(ref)
        done = int(30 * index / len(files))
        print(
            f"\rupload [{'#' * done}{'.' * (30 - done)}] {index}/{len(files)}", end="", file=err, flush=True
        )
    print(file=err)
    return refs


def statuses(database: Database, refs: Sequence[BlobRef]) -> dict[str, str]:
    """Status of each uploaded image by image id ('queued' until its job has started)."""
    wanted = {str(image_id_for(ref)): "queued" for ref in refs}
    batches = sorted({ref.name.split("/", 1)[0] for ref in refs})
    for batch in batches:
        _, rows = database.query("SELECT image_id, status FROM v_images WHERE batch_id = ?", [batch])
        for image_id, status in rows:
            key = str(image_id).lower()
            if key in wanted:
                wanted[key] = status
    return wanted


def steps_done(database: Database, refs: Sequence[BlobRef]) -> dict[str, int]:
    """Per step, how many of the batch's current jobs have completed it (for the live progress line)."""
    done: dict[str, int] = {}
    for batch in sorted({ref.name.split("/", 1)[0] for ref in refs}):
        _, rows = database.query(
            "SELECT r.step, COUNT(DISTINCT r.job_id) FROM step_runs AS r JOIN images AS i ON i.job_id = r.job_id "
            "WHERE i.batch_id = ? AND r.status = 'ok' GROUP BY r.step",
            [batch],
        )
        for step, count in rows:
            done[step] = done.get(step, 0) + count
    return done


def wait_for(
    database: Database, refs: Sequence[BlobRef], timeout: float, alive=lambda: True, err=sys.stderr
) -> bool:
    """Show live counts until every image is complete or failed; False on timeout or if ``alive()`` fails."""
    deadline = time.monotonic() + timeout
    live = err.isatty()  # redraw one line on a terminal, print each change in a log
    shown = ""
    while True:
        current = statuses(database, refs)
        line = "  ".join(
            f"{state} {sum(1 for value in current.values() if value == state)}"
            for state in ("queued", "processing", "complete", "failed")
        )
        per_step = steps_done(database, refs)
        if per_step:
            ordered = sorted(per_step, key=lambda step: (STEP_ORDER.get(step, len(STEP_ORDER)), step))
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


def summary(database: Database, refs: Sequence[BlobRef], out=sys.stdout) -> None:
    ids = {str(image_id_for(ref)) for ref in refs}
    batches = sorted({ref.name.split("/", 1)[0] for ref in refs})
    rows = []
    for batch in batches:
        _, found = database.query(
            "SELECT image_id, blob_name, status, face_count, failed_step, error FROM v_images "
            "WHERE batch_id = ? ORDER BY blob_name",
            [batch],
        )
        rows += [row[1:] for row in found if str(row[0]).lower() in ids]
    width = max([len(row[0]) for row in rows] + [10])
    print(f"{'image'.ljust(width)}  {'status':9} {'faces':>5}  detail", file=out)
    for blob_name, status, faces, failed_step, error in rows:
        detail = f"{failed_step}: {error}" if status == "failed" else ""
        face_text = "" if faces is None else str(faces)
        print(f"{blob_name.ljust(width)}  {status:9} {face_text:>5}  {detail}", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.cli", description=__doc__.splitlines()[0])
    parser.add_argument("--settings", type=Path, default=REPO_ROOT / "local.settings.json")
    commands = parser.add_subparsers(dest="command", required=True)
    query_parser = commands.add_parser("query", help="run one SQL statement, print CSV")
    query_parser.add_argument("sql")
    commands.add_parser("db-upgrade", help="apply missing SQL migrations")
    reprocess_parser = commands.add_parser(
        "reprocess", help="run the steps of the current PIPELINE_STEPS that images lack (or all, --force)"
    )
    which = reprocess_parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--batch")
    which.add_argument("--status", choices=("processing", "complete", "failed"))
    which.add_argument("--all", action="store_true")
    reprocess_parser.add_argument("--force", action="store_true", help="run every step again")
    status_parser = commands.add_parser(
        "status", help="a batch's progress: images per status, attempts per step"
    )
    status_parser.add_argument("batch")
    replay_parser = commands.add_parser(
        "replay-poison", help="move poison messages back to their step queues once the cause is fixed"
    )
    replay_parser.add_argument("--step", help="only this step's poison queue (default: every step)")
    forget_parser = commands.add_parser(
        "forget", help="erase an image or a batch everywhere: blobs, match index, SQL rows"
    )
    erase = forget_parser.add_mutually_exclusive_group(required=True)
    erase.add_argument("--image-id")
    erase.add_argument("--batch")
    upload_parser = commands.add_parser("upload", help="upload a folder as a batch and wait for it")
    upload_parser.add_argument("folder", type=Path)
    upload_parser.add_argument("--batch", default=time.strftime("upload-%Y%m%d-%H%M%S"))
    upload_parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)

    try:
        settings = load_settings(args.settings)
        if args.command == "query":
            return query(settings, args.sql)
        if args.command == "db-upgrade":
            return db_upgrade(settings)
        if args.command == "status":
            code, body = api.get_batch(_database(settings), args.batch, {})
            print(json.dumps(body, indent=2))
            return 0 if code == 200 else 1
        if args.command == "replay-poison":
            runtime = Runtime.from_settings(settings, STEPS_BY_NAME)
            print(json.dumps(replay_poison(runtime, args.step)))
            return 0
        if args.command == "forget":
            runtime = Runtime.from_settings(settings, STEPS_BY_NAME)
            print(json.dumps(forget(runtime, image_id=args.image_id, batch=args.batch).as_dict()))
            return 0
        if args.command == "reprocess":
            runtime = Runtime.from_settings(settings, STEPS_BY_NAME)
            summary = reprocess(runtime, batch=args.batch, status=args.status, force=args.force)
            print(json.dumps(summary.as_dict()))
            return 0
        refs = upload(Storage.from_settings(settings.storage), args.folder, args.batch)
        database = _database(settings)
        finished = wait_for(database, refs, args.timeout)
        summary(database, refs)
        return 0 if finished else 1
    except (PipelineError, pyodbc.Error) as exc:
        print(f"{parser.prog} {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
