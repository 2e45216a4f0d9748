"""The real app on the local host's Event Grid path: competing hosts, repeated events, blobs older than the
subscription, and ``forget`` leaving no trace of a name in the storage account or the host's log."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from devhost.azurite import Azurite
from devhost.blobs import BlobTriggerMessage
from devhost.hostkeys import system_key
from pipeline.contract import IMAGES_CONTAINER, BlobRef
from pipeline.db import Database
from pipeline.ids import image_id_for, job_id_for
from pipeline.ingest import ingest_existing, job_for
from pipeline.routing import INGEST_POISON_QUEUE, poison_queue_name, queue_name
from pipeline.storage import Storage
from pipeline.uploads import statuses, wait_for
from tests.conftest import fresh_runtime
from tests.devhost.events import blob_created, post, webhook_url
from tests.pipeline_harness import ROOT, environment_only, start_host

STEPS = "normalize,persist"
PHOTOS = ["grace_hopper.jpg", "two_people.jpg", "coffee.png", "rocket.jpg", "astronaut.png"]
INGESTED = "Executing 'Functions.ingest'"


def upload(storage: Storage, samples: Path, names: dict[str, str]) -> list[BlobRef]:
    """Each blob name → the sample whose bytes it gets."""
    refs = [BlobRef(container=IMAGES_CONTAINER, name=name) for name in names]
    for ref, sample in zip(refs, names.values(), strict=True):
        storage.write(ref, (samples / sample).read_bytes(), "application/octet-stream")
    return refs


def finished(env: dict[str, str], refs: list[BlobRef], hosts: list[subprocess.Popen], timeout: float) -> None:
    with open(os.devnull, "w") as quiet:
        done = wait_for(Database(env["SQL_CONNECTION_STRING"]), refs, timeout,
                        alive=lambda: all(host.poll() is None for host in hosts), err=quiet)  # fmt: skip
    assert done, "the batch did not finish"


def stop(hosts: list[subprocess.Popen]) -> None:
    for host in hosts:
        host.terminate()
    for host in hosts:
        host.wait(timeout=60)


def count(logs: list[Path], text: str) -> int:
    return sum(log.read_text(encoding="utf-8").count(text) for log in logs)


def cli(env: dict[str, str], folder: Path, *args: str) -> tuple[int, dict | None, str]:
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "--settings", str(environment_only(folder)), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None, done.stderr


@pytest.mark.timeout(300)
def test_two_hosts_over_one_batch_ingest_each_blob_once(runtime, host_env, samples, tmp_path):
    env = {**host_env, "PIPELINE_STEPS": STEPS}
    logs = [tmp_path / "host-1.log", tmp_path / "host-2.log"]
    hosts = [start_host(env, log) for log in logs]
    try:
        refs = upload(
            runtime.storage,
            samples,
            {f"pair/{i}-{name}": name for i, name in enumerate([*PHOTOS, PHOTOS[0]])},
        )
        finished(env, refs, hosts, 240)
    finally:
        stop(hosts)
    assert count(logs, INGESTED) == len(refs)  # not once per host: one producer, one queue, one consumer each
    assert count(logs, "Executed 'Functions.ingest' (Succeeded") == len(refs)
    _, runs = runtime.database.query("SELECT step, COUNT(*) FROM step_runs GROUP BY step")
    assert dict(runs) == {"normalize": len(refs), "persist": len(refs)}
    _, rows = runtime.database.query("SELECT status, COUNT(*) FROM images GROUP BY status")
    assert dict(rows) == {"complete": len(refs)}


@pytest.mark.timeout(300)
def test_an_event_delivered_again_starts_no_second_job(runtime, host_env, azurite, samples, tmp_path):
    env = {**host_env, "PIPELINE_STEPS": STEPS}
    log = tmp_path / "host.log"
    host = start_host(env, log)
    blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
    key = system_key(blobs, env["AzureFunctionsWebJobsHostId"])
    try:
        (ref,) = upload(runtime.storage, samples, {"twice/hopper.jpg": "grace_hopper.jpg"})
        event = blob_created(blobs, IMAGES_CONTAINER, ref.name)
        assert post(webhook_url(log), event, "Notification", key)[0] == 202  # while the job may be in flight
        finished(env, [ref], [host], 120)
        deadline = time.monotonic() + 30
        while count([log], INGESTED) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2.0)  # a re-sent job message, if any, has run by now
        _, runs_before = runtime.database.query("SELECT COUNT(*) FROM step_runs")
        assert post(webhook_url(log), event, "Notification", key)[0] == 202  # after the job finished
        while count([log], "already finished; trigger ignored") < 1 and time.monotonic() < deadline + 30:
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        stop([host])
    assert count([log], INGESTED) == 3
    _, jobs = runtime.database.query("SELECT job_id, status, face_count FROM images")
    assert [(str(job).lower(), status, faces) for job, status, faces in jobs] == [
        (
            str(job_id_for(ref, runtime.storage.info(ref).etag)),
            "complete",
            None,
        )  # no faces step: not looked for
    ]
    _, results = runtime.database.query("SELECT step, COUNT(*) FROM step_results GROUP BY step")
    assert dict(results) == {"normalize": 1}
    assert runtime.database.query("SELECT COUNT(*) FROM step_runs")[1] == runs_before  # nothing ran again


@pytest.mark.timeout(300)
def test_blobs_older_than_the_subscription_start_only_with_ingest_existing(
    runtime, host_env, samples, tmp_path
):
    # A host id with no subscription yet: it is created when its first host starts, after these uploads.
    env = {
        **host_env,
        "PIPELINE_STEPS": STEPS,
        "AzureFunctionsWebJobsHostId": f"fresh-{uuid.uuid4().hex[:8]}",
    }
    older = upload(runtime.storage, samples, {"older/a.jpg": "grace_hopper.jpg", "older/b.png": "coffee.png"})
    time.sleep(1.1)  # last-modified times have 1 s resolution: the subscription must be strictly later
    log = tmp_path / "host.log"
    host = start_host(env, log)
    try:
        time.sleep(3.0)  # three scans of the producer
        assert set(statuses(runtime.database, older).values()) == {"queued"}
        assert cli(env, tmp_path, "ingest-existing", "--batch", "older")[:2] == (
            0, {"blobs": 2, "started": 2, "skipped": 0, "refused": 0},
        )  # fmt: skip
        finished(env, older, [host], 120)
        again = ingest_existing(runtime, "older")  # their jobs finished: nothing starts again
        assert again.as_dict() == {"blobs": 2, "started": 0, "skipped": 2, "refused": 0}
        code, _, stderr = cli(env, tmp_path, "ingest-existing", "--batch", "nobody")
        assert code == 1 and "no blob in batch 'nobody'" in stderr
        later = upload(runtime.storage, samples, {"older/c.jpg": "rocket.jpg"})
        finished(env, later, [host], 120)  # uploaded after the subscription: its event starts it
    finally:
        stop([host])
    assert count([log], INGESTED) == 1


@pytest.mark.timeout(300)
def test_forget_leaves_no_trace_of_a_name_in_the_account_or_the_host_log(samples, tmp_path):
    with Azurite(
        location=tmp_path / "azurite"
    ) as account:  # its own account: every container and queue is ours
        runtime = fresh_runtime(account, f"Driver=SQLite3;Database={tmp_path / 'db.sqlite'};Timeout=30000")
        env = {
            key: value for key, value in os.environ.items() if not key.startswith(("PIPELINE_", "VISION_"))
        }
        env |= {"AzureWebJobsStorage": account.connection_string, "PIPELINE_STEPS": STEPS,
                "SQL_CONNECTION_STRING": runtime.settings.sql_connection_string,
                "AzureFunctionsWebJobsHostId": "forget-test"}  # fmt: skip
        log = tmp_path / "host.log"
        host = start_host(env, log)
        try:
            erased, kept = upload(runtime.storage, samples, {"fam/María Núñez.jpg": "grace_hopper.jpg",
                                                             "fam/kept.jpg": "two_people.jpg"})  # fmt: skip
            finished(env, [erased, kept], [host], 180)
            for ref in (erased, kept):
                _leave_what_failures_leave(runtime, ref, account.connection_string)
            code, summary, stderr = cli(env, tmp_path, "forget", "--image-id", str(image_id_for(erased)))
            assert code == 0 and summary["images"] == 1 and summary["messages"] == 3, stderr
        finally:
            stop([host])
        traces = _every_text_in(account.connection_string)
    for needle in (*_spellings(erased.name), str(image_id_for(erased)).encode()):
        assert not [where for where, text in traces if needle in text], needle
    for needle in _spellings(erased.name):  # logs name images by id, which points nowhere once erased
        assert needle not in log.read_bytes(), needle
    assert [where for where, text in traces if b"kept.jpg" in text], "the search sees what was not erased"


def _leave_what_failures_leave(runtime, ref: BlobRef, connection_string: str) -> None:
    """What the host leaves about an upload after failures: its blob trigger message in the blob poison queue, a
    job message in a step's poison queue, and a receipt of the container-polling blob trigger."""
    etag = runtime.storage.info(ref).etag
    queues = QueueServiceClient.from_connection_string(connection_string)
    for queue, text in (
        (INGEST_POISON_QUEUE, BlobTriggerMessage("Host.Functions.ingest", ref.container, ref.name, etag).encoded()),
        (poison_queue_name(queue_name("normalize")),
         base64.b64encode(job_for(runtime, ref, etag).model_dump_json().encode()).decode()),
    ):  # fmt: skip
        client = queues.get_queue_client(queue)
        with contextlib.suppress(ResourceExistsError):
            client.create_queue()
        client.send_message(text)
    blobs = BlobServiceClient.from_connection_string(connection_string)
    receipt = f"blobreceipts/forget-test/Host.Functions.ingest/{etag}/{ref}"
    blobs.get_blob_client("azure-webjobs-hosts", receipt).upload_blob(b"", overwrite=True)


