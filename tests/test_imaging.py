import io

import numpy as np
import pytest
from PIL import Image

from pipeline.errors import InputRejected
from pipeline.imaging import (
    MAX_SOURCE_PIXELS,
    WORKING_MAX_BYTES,
    WORKING_MAX_SIDE,
    WORKING_MIN_BYTES,
    WORKING_MIN_SIDE,
    make_working_copy,
)


def decode_working_copy(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.format == "JPEG"
        return opened.convert("RGB")


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_exif_rotated_phone_photo_is_turned_upright_and_loses_its_exif(samples):
    working = make_working_copy((samples / "phone_rotated_exif.jpg").read_bytes())
    with Image.open(samples / "grace_hopper.jpg") as upright:
        assert (working.width, working.height) == upright.size
    assert working.orientation == 6
    assert not Image.open(io.BytesIO(working.data)).getexif()


def test_gps_exif_is_stripped_from_the_working_copy():
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 0.0)}  # GPSInfo
    exif[0x010F] = "PhoneMaker"
    data = encode(Image.new("RGB", (300, 200), "red"), "JPEG", exif=exif)
    assert Image.open(io.BytesIO(data)).getexif().get(0x010F) == "PhoneMaker"
    working = Image.open(io.BytesIO(make_working_copy(data).data))
    assert not working.getexif() and "exif" not in working.info


@pytest.mark.parametrize(
    "image",
    [
        Image.new("CMYK", (120, 80), (0, 255, 255, 0)),
        Image.new("P", (120, 80)),
        Image.new("LA", (120, 80), (40, 128)),
        Image.new("RGBA", (120, 80), (255, 0, 0, 0)),
        Image.new("1", (120, 80)),
    ],
    ids=lambda image: image.mode,
)
def test_odd_modes_become_rgb_jpeg(image):
    fmt = "JPEG" if image.mode == "CMYK" else "PNG"
    working = make_working_copy(encode(image, fmt))
    decoded = decode_working_copy(working.data)
    assert decoded.mode == "RGB" and decoded.width * 80 == decoded.height * 120  # flat: may be enlarged


def test_transparent_pixels_become_white_not_black():
    working = decode_working_copy(
        make_working_copy(encode(Image.new("RGBA", (60, 60), (0, 0, 0, 0)), "PNG")).data
    )
    assert min(working.getpixel((30, 30))) > 240


def test_16bit_png_keeps_its_contrast(samples):
    working = decode_working_copy(make_working_copy((samples / "grayscale_16bit.png").read_bytes()).data)
    values = np.asarray(working.convert("L"))
    assert values.min() < 10 and values.max() > 245


def test_animated_gif_uses_its_first_frame(samples):
    working = make_working_copy((samples / "animated.gif").read_bytes())
    assert working.source_animated and working.source_format == "GIF"


def test_very_large_photo_is_brought_within_api_limits():
    noise = np.random.default_rng(7).integers(0, 255, (5000, 6500, 3), dtype=np.uint8)
    working = make_working_copy(encode(Image.fromarray(noise), "JPEG", quality=95))
    assert max(working.width, working.height) <= WORKING_MAX_SIDE
    assert len(working.data) <= WORKING_MAX_BYTES
    assert (working.source_width, working.source_height) == (6500, 5000)


def test_tiny_image_is_padded_and_enlarged_to_the_api_minimums():
    working = make_working_copy(encode(Image.new("RGB", (1, 1), "blue"), "PNG"))
    assert working.width == working.height >= WORKING_MIN_SIDE
    assert len(working.data) >= WORKING_MIN_BYTES
    scale = working.width // WORKING_MIN_SIDE  # padded to 50 px with the pixel at (24, 24), then doubled
    pixel = decode_working_copy(working.data).getpixel((int(24.5 * scale), int(24.5 * scale)))
    assert pixel[2] > 200 and pixel[0] < 60  # the blue pixel is still there, not invented or lost


def test_flat_picture_is_enlarged_until_the_file_reaches_the_face_api_minimum():
    working = make_working_copy(encode(Image.new("RGB", (120, 90), "white"), "PNG"))
    assert len(working.data) >= WORKING_MIN_BYTES and working.width % 120 == 0


def _declared_size_png(width: int, height: int) -> bytes:
    data = bytearray(encode(Image.new("L", (10, 10)), "PNG"))
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"hello, I am text named .jpg\n", "not a decodable image"),
        (np.random.default_rng(1).bytes(4096), "not a decodable image"),
        (
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
            "SVG vector images are not processed",
        ),
        (_declared_size_png(60000, 60000), "decompression bomb"),
        (_declared_size_png(12000, 9000), f"above the {MAX_SOURCE_PIXELS // 1_000_000} MP limit"),
    ],
    ids=["empty", "text", "random", "svg", "bomb-60k", "over-limit"],
)
def test_undecodable_input_is_rejected_with_a_specific_reason(data, reason):
    with pytest.raises(InputRejected, match=reason):
        make_working_copy(data)


def test_truncated_jpeg_is_rejected_not_half_decoded(samples):
    with pytest.raises(InputRejected, match="truncated"):
        make_working_copy((samples / "broken_truncated.jpg").read_bytes())
