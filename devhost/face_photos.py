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
* scikit-image and matplotlib (already installed): Eileen Collins, Grace Hopper, and photos without a face.

The face counts are labels counted by a person looking at each photo. Identities are labels too: faces of
different group photos are different people except one woman who appears twice (``SAME_WOMAN``).

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

from PIL import Image, ImageOps

from devhost.samples import _matplotlib_data, _skimage_data

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
class Face:
    """A labelled face: who it is, the middle of the face and its width, in the upright photo's pixels."""

    person: str
    centre: tuple[int, int]
    width: int


@dataclass(frozen=True)
class Photo:
    name: str
    path: Path
    faces: tuple[Face, ...]
    source: str


# Photos without a face, some with face-like patterns that detectors have taken for faces.
NO_FACE_SKIMAGE = (
    "coffee.png", "rocket.jpg", "chelsea.png", "page.png", "hubble_deep_field.jpg", "moon.png",
    "motorcycle_left.png", "motorcycle_right.png", "horse.png", "coins.png", "brick.png", "retina.jpg",
)  # fmt: skip
NO_FACE_INSIGHTFACE = ("mask_black.jpg", "mask_blue.jpg", "mask_white.jpg")

# Photo -> (file, faces as (person, centre x, centre y, face width)). A face labelled None is someone not
# named here: they get the photo's name and their place from the left, e.g. "friends.jpg#3".
# One woman is in two of face-api's group photos (right in sample1, centre in sample3), judged by eye
# after both models put that pair closest of all; sample1's centre and sample4's left woman look alike
# but are not taken to be one person (docs/FACE_MATCHING.md).
SAME_WOMAN = "face-api woman A"
Labels = tuple[tuple[str | None, int, int, int], ...]
FACE_LABELS: dict[str, tuple[str, Labels]] = {
    "obama.jpg": ("face-recognition:obama.jpg", (("Barack Obama", 489, 255, 231),)),
    "obama2.jpg": ("face-recognition:obama2.jpg", (("Barack Obama", 333, 420, 275),)),
    "obama3.jpg": ("face-recognition:obama3.jpg", (("Barack Obama", 774, 430, 272),)),
    "biden.jpg": ("face-recognition:biden.jpg", (("Joe Biden", 567, 368, 277),)),
    "tom_hanks.png": ("insightface:Tom_Hanks_54745.png", (("Tom Hanks", 48, 59, 75),)),
    "astronaut.png": ("scikit-image:astronaut.png", (("Eileen Collins", 223, 119, 90),)),
    "grace_hopper.jpg": ("matplotlib:grace_hopper.jpg", (("Grace Hopper", 268, 226, 170),)),
    "friends.jpg": (
        "insightface:t1.jpg",
        ((None, 114, 333, 106), (None, 319, 215, 105), (None, 517, 339, 102), (None, 797, 414, 98),
         (None, 956, 130, 100), (None, 1173, 335, 95)),
    ),
    "faceapi_sample1.jpg": (
        "face-api:sample1.jpg", ((None, 508, 480, 176), (None, 936, 546, 205), (SAME_WOMAN, 1580, 316, 232))
    ),
    "faceapi_sample2.jpg": (
        "face-api:sample2.jpg", ((None, 446, 276, 187), (None, 974, 349, 150), (None, 1541, 283, 214))
    ),
    "faceapi_sample3.jpg": (
        "face-api:sample3.jpg", ((None, 700, 468, 212), (SAME_WOMAN, 1180, 356, 239), (None, 1594, 438, 206))
    ),
    "faceapi_sample4.jpg": (
        "face-api:sample4.jpg",
        ((None, 339, 320, 153), (None, 755, 181, 192), (None, 1081, 303, 182), (None, 1345, 276, 153)),
    ),
    "faceapi_sample5.jpg": (
        "face-api:sample5.jpg",
        ((None, 463, 1021, 194), (None, 679, 542, 181), (None, 867, 220, 162), (None, 1202, 319, 177),
         (None, 1500, 539, 172)),
    ),
    "faceapi_sample6.jpg": (
        "face-api:sample6.jpg",
        ((None, 357, 626, 216), (None, 761, 482, 177), (None, 1273, 452, 209), (None, 1588, 411, 223)),
    ),
}  # fmt: skip


def _path(location: str) -> Path:
    package, name = location.split(":")
    if package == "face-recognition":
        return FACE_RECOGNITION.destination / name
    if package == "insightface":
        return INSIGHTFACE.destination / name
    if package == "face-api":
        return FACE_API_DEMO / name
    return _matplotlib_data(name) if package == "matplotlib" else _skimage_data(name)


def catalogue() -> dict[str, Photo]:
    """Every labelled photo by name; raises if the packages have not been fetched (``make face-photos``).

    Face centres and widths were read off detections checked one by one by eye (every face a person
    counts, nothing else); a detection whose box contains a labelled centre is that face.
    """
    photos = [
        Photo(
            name,
            _path(location),
            tuple(
                Face(person or f"{name}#{place}", (x, y), width)
                for place, (person, x, y, width) in enumerate(labels, 1)
            ),
            location.split(":")[0],
        )
        for name, (location, labels) in FACE_LABELS.items()
    ]
    photos += [Photo(name, _path(f"insightface:{name}"), (), "insightface") for name in NO_FACE_INSIGHTFACE]
    photos += [Photo(name, _path(f"scikit-image:{name}"), (), "scikit-image") for name in NO_FACE_SKIMAGE]
    missing = [photo.path for photo in photos if not photo.path.is_file()]
    if missing:
        raise FileNotFoundError(
            f"face photos missing (run `make face-photos`): {', '.join(map(str, missing))}"
        )
    return {photo.name: photo for photo in photos}


def load(photo: Photo) -> Image.Image:
    """The photo upright (EXIF orientation applied), in RGB."""
    with Image.open(photo.path) as opened:
        return ImageOps.exif_transpose(opened).convert("RGB")


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
        print(f"{photo.path}: {len(photo.faces)} face(s), {photo.source}")
