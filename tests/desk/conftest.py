"""One processed batch for every desk test module (the pipeline runs once), and the desk served on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.desk.desk_data import DeskData, process


@pytest.fixture(scope="session")
def desk_data(azurite, samples, tmp_path_factory) -> Iterator[DeskData]:
    data = process(azurite, samples, tmp_path_factory.mktemp("desk"))
    yield data
    data.runtime.database.close()
