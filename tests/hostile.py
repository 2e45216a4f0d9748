"""The hostile-input catalogue: each kind of bad or unusual input, built here, with the outcome it must have.

Images are uploaded to ``images/<batch>/<name>`` and go through the pipeline: a valid one ends ``complete``
(with the faces a person counted, where known), an invalid one ``failed`` at ``normalize`` with a reason.
Messages are put straight on a step's queue: every one is invalid and must be set aside with a reason (a row
in ``rejected_messages`` and the message in the step's ``-poison`` queue), never retried.

Inputs that would make a request elsewhere if anything followed them (an SVG with an external image, a URL
in a message) point at ``outbound``, a local listener that must see no request at all.
"""

from __future__ import annotations

import io
import json
import struct
import uuid
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pipeline.contract import IMAGES_CONTAINER, BlobRef, JobMessage
from pipeline.ids import image_id_for
from pipeline.imaging import MAX_UPLOAD_BYTES

PIPELINE = ["normalize", "faces", "persist"]


# -- images --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageCase:
    kind: str
    name: str  # blob name inside the batch folder
    build: Callable[[Path, str], bytes]  # (samples folder, outbound URL) -> file content
    status: str  # complete | failed
    reason: str | None = None  # part of the error text of a failed image
    faces: int | None = None  # faces a person counted in the picture, where known
    deleted_before_run: bool = False  # the original disappears between upload and normalize


def _encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _hopper(samples: Path) -> Image.Image:
    with Image.open(samples / "grace_hopper.jpg") as opened:
        return opened.convert("RGB")


def _hopper_as(fmt: str, mode: str = "RGB", **options: Any) -> Callable[[Path, str], bytes]:
    return lambda samples, _: _encode(_hopper(samples).convert(mode), fmt, **options)


def _sample(name: str) -> Callable[[Path, str], bytes]:
    return lambda samples, _: (samples / name).read_bytes()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png(width: int, height: int, idat: bytes, extra: bytes = b"") -> bytes:
    """A grayscale 8-bit PNG with the given header size and (compressed) pixel data."""
    header = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + extra + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _png_declaring(width: int, height: int) -> bytes:
    return _png(width, height, zlib.compress(b"\x00" * 11))


def _real_png_over_the_pixel_limit(*_: object) -> bytes:
    """10240 x 10000 black pixels (102 MP) that really decode, in a file of about 100 KB."""
    width, height = 10240, 10000
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + pixels
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return _png(width, height, idat)


def _gif_declaring(width: int, height: int) -> bytes:
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0)
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return screen + frame + b"\x3b"


def _jpeg_declaring(samples: Path, width: int, height: int) -> bytes:
    data = bytearray(_encode(Image.new("RGB", (16, 16), "grey"), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _truncated_jpeg(samples: Path, _: str) -> bytes:
    whole = _encode(_hopper(samples), "JPEG", quality=90)
    return whole[: len(whole) // 3]


def _over_the_upload_limit(samples: Path, _: str) -> bytes:
    photo = (samples / "grace_hopper.jpg").read_bytes()
    return photo + bytes(MAX_UPLOAD_BYTES + 1024 - len(photo))


def _svg_with_external_image(_: Path, outbound: str) -> bytes:
    return (
        '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" width="640" height="480">'
        f'<image xlink:href="{outbound}/svg-image.png" width="640" height="480"/></svg>\n'
    ).encode()


def _pdf(*_: object) -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _zip(*_: object) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.txt", "not a photo")
    return buffer.getvalue()


def _jpeg_with_zip_appended(samples: Path, outbound: str) -> bytes:
    return _encode(_hopper(samples), "JPEG", quality=90) + _zip()


def _palette(samples: Path, _: str) -> bytes:
    return _encode(_hopper(samples).quantize(64), "PNG")


def _palette_transparent(samples: Path, _: str) -> bytes:
    image = _hopper(samples).quantize(64)
    return _encode(image, "PNG", transparency=0)


def _transparent(mode: str) -> Callable[[Path, str], bytes]:
    def build(samples: Path, _: str) -> bytes:
        image = _hopper(samples).convert(mode)
        alpha = Image.linear_gradient("L").resize(image.size)
        image.putalpha(alpha)
        return _encode(image, "PNG")

    return build


def _multipage_tiff(samples: Path, _: str) -> bytes:
    first = _hopper(samples)
    return _encode(first, "TIFF", save_all=True, append_images=[Image.new("RGB", first.size, "red")])


def _float_tiff(*_: object) -> bytes:
    values = np.linspace(-3.5, 900.25, 200 * 150, dtype=np.float32).reshape(150, 200)
    return _encode(Image.fromarray(values, mode="F"), "TIFF")


def _very_large_photo(samples: Path, _: str) -> bytes:
    """6000 x 4000 px (24 MP) with one face, as a camera writes it: far above the 4096 px API limit."""
    canvas = Image.new("RGB", (6000, 4000), (90, 110, 130))
    person = _hopper(samples).resize((3413, 4000), Image.Resampling.BICUBIC)
    canvas.paste(person, (1300, 0))
    return _encode(canvas, "JPEG", quality=92)


def _gps_exif(samples: Path, _: str) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}  # GPSInfo
    return _encode(_hopper(samples), "JPEG", quality=90, exif=exif)


def _huge_text_chunk(*_: object) -> bytes:
    """A small picture carrying 16 MiB of compressed text metadata (a zTXt chunk that inflates hugely)."""
    pixels = _encode(Image.new("L", (64, 64), 128), "PNG")
    start = pixels.index(b"IDAT") - 4
    text = _png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * (16 * 2**20), 9))
    return pixels[:start] + text + pixels[start:]


