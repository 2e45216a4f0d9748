"""Job messages and step outputs of a chosen size, built through the steps' own output models.

The helper and persist benchmarks need messages like the ones the vision steps produce (so many faces,
so many OCR lines) without running the models; each output is validated by the step's ``produces`` model,
so a change of contract breaks the benchmark instead of letting it measure a shape nobody sends.
"""

from __future__ import annotations

import uuid

import numpy as np

from pipeline.contract import IMAGES_CONTAINER, BlobRef, JobMessage, StepResult, utc_now
from pipeline.ids import face_id_for
from pipeline.vision.base import encode_embedding
from steps.analyze import AnalyzeOutput
from steps.facematch import FacematchOutput
from steps.faces import FacesOutput
from steps.normalize import NormalizeOutput
from steps.ocr import OcrOutput

WORDS = [
    "the",
    "markers",
    "of",
    "the",
    "coins",
    "were",
    "found",
    "near",
    "the",
    "border",
    "crossing",
    "on",
    "the",
    "north",
    "road",
]


def step_outputs(
    job_id: uuid.UUID, image_id: uuid.UUID, faces: int, lines: int, seed: int = 0
) -> dict[str, dict]:
    """Outputs of normalize, analyze, ocr, faces and facematch for an image with ``faces`` faces and
    ``lines`` lines of text (a 2048x1536 working copy)."""
    rng = np.random.default_rng(seed)
    width, height = 2048, 1536
    normalize = NormalizeOutput(
        working_image=BlobRef(container="working", name=f"{image_id}/{job_id}.jpg"),
        width=width, height=height, bytes=812_345, source_format="JPEG", source_width=4096,
        source_height=3072, source_mode="RGB", source_animated=False, orientation=1,
    )  # fmt: skip
    analyze = AnalyzeOutput.model_validate({
        "provider": "local",
        "adult": {"is_adult": False, "is_racy": False, "adult_score": 0.01, "racy_score": 0.02},
        "colors": {"dominant_foreground": "Grey", "dominant_background": "White",
                   "dominant_colors": ["Grey", "White"], "accent_color": "5A6B7C", "is_black_and_white": False},
        "image_type": {"kind": "photo", "clip_art_type": 0, "line_drawing_type": 0},
        "unsupported": {feature: "unsupported by provider local" for feature in ("tags", "caption", "objects")},
    })  # fmt: skip
    text_lines = []
    for number in range(lines):
        top = 20 + number * 24
        text = " ".join(WORDS[(number + k) % len(WORDS)] for k in range(6))
        text_lines.append({"text": text, "confidence": 0.93,
                           "bounding_box": [40, top, 900, top, 900, top + 20, 40, top + 20]})  # fmt: skip
    ocr = OcrOutput.model_validate(
        {"provider": "local", "lines": text_lines, "text": "\n".join(line["text"] for line in text_lines)}
    )
    found = []
    for index in range(faces):
        left, top = 40 + (index % 10) * 190, 40 + (index // 10) * 220
        found.append({
            "index": index,
            "crop": {"container": "faces", "name": f"{image_id}/{job_id}/{index}.jpg"},
            "rectangle": {"left": left, "top": top, "width": 150, "height": 180},
            "score": 1.2,
            "landmarks": [[left + 30, top + 60], [left + 60, top + 60], [left + 90, top + 60],
                          [left + 120, top + 60], [left + 75, top + 120]],
            "embedding": encode_embedding(rng.standard_normal(128) / 11.3),
        })  # fmt: skip
    faces_output = FacesOutput.model_validate(
        {"provider": "local", "model": "dlib-hog+mmod/resnet-v1", "count": faces, "faces": found}
    )
    facematch = FacematchOutput.model_validate({
        "provider": "local",
        "faces": [{"face_index": index, "face_id": face_id_for(job_id, index),
                   "matches": [{"face_id": str(uuid.uuid4()), "confidence": 0.71}] if index % 3 == 0 else []}
                  for index in range(faces)],
    })  # fmt: skip
    return {
        "normalize": normalize.model_dump(mode="json", exclude_none=True),
        "analyze": analyze.model_dump(mode="json", exclude_none=True),
        "ocr": ocr.model_dump(mode="json", exclude_none=True),
        "faces": faces_output.model_dump(mode="json", exclude_none=True),
        "facematch": facematch.model_dump(mode="json", exclude_none=True),
    }


def job_message(
    pipeline: list[str], position: int, faces: int, lines: int, blob_name: str = "bench/photo.jpg"
) -> JobMessage:
    """A new job for ``blob_name`` addressed to ``pipeline[position]``, carrying the outputs of the steps
    before it for an image with ``faces`` faces and ``lines`` lines of text."""
    from pipeline.ids import batch_of, image_id_for

    image = BlobRef(container=IMAGES_CONTAINER, name=blob_name)
    job_id = uuid.uuid4()
    outputs = step_outputs(job_id, image_id_for(image), faces, lines)
    now = utc_now()
    results = {
        step: StepResult(step=step, attempt=1, finished_at=now, output=outputs[step])
        for step in pipeline[:position]
        if step in outputs
    }
    return JobMessage(
        job_id=job_id, image_id=image_id_for(image), batch_id=batch_of(blob_name), trace_id=job_id.hex,
        image=image, pipeline=pipeline, position=position, results=results, created_at=now,
    )  # fmt: skip
