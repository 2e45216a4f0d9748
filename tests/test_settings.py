"""Every app setting is parsed and checked once, before anything connects, with a message naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import ConfigurationError
from pipeline.settings import Provider, Retention, Settings, VisionAuth
from pipeline.settings_file import SettingsError, load_local_settings
from steps import STEPS_BY_NAME

VALID = {
    "SQL_CONNECTION_STRING": "Driver=SQLite3;Database=.local/imaginem.db",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
}
AZURE = {
    **VALID,
    "VISION_PROVIDER": "azure",
    "VISION_ENDPOINT": "https://vision.example.com/",
    "FACE_ENDPOINT": "https://face.example.com/",
}


def parsed(**env: str) -> Settings:
    return Settings.from_environment({**VALID, **env}, STEPS_BY_NAME)


def refused(env: dict[str, str]) -> str:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_environment(env, STEPS_BY_NAME)
    return str(raised.value)


def test_defaults_when_only_storage_and_sql_are_set():
    settings = parsed()
    assert settings.pipeline_steps == ("normalize", "analyze", "ocr", "faces", "facematch", "persist")
    assert settings.vision.for_step("faces") is Provider.LOCAL and settings.azure is None
    assert settings.original_retention is Retention.KEEP


@pytest.mark.parametrize(
    ("env", "setting", "advice"),
    [
        ({"VISION_PROVIDER": "azrue"}, "VISION_PROVIDER", "use 'local' or 'azure'"),
        ({"VISION_PROVIDER": "local,fcaes=azure"}, "VISION_PROVIDER", "unknown step 'fcaes'"),
        ({"VISION_RATE_LIMIT": "ten"}, "VISION_RATE_LIMIT", "requests per second"),
        ({"FACE_DETECT_GRID": "99"}, "FACE_DETECT_GRID", "from 1 to 16"),
        ({"FACE_DETECT_GRID": "٣"}, "FACE_DETECT_GRID", "from 1 to 16"),
        ({"PIPELINE_STEPS": ""}, "PIPELINE_STEPS", "lists no step"),
        ({"PIPELINE_STEPS": ",,,"}, "PIPELINE_STEPS", "lists no step"),
        ({"PIPELINE_STEPS": "normalize,facez,persist"}, "PIPELINE_STEPS", "unknown step 'facez'"),
        ({"PIPELINE_STEPS": "faces,normalize,persist"}, "PIPELINE_STEPS", "before 'normalize'"),
        ({"SQL_CONNECTION_STRING": ""}, "SQL_CONNECTION_STRING", "ODBC connection string"),
        ({"SQL_CONNECTION_STRING": "Driver=SQLite4;Database=x.db"}, "SQL_CONNECTION_STRING", "not installed"),
        ({"SQL_CONNECTION_STRING": "Database=x.db"}, "SQL_CONNECTION_STRING", "must name its ODBC driver"),
        ({"AzureWebJobsStorage": ""}, "AzureWebJobsStorage", "connection string"),
        ({"AzureWebJobsStorage": "nonsense"}, "AzureWebJobsStorage", "AccountName and AccountKey"),
        ({"ORIGINAL_RETENTION": "forever"}, "ORIGINAL_RETENTION", "unknown policy"),
    ],
)
def test_a_mistyped_setting_stops_startup_in_one_line_naming_it(env, setting, advice):
    message = refused({**VALID, **env})
    assert len(message.splitlines()) == 1 and setting in message and advice in message


def test_azure_without_a_key_or_identity_is_refused_naming_what_to_set():
    message = refused(AZURE)
    assert "VISION_KEY and FACE_KEY not set" in message and "VISION_AUTH=identity" in message
    assert len(message.splitlines()) == 1


def test_azure_with_keys_or_with_identity():
    keyed = Settings.from_environment({**AZURE, "VISION_KEY": "k1", "FACE_KEY": "k2"}, STEPS_BY_NAME).azure
    assert keyed.auth is VisionAuth.KEY and (keyed.vision_key, keyed.face_key) == ("k1", "k2")
    assert "k1" not in repr(keyed)  # keys never reach a log line through repr
    keyless = Settings.from_environment({**AZURE, "VISION_AUTH": "identity"}, STEPS_BY_NAME).azure
    assert keyless.auth is VisionAuth.IDENTITY and keyless.vision_key == keyless.face_key == ""
    # Only for steps that use it: an override selecting azure for one step is enough to need the accounts.
    assert parsed(VISION_PROVIDER="local,faces=azure", VISION_AUTH="identity", VISION_ENDPOINT="https://v",
                  FACE_ENDPOINT="https://f").azure is not None  # fmt: skip


def test_several_mistakes_are_reported_together_one_line_each():
    message = refused({**AZURE, "VISION_AUTH": "magic", "FACE_LIST_ID": "Not Valid", "FACE_ENDPOINT": "face"})
    lines = message.splitlines()
    assert len(lines) == 3
    assert any("VISION_AUTH" in line for line in lines) and any("FACE_LIST_ID" in line for line in lines)
    assert any("FACE_ENDPOINT must be an http(s) URL" in line for line in lines)


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "invalid JSON"),
        ('{"Values": {"A": "caf\u00e9"}}'.encode("latin-1"), "not UTF-8"),
        (
            json.dumps({"values": {"PIPELINE_STEPS": "normalize,persist"}}),
            "'values' must be spelled 'Values'",
        ),
        (json.dumps({"Values": {"A": 1}}), "values must be strings"),
        (json.dumps([1]), "expected a JSON object"),
    ],
)
def test_a_broken_settings_file_is_one_line_naming_the_file(tmp_path, content, problem):
    path = write(tmp_path / "local.settings.json", content)
    with pytest.raises(SettingsError) as raised:
        load_local_settings(path, {})
    assert problem in str(raised.value) and str(path) in str(raised.value)
    assert len(str(raised.value).splitlines()) == 1


def test_a_settings_file_named_on_the_command_line_must_exist(tmp_path):
    assert load_local_settings(tmp_path / "absent.json", {}) == {}  # the default file may be absent
    with pytest.raises(SettingsError, match="settings file not found"):
        load_local_settings(tmp_path / "absent.json", {}, required=True)


def test_the_local_face_model_is_chosen_and_checked():
    from pipeline.settings import LOCAL_FACE_MODELS
    from pipeline.vision.local.faces import DEFAULT_FACE_MODEL, FACE_MODELS

    assert list(LOCAL_FACE_MODELS) == list(FACE_MODELS) and LOCAL_FACE_MODELS[0] == DEFAULT_FACE_MODEL
    assert parsed().local.face_model == "yunet-sface"
    assert parsed(LOCAL_FACE_MODEL="dlib").local.face_model == "dlib"
    message = refused({**VALID, "LOCAL_FACE_MODEL": "hog"})
    assert "LOCAL_FACE_MODEL: unknown face model 'hog'" in message


def test_ocr_languages_are_checked_at_startup():
    assert parsed().local.ocr_languages == "latin"
    assert "OCR_LANGUAGES: 'arabic!' is not a language code" in refused(
        {**VALID, "OCR_LANGUAGES": "ara,arabic!"}
    )
    message = refused({**VALID, "OCR_LANGUAGES": "xyz"})
    assert "OCR_LANGUAGES=xyz" in message and "tesseract-ocr-xyz" in message  # no such pack installed
