"""ocr: the text in the picture, line by line with bounding boxes, and the whole text in reading order."""

from __future__ import annotations

from pipeline.step import Step, StepContext
from pipeline.vision.base import TextReading
from steps.normalize import Normalize


class OcrOutput(TextReading):
    provider: str
    model: str | None = None  # None in results recorded before model versions


class Ocr(Step[OcrOutput]):
    name = "ocr"
    requires = (Normalize,)
    model_attribute = "text_model"

    def run(self, context: StepContext) -> OcrOutput:
        reading = context.vision.read_text(context.image())
        context.log.info("read %d line(s) of text with %s", len(reading.lines), context.vision.name)
        return OcrOutput(
            provider=context.vision.name, model=context.vision.text_model, **reading.model_dump()
        )
