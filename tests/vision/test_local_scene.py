"""Tags, categories, objects and the composed caption of the open models, on real photos packages ship."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest

from devhost.scenes import scene
from pipeline.vision.base import DetectedObject, Rectangle, VisionImage
from pipeline.vision.local.build_cache import built_from
from pipeline.vision.local.caption import compose_caption
from pipeline.vision.local.classifier import class_names, weights_path
from pipeline.vision.local.objects import data_dir
from pipeline.vision.local.torch_weights import (
    LEGACY_MAGIC,
    LEGACY_PROTOCOL,
    UnsupportedWeights,
    read_state_dict,
)
from pipeline.vision.local.vocabulary import vocabulary

pytestmark = pytest.mark.timeout(120)

# What a person sees in each picture (tags that must be there) and what is not in it (tags that must not).
EXPECTED_TAGS = {
    "astronaut": ({"person"}, {"animal", "vehicle", "food"}),
    "coffee": ({"cup", "drink"}, {"person", "animal", "vehicle"}),
    "chelsea": ({"cat", "animal"}, {"person", "vehicle", "dog"}),
    "motorcycle": ({"motorcycle", "vehicle"}, {"person", "animal"}),
    "bus": ({"person", "bus", "vehicle"}, {"animal", "food"}),
    "grace_hopper": ({"person", "tie"}, {"animal", "vehicle"}),
    "page": ({"text", "document"}, {"person", "animal", "vehicle"}),
    "rocket": (set(), {"person", "animal", "food", "missile", "weapon"}),
}
# Words a composed caption may use besides the names of what was found.
GRAMMAR = {"a", "an", "with", "on", "beside", "of", "group", "two", "three", "four", "five"}


@pytest.fixture(scope="module")
def analyses(local_vision):
    return {name: local_vision.analyze(VisionImage(b"", scene(name))) for name in EXPECTED_TAGS}


def test_the_weights_are_read_without_torch_and_code_in_a_weight_file_is_refused(tmp_path):
    weights = read_state_dict(weights_path())
    assert weights["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert weights["_fc.weight"].shape == (1000, 1280) and weights["_fc.weight"].dtype == np.float32
    assert np.isfinite(weights["_blocks.15._project_conv.weight"]).all()

    class RunsCode:
        def __reduce__(self):
            return (print, ("this must never run",))

    hostile = tmp_path / "hostile.pth"
    hostile.write_bytes(
        pickle.dumps(LEGACY_MAGIC)
        + pickle.dumps(LEGACY_PROTOCOL)
        + pickle.dumps({})
        + pickle.dumps(RunsCode())
    )
    with pytest.raises(UnsupportedWeights, match=r"refusing to unpickle builtins\.print"):
        read_state_dict(hostile)


def test_the_converted_model_is_cached_by_the_weights_hash(tmp_path):
    source = tmp_path / "weights.pth"
    source.write_bytes(b"first weights")
    assert built_from(source, "model", 1, lambda: b"built once", tmp_path / "cache") == b"built once"

    def must_not_build() -> bytes:
        raise AssertionError("the cached build must be used")

    assert built_from(source, "model", 1, must_not_build, tmp_path / "cache") == b"built once"
    assert built_from(source, "model", 2, lambda: b"new converter", tmp_path / "cache") == b"new converter"
    source.write_bytes(b"other weights")
    assert built_from(source, "model", 1, lambda: b"new weights", tmp_path / "cache") == b"new weights"
    assert len(list((tmp_path / "cache").glob("model-*.onnx"))) == 3


def test_the_classifier_names_the_known_photos(local_vision):
    names = class_names()
    coffee = local_vision.classifier.probabilities(scene("coffee"))
    assert names[int(coffee.argmax())] == "espresso" and coffee.max() > 0.5
    chelsea = local_vision.classifier.probabilities(scene("chelsea"))
    assert set(np.argsort(-chelsea)[:3]) <= set(range(281, 286))  # the domestic cats, tabby among them
    assert chelsea[281:286].sum() > 0.8
    motorcycle = local_vision.classifier.probabilities(scene("motorcycle"))
    assert names[int(motorcycle.argmax())] in {"moped", "motor scooter"}
    assert coffee.sum() == pytest.approx(1.0)


def test_objects_are_named_and_boxed_in_the_pictures_pixels(local_vision):
    street = scene("bus")
    found = local_vision.objects.detect(street)
    people = [o for o in found if o.name == "person"]
    assert len(people) >= 3 and any(o.name == "bus" for o in found)
    for o in found:
        r = o.rectangle
        assert (
            0 <= r.left < r.left + r.width <= street.width and 0 <= r.top < r.top + r.height <= street.height
        )
    bus = next(o for o in found if o.name == "bus").rectangle
    assert bus.width > street.width / 2  # the bus fills most of the picture's width
    assert [o.confidence for o in found] == sorted((o.confidence for o in found), reverse=True)
    assert [o.name for o in local_vision.objects.detect(scene("motorcycle"))][:1] == ["motorcycle"]
    assert local_vision.objects.detect(scene("page")) == []


@pytest.mark.parametrize("name", sorted(EXPECTED_TAGS))
def test_tags_name_what_is_there_and_nothing_that_is_not(analyses, name):
    analysis = analyses[name]
    tags = [tag.name for tag in analysis.tags]
    present, absent = EXPECTED_TAGS[name]
    assert present <= set(tags), tags
    assert not absent & set(tags), tags
    confidences = [tag.confidence for tag in analysis.tags]
    assert confidences == sorted(confidences, reverse=True) and all(0 < c <= 1 for c in confidences)
    assert len(tags) == len(set(tags))
    assert not {"tags", "caption", "categories", "objects"} & set(analysis.unsupported)


@pytest.mark.parametrize("name", sorted(EXPECTED_TAGS))
def test_the_composed_caption_mentions_only_what_was_detected(analyses, name):
    analysis = analyses[name]
    if analysis.caption is None:
        assert analysis.caption_source is None
        return
    assert analysis.caption_source == "composed"
    found = {tag.name for tag in analysis.tags} | {o.name for o in analysis.objects or []}
    words = set(re.findall(r"[a-z]+", analysis.caption.text)) - GRAMMAR
    named = {word for name in found for word in name.split()} | ({"people"} if "person" in found else set())
    assert words <= named, (analysis.caption.text, found)
    assert 0.5 <= analysis.caption.confidence <= 1


def test_captions_of_the_known_scenes(analyses):
    captions = {name: a.caption.text if a.caption else None for name, a in analyses.items()}
    assert captions["bus"] == "three people beside a bus"
    assert captions["chelsea"] == "a cat"
    assert captions["page"] == "a document with text"
    assert captions["grace_hopper"] == "a person with a tie"
    assert captions["motorcycle"] == "a motorcycle"
    assert captions["rocket"] is None  # nothing the models know well enough to name


def test_categories_follow_computer_visions_names(analyses):
    def names(scene_name):
        return [c.name for c in analyses[scene_name].categories]

    assert {"animal_", "animal_cat"} <= set(names("chelsea"))
    assert {"people_", "people_group", "trans_bus"} <= set(names("bus"))
    assert "people_portrait" in names("astronaut")
    assert "text_" in names("page") and not any(n.startswith("people") for n in names("page"))


def box(left, top, width, height):
    return Rectangle(left=left, top=top, width=width, height=height)


def test_caption_relations_counts_and_floor():
    person, couch = box(100, 50, 80, 200), box(60, 150, 300, 150)
    dog_on_couch = [
        DetectedObject(name="dog", confidence=0.8, rectangle=box(150, 150, 60, 60)),
        DetectedObject(name="couch", confidence=0.7, rectangle=couch),
    ]
    assert compose_caption(dog_on_couch, {}, None).text == "a dog on a couch"
    with_tie = [
        DetectedObject(name="person", confidence=0.9, rectangle=person),
        DetectedObject(name="tie", confidence=0.6, rectangle=box(130, 120, 20, 40)),
    ]
    caption = compose_caption(with_tie, {}, None)
    assert caption.text == "a person with a tie" and caption.confidence == 0.6  # the weakest part
    crowd = [DetectedObject(name="person", confidence=0.9, rectangle=box(10 * i, 0, 9, 30)) for i in range(7)]
    assert compose_caption(crowd, {}, None).text == "a group of people"
    unsure = [DetectedObject(name="dog", confidence=0.45, rectangle=person)]
    assert compose_caption(unsure, {"cat": 0.49}, 0.3) is None
    assert compose_caption([], {"animal": 0.9, "cat": 0.6}, None).text == "a cat"  # the most specific tag


def test_the_vocabulary_only_names_classes_and_objects_the_models_have():
    vocab = vocabulary()
    coco = {line.strip() for line in (data_dir() / "coco.names").read_text().splitlines() if line.strip()}
    from pipeline.vision.local.objects import DISPLAY_NAMES

    detector_names = {DISPLAY_NAMES.get(name, name) for name in coco}
    for entry in vocab.entries.values():
        assert entry.coco <= detector_names, (entry.name, entry.coco - detector_names)
        assert all(0 <= index < 1000 for index in entry.imagenet)
    assert set(vocab.class_sets["animal"].tolist()) == set(range(398))  # ImageNet's animals are 0-397
    assert vocab.ancestors("dog") == ["dog", "mammal", "animal"]
    probabilities = np.zeros(1000)
    probabilities[[281, 285]] = 0.4  # tabby and Egyptian cat
    tags = vocab.from_probabilities(probabilities)
    assert tags["cat"] == pytest.approx(0.8) and tags["animal"] == pytest.approx(0.8) and tags["dog"] == 0


def test_the_missile_classes_never_name_a_rocket():
    from pipeline.vision.local.scene import describe

    probabilities = np.zeros(1000)
    probabilities[657], probabilities[967] = 0.6, 0.4  # "missile", espresso
    scene_found = describe(probabilities, class_names(), [], [], [], (640, 480), vocabulary())
    assert {tag.name for tag in scene_found.tags} == {"espresso", "drink"}  # no "missile", no "weapon"
    assert scene_found.caption is None  # "drink" at 0.4 is below the caption floor
