"""persist: the last step of every pipeline; writes the job's results to SQL in one transaction."""

from __future__ import annotations

from pydantic import BaseModel

from pipeline.records import FaceRecord, JobOutcome
from pipeline.step import ImageSource, Step, StepContext
from pipeline.vision.base import decode_embedding
from steps.faces import Faces, FacesOutput
from steps.normalize import Normalize, NormalizeOutput


class PersistOutput(BaseModel):
    stored: bool
    face_count: int | None


class Persist(Step[PersistOutput]):
    name = "persist"
    produces = PersistOutput
    reads = ImageSource.NONE
    terminal = True

    def run(self, context: StepContext) -> PersistOutput:
        outputs = context.outputs()
        width = height = None
        if Normalize.name in outputs:
            normalized = NormalizeOutput.model_validate(outputs[Normalize.name])
            width, height = normalized.width, normalized.height
        faces: list[FaceRecord] | None = None
        if Faces.name in outputs:
            found = FacesOutput.model_validate(outputs[Faces.name])
            faces = [
                FaceRecord(
                    face_index=face.index,
                    left=face.rectangle.left,
                    top=face.rectangle.top,
                    width=face.rectangle.width,
                    height=face.rectangle.height,
                    detection_score=face.score,
                    crop_blob=face.crop.name,
                    embedding=decode_embedding(face.embedding).tobytes() if face.embedding else None,
                )
                for face in found.faces
            ]
        stored = context.records.complete_job(
            context.message, JobOutcome(width=width, height=height, faces=faces, outputs=outputs)
        )
        if not stored:
            context.log.warning("image was re-uploaded or erased while this job ran; results not stored")
        return PersistOutput(stored=stored, face_count=None if faces is None else len(faces))
