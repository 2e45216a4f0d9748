"""Real photos of faces that registry packages ship, labelled, for the face tests and benchmarks.

Nothing here is committed: ``make face-photos`` (run by ``make test`` and ``make bench``) brings the pinned
packages from their registries and this module finds the photos in them.

* ``face-recognition==1.3.0`` (PyPI, MIT): its source distribution's ``tests/test_images`` holds three
  different photos of Barack Obama, two crops of one of them that cut the face, and one of Joe Biden
  (official White House photographs, by their look; the package does not state their source). The wheel
  leaves them out, so the sdist is downloaded (``pip download --no-binary``), checked against its SHA-256
  and only those files are extracted into ``.local/face-photos``.
* ``insightface==2.1`` (PyPI, MIT code): its sdist's ``insightface/data/images`` holds ``t1.jpg``, a
  promotional still of the cast of *Friends* (six faces; copyright of its owner, not licensed by the
  package), ``Tom_Hanks_54745.png`` (a 112 x 112 aligned face) and four pictures of surgical masks.
* ``@vladmandic/face-api@1.7.15`` (npm, MIT; a devDependency in package.json, so ``npm ci`` installs it):
  ``demo/sample1..6.jpg``, group photos of 3 to 5 people taken by the package's author.

The face counts are labels counted by a person looking at each photo. Identities are labels too; faces of
different group photos are taken to be different people (checked by eye, and consistent with the
distances measured in ``bench.face_threshold``).

    .venv/bin/python -m devhost.face_photos        # fetch what is missing and list the photos
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE = REPO_ROOT / ".local" / "face-photos"
NODE_MODULES = REPO_ROOT / "node_modules"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceDistribution:
    """A PyPI source distribution pinned by version and digest, of which only some files are kept."""

    name: str
    version: str
    sha256: str
    folder: str  # inside the archive, below its top-level directory

    @property
    def archive(self) -> str:
        return f"{self.name.replace('-', '_')}-{self.version}.tar.gz"

    @property
    def destination(self) -> Path:
        return CACHE / f"{self.name}-{self.version}"


FACE_RECOGNITION = SourceDistribution(
    "face-recognition",
    "1.3.0",
    "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec",
    "tests/test_images",
)
INSIGHTFACE = SourceDistribution(
    "insightface",
    "2.1",
    "776cbd36b70f5f2ae1a026101cfb80387f0b2280a0dbaf073f8d3ed69f554e01",
    "insightface/data/images",
)
SOURCE_DISTRIBUTIONS = (FACE_RECOGNITION, INSIGHTFACE)
FACE_API_DEMO = NODE_MODULES / "@vladmandic" / "face-api" / "demo"


@dataclass(frozen=True)
class Photo:
    """A photo and who is in it: one identity label per face (None: a face nobody labelled by name)."""

    name: str
    path: Path
    people: tuple[str | None, ...]
    source: str

    @property
    def faces(self) -> int:
        return len(self.people)


def _group(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}#{index}" for index in range(1, count + 1))


def catalogue() -> dict[str, Photo]:
    """Every labelled photo by name; raises if the packages have not been fetched (``make face-photos``)."""
    recognition = FACE_RECOGNITION.destination
    insight = INSIGHTFACE.destination
    photos = [
        Photo("obama.jpg", recognition / "obama.jpg", ("Barack Obama",), "face-recognition 1.3.0"),
        Photo("obama2.jpg", recognition / "obama2.jpg", ("Barack Obama",), "face-recognition 1.3.0"),
        Photo("obama3.jpg", recognition / "obama3.jpg", ("Barack Obama",), "face-recognition 1.3.0"),
        Photo("biden.jpg", recognition / "biden.jpg", ("Joe Biden",), "face-recognition 1.3.0"),
        Photo("friends.jpg", insight / "t1.jpg", _group("friends", 6), "insightface 2.1"),
        Photo("tom_hanks.png", insight / "Tom_Hanks_54745.png", ("Tom Hanks",), "insightface 2.1"),
        Photo("mask_black.jpg", insight / "mask_black.jpg", (), "insightface 2.1"),
        Photo("mask_blue.jpg", insight / "mask_blue.jpg", (), "insightface 2.1"),
        Photo("mask_white.jpg", insight / "mask_white.jpg", (), "insightface 2.1"),
    ]
    for number, count in enumerate((3, 3, 3, 4, 5, 4), start=1):
        photos.append(
            Photo(
                f"faceapi_sample{number}.jpg",
                FACE_API_DEMO / f"sample{number}.jpg",
                _group(f"faceapi-sample{number}", count),
                "@vladmandic/face-api 1.7.15",
            )
        )
    missing = [photo.path for photo in photos if not photo.path.is_file()]
    if missing:
        raise FileNotFoundError(
            f"face photos missing (run `make face-photos`): {', '.join(map(str, missing))}"
        )
    return {photo.name: photo for photo in photos}


# Crops of obama.jpg that cut the face at the image edge (not a second photo: same-person pairs with
# obama.jpg are not independent).
PARTIAL_FACES = ("obama_partial_face.jpg", "obama_partial_face2.jpg")


def partial_face(name: str) -> Path:
    return FACE_RECOGNITION.destination / name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch(source: SourceDistribution) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", source.name,
             "--dest", scratch, f"{source.name}=={source.version}"],
            check=True,
        )  # fmt: skip
        archive = Path(scratch) / source.archive
        found = _sha256(archive)
        if found != source.sha256:
            raise RuntimeError(f"{archive.name}: SHA-256 {found}, expected {source.sha256}")
        prefix = f"{source.archive.removesuffix('.tar.gz')}/{source.folder}/"
        source.destination.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as bundle:
            for member in bundle.getmembers():
                if (
                    member.isfile()
                    and member.name.startswith(prefix)
                    and "/" not in member.name[len(prefix) :]
                ):
                    target = source.destination / member.name[len(prefix) :]
                    extracted = bundle.extractfile(member)
                    assert extracted is not None
                    target.write_bytes(extracted.read())
    (source.destination / ".complete").touch()


def ensure() -> None:
    """Fetch the source distributions not yet extracted; the npm package comes with ``npm ci``."""
    for source in SOURCE_DISTRIBUTIONS:
        if not (source.destination / ".complete").is_file():
            log.info("fetching %s==%s for its photos", source.name, source.version)
            _fetch(source)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ensure()
    for photo in catalogue().values():
        print(f"{photo.path}: {photo.faces} face(s), {photo.source}")
