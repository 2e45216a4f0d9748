"""The sample image set, built from pictures that installed packages ship (no download needed).

scikit-image's ``data/`` and matplotlib's sample data hold real photos: Eileen Collins (astronaut),
Grace Hopper, a cat, a coffee cup, a rocket, a page of text. From them this module writes the cases a
first run should show: photos with and without faces, two people in one picture, a phone photo whose
pixels are stored sideways with an EXIF orientation tag, an animated GIF, a 16-bit PNG, and two broken
files that must fail with a reason. ``EXPECTED`` records what each should end as (faces are labels
counted by a person, not outputs of the pipeline).
"""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Expected:
    status: str  # complete | failed
    faces: int | None = None


EXPECTED: dict[str, Expected] = {
    "astronaut.png": Expected("complete", 1),
    "grace_hopper.jpg": Expected("complete", 1),
    "two_people.jpg": Expected("complete", 2),
    "phone_rotated_exif.jpg": Expected("complete", 1),
    "chelsea_cat.png": Expected("complete", 0),
    "coffee.png": Expected("complete", 0),
    "rocket.jpg": Expected("complete", 0),
    "page_of_text.png": Expected("complete", 0),
    "animated.gif": Expected("complete", 0),
    "grayscale_16bit.png": Expected("complete", 0),
    "broken_truncated.jpg": Expected("failed"),
    "not_an_image.jpg": Expected("failed"),
}


# Pictures that show the same person (labels, like the face counts above): every such pair should end up
# in v_face_matches, and no other pair.
SAME_PERSON_PAIRS: frozenset[frozenset[str]] = frozenset(
    frozenset(pair)
    for pair in [
        ("grace_hopper.jpg", "phone_rotated_exif.jpg"),
        ("grace_hopper.jpg", "two_people.jpg"),
        ("phone_rotated_exif.jpg", "two_people.jpg"),
        ("astronaut.png", "two_people.jpg"),
    ]
)


def _skimage_data(name: str) -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data" / name


def _matplotlib_data(name: str) -> Path:
    import matplotlib

    return Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / name


def build_sample_set(destination: Path) -> dict[str, Expected]:
    """Write the sample images into ``destination`` and return what each should end as."""
    destination.mkdir(parents=True, exist_ok=True)
    astronaut = _skimage_data("astronaut.png")
    hopper = _matplotlib_data("grace_hopper.jpg")
    shutil.copyfile(astronaut, destination / "astronaut.png")
    shutil.copyfile(hopper, destination / "grace_hopper.jpg")
    shutil.copyfile(_skimage_data("chelsea.png"), destination / "chelsea_cat.png")
    shutil.copyfile(_skimage_data("coffee.png"), destination / "coffee.png")
    shutil.copyfile(_skimage_data("rocket.jpg"), destination / "rocket.jpg")
    shutil.copyfile(_skimage_data("page.png"), destination / "page_of_text.png")
    shutil.copyfile(_skimage_data("no_time_for_that_tiny.gif"), destination / "animated.gif")

    with Image.open(astronaut) as first, Image.open(hopper) as second:
        canvas = Image.new(
            "RGB", (first.width + second.width + 40, max(first.height, second.height)), "white"
        )
        canvas.paste(first.convert("RGB"), (0, 0))
        canvas.paste(second.convert("RGB"), (first.width + 40, 0))
        canvas.save(destination / "two_people.jpg", quality=92)

        # A phone stores the sensor's pixels sideways and says how to turn them in EXIF orientation 6
        # ("rotate 90° clockwise to view"); the pipeline must turn them upright before looking for faces.
        exif = Image.Exif()
        exif[0x0112] = 6
        second.convert("RGB").rotate(90, expand=True).save(destination / "phone_rotated_exif.jpg", exif=exif)

    gradient = (np.linspace(0, 65535, 256 * 256, dtype=np.uint32).reshape(256, 256)).astype(np.uint16)
    Image.fromarray(gradient).save(destination / "grayscale_16bit.png")

    whole = io.BytesIO()
    Image.open(hopper).save(whole, "JPEG", quality=90)
    (destination / "broken_truncated.jpg").write_bytes(whole.getvalue()[: len(whole.getvalue()) // 3])
    (destination / "not_an_image.jpg").write_text("This is a text file with a .jpg name.\n", encoding="utf-8")
    return dict(EXPECTED)


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".local/samples")
    for name, expected in build_sample_set(target).items():
        print(
            f"{target / name}: {expected.status}"
            + (f", {expected.faces} face(s)" if expected.faces is not None else "")
        )
