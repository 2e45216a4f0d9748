"""ocr: the text in the picture, line by line with bounding boxes, and the whole text in reading order."""

from __future__ import annotations

from pipeline.step import Step, StepContext
from pipeline.vision.base import TextReading
from steps.normalize import Normalize


class OcrOutput(TextReading):
    provider: str


class Ocr(Step[OcrOutput]):
    name = "ocr"
    requires = (Normalize,)

    def run(self, context: StepContext) -> OcrOutput:
        reading = context.vision.read_text(context.image())
        context.log.info("read %d line(s) of text with %s", len(reading.lines), context.vision.name)
        return OcrOutput(provider=context.vision.name, **reading.model_dump())