def _flat(mode: str, size: tuple[int, int], fmt: str = "PNG") -> Callable[[Path, str], bytes]:
    return lambda *_: _encode(Image.new(mode, size), fmt)


IMAGE_CASES: tuple[ImageCase, ...] = (
    # -- not images, broken images, bombs: failed at normalize, with the reason
    ImageCase("empty file", "empty.jpg", lambda *_: b"", "failed", "empty file (0 bytes)"),
    ImageCase("truncated JPEG", "truncated.jpg", _truncated_jpeg, "failed", "truncated"),
    ImageCase(
        "text named .jpg", "text.jpg", lambda *_: b"I am a text file.\n", "failed", "not a decodable image"
    ),
    ImageCase(
        "random bytes named .jpg",
        "random.jpg",
        lambda *_: np.random.default_rng(6).bytes(64 * 1024),
        "failed",
        "not a decodable image",
    ),
    ImageCase(
        "PNG declaring 100000x100000 px",
        "bomb.png",
        lambda *_: _png_declaring(100_000, 100_000),
        "failed",
        "a possible decompression bomb",
    ),
    ImageCase(
        "GIF declaring 65535x65535 px",
        "bomb.gif",
        lambda *_: _gif_declaring(65535, 65535),
        "failed",
        "a possible decompression bomb",
    ),
    ImageCase(
        "JPEG declaring 60000x60000 px",
        "bomb.jpg",
        lambda samples, _: _jpeg_declaring(samples, 60000, 60000),
        "failed",
        "a possible decompression bomb",
    ),
    ImageCase(
        "real 102 MP PNG in a 100 KB file",
        "102mp.png",
        _real_png_over_the_pixel_limit,
        "failed",
        "above the 100 MP limit",
    ),
    ImageCase(
        "file over 50 MiB", "over-50mib.jpg", _over_the_upload_limit, "failed", "above the 50 MiB limit"
    ),
    ImageCase(
        "SVG with an external image",
        "vector.svg",
        _svg_with_external_image,
        "failed",
        "SVG vector images are not processed",
    ),
    ImageCase("PDF named .jpg", "document.jpg", _pdf, "failed", "a PDF document is not an image"),
    ImageCase("ZIP named .jpg", "archive.jpg", _zip, "failed", "not a decodable image"),
    ImageCase(
        "PNG with a zTXt chunk inflating to 16 MiB",
        "text-chunk.png",
        _huge_text_chunk,
        "failed",
        "PNG text metadata inflates beyond 1 MiB",
    ),
    ImageCase(
        "original deleted before normalize ran",
        "deleted.jpg",
        _sample("grace_hopper.jpg"),
        "failed",
        "does not exist",
        deleted_before_run=True,
    ),
    # -- unusual but valid pictures: complete
    ImageCase("1x1 px", "one-pixel.png", _flat("RGB", (1, 1)), "complete", faces=0),
    ImageCase("1x3000 px", "thin.png", _flat("L", (1, 3000)), "complete", faces=0),
    ImageCase("CMYK JPEG", "cmyk.jpg", _hopper_as("JPEG", "CMYK"), "complete", faces=1),
    ImageCase("16-bit grayscale PNG", "16bit.png", _sample("grayscale_16bit.png"), "complete", faces=0),
    ImageCase("grayscale JPEG", "gray.jpg", _hopper_as("JPEG", "L"), "complete", faces=1),
    ImageCase("palette PNG", "palette.png", _palette, "complete", faces=1),
    ImageCase(
        "palette PNG with transparency", "palette-alpha.png", _palette_transparent, "complete", faces=1
    ),
    ImageCase("LA PNG with transparency", "la.png", _transparent("LA"), "complete"),
    ImageCase("RGBA PNG with transparency", "rgba.png", _transparent("RGBA"), "complete"),
    ImageCase("animated GIF", "animated.gif", _sample("animated.gif"), "complete", faces=0),
    ImageCase("WebP", "photo.webp", _hopper_as("WEBP", quality=90), "complete", faces=1),
    ImageCase("HEIC", "photo.heic", _hopper_as("HEIF", quality=90), "complete", faces=1),
    ImageCase("AVIF", "photo.avif", _hopper_as("AVIF", quality=90), "complete", faces=1),
    ImageCase("BMP", "photo.bmp", _hopper_as("BMP"), "complete", faces=1),
    ImageCase("multi-page TIFF", "pages.tiff", _multipage_tiff, "complete", faces=1),
    ImageCase("32-bit float TIFF", "float.tiff", _float_tiff, "complete", faces=0),
    ImageCase("6000x4000 photo", "large.jpg", _very_large_photo, "complete", faces=1),
    ImageCase(
        "EXIF-rotated phone photo", "rotated.jpg", _sample("phone_rotated_exif.jpg"), "complete", faces=1
    ),
    ImageCase("JPEG with EXIF GPS", "gps.jpg", _gps_exif, "complete", faces=1),
    ImageCase(
        "JPEG with a ZIP appended (polyglot)", "polyglot.jpg", _jpeg_with_zip_appended, "complete", faces=1
    ),
    # -- file names: the name is data, never syntax
    *(
        ImageCase(f"file name with {what}", name, _sample("grace_hopper.jpg"), "complete", faces=1)
        for what, name in [
            ("quotes", "quote\"d 'name'.jpg"),
            ("semicolons and SQL", "semi;colon'); DROP TABLE images;--.jpg"),
            ("unicode", "Ünïcødé 照片 عربي 😀.jpg"),
            ("spaces", "  with   spaces .jpg"),
            ("URL syntax", "#hash?query=1&x=%2e%2e%2F.jpg"),
        ]
    ),
)