def _spellings(name: str) -> list[bytes]:
    """A name as it may be stored: UTF-8, JSON with escapes, percent-encoded (URLs), and the file name alone."""
    return [
        name.encode(),
        json.dumps(name)[1:-1].encode(),
        quote(name).encode(),
        name.split("/")[-1].encode(),
    ]


def _every_text_in(connection_string: str) -> list[tuple[str, bytes]]:
    """Every blob (name and content) and every queue message (as stored and base64-decoded) of the account."""
    found: list[tuple[str, bytes]] = []
    blobs = BlobServiceClient.from_connection_string(connection_string)
    for container in blobs.list_containers():
        client = blobs.get_container_client(container.name)
        for blob in client.list_blobs(include=["metadata"]):
            content = client.download_blob(blob.name).readall()
            found.append(
                (f"{container.name}/{blob.name}", f"{container.name}/{blob.name}".encode() + content)
            )
            found.append((f"{container.name}/{blob.name} metadata", json.dumps(blob.metadata or {}).encode()))
    queues = QueueServiceClient.from_connection_string(connection_string)
    for queue in queues.list_queues():
        client = queues.get_queue_client(queue.name)
        for message in client.receive_messages(
            messages_per_page=32, max_messages=1000, visibility_timeout=30
        ):
            text = message.content or ""
            try:
                decoded = base64.b64decode(text, validate=True)
            except binascii.Error:
                decoded = b""
            found.append((f"queue {queue.name}", text.encode() + b"\n" + decoded))
    return found
