"""Operator commands: ``python -m pipeline.cli <command>`` (the Makefile targets call these).

Settings come from the environment, then ``local.settings.json`` for what the environment lacks — the
same rule as the local host — so the commands work against Azurite and SQLite locally and against a
real storage account and Azure SQL when those settings point there. Every mistake (a setting, an argument,
storage or SQL out of reach) ends the command within seconds with one line on stderr and a non-zero exit.

The step registry is the app's, named ``module:attribute`` (``--steps``, default ``steps:STEPS_BY_NAME``)
and loaded the way the Functions host loads ``function_app``: the library itself never imports the app.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import importlib
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pyodbc

from pipeline import api
from pipeline.api import persons as api_persons
from pipeline.api import reviews as api_reviews
from pipeline.api.actions import ForgetParams
from pipeline.api.params import BadRequest, parse
from pipeline.db import Database
from pipeline.errors import ConfigurationError, PipelineError
from pipeline.faces.reviews import Decision
from pipeline.forget import forget
from pipeline.records import JobStatus
from pipeline.replay import replay_poison, replayable
from pipeline.reprocess import reprocess
from pipeline.runtime import Runtime
from pipeline.settings import Settings
from pipeline.settings_file import export_settings, load_local_settings
from pipeline.step import Step
from pipeline.storage import Storage
from pipeline.uploads import summary, upload, wait_for

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SETTINGS = REPO_ROOT / "local.settings.json"
DEFAULT_STEPS = "steps:STEPS_BY_NAME"

# Exit codes: 1 the command ran and says no (unknown batch, unfinished upload); 2 it could not run.
REFUSED, BROKEN = 1, 2


class UsageError(PipelineError):
    """An argument the command cannot use; the message says which and why."""


def load_settings(settings_file: Path | None, registry: Mapping[str, Step]) -> Settings:
    """Settings as the host reads them; a file named on the command line must exist."""
    path = settings_file or DEFAULT_SETTINGS
    if settings_file is None and not path.exists():
        # Before the first `make run` there is no local.settings.json; the documented defaults apply.
        path = REPO_ROOT / "local.settings.json.example"
    export_settings(load_local_settings(path, required=settings_file is not None))
    return Settings.from_environment(registry=registry)


def load_registry(spec: str) -> Mapping[str, Step]:
    """The app's step registry named ``module:attribute``."""
    module_name, _, attribute = spec.partition(":")
    try:
        registry = getattr(importlib.import_module(module_name), attribute or "STEPS_BY_NAME")
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"--steps {spec!r}: {exc}") from None
    return registry


def query(database: Database, sql: str, out=sys.stdout) -> int:
    """Print one statement's rows as CSV with a header row, and nothing else."""
    if not sql.strip():
        raise UsageError('give one SQL statement, e.g. make query SQL="SELECT * FROM v_images"')
    columns, rows = database.query(sql)
    writer = csv.writer(out, lineterminator="\n")
    if columns:
        writer.writerow(columns)
        writer.writerows(rows)
    return 0


def _print(value: object) -> None:
    print(json.dumps(value, indent=None))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.cli", description=__doc__.splitlines()[0])
    parser.add_argument("--settings", type=Path, help=f"settings file (default {DEFAULT_SETTINGS.name})")
    parser.add_argument("--steps", default=DEFAULT_STEPS, help="the app's step registry, module:attribute")
    commands = parser.add_subparsers(dest="command", required=True)
    query_parser = commands.add_parser("query", help="run one SQL statement, print CSV")
    query_parser.add_argument("sql")
    commands.add_parser("db-upgrade", help="apply missing SQL migrations")
    reprocess_parser = commands.add_parser(
        "reprocess", help="run the steps of the current PIPELINE_STEPS that images lack (or all, --force)"
    )
    which = reprocess_parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--batch")
    which.add_argument("--status", choices=list(JobStatus))
    which.add_argument("--all", action="store_true")
    reprocess_parser.add_argument("--force", action="store_true", help="run every step again")
    status_parser = commands.add_parser(
        "status", help="a batch's progress: images per status, attempts per step"
    )
    status_parser.add_argument("batch")
    replay_parser = commands.add_parser(
        "replay-poison", help="move poison messages back to their step queues once the cause is fixed"
    )
    replay_parser.add_argument("--step", help="only this step's poison queue, or ingest (default: all)")
    forget_parser = commands.add_parser(
        "forget", help="erase an image or a batch everywhere: blobs, index, SQL rows"
    )
    erase = forget_parser.add_mutually_exclusive_group(required=True)
    erase.add_argument("--image-id")
    erase.add_argument("--batch")
    forget_parser.add_argument("--actor", default=_operator(), help="who asks (recorded in v_audit)")
    reprocess_parser.add_argument("--actor", default=_operator(), help="who asks (recorded in v_audit)")
    replay_parser.add_argument("--actor", default=_operator(), help="who asks (recorded in v_audit)")
    review_parser = commands.add_parser("review", help="confirm or reject a matched pair of faces")
    review_parser.add_argument("--face-id", required=True)
    review_parser.add_argument("--matched-face-id", required=True)
    review_parser.add_argument("--decision", required=True, choices=list(Decision))
    review_parser.add_argument("--reviewer", required=True)
    review_parser.add_argument("--note")
    persons_parser = commands.add_parser("persons", help="list persons (of a batch), or rebuild them all")
    persons_parser.add_argument("--batch")
    persons_parser.add_argument("--limit", default="500")
    persons_parser.add_argument(
        "--recompute", action="store_true", help="regroup every face from the matches and the decisions"
    )
    person_parser = commands.add_parser("person", help="one person's faces; --label names it")
    person_parser.add_argument("--person-id", required=True)
    person_parser.add_argument("--label", help="a label (a case reference, say); an empty one clears it")
    person_parser.add_argument("--reviewer", default=_operator(), help="who labels (recorded in v_audit)")
    upload_parser = commands.add_parser("upload", help="upload a folder as a batch and wait for it")
    upload_parser.add_argument("folder", type=Path)
    upload_parser.add_argument("--batch", default=time.strftime("upload-%Y%m%d-%H%M%S"))
    upload_parser.add_argument("--timeout", type=float, default=600.0)
    return parser