# -- messages ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageCase:
    kind: str
    step: str  # the queue (step) the message is put on
    build: Callable[[dict, str], bytes]  # (a valid job message as a dict, outbound URL) -> body
    reason: str  # part of the reason recorded in rejected_messages


def base_job(batch: str) -> dict:
    """A well-formed job addressed to normalize, for an image of the batch; message cases alter it."""
    image = BlobRef(container=IMAGES_CONTAINER, name=f"{batch}/message-base.jpg")
    job_id = uuid.uuid5(uuid.NAMESPACE_URL, f"hostile/{batch}")
    job = JobMessage(
        job_id=job_id,
        image_id=image_id_for(image),
        batch_id=batch,
        trace_id=job_id.hex,
        image=image,
        pipeline=PIPELINE,
        position=0,
        created_at=datetime(2026, 11, 25, tzinfo=UTC),
    )
    return json.loads(job.encode())


def _json(document: object) -> bytes:
    return json.dumps(document).encode()


def _altered(**changes: Any) -> Callable[[dict, str], bytes]:
    return lambda job, _: _json(job | changes)


def _with_image(**changes: Any) -> Callable[[dict, str], bytes]:
    return lambda job, _: _json(job | {"image": job["image"] | changes})


def _normalize_result(output: dict) -> dict:
    return {"normalize": {"step": "normalize", "attempt": 1, "finished_at": "2026-11-25T00:00:00Z", **output}}


_GOOD_NORMALIZE_OUTPUT = {
    "working_image": {"container": "working", "name": "x/y.jpg"},
    "width": 640,
    "height": 480,
    "bytes": 50000,
    "source_format": "JPEG",
    "source_width": 640,
    "source_height": 480,
    "source_mode": "RGB",
    "source_animated": False,
    "orientation": 1,
}


