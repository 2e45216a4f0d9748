"""persist: the last step of every pipeline; writes the job's results to SQL in one transaction."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from pipeline.records import FaceRecord, JobOutcome, MatchRecord, ObjectRecord, TextLineRecord
from pipeline.step import ImageSource, Step, StepContext
from pipeline.vision.base import decode_embedding
from steps.analyze import Analyze, AnalyzeOutput
from steps.facematch import Facematch, FacematchOutput
from steps.faces import Faces, FacesOutput
from steps.normalize import Normalize, NormalizeOutput
from steps.ocr import Ocr, OcrOutput


class PersistOutput(BaseModel):
    stored: bool
    face_count: int | None


def _parse(outputs: dict[str, dict[str, Any]], step: str, model: type[BaseModel]):
    return model.model_validate(outputs[step]) if step in outputs else None


def outcome_of(outputs: dict[str, dict[str, Any]]) -> JobOutcome:
    """Map the outputs of whichever steps ran to the rows SQL keeps; absent steps leave their parts None."""
    normalized: NormalizeOutput | None = _parse(outputs, Normalize.name, NormalizeOutput)
    analysis: AnalyzeOutput | None = _parse(outputs, Analyze.name, AnalyzeOutput)
    reading: OcrOutput | None = _parse(outputs, Ocr.name, OcrOutput)
    found: FacesOutput | None = _parse(outputs, Faces.name, FacesOutput)
    matched: FacematchOutput | None = _parse(outputs, Facematch.name, FacematchOutput)
    persisted_ids = {face.face_index: face.persisted_face_id for face in matched.faces} if matched else {}
    faces = None
    if found is not None:
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
                persisted_face_id=persisted_ids.get(face.index),
                face_model=found.model,
            )
            for face in found.faces
        ]
    return JobOutcome(
        width=normalized.width if normalized else None,
        height=normalized.height if normalized else None,
        faces=faces,
        outputs=outputs,
        tags=[(tag.name, tag.confidence) for tag in analysis.tags or ()] if analysis else None,
        objects=[
            ObjectRecord(
                o.name, o.confidence, o.rectangle.left, o.rectangle.top, o.rectangle.width, o.rectangle.height
            )
            for o in analysis.objects or ()
        ]
        if analysis
        else None,
        caption=(analysis.caption.text, analysis.caption.confidence)
        if analysis and analysis.caption
        else None,
        is_adult=analysis.adult.is_adult if analysis and analysis.adult else None,
        is_racy=analysis.adult.is_racy if analysis and analysis.adult else None,
        text_lines=[TextLineRecord(line.text, line.confidence, line.bounding_box) for line in reading.lines]
        if reading
        else None,
        full_text=reading.text if reading else None,
        matches=[
            MatchRecord(face.face_id, match.face_id, match.confidence)
            for face in matched.faces
            for match in face.matches
        ]
        if matched
        else None,
    )


class Persist(Step[PersistOutput]):
    name = "persist"
    reads = ImageSource.NONE
    terminal = True

    def run(self, context: StepContext) -> PersistOutput:
        outcome = outcome_of(context.outputs())
        stored = context.records.complete_job(context.message, outcome)
        if not stored:
            context.log.warning("image was re-uploaded or erased while this job ran; results not stored")
        face_count = None if outcome.faces is None else len(outcome.faces)
        return PersistOutput(stored=stored, face_count=face_count)
