"""Three hosts share a batch of real photos, several of each person, while hosts are SIGKILLed at random.

As in Azure, three instances of one app (one host id) compete for the same queues over one Azurite and one
database. Kills land at random progress points on a random host, which is restarted at once (every other
restart with the crash-before-forward wrapper, so some kills fall between a step's side effects and its
forward). Afterwards three clean hosts finish the batch. Every image must be complete with its one face,
no row or crop twice, every pair of photos of one person matched (photos of one person processed at the same
moment on two hosts must still meet) and no pair across people.
"""

from __future__ import annotations

import io
import os
import random
import signal
import time
from collections import Counter
from itertools import combinations
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from devhost.face_photos import catalogue, load
from pipeline.contract import IMAGES_CONTAINER, BlobRef
from pipeline.db import Database
from pipeline.ids import image_id_for
from pipeline.storage import Storage
from tests.conftest import step_queues
from tests.faults.conftest import FULL, HostProcess, figures, finished, step_runs
from tests.faults.crashing_host import KILL_PROBABILITY

HOSTS = 3
# Person -> labelled photos of them (devhost/face_photos.py); each photo is uploaded in several variants.
PEOPLE = {
    "Barack Obama": ("obama.jpg", "obama2.jpg", "obama3.jpg"),
    "Joe Biden": ("biden.jpg",),
    "Tom Hanks": ("tom_hanks.png",),
    "Eileen Collins": ("astronaut.png",),
    "Grace Hopper": ("grace_hopper.jpg",),
}
IMAGES_PER_PERSON, PERSONS, KILLS = (10, 5, 10) if FULL else (3, 3, 2)
IMAGES = IMAGES_PER_PERSON * PERSONS
STEPS = 4  # step runs per image: normalize, faces, facematch, persist