MESSAGE_CASES: tuple[MessageCase, ...] = (
    MessageCase(
        "binary body, not UTF-8", "normalize", lambda *_: b"\xff\xd8\xff\xe0binary", "not UTF-8 text"
    ),
    MessageCase("empty body", "normalize", lambda *_: b"", "message body is not JSON"),
    MessageCase("not JSON", "normalize", lambda *_: b"resize photo.jpg please", "message body is not JSON"),
    MessageCase(
        "JSON with a byte-order mark", "normalize", lambda job, _: b"\xef\xbb\xbf" + _json(job), "BOM"
    ),
    MessageCase("JSON array", "normalize", lambda *_: b"[1, 2, 3]", "must be a JSON object, got list"),
    MessageCase(
        "JSON nested 20000 deep", "normalize", lambda *_: b"[" * 20000 + b"]" * 20000, "nested too deeply"
    ),
    MessageCase(
        "number with 5000 digits",
        "normalize",
        lambda *_: b'{"schema_version": 1' + b"0" * 5000 + b"}",
        "not usable JSON",
    ),
    MessageCase(
        "JSON of the wrong shape",
        "normalize",
        lambda *_: _json({"image": "photo.jpg", "steps": ["faces"]}),
        "no schema_version",
    ),
    MessageCase(
        "unknown schema version", "normalize", _altered(schema_version=2), "unsupported schema_version 2"
    ),
    MessageCase(
        "schema version as text", "normalize", _altered(schema_version="1"), "unsupported schema_version '1'"
    ),
    MessageCase(
        "job id not a UUID", "normalize", _altered(job_id="job-1"), "job_id: Input should be a valid UUID"
    ),
    MessageCase(
        "unknown step name",
        "normalize",
        _altered(pipeline=["normalize", "sharpen", "persist"]),
        "unknown step 'sharpen'",
    ),
    MessageCase(
        "pipeline skipping a requirement",
        "normalize",
        _altered(pipeline=["normalize", "facematch", "persist"]),
        "'facematch' before 'faces'",
    ),
    MessageCase(
        "pipeline not ending with persist",
        "normalize",
        _altered(pipeline=["normalize", "faces"]),
        "must end with a step that stores results",
    ),
    MessageCase(
        "pipeline listing a step twice",
        "normalize",
        _altered(pipeline=["normalize", "normalize", "persist"]),
        "pipeline lists a step twice",
    ),
    MessageCase("position past the end", "normalize", _altered(position=7), "past the end"),
    MessageCase(
        "message for another step", "faces", lambda job, _: _json(job), "arrived on queue 'step-faces'"
    ),
    MessageCase(
        "extra field", "normalize", _altered(priority="high"), "priority: Extra inputs are not permitted"
    ),
    MessageCase(
        "blob in another storage account",
        "normalize",
        lambda job, outbound: _json(job | {"image": job["image"] | {"account_url": outbound}}),
        "image.account_url: Extra inputs are not permitted",
    ),
    MessageCase(
        "image in a container that is not images",
        "normalize",
        _with_image(container="working"),
        "image must be in the 'images' container",
    ),
    MessageCase(
        "URL instead of a blob ref",
        "normalize",
        lambda job, outbound: _json(job | {"image": f"{outbound}/photo.jpg"}),
        "image: Input should be a valid dictionary",
    ),
    MessageCase(
        "URL as the blob name",
        "normalize",
        lambda job, outbound: _json(job | {"image": job["image"] | {"name": f"{outbound}/photo.jpg"}}),
        "the image reference was altered",
    ),
    MessageCase(
        "image swapped for another blob",
        "normalize",
        _with_image(name="someone-else/photo.jpg"),
        "the image reference was altered",
    ),
    MessageCase(
        "blob name with ../",
        "normalize",
        _with_image(name="../working/secret.jpg"),
        "'.' or '..' path segments",
    ),
    MessageCase(
        "blob name with ..\\",
        "normalize",
        _with_image(name="..\\claims\\secret.json"),
        "'.' or '..' path segments",
    ),
    MessageCase(
        "control character in the blob name",
        "normalize",
        _with_image(name="batch/a\nb.jpg"),
        "image.name: String should match pattern",
    ),
    MessageCase(
        "results of steps not yet run",
        "normalize",
        _altered(results=_normalize_result({"output": _GOOD_NORMALIZE_OUTPUT})),
        "results for steps not yet run: normalize",
    ),
    MessageCase(
        "tampered result of an earlier step",
        "faces",
        _altered(
            position=1, results=_normalize_result({"output": _GOOD_NORMALIZE_OUTPUT | {"width": "wide"}})
        ),
        "the result of step 'normalize' breaks that step's output contract: width",
    ),
    MessageCase(
        "earlier result missing a required field",
        "faces",
        _altered(
            position=1,
            results=_normalize_result(
                {"output": {k: v for k, v in _GOOD_NORMALIZE_OUTPUT.items() if k != "working_image"}}
            ),
        ),
        "working_image: Field required",
    ),
    MessageCase(
        "claim check outside the claims container",
        "faces",
        _altered(
            position=1,
            results=_normalize_result({"output_ref": {"container": "images", "name": "x/photo.jpg"}}),
        ),
        "output_ref must be in the 'claims' container",
    ),
)


def message_case(kind: str) -> MessageCase:
    return next(case for case in MESSAGE_CASES if case.kind == kind)
