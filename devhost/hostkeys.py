"""The host's system keys, kept where the real host keeps them: ``azure-webjobs-secrets/<hostId>/host.json``.

Only the key the local host checks is made: ``blobs_extension``, which the Event Grid subscription puts in the
blob webhook's URL (``&code=<key>``). The first host of a host id generates it; every other host of that id
(competing consumers over one storage account) reads the same key, as instances of one function app do.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

SECRETS_CONTAINER = "azure-webjobs-secrets"
BLOBS_EXTENSION_KEY = "blobs_extension"


def secrets_blob_name(host_id: str) -> str:
    return f"{host_id}/host.json"


def system_key(blob_service: BlobServiceClient, host_id: str, name: str = BLOBS_EXTENSION_KEY) -> str:
    """The host's system key ``name``, generated and stored on first use (safe when hosts start together)."""
    container = blob_service.get_container_client(SECRETS_CONTAINER)
    with contextlib.suppress(ResourceExistsError):
        container.create_container()
    blob = container.get_blob_client(secrets_blob_name(host_id))
    while True:
        try:
            download = blob.download_blob()
        except ResourceNotFoundError:
            document: dict[str, Any] = {"systemKeys": [], "source": "devhost"}
            etag = None
        else:
            document = json.loads(download.readall())
            etag = download.properties.etag
        for key in document.get("systemKeys", []):
            if key.get("name") == name:
                return str(key["value"])
        value = secrets.token_urlsafe(40)
        document.setdefault("systemKeys", []).append({"name": name, "value": value, "encrypted": False})
        body = json.dumps(document, indent=2).encode("utf-8")
        try:
            if etag is None:
                blob.upload_blob(body, overwrite=False)
            else:
                blob.upload_blob(
                    body, overwrite=True, etag=etag, match_condition=MatchConditions.IfNotModified
                )
        except (ResourceExistsError, ResourceModifiedError):
            continue  # another host wrote the keys meanwhile: use theirs
        return value