def _database(settings: Settings) -> Database:
    database = Database(settings.sql_connection_string)
    database.check()
    return database


def _runtime(settings: Settings, registry: Mapping[str, Step]) -> Runtime:
    runtime = Runtime.from_settings(settings, registry)
    runtime.storage.check()
    runtime.database.check()
    return runtime


def _run(args: argparse.Namespace, settings: Settings, registry: Mapping[str, Step]) -> int:
    if args.command == "query":
        return query(_database(settings), args.sql)
    if args.command == "db-upgrade":
        applied = _database(settings).upgrade()
        print(
            f"database schema: applied {len(applied)} migration(s) {applied or ''}".rstrip(), file=sys.stderr
        )
        return 0
    if args.command == "status":
        code, body = api.get_batch(_database(settings), args.batch, {})
        print(json.dumps(body, indent=2))
        return 0 if code == 200 else REFUSED
    if args.command == "upload":
        return _upload(args, settings)
    if args.command in ("review", "persons", "person"):
        return _people(args, Runtime.from_settings(settings, registry))
    runtime = _runtime(settings, registry)
    if args.command == "replay-poison":
        if args.step is not None and args.step not in replayable(runtime):
            raise UsageError(f"--step {args.step!r}: unknown; replayable: {', '.join(replayable(runtime))}")
        _print(replay_poison(runtime, args.step, actor=args.actor))
        return 0
    if args.command == "forget":
        erased = forget(runtime, image_id=_image_id(args.image_id), batch=args.batch, actor=args.actor)
        _print(erased.as_dict())
        if erased.images == 0:
            print(
                f"{_PROG} forget: no image {'with that id' if args.image_id else 'in that batch'}",
                file=sys.stderr,
            )
            return REFUSED
        return 0
    queued = reprocess(runtime, batch=args.batch, status=args.status, force=args.force, actor=args.actor)
    _print(queued.as_dict())
    return 0


def _people(args: argparse.Namespace, runtime: Runtime) -> int:
    """Decisions and persons need SQL only: the same functions as the HTTP API, the same checks."""
    runtime.database.check()
    if args.command == "review":
        params = {"face_id": args.face_id, "matched_face_id": args.matched_face_id, "decision": args.decision,
                  "reviewer": args.reviewer, **({"note": args.note} if args.note is not None else {})}  # fmt: skip
        return _answer(api_reviews.post_review(runtime.reviews, params))
    if args.command == "persons":
        if args.recompute:
            _print(runtime.records.persons.recompute())
            return 0
        params = {"limit": args.limit, **({"batch": args.batch} if args.batch else {})}
        return _answer(api_persons.list_persons(runtime.database, params))
    if args.label is not None:
        change = {"label": args.label} if args.label else {"clear_label": True}
        code, body = api_persons.change_person(
            runtime.reviews, args.person_id, {"reviewer": args.reviewer, **change}
        )
        if code != 200:
            return _answer((code, body))
    return _answer(api_persons.get_person(runtime.database, args.person_id, {}))


def _answer(result: tuple[int, dict]) -> int:
    """An API answer on stdout; a refusal in one line on stderr."""
    code, body = result
    if code >= 400:
        print(f"{_PROG}: {body['error']}", file=sys.stderr)
        return BROKEN if code == 400 else REFUSED
    _print(body)
    return 0


def _operator() -> str:
    """Who runs the command, as recorded in the audit trail unless --actor says otherwise."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _image_id(value: str | None) -> str | None:
    if value is None:
        return None
    checked = parse(ForgetParams, {"image_id": value})
    return checked.image_id


def _upload(args: argparse.Namespace, settings: Settings) -> int:
    if not args.folder.is_dir():
        raise UsageError(f"{args.folder} is not a folder")
    storage = Storage.from_settings(settings.storage)
    storage.check()
    database = _database(settings)
    refs = upload(storage, args.folder, args.batch)
    finished = wait_for(database, refs, args.timeout)
    summary(database, refs)
    return 0 if finished else REFUSED


_PROG = "python -m pipeline.cli"


def main(argv: Sequence[str] | None = None, registry: Mapping[str, Step] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        registry = registry if registry is not None else load_registry(args.steps)
        settings = load_settings(args.settings, registry)
        return _run(args, settings, registry)
    except (BadRequest, ConfigurationError) as exc:
        return _fail(args, str(exc))
    except (PipelineError, pyodbc.Error) as exc:
        return _fail(args, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except KeyboardInterrupt:
        print(f"{_PROG} {args.command}: interrupted", file=sys.stderr)
        return 130


def _fail(args: argparse.Namespace, message: str) -> int:
    for line in message.splitlines() or [message]:
        print(f"{_PROG} {args.command}: {line}", file=sys.stderr)
    return BROKEN


if __name__ == "__main__":
    sys.exit(main())
