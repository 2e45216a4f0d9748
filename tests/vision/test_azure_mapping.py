"""Azure's documented response shapes, deserialized by the SDKs' own models, mapped to the pipeline's.

The local server answers with the open models' findings and leaves quality empty, so every field's mapping
is checked here on responses shaped like Azure's.
"""

from __future__ import annotations

import pytest
from azure.cognitiveservices.vision.computervision import models as vision_models
from azure.cognitiveservices.vision.face import models as face_models
from msrest import Deserializer

from pipeline.vision.azure.mapping import to_analysis, to_detected_faces, to_text_reading
from pipeline.vision.base import Rectangle

pytestmark = pytest.mark.timeout(30)


def deserialize(models, type_name: str, body):
    return Deserializer({n: v for n, v in vars(models).items() if isinstance(v, type)})(type_name, body)


ANALYSIS = {
    "categories": [{"name": "people_portrait", "score": 0.88}],
    "adult": {
        "isAdultContent": False,
        "isRacyContent": False,
        "isGoryContent": False,
        "adultScore": 0.0021,
        "racyScore": 0.0035,
        "goreScore": 0.0011,
    },
    "color": {
        "dominantColorForeground": "Black",
        "dominantColorBackground": "Grey",
        "dominantColors": ["Black", "Grey"],
        "accentColor": "#6c4f3b",
        "isBwImg": False,
        "isBWImg": False,
    },
    "imageType": {"clipArtType": 0, "lineDrawingType": 0},
    "tags": [{"name": "person", "confidence": 0.998}, {"name": "uniform", "confidence": 0.91}],
    "description": {
        "tags": ["person"],
        "captions": [
            {"text": "a woman in a uniform", "confidence": 0.41},
            {"text": "Grace Hopper wearing a military uniform", "confidence": 0.52},
        ],
    },
    "objects": [
        {"rectangle": {"x": 150, "y": 100, "w": 300, "h": 600}, "object": "person", "confidence": 0.87},
    ],
    "requestId": "0dbec5ad-a3d3-4f7e-96b4-dfd57efe967d",
    "metadata": {"height": 600, "width": 512, "format": "Jpeg"},
    "modelVersion": "2021-05-01",
}


def test_analysis_maps_every_feature():
    analysis = to_analysis(deserialize(vision_models, "ImageAnalysis", ANALYSIS), (512, 600))

    assert [(t.name, t.confidence) for t in analysis.tags] == [("person", 0.998), ("uniform", 0.91)]
    assert analysis.caption.text == "Grace Hopper wearing a military uniform"  # the most confident caption
    assert analysis.caption_source == "model"
    assert [(c.name, c.score) for c in analysis.categories] == [("people_portrait", 0.88)]
    (person,) = analysis.objects
    assert person.name == "person"
    assert person.rectangle == Rectangle(left=150, top=100, width=300, height=500)  # clipped to the image
    assert analysis.adult.is_gory is False and analysis.adult.gore_score == 0.0011
    assert analysis.colors.accent_color == "6C4F3B"  # uppercase, no '#'
    assert analysis.colors.dominant_colors == ["Black", "Grey"]
    assert analysis.image_type.kind == "photo"
    assert analysis.unsupported == {}


@pytest.mark.parametrize(
    ("clip_art", "line_drawing", "kind"),
    [(0, 0, "photo"), (1, 0, "photo"), (3, 0, "clip_art"), (0, 1, "line_drawing")],
)
def test_image_type_kind(clip_art, line_drawing, kind):
    body = {"imageType": {"clipArtType": clip_art, "lineDrawingType": line_drawing}}
    assert to_analysis(deserialize(vision_models, "ImageAnalysis", body), None).image_type.kind == kind


def test_features_missing_from_a_response_are_listed_as_unsupported():
    analysis = to_analysis(deserialize(vision_models, "ImageAnalysis", {"tags": []}), None)
    assert analysis.tags == [] and analysis.caption_source is None
    assert set(analysis.unsupported) == {"caption", "categories", "objects", "adult", "colors", "image_type"}


READ = {
    "status": "succeeded",
    "createdDateTime": "2024-05-01T10:00:00Z",
    "lastUpdatedDateTime": "2024-05-01T10:00:01Z",
    "analyzeResult": {
        "version": "3.2.0",
        "modelVersion": "2022-04-30",
        "readResults": [
            {
                "page": 1,
                "angle": 0.2,
                "width": 384,
                "height": 191,
                "unit": "pixel",
                "lines": [
                    {
                        "boundingBox": [7.4, 12.0, 292.6, 14.1, 292.0, 33.0, 7.0, 32.0],
                        "text": "Region-based segmentation",
                        "words": [
                            {
                                "boundingBox": [7, 12, 150, 13, 150, 33, 7, 32],
                                "text": "Region-based",
                                "confidence": 0.99,
                            },
                            {
                                "boundingBox": [155, 13, 292, 14, 292, 33, 155, 33],
                                "text": "segmentation",
                                "confidence": 0.95,
                            },
                        ],
                    },
                    {"boundingBox": [5, 40, 400, 40, 400, 60, 5, 60], "text": "no words", "words": []},
                ],
            }
        ],
    },
}


def test_read_result_maps_lines_boxes_and_mean_word_confidence():
    reading = to_text_reading(deserialize(vision_models, "ReadOperationResult", READ), (384, 191))
    first, second = reading.lines
    assert first.text == "Region-based segmentation"
    assert first.bounding_box == [7, 12, 293, 14, 292, 33, 7, 32]
    assert first.confidence == pytest.approx(0.97)
    assert second.confidence is None and second.bounding_box[2] == 384  # clipped to the image
    assert reading.text == "Region-based segmentation\nno words"


def test_detected_faces_map_rectangles_ids_and_quality():
    body = [
        {
            "faceId": "c5c24a82-6845-4031-9d5d-978df9175426",
            "faceRectangle": {"width": 78, "height": 78, "left": 394, "top": 54},
            "faceAttributes": {"qualityForRecognition": "high"},
        },
        {
            "faceId": "65d083d4-9447-47d1-af30-b626144bf0fb",
            "faceRectangle": {"width": 40, "height": 44, "left": 480, "top": 570},
            "faceAttributes": {"qualityForRecognition": "low"},
        },
        {
            "faceId": "f3b6a7c2-0000-4000-8000-000000000000",
            "faceRectangle": {"width": 30, "height": 30, "left": 0, "top": 0},
        },
    ]
    faces = to_detected_faces(deserialize(face_models, "[DetectedFace]", body), (512, 600))
    assert [f.quality for f in faces] == ["high", "low", None]
    assert faces[0].detection_id == "c5c24a82-6845-4031-9d5d-978df9175426"
    assert faces[0].rectangle == Rectangle(left=394, top=54, width=78, height=78)
    assert faces[1].rectangle == Rectangle(left=480, top=570, width=32, height=30)  # clipped
    assert all(f.score is None and f.embedding is None for f in faces)
