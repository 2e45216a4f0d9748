"""SIGKILL the local host again and again while a batch runs: every image ends complete exactly once."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from itertools import combinations

import pytest

from devhost.samples import EXPECTED
from pipeline.db import Database
from pipeline.ids import image_id_for
from pipeline.storage import Storage
from tests.conftest import step_queues
from tests.faults.conftest import (
    FULL,
    HostProcess,
    figures,
    finished,
    step_runs,
    upload_copies,
    wait_until_finished,
)
from tests.faults.crashing_host import KILL_PROBABILITY

IMAGES, KILLS = (50, 12) if FULL else (14, 4)
STEPS = 4  # step runs per image: normalize, faces, facematch, persist


@pytest.mark.timeout(1800 if FULL else 600)
def test_sigkill_mid_batch_loses_and_duplicates_nothing(runtime, host_env, samples, tmp_path):
    seed = int(os.environ.get("FAULT_SEED") or time.time())
    rng = random.Random(seed)
    env = {**host_env, "PIPELINE_STEPS": "normalize,faces,facematch,persist"}
    storage = Storage.from_settings(runtime.settings.storage)
    database = Database(env["SQL_CONNECTION_STRING"])
    uploaded = upload_copies(storage, samples, "kills", IMAGES)

    external = injected = 0
    done_at_kill: list[int] = []
    for run in range(KILLS):
        # Every other run may also kill itself between a step's side effects and its forward.
        inject = run % 2 == 0
        host = HostProcess.start(
            {**env, KILL_PROBABILITY: "0.15" if inject else "0", "FAULT_SEED": f"{seed}-{run}"},
            tmp_path, run, module="tests.faults.crashing_host",
        )  # fmt: skip
        # Kill after a random amount of progress (not time: model loading and lease expiry vary), so the
        # kills spread over the batch instead of all landing at start-up; on average they stop two thirds
        # of the way through, so the last one still lands mid-batch.
        target = step_runs(database) + rng.randint(1, STEPS * IMAGES // (KILLS + KILLS // 2))
        deadline = time.monotonic() + 120
        while host.alive and step_runs(database) < target and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.5))
        if host.alive:
            host.kill()
            external += 1
        else:
            assert host.process.returncode == -signal.SIGKILL, host.log.read_text()[-3000:]
            injected += 1
        done_at_kill.append(finished(database, uploaded))
    mid_batch = sum(1 for done in done_at_kill if done < IMAGES)
    assert mid_batch >= KILLS // 2, (
        f"too few kills landed mid-batch: finished images at each kill {done_at_kill}"
    )

    final = HostProcess.start(env, tmp_path, KILLS)
    try:
        wait_until_finished(database, uploaded, final, 1200 if FULL else 400)
    finally:
        final.stop()

    by_id = {str(image_id_for(ref)): name for ref, name in uploaded.items()}
    _, images = database.query("SELECT image_id, status, face_count, error FROM images")
    assert len(images) == IMAGES
    for image_id, status, face_count, error in images:
        expected = EXPECTED[by_id[str(image_id).lower()]]
        assert (status, face_count, error) == ("complete", expected.faces, None), by_id[str(image_id).lower()]
    _, faces = database.query("SELECT face_id, image_id FROM faces")
    assert Counter(str(row[1]).lower() for row in faces) == Counter(
        {image_id: EXPECTED[name].faces for image_id, name in by_id.items() if EXPECTED[name].faces}
    )
    _, indexed = database.query("SELECT face_id FROM face_index")
    assert sorted(str(row[0]) for row in indexed) == sorted(str(row[0]) for row in faces), "index != faces"
    _, results = database.query("SELECT step, COUNT(*) FROM step_results GROUP BY step")
    assert dict(results) == {"normalize": IMAGES, "faces": IMAGES, "facematch": IMAGES}
    _, pairs = database.query(
        "SELECT f.image_id, m.image_id FROM face_matches fm JOIN faces f ON f.face_id = fm.face_id "
        "JOIN faces m ON m.face_id = fm.matched_face_id"
    )
    unordered = Counter(frozenset((str(a).lower(), str(b).lower())) for a, b in pairs)
    # Two faces in one photo may both match a third face, so count face pairs, not image pairs, for duplicates.
    _, face_pairs = database.query("SELECT face_id, matched_face_id FROM face_matches")
    assert max(Counter(frozenset(map(str, pair)) for pair in face_pairs).values(), default=1) == 1
    with_faces = [image_id for image_id, name in by_id.items() if EXPECTED[name].faces]
    copies = [
        (a, b) for a, b in combinations(with_faces, 2) if by_id[a] == by_id[b]
    ]  # the same photo uploaded twice must match itself
    assert all(unordered[frozenset((a, b))] for a, b in copies)
    crops = storage.list_names("faces")
    assert len(crops) == len(faces), "one crop per face, none left over from a killed attempt"
    for queue in step_queues():
        assert storage.queue_length(queue) == 0, queue
    figures(
        "sigkill",
        images=IMAGES, kills=external + injected, external_kills=external, kills_before_forward=injected,
        finished_at_each_kill=done_at_kill, lost=0, duplicate_rows=0, faces=len(faces), seed=seed,
    )  # fmt: skip
