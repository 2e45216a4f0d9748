"""Grid batching of Face detect: the geometry, and the collector through the real SDK and the local server."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from pipeline.imaging import make_working_copy
from pipeline.vision.azure import AzureVision
from pipeline.vision.base import DetectedFace, Rectangle, VisionImage
from pipeline.vision.grid import CANVAS, MARGIN, Cell, can_share, pack, split
from tests.vision.conftest import settings_for, wait_for_training
from tests.vision.test_azure_provider import admin, new_list

pytestmark = pytest.mark.timeout(180)


def face(left: int, top: int, width: int, height: int, landmarks=()) -> DetectedFace:
    return DetectedFace(
        rectangle=Rectangle(left=left, top=top, width=width, height=height),
        detection_id=f"id-{left}-{top}",
        landmarks=list(landmarks),
    )


def test_images_are_packed_in_rows_a_margin_apart_and_never_scaled():
    cells = pack([(500, 400), (500, 300), (500, 400), (500, 400), (2000, 100), (800, 700)])
    assert cells[:4] == [
        Cell(0, 0, 500, 400),
        Cell(500 + MARGIN, 0, 500, 300),
        Cell(2 * (500 + MARGIN), 0, 500, 400),
        Cell(0, 400 + MARGIN, 500, 400),  # the fourth would pass the right edge: next row
    ]
    assert cells[4] is None  # wider than the grid
    assert cells[5] is None  # the second row has no height left for it
    placed = [c for c in cells if c is not None]
    assert all(c.right <= CANVAS[0] and c.bottom <= CANVAS[1] for c in placed)


def test_only_images_that_leave_room_for_another_can_share_a_grid():
    assert can_share((512, 512)) and can_share((1800, 600))
    assert not can_share((1900, 1050))  # no room beside or below it
    assert not can_share((2000, 200)) and not can_share((400, 1200))  # larger than the grid allows


def test_faces_go_back_to_their_image_in_its_own_pixels_largest_first():
    cells = [Cell(0, 0, 500, 400), Cell(548, 0, 500, 400)]
    faces = [
        face(100, 50, 60, 60, landmarks=[(110, 70)]),
        face(648, 100, 80, 90),
        face(560, 300, 100, 100),
    ]
    first, second = split(faces, cells)
    assert [f.rectangle for f in first] == [Rectangle(left=100, top=50, width=60, height=60)]
    assert first[0].landmarks == [(110, 70)] and first[0].detection_id == "id-100-50"
    assert [f.rectangle for f in second] == [
        Rectangle(left=12, top=300, width=100, height=100),
        Rectangle(left=100, top=100, width=80, height=90),
    ]


def test_faces_across_two_images_or_in_the_margin_are_dropped_and_edges_clipped():
    cells = [Cell(0, 0, 500, 400), Cell(548, 0, 500, 400)]
    straddling = face(470, 100, 100, 100)  # centre in the margin, reaching into both images
    made_of_two = face(420, 100, 150, 100)  # centre in the first image, reaching into the second
    in_margin = face(505, 10, 38, 38)
    at_edge = face(460, 370, 60, 40)  # reaches past the first image only: clipped, as at an image's edge
    first, second = split([straddling, made_of_two, in_margin, at_edge], cells)
    assert [f.rectangle for f in first] == [Rectangle(left=460, top=370, width=40, height=30)]
    assert second == []


@pytest.fixture(scope="module")
def working_copies(samples) -> dict[str, VisionImage]:
    """Working copies, as the faces step sends them, of the sample photos (with and without faces)."""
    names = [
        "astronaut.png",
        "grace_hopper.jpg",
        "two_people.jpg",
        "phone_rotated_exif.jpg",
        "chelsea_cat.png",
        "coffee.png",
        "rocket.jpg",
        "grayscale_16bit.png",
    ]
    return {name: VisionImage(make_working_copy((samples / name).read_bytes()).data) for name in names}


def iou(a: Rectangle, b: Rectangle) -> float:
    width = max(0, min(a.left + a.width, b.left + b.width) - max(a.left, b.left))
    height = max(0, min(a.top + a.height, b.top + b.height) - max(a.top, b.top))
    inter = width * height
    return inter / (a.width * a.height + b.width * b.height - inter)


def detect_all(vision: AzureVision, images: dict[str, VisionImage]) -> dict[str, list[DetectedFace]]:
    # As many threads as images: the concurrent faces invocations of one host.
    with ThreadPoolExecutor(len(images)) as pool:
        found = pool.map(vision.detect_faces, images.values())
        return dict(zip(images, found, strict=True))


def test_grid_detection_finds_the_same_faces_with_fewer_requests(server, working_copies):
    single_settings = settings_for(server).model_copy(update=dict(face_rate_limit=None))
    grid_settings = single_settings.model_copy(update=dict(face_detect_grid=4))

    admin(server, "/_admin/reset", {})
    alone = detect_all(AzureVision(single_settings), working_copies)
    single_requests = admin(server, "/_admin/stats")["requests"]["detect"]
    admin(server, "/_admin/reset", {})
    together = detect_all(AzureVision(grid_settings), working_copies)
    grid_requests = admin(server, "/_admin/stats")["requests"]["detect"]

    assert single_requests == len(working_copies)
    assert grid_requests < len(working_copies) / 2
    assert sum(len(faces) for faces in alone.values()) == 5
    for name, faces in alone.items():
        assert len(together[name]) == len(faces), name
        for mine in faces:
            # The same face: the local detector's box size depends on the scale it ran at, not its place.
            assert max(iou(mine.rectangle, theirs.rectangle) for theirs in together[name]) > 0.6, name
        assert all(theirs.detection_id for theirs in together[name])


def test_a_lone_image_goes_alone_and_its_face_can_be_matched(server, working_copies):
    vision = AzureVision(settings_for(server).model_copy(update=dict(face_detect_grid=4)))
    admin(server, "/_admin/reset", {})
    hopper = working_copies["grace_hopper.jpg"]
    (face_found,) = vision.detect_faces(hopper)
    assert admin(server, "/_admin/stats")["requests"]["detect"] == 1

    # A detection id from a grid request finds the same person; the face is added from its own image.
    both = detect_all(vision, {k: working_copies[k] for k in ("two_people.jpg", "astronaut.png")})
    face_list = new_list(server)
    face_list.ensure()
    persisted = face_list.add(hopper.data, face_found.rectangle)
    face_list.train()
    assert wait_for_training(face_list) == "succeeded"
    hopper_in_pair = max(both["two_people.jpg"], key=lambda f: f.rectangle.left)
    assert [pid for pid, _ in face_list.find_similar(hopper_in_pair.detection_id)] == [persisted]
    assert face_list.find_similar(both["astronaut.png"][0].detection_id) == []
