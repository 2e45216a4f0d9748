"""normalize: decode the upload once into the working copy every later step reads."""

from __future__ import annotations

from pydantic import BaseModel

from pipeline.contract import BlobRef
from pipeline.imaging import WORKING_CONTENT_TYPE, make_working_copy
from pipeline.step import ImageSource, Step, StepContext


class NormalizeOutput(BaseModel):
    working_image: BlobRef
    width: int
    height: int
    bytes: int
    source_format: str
    source_width: int
    source_height: int
    source_mode: str
    source_animated: bool  # only the first frame is analysed
    orientation: int


class Normalize(Step[NormalizeOutput]):
    name = "normalize"
    reads = ImageSource.ORIGINAL

    def run(self, context: StepContext) -> NormalizeOutput:
        working = make_working_copy(context.image_bytes())
        ref = context.artifacts.save_working_copy(working.data, WORKING_CONTENT_TYPE)
        context.log.info(
            "normalized %s %dx%d (orientation %d) to %dx%d JPEG, %d bytes",
            working.source_format, working.source_width, working.source_height, working.orientation,
            working.width, working.height, len(working.data),
        )  # fmt: skip
        return NormalizeOutput(
            working_image=ref,
            width=working.width,
            height=working.height,
            bytes=len(working.data),
            source_format=working.source_format,
            source_width=working.source_width,
            source_height=working.source_height,
            source_mode=working.source_mode,
            source_animated=working.source_animated,
            orientation=working.orientation,
        )
