"""Colour and image-type analysis computed from pixels, in the vocabulary Computer Vision reports.

Computer Vision names dominant colours from a fixed palette of twelve and classifies clip art (0 to 3)
and line drawings (0/1). These measures reproduce that vocabulary from plain statistics, so the local
provider's output has the same shape and meaning as Azure's, without a learned model.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from pipeline.vision.base import Colors, ImageType

# Computer Vision's colour vocabulary with a representative RGB for each name.
PALETTE: dict[str, tuple[int, int, int]] = {
    "Black": (20, 20, 20),
    "Blue": (40, 80, 200),
    "Brown": (120, 80, 40),
    "Grey": (128, 128, 128),
    "Green": (50, 150, 50),
    "Orange": (240, 140, 30),
    "Pink": (240, 150, 190),
    "Purple": (130, 50, 160),
    "Red": (200, 30, 30),
    "Teal": (30, 140, 140),
    "White": (240, 240, 240),
    "Yellow": (230, 210, 40),
}
_NAMES = list(PALETTE)
_RGB = np.array([PALETTE[name] for name in _NAMES], dtype=np.float32)
_RGB_SQUARED = (_RGB**2).sum(axis=1)
ANALYSIS_SIDE = 256
# Share of pixels with colour saturation below this for an image to count as black and white.
GREY_SATURATION = 0.12
GREY_SHARE = 0.95


def _small(image: Image.Image) -> np.ndarray:
    copy = image.convert("RGB")
    copy.thumbnail((ANALYSIS_SIDE, ANALYSIS_SIDE))
    return np.asarray(copy, dtype=np.float32)


def _names(pixels: np.ndarray) -> np.ndarray:
    """The nearest palette colour of each pixel (whole-number channels, so every distance is exact)."""
    flat = pixels.reshape(-1, 3)
    # |p - c|^2 = |p|^2 - 2 p.c + |c|^2, without an N x 12 x 3 intermediate; |p|^2 is the same for every
    # colour, so the nearest one is the argmin of the rest.
    return (_RGB_SQUARED - 2 * flat @ _RGB.T).argmin(axis=1)


def _most_common(indices: np.ndarray, count: int) -> list[str]:
    histogram = np.bincount(indices, minlength=len(_NAMES))
    order = np.argsort(-histogram, kind="stable")
    return [_NAMES[index] for index in order[:count] if histogram[index] > 0]


def _saturation(pixels: np.ndarray) -> np.ndarray:
    high = pixels.max(axis=-1)
    low = pixels.min(axis=-1)
    return np.where(high > 0, (high - low) / np.maximum(high, 1), 0)


def colors(image: Image.Image) -> Colors:
    pixels = _small(image)
    height, width = pixels.shape[:2]
    # Every pixel is named once; the centre and the border are regions of that one map.
    names = _names(pixels).reshape(height, width)
    border = max(1, min(height, width) // 8)
    edge = np.concatenate(
        [names[:border].reshape(-1), names[-border:].reshape(-1),
         names[:, :border].reshape(-1), names[:, -border:].reshape(-1)]
    )  # fmt: skip
    centre = names[height // 4 : height - height // 4, width // 4 : width - width // 4].reshape(-1)
    saturation = _saturation(pixels)
    # Accent: the most saturated of the commonly occurring colours (top decile of saturation).
    flat, flat_saturation = pixels.reshape(-1, 3), saturation.reshape(-1)
    vivid = flat[flat_saturation >= np.quantile(flat_saturation, 0.9)]
    accent = np.median(vivid, axis=0) if len(vivid) else flat.mean(axis=0)
    return Colors(
        dominant_foreground=_most_common(centre, 1)[0],
        dominant_background=_most_common(edge, 1)[0],
        dominant_colors=_most_common(names.reshape(-1), 3),
        accent_color="".join(f"{round(channel):02X}" for channel in accent),
        is_black_and_white=bool((saturation < GREY_SATURATION).mean() >= GREY_SHARE),
    )


def image_type(image: Image.Image) -> ImageType:
    pixels = _small(image)
    grey = pixels.mean(axis=-1)
    # Line drawing: mostly paper-white, the rest dark strokes, few mid-tones, no colour.
    light = (grey > 215).mean()
    dark = (grey < 110).mean()
    grey_only = (_saturation(pixels) < GREY_SATURATION).mean() > 0.97
    line_drawing = int(grey_only and light > 0.6 and dark > 0.01 and light + dark > 0.93)
    # Clip art: flat colour fills, so a handful of coarse colours cover most of the picture.
    coarse = (pixels // 32).astype(np.int32)
    keys = coarse[..., 0] * 64 + coarse[..., 1] * 8 + coarse[..., 2]
    histogram = np.sort(np.bincount(keys.reshape(-1), minlength=512))[::-1]
    top_share = histogram[:6].sum() / histogram.sum()
    clip_art = 3 if top_share > 0.9 else 2 if top_share > 0.75 else 1 if top_share > 0.6 else 0
    if line_drawing:
        kind = "line_drawing"
    elif clip_art >= 2:
        kind = "clip_art"
    else:
        kind = "photo"
    return ImageType(kind=kind, clip_art_type=clip_art, line_drawing_type=line_drawing)
