"""Decoding untrusted image files, and the working copy every vision step shares.

The limits here are deliberate, not Pillow's defaults: a file larger than ``MAX_UPLOAD_BYTES`` is not
downloaded, a header declaring more than ``MAX_SOURCE_PIXELS`` is refused before any pixel is decoded
(decompression bombs), and truncated files are errors rather than half-grey images.

The working copy satisfies every vision API we call (Azure Computer Vision and Face, and the open
models): baseline JPEG, RGB, EXIF orientation applied, long side at most 4096 px, short side at least
50 px, at most 4 MB, and no metadata at all (GPS and camera EXIF never leave the original).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import pillow_heif
from PIL import Image, ImageFile, ImageOps, PngImagePlugin, UnidentifiedImageError

from pipeline.errors import InputRejected

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_SOURCE_PIXELS = 100_000_000
WORKING_MAX_SIDE = 4096
WORKING_MIN_SIDE = 50
WORKING_MAX_BYTES = 4 * 1024 * 1024
WORKING_MIN_BYTES = 1024  # the Face API refuses files under 1 KB
WORKING_CONTENT_TYPE = "image/jpeg"
_JPEG_QUALITIES = (90, 80, 70)

Image.MAX_IMAGE_PIXELS = MAX_SOURCE_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False
pillow_heif.register_heif_opener()  # HEIC: what iPhones upload

_HIGH_BIT_DEPTH_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


@dataclass(frozen=True)
class WorkingImage:
    data: bytes
    width: int
    height: int
    source_format: str
    source_width: int
    source_height: int
    source_mode: str
    source_animated: bool  # only the first frame is analysed
    orientation: int  # EXIF orientation tag of the original (1 = upright)


def _describe_undecodable(data: bytes) -> str:
    head = data[:512].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml")) and b"<svg" in head:
        return "SVG vector images are not processed (they are never rendered); upload a raster image"
    if head.startswith((b"%pdf",)):
        return "a PDF document is not an image; upload a raster image"
    return "not a decodable image: the content is not JPEG, PNG, GIF, BMP, TIFF, WebP, AVIF or HEIC"


def open_image(data: bytes) -> tuple[Image.Image, tuple[int, int]]:
    """Decode untrusted bytes (first frame) and return it with the size its header declares.

    Raises :class:`InputRejected` saying why when the bytes are not an image this pipeline accepts.
    """
    if not data:
        raise InputRejected("empty file (0 bytes)")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputRejected(
            f"file is {len(data) / 2**20:.1f} MiB, above the {MAX_UPLOAD_BYTES // 2**20} MiB limit"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            declared = image.size
            if declared[0] * declared[1] > MAX_SOURCE_PIXELS:
                raise InputRejected(_too_many_pixels(*declared))
            if image.format == "JPEG":
                # Let libjpeg decode at a reduced scale when the result would be shrunk anyway.
                image.draft("RGB", (WORKING_MAX_SIDE, WORKING_MAX_SIDE))
            image.load()
            return image, declared
    except InputRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputRejected(
            f"image is above the {MAX_SOURCE_PIXELS / 1e6:.0f} MP limit (a possible decompression bomb): {exc}"
        ) from exc
    except UnidentifiedImageError as exc:
        raise InputRejected(_describe_undecodable(data)) from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        if isinstance(exc, ValueError) and "MAX_TEXT_" in str(exc):
            # Pillow's PngImagePlugin.MAX_TEXT_CHUNK / MAX_TEXT_MEMORY: text metadata that inflates without bound.
            raise InputRejected(
                f"PNG text metadata inflates beyond {PngImagePlugin.MAX_TEXT_CHUNK // 2**20} MiB (a possible "
                f"decompression bomb); save the picture again without its metadata: {exc}"
            ) from exc
        raise InputRejected(f"corrupt or truncated image: {exc}") from exc


def _too_many_pixels(width: int, height: int) -> str:
    return (
        f"image declares {width}x{height} px ({width * height / 1e6:.0f} MP), above the "
        f"{MAX_SOURCE_PIXELS / 1e6:.0f} MP limit (a possible decompression bomb)"
    )


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in _HIGH_BIT_DEPTH_MODES:
        values = np.asarray(image, dtype=np.float64)
        peak = float(values.max()) if image.mode == "F" else (65535.0 if values.max() > 255 else 255.0)
        scaled = np.clip(values * (255.0 / max(peak, 1e-12)), 0, 255).astype(np.uint8)
        return Image.fromarray(scaled, mode="L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in _ALPHA_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _fit_sides(image: Image.Image) -> Image.Image:
    if max(image.size) > WORKING_MAX_SIDE:
        image = image.copy()
        image.thumbnail((WORKING_MAX_SIDE, WORKING_MAX_SIDE), Image.Resampling.LANCZOS)
    if min(image.size) < WORKING_MIN_SIDE:
        # Pad rather than stretch: the APIs need 50 px, and padding invents no content.
        canvas = Image.new(
            "RGB", (max(image.width, WORKING_MIN_SIDE), max(image.height, WORKING_MIN_SIDE)), (255, 255, 255)
        )
        canvas.paste(image, ((canvas.width - image.width) // 2, (canvas.height - image.height) // 2))
        image = canvas
    return image


def _encode(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _encode_within_limit(image: Image.Image) -> tuple[Image.Image, bytes]:
    encoded = _encode(image, _JPEG_QUALITIES[0])
    # A tiny or flat picture compresses below the Face API's minimum file size: enlarging it (pixel
    # doubling, so nothing is invented) also gives detectors a face size they can see.
    while len(encoded) < WORKING_MIN_BYTES and max(image.size) * 2 <= WORKING_MAX_SIDE:
        image = image.resize((image.width * 2, image.height * 2), Image.Resampling.NEAREST)
        encoded = _encode(image, _JPEG_QUALITIES[0])
    if len(encoded) <= WORKING_MAX_BYTES:
        return image, encoded
    while True:
        for quality in _JPEG_QUALITIES[1:]:
            encoded = _encode(image, quality)
            if len(encoded) <= WORKING_MAX_BYTES:
                return image, encoded
        image = image.resize(
            (max(1, image.width * 3 // 4), max(1, image.height * 3 // 4)), Image.Resampling.LANCZOS
        )


def make_working_copy(data: bytes) -> WorkingImage:
    source, source_size = open_image(data)
    try:
        orientation = int(source.getexif().get(0x0112, 1) or 1)
        upright = ImageOps.exif_transpose(source)
    except (ValueError, OSError, SyntaxError, TypeError) as exc:
        raise InputRejected(f"corrupt EXIF metadata: {exc}") from exc
    try:
        image, encoded = _encode_within_limit(_fit_sides(_to_rgb(upright)))
    except (ValueError, OSError) as exc:
        # e.g. a colour mode Pillow decodes but cannot convert to RGB: retrying would not help.
        raise InputRejected(
            f"cannot convert {source.format} image in mode {source.mode} to RGB: {exc}"
        ) from exc
    return WorkingImage(
        data=encoded,
        width=image.width,
        height=image.height,
        source_format=source.format or "unknown",
        source_width=source_size[0],
        source_height=source_size[1],
        source_mode=source.mode,
        # is_animated looks at one more frame; n_frames would walk every frame of a hostile GIF.
        source_animated=bool(getattr(source, "is_animated", False)),
        orientation=orientation,
    )