def variant(image: Image.Image, number: int) -> bytes:
    """The photo as another upload of the same person: mirrored every other time, a little smaller each pair,
    re-encoded (no two uploads share their bytes)."""
    if number % 2:
        image = ImageOps.mirror(image)
    scale = 1.0 - 0.07 * (number // 2)
    if scale < 1.0:
        image = image.resize((round(image.width * scale), round(image.height * scale)))
    encoded = io.BytesIO()
    image.save(encoded, "JPEG", quality=90 - number)
    return encoded.getvalue()


def upload_people(storage: Storage, batch: str) -> dict[BlobRef, str]:
    """``IMAGES_PER_PERSON`` uploads of each of ``PERSONS`` people, interleaved; blob -> person."""
    storage.ensure_containers()
    photos = catalogue()
    per_person: dict[str, list[bytes]] = {}
    for person, names in list(PEOPLE.items())[:PERSONS]:
        loaded = [load(photos[name]) for name in names]
        per_person[person] = [
            variant(loaded[number % len(loaded)], number // len(loaded))
            for number in range(IMAGES_PER_PERSON)
        ]
    uploaded: dict[BlobRef, str] = {}
    for number in range(IMAGES_PER_PERSON):
        for person, images in per_person.items():
            ref = BlobRef(
                container=IMAGES_CONTAINER, name=f"{batch}/{len(uploaded):03d}_{person.split()[-1]}.jpg"
            )
            storage.write(ref, images[number], "image/jpeg")
            uploaded[ref] = person
    return uploaded


class Hosts:
    """Three host processes, each replaced as soon as it is killed or kills itself (started, not waited for)."""

    def __init__(self, env: dict[str, str], folder: Path, seed: int) -> None:
        self.env, self.folder, self.seed = env, folder, seed
        self.started = 0
        self.running: list[HostProcess] = []

    def start(self, crashing: bool = False) -> HostProcess:
        env = {
            **self.env,
            KILL_PROBABILITY: "0.1" if crashing else "0",
            "FAULT_SEED": f"{self.seed}-{self.started}",
        }
        module = "tests.faults.crashing_host" if crashing else "devhost"
        # Not waited for: the other hosts go on working while this one starts, as in a scale-out.
        host = HostProcess.launch(env, self.folder, self.started, module=module)
        self.started += 1
        self.running.append(host)
        return host

    def died_by_themselves(self) -> list[HostProcess]:
        dead = [host for host in self.running if not host.alive]
        for host in dead:
            assert host.process.returncode == -signal.SIGKILL, host.log.read_text()[-3000:]
            self.running.remove(host)
        return dead

    def ready(self) -> list[HostProcess]:
        """The hosts running and ready to work (one just started is not yet)."""
        return [host for host in self.running if host.alive and host.ready]

    def kill(self, host: HostProcess) -> None:
        host.kill()
        self.running.remove(host)

    def stop(self) -> None:
        for host in self.running:
            host.stop()
        self.running = []

    def logs(self) -> str:
        return "\n".join(host.log.read_text()[-1500:] for host in self.running)


@pytest.mark.timeout(1800 if FULL else 300)
def test_three_hosts_killed_at_random_lose_and_miss_nothing(runtime, host_env, tmp_path):
    seed = int(os.environ.get("FAULT_SEED") or time.time())
    rng = random.Random(seed)
    env = {
        **host_env,
        "PIPELINE_STEPS": "normalize,faces,facematch,persist",
        "LOCAL_FACE_MODEL": "yunet-sface",
    }
    storage = Storage.from_settings(runtime.settings.storage)
    database = Database(env["SQL_CONNECTION_STRING"])
    uploaded = upload_people(storage, "hosts")
    hosts = Hosts(env, tmp_path, seed)

    external = injected = 0
    done_at_kill: list[int] = []
    try:
        for number in range(HOSTS):
            hosts.start(crashing=number == 0)
        # The kill points, drawn up front as amounts of progress (step runs, not time: start-up and leases
        # vary) over the first nine tenths of the batch, so the kills spread over all of it.
        points = sorted(rng.sample(range(1, int(0.9 * STEPS * IMAGES)), KILLS))
        deadline = time.monotonic() + (1200 if FULL else 200)
        for point in points:
            while (step_runs(database) < point or not hosts.ready()) and time.monotonic() < deadline:
                if dead := hosts.died_by_themselves():
                    injected += len(dead)
                    done_at_kill += [finished(database, uploaded)] * len(dead)
                    for _ in dead:
                        hosts.start(crashing=rng.random() < 0.5)
                time.sleep(0.02)
            if external + injected >= KILLS or finished(database, uploaded) == IMAGES:
                break
            hosts.kill(rng.choice(hosts.ready()))
            external += 1
            done_at_kill.append(finished(database, uploaded))
            hosts.start(crashing=rng.random() < 0.5)
        assert external + injected >= KILLS, (
            f"{external + injected} kills before the deadline:\n{hosts.logs()}"
        )
        hosts.stop()
        for _ in range(HOSTS):
            hosts.start()
        deadline = time.monotonic() + (1200 if FULL else 200)
        while finished(database, uploaded) < IMAGES and time.monotonic() < deadline:
            assert all(host.alive for host in hosts.running), hosts.logs()
            time.sleep(0.25)
    finally:
        hosts.stop()
    mid_batch = sum(1 for done in done_at_kill if done < IMAGES)
    assert mid_batch >= KILLS // 2, (
        f"too few kills landed mid-batch: finished images at each kill {done_at_kill}"
    )

    person_of = {str(image_id_for(ref)): person for ref, person in uploaded.items()}
    _, images = database.query("SELECT image_id, status, face_count, error FROM images")
    assert sorted((str(i).lower(), s, n, e) for i, s, n, e in images) == sorted(
        (image_id, "complete", 1, None) for image_id in person_of
    ), "every image complete once, with its one face"
    _, faces = database.query("SELECT face_id, image_id FROM faces")
    assert sorted(str(image_id).lower() for _, image_id in faces) == sorted(person_of)
    _, indexed = database.query("SELECT face_id FROM face_index")
    assert sorted(str(row[0]) for row in indexed) == sorted(str(row[0]) for row in faces), "index != faces"
    _, results = database.query("SELECT step, COUNT(*) FROM step_results GROUP BY step")
    assert dict(results) == {"normalize": IMAGES, "faces": IMAGES, "facematch": IMAGES}
    _, face_pairs = database.query("SELECT face_id, matched_face_id FROM face_matches")
    duplicates = max(Counter(frozenset(map(str, pair)) for pair in face_pairs).values(), default=1) - 1
    _, pairs = database.query(
        "SELECT f.image_id, m.image_id FROM face_matches fm JOIN faces f ON f.face_id = fm.face_id "
        "JOIN faces m ON m.face_id = fm.matched_face_id"
    )
    matched = {frozenset((str(a).lower(), str(b).lower())) for a, b in pairs}
    same_person = {
        frozenset(pair) for pair in combinations(person_of, 2) if len({person_of[i] for i in pair}) == 1
    }
    missed = same_person - matched
    across = matched - same_person
    crops = storage.list_names("faces")
    figures(
        "three_hosts",
        hosts=HOSTS, images=IMAGES, persons=PERSONS, kills=external + injected, external_kills=external,
        kills_before_forward=injected, finished_at_each_kill=done_at_kill, same_person_pairs=len(same_person),
        missed_pairs=len(missed), cross_person_pairs=len(across), duplicate_pairs=duplicates, seed=seed,
    )  # fmt: skip
    assert duplicates == 0, "a pair of faces stored twice"
    assert not missed, f"{len(missed)} of {len(same_person)} same-person pairs missed"
    assert not across, f"{len(across)} pairs across people"
    assert len(crops) == len(faces), "one crop per face, none left over from a killed attempt"
    for queue in step_queues():
        assert storage.queue_length(queue) == 0, queue
