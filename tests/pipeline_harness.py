"""Drives the real step handlers from real Azurite queues, one message at a time, for integration tests.

The local host (devhost) is the production-like way to run the app; this harness exists so a test can
deliver exactly the messages it wants (twice, out of order, on its last attempt) and inspect each hop.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from pathlib import Path

import pytest
from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueServiceClient

from pipeline.contract import IMAGES_CONTAINER, BlobRef
from pipeline.helper import StepHandler
from pipeline.ids import image_id_for
from pipeline.ingest import start_job
from pipeline.routing import queue_name
from pipeline.runtime import Runtime
from pipeline.settings_file import environment_only

ROOT = Path(__file__).resolve().parent.parent
READY = "Local Functions host ready"


class Harness:
    def __init__(self, runtime: Runtime, connection_string: str) -> None:
        self.runtime = runtime
        self.queues = QueueServiceClient.from_connection_string(connection_string)
        self.handlers = {name: StepHandler(step, lambda: runtime) for name, step in runtime.registry.items()}

    def upload(self, path: Path, blob_name: str) -> BlobRef:
        ref = BlobRef(container=IMAGES_CONTAINER, name=blob_name)
        self.runtime.storage.write(ref, path.read_bytes(), "application/octet-stream")
        return ref

    def ingest(self, ref: BlobRef):
        return start_job(self.runtime, str(ref))

    def send_raw(self, queue: str, body: bytes) -> None:
        """Put any bytes on a queue the way the host reads them (base64), valid message or not."""
        self.queues.get_queue_client(queue).send_message(base64.b64encode(body).decode("ascii"))

    def receive_raw(self, queue: str) -> list:
        client = self.queues.get_queue_client(queue)
        return list(client.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=30))

    def deliver(self, step: str, *, dequeue_count: int | None = None, keep: bool = False) -> int:
        """Deliver every message waiting on the step's queue to its handler; returns how many."""
        delivered = 0
        for raw in self.receive_raw(queue_name(step)):
            self.deliver_one(step, raw, dequeue_count=dequeue_count, keep=keep)
            delivered += 1
        return delivered

    def deliver_one(self, step: str, raw, *, dequeue_count: int | None = None, keep: bool = False) -> None:
        """Deliver one received message to the step's handler, then settle it as the host does."""
        client = self.queues.get_queue_client(queue_name(step))
        message = QueueMessage(
            id=raw.id,
            body=base64.b64decode(raw.content),
            dequeue_count=dequeue_count or raw.dequeue_count,
            pop_receipt=raw.pop_receipt,
        )
        try:
            self.handlers[step](message)
        except Exception:
            keep = True  # a failed invocation leaves the message on the queue, as the host does
            raise
        finally:
            if keep:  # visible again at once: the queue will deliver it again
                client.update_message(raw.id, raw.pop_receipt, visibility_timeout=0)
            else:
                client.delete_message(raw.id, raw.pop_receipt)

    def run_all(self) -> None:
        """Deliver until every step queue is empty, in pipeline order."""
        while any(self.deliver(step) for step in self.runtime.registry):
            pass

    def image_row(self, ref: BlobRef) -> dict:
        columns, rows = self.runtime.database.query(
            "SELECT * FROM v_images WHERE image_id = ?", [str(image_id_for(ref))]
        )
        assert len(rows) == 1, f"expected one v_images row for {ref}, got {len(rows)}"
        return dict(zip(columns, rows[0], strict=True))


def start_host(env: dict[str, str], log: Path, *arguments: str) -> subprocess.Popen:
    """The local Functions host (``python -m devhost``, with extra ``arguments``), once it is ready."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devhost",
            "--port",
            "0",
            "--settings",
            str(environment_only(log.parent)),
            *arguments,
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if READY in log.read_text():
            return process
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"host did not start:\n{log.read_text()}")
