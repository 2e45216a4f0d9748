"""faces: find the faces in the working copy and keep a crop of each in the private faces container."""

from __future__ import annotations

import io

from pydantic import BaseModel, Field

from pipeline.contract import BlobRef
from pipeline.step import Step, StepContext
from pipeline.vision.base import DetectedFace, Rectangle
from steps.normalize import Normalize

# Margin around the detected box kept in a crop, as a share of the box size: enough to recognise the
# person on a review screen, not the whole scene.
CROP_MARGIN = 0.25


class Face(DetectedFace):
    index: int = Field(ge=0)
    crop: BlobRef


class FacesOutput(BaseModel):
    provider: str
    model: str
    count: int
    faces: list[Face]


def _crop_box(rectangle: Rectangle, width: int, height: int) -> tuple[int, int, int, int]:
    margin_x = int(rectangle.width * CROP_MARGIN)
    margin_y = int(rectangle.height * CROP_MARGIN)
    return (
        max(0, rectangle.left - margin_x),
        max(0, rectangle.top - margin_y),
        min(width, rectangle.left + rectangle.width + margin_x),
        min(height, rectangle.top + rectangle.height + margin_y),
    )


class Faces(Step[FacesOutput]):
    name = "faces"
    requires = (Normalize,)
    model_attribute = "face_model"

    def run(self, context: StepContext) -> FacesOutput:
        working = context.image()
        detected = context.vision.detect_faces(working)
        image = working.pixels
        faces = []
        for index, face in enumerate(detected):
            buffer = io.BytesIO()
            image.crop(_crop_box(face.rectangle, image.width, image.height)).save(buffer, "JPEG", quality=90)
            crop = context.artifacts.save_face_crop(index, buffer.getvalue(), "image/jpeg")
            faces.append(Face(index=index, crop=crop, **face.model_dump()))
        context.log.info("found %d face(s) with %s", len(faces), context.vision.name)
        return FacesOutput(
            provider=context.vision.name, model=context.vision.face_model, count=len(faces), faces=faces
        )
