"""Image decoding and the size limits each service applies before any model runs."""

from __future__ import annotations

import io

from PIL import Image

from devhost.azure_vision.plumbing import ApiError, Request, vision_error
from pipeline.vision.base import VisionImage

MIB = 1024 * 1024
# Computer Vision v3.2: analyze and OCR take 4 MB, Read 500 MB; images under 50x50 pixels are refused.
ANALYZE_MAX_BYTES = 4 * MIB
READ_MAX_BYTES = 500 * MIB
VISION_MIN_SIDE = 50
# Face v1.0: 1 KB to 6 MB.
FACE_MIN_BYTES = 1024
FACE_MAX_BYTES = 6 * MIB


def decode(data: bytes, error: ApiError) -> VisionImage:
    """The image with its pixels decoded, or ``error`` raised when the bytes are not an image."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            pixels = opened.convert("RGB")
    except Exception as failure:
        raise error from failure
    return VisionImage(data, decoded=pixels)


def vision_image(request: Request, max_bytes: int) -> VisionImage:
    """The body of a Computer Vision request, checked as that service checks it."""
    invalid = vision_error(400, "InvalidImageFormat", "Input data is not a valid image.")
    if not request.body:
        raise invalid
    if len(request.body) > max_bytes:
        raise vision_error(
            400, "InvalidImageSize", f"Input image is too large. Maximum size is {max_bytes // MIB} MB."
        )
    image = decode(request.body, invalid)
    width, height = image.pixels.size
    if width < VISION_MIN_SIDE or height < VISION_MIN_SIDE:
        raise vision_error(400, "InvalidImageDimension", "Input image dimensions are out of range.")
    return image


def face_image(request: Request) -> VisionImage:
    """The body of a Face request, checked as that service checks it."""
    if len(request.body) < FACE_MIN_BYTES:
        raise ApiError(400, "InvalidImageSize", "Image size is too small.")
    if len(request.body) > FACE_MAX_BYTES:
        raise ApiError(400, "InvalidImageSize", "Image size is too big.")
    return decode(request.body, ApiError(400, "InvalidImage", "Decoding error, image format unsupported."))


def image_format(data: bytes) -> str:
    """The container format as analyze's ``metadata.format`` names it (``Jpeg``, ``Png``, ...)."""
    with Image.open(io.BytesIO(data)) as opened:
        return (opened.format or "").title()
