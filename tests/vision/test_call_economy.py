"""Requests the azure provider spends per image: Read polls learned from recent operations, no face search
the index cannot answer."""

from __future__ import annotations

import time
import types

import pytest

from devhost.azure_vision import AzureVisionServer
from pipeline.vision.azure import AzureVision
from pipeline.vision.azure.provider import READ_FIRST_POLL, ReadPacing, _service_time
from pipeline.vision.base import TextReading, VisionImage
from pipeline.vision.local import LocalVision
from tests.vision.conftest import KEY, settings_for
from tests.vision.test_azure_provider import admin
from tests.vision.test_face_index_azure import azure_index, detected  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(120)


def finished(created: str | None, updated: str | None):
    return types.SimpleNamespace(created_date_time=created, last_updated_date_time=updated)


def test_service_times_with_seven_fractional_digits_and_offsets():
    assert _service_time("2021-02-04T06:32:08.2752706+00:00") == _service_time("2021-02-04T06:32:08.275270Z")
    assert _service_time("2021-02-04T07:32:08+01:00") == _service_time("2021-02-04T06:32:08Z")
    assert _service_time("not a time") is None and _service_time(None) is None


def test_first_poll_follows_the_slowest_recent_operation():
    pacing = ReadPacing()
    assert pacing.first_poll() == READ_FIRST_POLL  # nothing learned yet
    pacing.record(finished("2024-01-01T00:00:00.0000000Z", "2024-01-01T00:00:00.5000000Z"), waited=1.0)
    pacing.record(finished("2024-01-01T00:00:00Z", "2024-01-01T00:00:00.25Z"), waited=1.0)
    assert pacing.first_poll() == pytest.approx(0.5 * 1.2 + 0.1)
    # Without the service's stamps the client's wait is the bound; never more than the client waited.
    pacing.record(finished(None, None), waited=2.0)
    assert pacing.first_poll() == pytest.approx(2.0 * 1.2 + 0.1)
    pacing.record(finished("2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z"), waited=3.0)
    assert pacing.first_poll() == pytest.approx(3.0 * 1.2 + 0.1)


def test_slow_outliers_age_out():
    pacing = ReadPacing()
    pacing.record(finished(None, None), waited=5.0)
    for _ in range(16):
        pacing.record(finished("2024-01-01T00:00:00Z", "2024-01-01T00:00:00.1Z"), waited=1.0)
    assert pacing.first_poll() == pytest.approx(0.1 * 1.2 + 0.1)


class SlowReader(LocalVision):
    """The open models, with Read taking a known 1.5 s on the server (as a busy Azure region might), so the
    number of polls depends on the client's waiting alone."""

    def __init__(self, models: LocalVision) -> None:
        self.__dict__.update(models.__dict__)

    def read_text(self, image: VisionImage) -> TextReading:
        time.sleep(1.5)
        return TextReading(lines=[], text="")


def test_after_the_first_read_each_read_costs_one_poll(tmp_path, local_vision, images):
    photo = images("grayscale_16bit.png")
    with AzureVisionServer(KEY, tmp_path, vision=SlowReader(local_vision)) as slow:
        vision = AzureVision(settings_for(slow))
        vision.read_text(photo)  # learns how long the service takes
        admin(slow, "/_admin/reset", {})
        for _ in range(3):
            vision.read_text(photo)
        requests = admin(slow, "/_admin/stats")["requests"]
    # Polling every second from the start would have cost two polls per read.
    assert requests["read"] == 3 and requests["readResult"] == 3


def test_the_index_asks_only_what_it_can_answer(azure_index, images, server):  # noqa: F811 - the fixture
    """Untrained list: no list search; no pending face: no pending search; after training: the list only."""
    database, index, vision = azure_index
    hopper, astronaut = images("grace_hopper.jpg"), images("astronaut.png")
    [first] = detected(vision, hopper, database)
    [second] = detected(vision, astronaut, database)

    def searches(face, image) -> int:
        before = admin(server, "/_admin/stats")["requests"].get("findsimilars", 0)
        index.match_and_add(face, image.data)
        return admin(server, "/_admin/stats")["requests"].get("findsimilars", 0) - before

    assert searches(first, hopper) == 0  # nothing trained, nothing pending: nothing to ask
    assert searches(second, astronaut) == 1  # one pending face to compare with
    assert index.train_if_pending() is True
    [third] = detected(vision, hopper, database)
    assert searches(third, hopper) == 1  # the trained list; nothing pending since the training
    [fourth] = detected(vision, astronaut, database)
    assert searches(fourth, astronaut) == 2  # the trained list and the face added since
