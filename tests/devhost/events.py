"""Event Grid as a test drives it: BlobCreated events in the Event Grid schema, POSTed to the blob webhook."""

from __future__ import annotations

import http.client
import json
import re
import urllib.parse
from pathlib import Path

from azure.storage.blob import BlobServiceClient

_WEBHOOK_LINE = re.compile(r"Blob events webhook: POST (\S+?)&code=")


def post(url: str, body: object, event_type: str, code: str | None) -> tuple[int, bytes]:
    """POST ``body`` to the webhook as Event Grid does (``aeg-event-type``), with ``code`` if given."""
    parts = urllib.parse.urlsplit(url)
    query = parts.query + (f"&code={code}" if code is not None else "")
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        headers = {"aeg-event-type": event_type, "Content-Type": "application/json"}
        connection.request("POST", f"{parts.path}?{query}", body=json.dumps(body).encode(), headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def blob_created(blobs: BlobServiceClient, container: str, name: str) -> list[dict]:
    """The BlobCreated event the storage account's system topic sends for the blob's current version."""
    blob = blobs.get_blob_client(container, name)
    etag = blob.get_blob_properties().etag.strip('"')
    data = {"api": "PutBlob", "eTag": etag, "blobType": "BlockBlob", "url": blob.url, "contentLength": 1}
    subject = f"/blobServices/default/containers/{container}/blobs/{name}"
    return [{"id": etag, "eventType": "Microsoft.Storage.BlobCreated", "subject": subject, "data": data}]


def webhook_url(host_log: Path) -> str:
    """The blob webhook's URL (without its key) that ``python -m devhost`` printed when it started."""
    found = _WEBHOOK_LINE.search(host_log.read_text(encoding="utf-8"))
    assert found, f"no webhook line in {host_log}"
    return found.group(1)
