import pytest

from pipeline.errors import ConfigurationError
from pipeline.routing import poison_queue_name, queue_name, validate_pipeline
from pipeline.settings import parse_step_list
from steps import REGISTERED_STEPS, STEPS_BY_NAME


def test_queue_names_are_fixed_and_valid_storage_queue_names():
    assert queue_name("faces") == "step-faces"
    assert poison_queue_name(queue_name("faces")) == "step-faces-poison"
    for step in REGISTERED_STEPS:
        name = poison_queue_name(queue_name(step.name))
        assert 3 <= len(name) <= 63 and name == name.lower() and name.replace("-", "").isalnum()


def test_parse_step_list_trims_and_lowercases():
    assert parse_step_list(" Normalize, faces ,,persist ") == ("normalize", "faces", "persist")


def test_default_pipeline_is_valid():
    assert validate_pipeline(["normalize", "faces", "persist"], STEPS_BY_NAME) == (
        "normalize",
        "faces",
        "persist",
    )
    assert validate_pipeline(["normalize", "persist"], STEPS_BY_NAME) == ("normalize", "persist")


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([], "PIPELINE_STEPS is empty"),
        (["normalize", "facez", "persist"], "unknown step 'facez'"),
        (["faces", "normalize", "persist"], "'faces' before 'normalize', which it requires"),
        (["normalize", "faces"], "ends with 'faces', but must end with a step that stores results"),
        (["normalize", "persist", "faces"], "'persist' ends a pipeline and must be listed last"),
        (["normalize", "normalize", "persist"], "lists step 'normalize' twice"),
    ],
)
def test_invalid_pipelines_are_refused_naming_the_step(steps, message):
    with pytest.raises(ConfigurationError, match=message):
        validate_pipeline(steps, STEPS_BY_NAME)


def test_every_registered_step_declares_its_contract():
    for step in REGISTERED_STEPS:
        assert step.name and step.produces is not None
        assert all(required.name in STEPS_BY_NAME for required in step.requires)
