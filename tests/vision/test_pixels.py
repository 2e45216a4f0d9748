"""Colour names from pixel statistics (``pipeline.vision.pixels``), which the local provider reports."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pipeline.vision import pixels


def _nearest_by_brute_force(colours: np.ndarray) -> np.ndarray:
    distances = ((colours[:, None, :] - pixels._RGB[None, :, :]) ** 2).sum(axis=2)
    return distances.argmin(axis=1)


def test_every_colour_gets_the_nearest_palette_name_first_on_ties():
    # Every 5th level of each channel (157,464 colours), plus the midpoints between palette colours, where
    # two names are equally near and the first in palette order must win, as with a plain argmin.
    levels = np.arange(0, 256, 5, dtype=np.float32)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    palette = pixels._RGB
    midpoints = ((palette[:, None, :] + palette[None, :, :]) / 2).reshape(-1, 3)
    colours = np.concatenate([grid, np.floor(midpoints), np.ceil(midpoints), palette])
    assert (pixels._names(colours) == _nearest_by_brute_force(colours)).all()


def test_foreground_background_and_dominant_colours():
    picture = np.zeros((200, 300, 3), dtype=np.uint8)
    picture[:, :] = pixels.PALETTE["Blue"]
    picture[60:140, 90:210] = pixels.PALETTE["Red"]
    found = pixels.colors(Image.fromarray(picture))
    assert found.dominant_foreground == "Red"
    assert found.dominant_background == "Blue"
    assert found.dominant_colors[:2] == ["Blue", "Red"]  # a third from the resampled edges between them
    assert not found.is_black_and_white


def test_a_grey_picture_is_black_and_white():
    ramp = np.tile(np.linspace(0, 255, 256, dtype=np.uint8)[None, :, None], (100, 1, 3))
    found = pixels.colors(Image.fromarray(ramp))
    assert found.is_black_and_white
    assert set(found.dominant_colors) <= {"Black", "Grey", "White"}
