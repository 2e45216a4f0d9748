"""The registered steps: each declared once, here. Add a step by writing its module and listing it."""

from __future__ import annotations

from pipeline.step import Step
from steps.analyze import Analyze
from steps.facematch import Facematch
from steps.faces import Faces
from steps.normalize import Normalize
from steps.ocr import Ocr
from steps.persist import Persist

REGISTERED_STEPS: tuple[Step, ...] = (Normalize(), Analyze(), Ocr(), Faces(), Facematch(), Persist())
STEPS_BY_NAME: dict[str, Step] = {step.name: step for step in REGISTERED_STEPS}
