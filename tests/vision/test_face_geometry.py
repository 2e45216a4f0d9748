"""Quarter turns and their inverse, tiles and the merge of detections (pipeline/vision/local/faces/geometry.py)."""

import numpy as np
import pytest

from pipeline.vision.local.faces.geometry import suppress, tiles, to_upright, turned


@pytest.mark.parametrize("quarter_turns", [0, 1, 2, 3])
def test_a_point_of_the_turned_picture_maps_back_to_the_same_pixel_upright(quarter_turns):
    height, width = 30, 50
    upright = np.zeros((height, width), dtype=np.uint8)
    upright[7, 41] = 255  # row 7, column 41
    rows, columns = np.nonzero(turned(upright, quarter_turns))
    centre_in_turned = np.array([[columns[0] + 0.5, rows[0] + 0.5]])
    np.testing.assert_allclose(to_upright(centre_in_turned, quarter_turns, width, height), [[41.5, 7.5]])


def test_tiles_cover_the_picture_within_their_size_and_overlap():
    width, height, size, overlap = 2560, 1440, 960, 160
    covered = np.zeros((height, width), dtype=bool)
    found = tiles(width, height, size, overlap)
    for left, top, right, bottom in found:
        assert right - left <= size and bottom - top <= size
        covered[top:bottom, left:right] = True
    assert covered.all()
    lefts = sorted({left for left, _, _, _ in found})
    rights = sorted({right for _, _, right, _ in found})
    assert all(rights[index] - lefts[index + 1] >= overlap for index in range(len(lefts) - 1))
    assert tiles(800, 600, size, overlap) == [(0, 0, 800, 600)]


def test_suppress_keeps_the_best_of_one_face_and_every_other_face():
    boxes = np.array(
        [
            [100, 100, 50, 50],  # a face
            [105, 102, 50, 50],  # the same face found again: IoU above 0.3
            [300, 100, 50, 50],  # another face
            [118, 118, 12, 12],  # part of the first face (a tile's view of it): its centre lies inside
            [500, 400, 80, 80],  # a third face
        ],
        dtype=np.float32,
    )
    scores = np.array([0.9, 0.85, 0.8, 0.6, 0.5], dtype=np.float32)
    assert suppress(boxes, scores, 0.3) == [0, 2, 4]
