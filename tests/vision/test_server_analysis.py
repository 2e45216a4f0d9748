"""The server's analyze answers whatever the provider's Analysis holds, in Azure's shape: through the real
SDK and the pipeline's mapping, a full Analysis comes back as it went in."""

from __future__ import annotations

import pytest

from devhost.azure_vision import AzureVisionServer
from devhost.azure_vision.analysis import FEATURES
from pipeline.vision.azure import AzureVision
from pipeline.vision.base import (
    Adult,
    Analysis,
    Caption,
    Category,
    Colors,
    DetectedObject,
    ImageType,
    Rectangle,
    Tag,
    VisionImage,
)
from pipeline.vision.local import LocalVision
from tests.vision.conftest import KEY, settings_for

pytestmark = pytest.mark.timeout(120)

# Every field set, as the open models another engineer is adding will set them.
FULL = Analysis(
    tags=[Tag(name="person", confidence=0.98), Tag(name="uniform", confidence=0.71)],
    caption=Caption(text="a woman in uniform", confidence=0.64),
    categories=[Category(name="people_portrait", score=0.88)],
    objects=[
        DetectedObject(
            name="person", confidence=0.9, rectangle=Rectangle(left=40, top=12, width=300, height=420)
        ),
        DetectedObject(
            name="tie", confidence=0.55, rectangle=Rectangle(left=180, top=300, width=40, height=90)
        ),
    ],
    adult=Adult(
        is_adult=False, is_racy=False, is_gory=False, adult_score=0.01, racy_score=0.02, gore_score=0.003
    ),
    colors=Colors(
        dominant_foreground="Black",
        dominant_background="Grey",
        dominant_colors=["Black", "Grey"],
        accent_color="6C4F3B",
        is_black_and_white=False,
    ),
    image_type=ImageType(kind="photo", clip_art_type=0, line_drawing_type=0),
)


class FullAnalysis(LocalVision):
    """The open models, with an analyzer that finds everything Analysis can hold."""

    def __init__(self, models: LocalVision) -> None:
        self.__dict__.update(models.__dict__)

    def analyze(self, image: VisionImage) -> Analysis:
        return FULL


def test_every_analysis_field_has_a_feature():
    mapped = {feature.field for feature in FEATURES.values() if feature.field is not None}
    # caption_source says who wrote the caption; Azure's JSON has no such field (the SDK's mapping sets it).
    assert mapped == set(Analysis.model_fields) - {"unsupported", "caption_source"}


def test_a_full_analysis_comes_back_through_the_sdk_as_it_went_in(tmp_path, local_vision, images):
    with AzureVisionServer(KEY, tmp_path, vision=FullAnalysis(local_vision)) as server:
        analysis = AzureVision(settings_for(server)).analyze(images("grace_hopper.jpg"))
    # Through Azure's JSON every caption reads as its captioning model's.
    assert analysis == FULL.model_copy(update={"caption_source": "model"})
