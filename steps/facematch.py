"""facematch: for each face, the earlier faces of the same person; then the face joins the match index."""

from __future__ import annotations

from pydantic import BaseModel, Field

from pipeline.faces.index import FaceMatch, IndexedFace
from pipeline.ids import face_id_for
from pipeline.step import Step, StepContext
from steps.faces import Faces


class MatchedFace(BaseModel):
    face_index: int = Field(ge=0)
    face_id: str
    persisted_face_id: str | None = None
    matches: list[FaceMatch]


class FacematchOutput(BaseModel):
    provider: str
    faces: list[MatchedFace]


class Facematch(Step[FacematchOutput]):
    name = "facematch"
    requires = (Faces,)

    def run(self, context: StepContext) -> FacematchOutput:
        found = context.result(Faces)
        index = context.face_index
        results = []
        image = context.image_bytes() if found.faces else b""
        for face in found.faces:
            indexed = IndexedFace(
                face_id=face_id_for(context.message.job_id, face.index),
                image_id=str(context.message.image_id),
                model=found.model,
                rectangle=face.rectangle,
                embedding=face.embedding,
                detection_id=face.detection_id,
            )
            matches, persisted = index.match_and_add(indexed, image)
            results.append(
                MatchedFace(
                    face_index=face.index,
                    face_id=indexed.face_id,
                    persisted_face_id=persisted,
                    matches=matches,
                )
            )
        context.log.info(
            "matched %d face(s) with %s: %d match(es)", len(results), index.provider,
            sum(len(result.matches) for result in results),
        )  # fmt: skip
        return FacematchOutput(provider=index.provider, faces=results)
