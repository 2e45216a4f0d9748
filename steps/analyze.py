"""analyze: what is in the picture — tags, caption, categories, objects, adult/racy, colours, image type."""

from __future__ import annotations

from pipeline.step import Step, StepContext
from pipeline.vision.base import Analysis
from steps.normalize import Normalize


class AnalyzeOutput(Analysis):
    provider: str
    model: str | None = None  # None in results recorded before model versions


class Analyze(Step[AnalyzeOutput]):
    name = "analyze"
    requires = (Normalize,)
    model_attribute = "analysis_model"

    def run(self, context: StepContext) -> AnalyzeOutput:
        analysis = context.vision.analyze(context.image())
        context.log.info(
            "analyzed with %s: %d tag(s), caption %s, unsupported: %s",
            context.vision.name, len(analysis.tags or []), "yes" if analysis.caption else "no",
            ", ".join(analysis.unsupported) or "none",
        )  # fmt: skip
        return AnalyzeOutput(
            provider=context.vision.name, model=context.vision.analysis_model, **analysis.model_dump()
        )
