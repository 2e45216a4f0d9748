"""The Azurite launcher: random key, free ports, clean stop, clear errors."""

from __future__ import annotations

import base64
import socket
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from devhost.azurite import Azurite, AzuriteError, find_azurite_binary, generate_account_key

pytestmark = pytest.mark.timeout(60)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_shared_instance_serves_blob_and_queue_with_its_own_key(azurite: Azurite) -> None:
    assert len(base64.b64decode(azurite.account_key)) == 32
    assert f"AccountKey={azurite.account_key};" in azurite.connection_string
    assert f"BlobEndpoint=http://127.0.0.1:{azurite.blob_port}/devstoreaccount1;" in azurite.connection_string
    assert (
        f"QueueEndpoint=http://127.0.0.1:{azurite.queue_port}/devstoreaccount1;" in azurite.connection_string
    )
    with QueueServiceClient.from_connection_string(azurite.connection_string) as queues:
        queues.create_queue("azurite-smoke")
        queues.delete_queue("azurite-smoke")


def test_wrong_key_is_rejected(azurite: Azurite) -> None:
    forged = azurite.connection_string.replace(azurite.account_key, generate_account_key())
    with BlobServiceClient.from_connection_string(forged) as blobs, pytest.raises(HttpResponseError) as error:
        blobs.create_container("forged")
    assert error.value.status_code == 403


def test_fixed_ports_given_key_persistent_location_and_clean_stop(tmp_path: Path) -> None:
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        blob_port, queue_port = a.getsockname()[1], b.getsockname()[1]
    key = generate_account_key()
    location = tmp_path / "data"
    azurite = Azurite(location, blob_port=blob_port, queue_port=queue_port, account_key=key).start()
    try:
        assert (azurite.blob_port, azurite.queue_port, azurite.account_key) == (blob_port, queue_port, key)
        with BlobServiceClient.from_connection_string(azurite.connection_string) as blobs:
            blobs.create_container("kept")
    finally:
        azurite.stop()
    assert not port_open(blob_port) and not port_open(queue_port)
    assert not azurite.running
    assert any(location.iterdir())  # data survives in a given location

    with (
        Azurite(location, account_key=key) as again,
        BlobServiceClient.from_connection_string(again.connection_string) as blobs,
    ):
        assert [c.name for c in blobs.list_containers()] == ["kept"]


def test_temporary_location_is_removed_and_keys_differ() -> None:
    first = Azurite().start()
    second = Azurite().start()
    locations = [first.location, second.location]
    try:
        assert first.account_key != second.account_key
        assert first.blob_port != second.blob_port
        assert all(location.is_dir() for location in locations)
    finally:
        first.stop()
        second.stop()
    assert not any(location.exists() for location in locations)


def test_startup_failure_reports_azurite_output() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(AzuriteError, match="EADDRINUSE"):
            Azurite(blob_port=port, queue_port=port).start()


def test_missing_installation_has_actionable_message(tmp_path: Path) -> None:
    with pytest.raises(AzuriteError, match=r"Azurite not installed: run `npm ci` \(make does this\)"):
        find_azurite_binary(tmp_path)
