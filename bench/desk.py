"""The review desk's pages on a batch of 10,000 images, on SQLite: server time per page, median of repeats.

The database is filled directly: one batch of 10,000 images (most complete with one or two faces, 3 % failed
at normalize, 1 % still processing), six step attempts each, faces of people photographed 5 times with their
matches, persons regrouped by the real code, plus 49 small batches beside it so the batch list has rows to
group. Each page is then rendered by the desk's own functions (the SQL, the API functions and the HTML, no
HTTP), and the batch page also over HTTP through the local host's server, to show what the browser waits for.

    .venv/bin/python -m bench.desk [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

from pipeline.access import Caller, Role
from pipeline.contract import utc_now
from pipeline.db import Database
from pipeline.desk.batch_pages import batch_page, home_page, progress
from pipeline.desk.image_page import image_page
from pipeline.desk.person_pages import person_page, persons_page
from pipeline.desk.review_page import next_pair, review_page
from pipeline.desk.search_page import search_page
from pipeline.faces.persons import PersonStore

BATCH = "field-visit-12"
STEPS = ("normalize", "analyze", "ocr", "faces", "facematch", "persist")
PHOTOS_PER_PERSON = 5
REVIEWER = Caller("bench", frozenset({Role.REVIEWER}), signed_in=False)


def fill(database: Database, images: int, rng: random.Random) -> dict[str, str]:
    """The batch and its neighbours; returns an image id, a person id and a tag to open."""
    now = utc_now()
    image_rows, runs, faces, tags = [], [], [], []
    people: list[list[str]] = []
    for number in range(images):
        image_id, job_id = str(uuid.uuid4()), str(uuid.uuid4())
        roll = rng.random()
        status = "failed" if roll < 0.03 else "processing" if roll < 0.04 else "complete"
        failed = ("normalize", "not a decodable image") if status == "failed" else (None, None)
        width = None if status == "failed" else 1024
        image_rows.append((image_id, job_id, BATCH, "images", f"{BATCH}/photo-{number:05d}.jpg", "0" * 32,
                           ",".join(STEPS), status, *failed, width, 768, "text on a sign", now, now))  # fmt: skip
        for step in STEPS[: 1 if status == "failed" else len(STEPS)]:
            runs.append(
                (job_id, "0" * 32, step, 1, image_id, "failed" if status == "failed" else "ok", now, now)
            )
        if status == "complete":
            tags.append((image_id, rng.choice(("person", "outdoor", "document")), 0.9))
            for index in range(rng.choice((1, 1, 2))):
                face = str(uuid.uuid4())
                faces.append(
                    (
                        face,
                        image_id,
                        job_id,
                        index,
                        100 + 300 * index,
                        100,
                        200,
                        200,
                        f"{image_id}/{index}.jpg",
                    )
                )
                if not people or len(people[-1]) == PHOTOS_PER_PERSON:
                    people.append([])
                people[-1].append(face)
    for batch in range(49):
        for number in range(20):
            image_rows.append((str(uuid.uuid4()), str(uuid.uuid4()), f"visit-{batch:02d}", "images",
                               f"visit-{batch:02d}/{number}.jpg", "0" * 32, ",".join(STEPS), "complete", None, None,
                               1024, 768, None, now, now))  # fmt: skip
    matches = [
        (face, other, round(0.6 + rng.random() * 0.4, 4))
        for person in people
        for i, face in enumerate(person)
        for other in person[:i]
    ]
    with database.transaction() as cursor:
        cursor.executemany(
            "INSERT INTO images (image_id, job_id, batch_id, container, blob_name, trace_id, pipeline, status, "
            "failed_step, error, width, height, full_text, received_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            image_rows,
        )
        cursor.executemany(
            "INSERT INTO step_runs (job_id, trace_id, step, attempt, image_id, status, started_at, finished_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            runs,
        )
        cursor.executemany(
            "INSERT INTO faces (face_id, image_id, job_id, face_index, rect_left, rect_top, rect_width, "
            "rect_height, crop_blob) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            faces,
        )
        cursor.executemany("INSERT INTO image_tags (image_id, tag, confidence) VALUES (?, ?, ?)", tags)
        cursor.executemany(
            "INSERT INTO face_matches (face_id, matched_face_id, confidence) VALUES (?, ?, ?)", matches
        )
        cursor.execute("UPDATE images SET face_count = 0 WHERE status = 'complete'")
        cursor.execute(
            "UPDATE images SET face_count = (SELECT COUNT(*) FROM faces AS f WHERE f.image_id = images.image_id) "
            "WHERE status = 'complete'"
        )
    PersonStore(database).recompute()
    person = database.query("SELECT person_id FROM v_persons ORDER BY face_count DESC")[1][0][0]
    image = database.query("SELECT image_id FROM faces ORDER BY face_id")[1][0][0]
    return {"image": str(image), "person": str(person)}


def timed(render: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median and worst of ``repeats`` renders, in milliseconds (one warm-up render first)."""
    render()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        render()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.desk", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 images and fewer repeats")
    args = parser.parse_args(argv)
    images, repeats = (1_000, 5) if args.quick else (10_000, 15)
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"Driver=SQLite3;Database={Path(folder) / 'desk.db'};Timeout=30000")
        database.upgrade()
        start = time.perf_counter()
        ids = fill(database, images, random.Random(14))
        print(f"filled {images:,} images (+980 in 49 other batches) in {time.perf_counter() - start:.1f} s")
        last_page = {"offset": str((images // 60) * 60)}
        pages: dict[str, Callable[[], object]] = {
            "/ (batches, 20 per page)": lambda: home_page(database, REVIEWER, {}),
            "/desk/batches.json (the poll)": lambda: progress(database, {}),
            f"/batches/{BATCH} (first 60)": lambda: batch_page(database, REVIEWER, BATCH, {}),
            f"/batches/{BATCH}?offset={last_page['offset']} (last page)": lambda: batch_page(
                database, REVIEWER, BATCH, last_page
            ),
            f"/batches/{BATCH}?status=failed": lambda: batch_page(
                database, REVIEWER, BATCH, {"status": "failed"}
            ),
            "/images/{id}": lambda: image_page(database, REVIEWER, ids["image"], {}),
            "/review (first pending pair)": lambda: review_page(database, REVIEWER, {}),
            "/desk/review/next.json?offset=500": lambda: next_pair(database, {"offset": "500"}),
            "/persons (48 per page)": lambda: persons_page(database, REVIEWER, {}),
            "/persons/{id}": lambda: person_page(database, REVIEWER, ids["person"], {}),
            "/search?q=sign (tag, text, label)": lambda: search_page(database, REVIEWER, {"q": "sign"}),
        }
        print(f"\n{'page':58} {'median ms':>10} {'worst ms':>10}")
        for name, render in pages.items():
            median, worst = timed(render, repeats)
            print(f"{name:58} {median:10.1f} {worst:10.1f}")
        _over_http(database, repeats)
    return 0


def _over_http(database: Database, repeats: int) -> None:
    """The batch page as the browser gets it: through the local host's HTTP server and the desk's routes."""
    import azure.functions as func

    from devhost.host import LocalHost
    from pipeline.desk.routes import desk
    from pipeline.runtime import Runtime
    from pipeline.settings import DeskSettings, Settings
    from steps import STEPS_BY_NAME

    settings = Settings(
        sql_connection_string=database.connection_string,
        storage={
            "AzureWebJobsStorage": "UseDevelopmentStorage=true"
        },  # never reached: no picture is asked for
        desk=DeskSettings(user="bench", roles=frozenset({Role.REVIEWER})),
    )
    runtime = dataclasses.replace(Runtime.from_settings(settings, STEPS_BY_NAME), database=database)
    app = func.FunctionApp()
    app.register_functions(desk(lambda: runtime))
    host_json = {"version": "2.0", "extensions": {"http": {"routePrefix": ""}}}
    with LocalHost(app, {"PYTHON_THREADPOOL_THREAD_COUNT": "4"}, host_json, http_port=0) as host:
        base = f"http://127.0.0.1:{host.http_port}"
        median, worst = timed(
            lambda: urllib.request.urlopen(f"{base}/batches/{BATCH}", timeout=30).read(), repeats
        )
    print(f"{'HTTP GET /batches/' + BATCH + ' (local host server)':58} {median:10.1f} {worst:10.1f}")


if __name__ == "__main__":
    raise SystemExit(main())
