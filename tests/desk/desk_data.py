"""A processed batch for the desk tests, and the desk served by the local host's HTTP server on it.

Real photos through the real steps (Azurite, SQLite ODBC, the open models), one batch with people, text,
a broken file and hostile file names; then, as a reviewer would, a hostile label on a person and tags the
local provider cannot compute (inserted by hand, some of them hostile too).
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import azure.functions as func

from devhost.host import LocalHost
from pipeline.access import Role
from pipeline.api.routes import operator_api, people_api, query_api
from pipeline.contract import BlobRef
from pipeline.desk.routes import desk
from pipeline.ids import image_id_for
from pipeline.runtime import Runtime
from pipeline.settings import DeskSettings, Settings
from steps import STEPS_BY_NAME
from tests.conftest import _empty_storage
from tests.pipeline_harness import Harness

BATCH = "visit-7"
HOSTILE_NAME = "<img src=x onerror=alert(1)>.jpg"
HOSTILE_QUOTE = '"><svg onload=alert(2)>.png'
HOSTILE_TAG = "<script>alert(3)</script>"
HOSTILE_LABEL = "case <b>17</b> \"'&<i>"
HOSTILE_REVIEWER = "amina <u>reviewer</u>"
# Photo file -> the name it is uploaded under, in processing order (each is matched against the earlier ones).
UPLOADS = {
    "grace_hopper.jpg": "grace_hopper.jpg",
    "phone_rotated_exif.jpg": "phone_rotated_exif.jpg",
    "astronaut.png": "astronaut.png",
    "two_people.jpg": "two_people.jpg",
    "page_of_text.png": "page_of_text.png",
    "coffee.png": HOSTILE_NAME,
    "rocket.jpg": HOSTILE_QUOTE,
    "not_an_image.jpg": "not_an_image.jpg",
}
PIPELINE = "normalize,analyze,ocr,faces,facematch,persist"
HOST_JSON = {"version": "2.0", "extensions": {"http": {"routePrefix": ""}}}


@dataclass
class DeskData:
    runtime: Runtime
    refs: dict[str, BlobRef]  # upload name -> blob

    def image_id(self, upload_name: str) -> str:
        return str(image_id_for(self.refs[upload_name]))

    def rows(self, sql: str, *params) -> list[tuple]:
        return self.runtime.database.query(sql, list(params))[1]

    def as_user(self, user: str, *roles: Role) -> Runtime:
        """The same data and services, with the desk's local identity set to ``user`` and ``roles``."""
        settings = self.runtime.settings.model_copy(
            update={"desk": DeskSettings(user=user, roles=frozenset(roles))}
        )
        return dataclasses.replace(self.runtime, settings=settings)


def process(azurite, samples: Path, folder: Path) -> DeskData:
    settings = Settings(
        pipeline_steps=PIPELINE,
        sql_connection_string=f"Driver=SQLite3;Database={folder / 'desk.db'};Timeout=30000",
        storage={"AzureWebJobsStorage": azurite.connection_string},
    )
    runtime = Runtime.from_settings(settings, STEPS_BY_NAME)
    runtime.database.upgrade()
    _empty_storage(azurite, runtime)
    harness = Harness(runtime, azurite.connection_string)
    renamed = folder / "uploads"
    renamed.mkdir(exist_ok=True)
    refs = {}
    for sample, name in UPLOADS.items():
        path = renamed / f"{len(refs)}{Path(sample).suffix}"
        shutil.copyfile(samples / sample, path)
        refs[name] = harness.upload(path, f"{BATCH}/{name}")
        harness.ingest(refs[name])
        harness.run_all()
    data = DeskData(runtime, refs)
    with runtime.database.transaction() as cursor:
        cursor.executemany(
            "INSERT INTO image_tags (image_id, tag, confidence) VALUES (?, ?, ?)",
            [
                (data.image_id("grace_hopper.jpg"), "portrait", 0.9),
                (data.image_id("grace_hopper.jpg"), HOSTILE_TAG, 0.5),
            ],
        )
    return data


def desk_app(runtime: Runtime) -> func.FunctionApp:
    """The app's HTTP Blueprints (the desk and the API) on ``runtime``, without the queue and blob functions."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    for blueprint in (query_api, operator_api, people_api, desk):
        app.register_functions(blueprint(lambda: runtime))
    return app


@contextmanager
def served(runtime: Runtime) -> Iterator[str]:
    """The desk and API on ``runtime`` in the local host's HTTP server; yields its base URL."""
    host = LocalHost(desk_app(runtime), {"PYTHON_THREADPOOL_THREAD_COUNT": "4"}, HOST_JSON, http_port=0)
    with host:
        yield f"http://127.0.0.1:{host.http_port}"
