"""Every app setting the pipeline reads, parsed once, at startup, into typed settings.

:meth:`Settings.from_environment` is the one place that reads the pipeline's configuration from the
environment (app settings are environment variables in Azure; locally ``local.settings.json`` fills what the
environment lacks, see :mod:`pipeline.settings_file`). It checks every value before anything connects: a
missing or malformed setting raises :class:`~pipeline.errors.ConfigurationError` whose message has one line
per problem, each naming the setting and saying what to set. ``local.settings.json.example`` documents each
setting; the Azure templates set the same names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.access import Role, parse_roles
from pipeline.audit import MAX_ACTOR
from pipeline.errors import ConfigurationError
from pipeline.routing import validate_pipeline
from pipeline.step import Step

STORAGE_CONNECTION = "AzureWebJobsStorage"
PIPELINE_STEPS = "PIPELINE_STEPS"
SQL_CONNECTION_STRING = "SQL_CONNECTION_STRING"
VISION_PROVIDER = "VISION_PROVIDER"
VISION_AUTH = "VISION_AUTH"
VISION_ENDPOINT = "VISION_ENDPOINT"
VISION_KEY = "VISION_KEY"
FACE_ENDPOINT = "FACE_ENDPOINT"
FACE_KEY = "FACE_KEY"
FACE_LIST_ID = "FACE_LIST_ID"
VISION_RATE_LIMIT = "VISION_RATE_LIMIT"
FACE_RATE_LIMIT = "FACE_RATE_LIMIT"
FACE_DETECT_GRID = "FACE_DETECT_GRID"
ORIGINAL_RETENTION = "ORIGINAL_RETENTION"
LOCAL_FACE_MODEL = "LOCAL_FACE_MODEL"
OCR_LANGUAGES = "OCR_LANGUAGES"
MODEL_CACHE_DIR = "MODEL_CACHE_DIR"
DESK_USER = "DESK_USER"
DESK_ROLES = "DESK_ROLES"
# Set by App Service on every Azure instance: there, people sign in through App Service Authentication.
AZURE_INSTANCE = "WEBSITE_INSTANCE_ID"

DEFAULT_PIPELINE_STEPS = "normalize,analyze,ocr,faces,facematch,persist"
DEFAULT_FACE_LIST_ID = "imaginem-faces"
# Computer Vision S1 and Face S0 accept 10 transactions per second per account.
DEFAULT_RATE_LIMIT = 10.0
MAX_FACE_DETECT_GRID = 16
# Azure Face: a LargeFaceList id is lowercase letters, digits, '-' and '_', at most 64 characters.
_FACE_LIST_ID = re.compile(r"^[a-z0-9_-]{1,64}$")
_ENDPOINT = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", re.IGNORECASE)

# Every app setting the pipeline's code reads. Deployment templates must set exactly these (plus the
# platform's own); a test holds the two lists together. Identity-based storage is configured through
# ``AzureWebJobsStorage__*`` keys, which the Functions host and ``Storage.from_settings`` both understand.
APP_SETTINGS: tuple[str, ...] = (
    STORAGE_CONNECTION,
    PIPELINE_STEPS,
    SQL_CONNECTION_STRING,
    VISION_PROVIDER,
    VISION_AUTH,
    VISION_ENDPOINT,
    VISION_KEY,
    FACE_ENDPOINT,
    FACE_KEY,
    FACE_LIST_ID,
    VISION_RATE_LIMIT,
    FACE_RATE_LIMIT,
    FACE_DETECT_GRID,
    ORIGINAL_RETENTION,
    LOCAL_FACE_MODEL,
    OCR_LANGUAGES,
    MODEL_CACHE_DIR,
    DESK_USER,
    DESK_ROLES,
)


class Provider(StrEnum):
    LOCAL = "local"
    AZURE = "azure"


class Retention(StrEnum):
    """ORIGINAL_RETENTION: what happens to an uploaded original once its job is complete.

    ``keep`` (the default: nothing is deleted unless someone chose so) or ``delete-after-complete`` (the
    working copy, without any metadata, stands in for it). Failed images always keep their original.
    """

    KEEP = "keep"
    DELETE_AFTER_COMPLETE = "delete-after-complete"


class VisionAuth(StrEnum):
    """How the azure provider signs in: account keys, or Microsoft Entra ID (managed identity in Azure)."""

    KEY = "key"
    IDENTITY = "identity"


def _choices(enum: type[StrEnum]) -> str:
    return " or ".join(repr(member.value) for member in enum)


def parse_step_list(value: str) -> tuple[str, ...]:
    """PIPELINE_STEPS as step names: the one parser of the setting."""
    return tuple(part.strip().lower() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class VisionChoice:
    """``VISION_PROVIDER``: a default provider and optional per-step overrides.

    Examples: ``local``; ``azure``; ``azure,facematch=local`` (Azure for everything but face matching).
    """

    default: Provider = Provider.LOCAL
    per_step: Mapping[str, Provider] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: str, steps: Collection[str] | None = None) -> VisionChoice:
        """Parse the setting; with ``steps``, an override must name one of them."""
        default, overrides = Provider.LOCAL, {}
        for part in (part.strip().lower() for part in (value or "").split(",")):
            if not part:
                continue
            step, equals, chosen = (item.strip() for item in part.partition("="))
            name = chosen if equals else step
            if name not in Provider.__members__.values():
                raise ConfigurationError(
                    f"{VISION_PROVIDER}: unknown provider {name!r} in {value!r}; use {_choices(Provider)}"
                )
            if not equals:
                default = Provider(name)
            elif steps is not None and step not in steps:
                raise ConfigurationError(
                    f"{VISION_PROVIDER}: {part!r} overrides the provider of an unknown step {step!r}; "
                    f"steps: {', '.join(sorted(steps))}"
                )
            else:
                overrides[step] = Provider(name)
        return cls(default=default, per_step=overrides)

    def for_step(self, step: str) -> Provider:
        return self.per_step.get(step, self.default)

    def uses(self, provider: Provider) -> bool:
        return self.default is provider or provider in self.per_step.values()


class AzureVisionSettings(BaseModel):
    """The Computer Vision and Face accounts of the azure provider.

    ``auth`` decides how requests are signed: ``key`` (``vision_key``/``face_key``; Key Vault references in
    Azure) or ``identity`` (a Microsoft Entra token of the app's managed identity, or of ``az login`` on an
    operator's machine; no key anywhere). ``*_rate_limit`` is the requests/s this process sends to each account
    (None: unpaced); ``face_detect_grid`` how many images one Face detect call may cover (1: one per call).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    vision_endpoint: str
    face_endpoint: str
    auth: VisionAuth = VisionAuth.KEY
    vision_key: str = Field(default="", repr=False)
    face_key: str = Field(default="", repr=False)
    face_list_id: str = DEFAULT_FACE_LIST_ID
    vision_rate_limit: float | None = DEFAULT_RATE_LIMIT
    face_rate_limit: float | None = DEFAULT_RATE_LIMIT
    face_detect_grid: int = 1


# The open face models LOCAL_FACE_MODEL may name (pipeline.vision.local.faces.FACE_MODELS; a test holds the two
# together), the first being the default.
LOCAL_FACE_MODELS = ("yunet-sface", "dlib")
# OCR_LANGUAGES: "latin" (PP-OCR: French, Spanish, Portuguese, German, English... with their accents), or
# Tesseract language codes, e.g. "ara,rus,ukr" ("latin" among them adds Tesseract's Latin packs).
LATIN = "latin"
_LANGUAGE_CODE = re.compile(r"^[a-z]{3}(_[a-z]+)?$")


def parse_languages(value: str) -> tuple[str, ...]:
    """``OCR_LANGUAGES`` as a tuple of codes: lower case, without blanks or repeats; empty means latin."""
    codes: list[str] = []
    for part in (value or LATIN).replace("+", ",").split(","):
        code = part.strip().lower()
        if code and code not in codes:
            codes.append(code)
    return tuple(codes) or (LATIN,)


class LocalVisionSettings(BaseModel):
    """The open models of the local provider."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    face_model: str = LOCAL_FACE_MODELS[0]
    ocr_languages: str = LATIN
    model_cache_dir: str | None = None  # where converted model graphs are kept (default: the user's cache)


class DeskSettings(BaseModel):
    """The desk's local identity: who decisions are recorded as, and their roles, when no one signs in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str | None = None
    roles: frozenset[Role] = frozenset()
    # In Azure: a route for people answers only requests App Service Authentication signed in.
    sign_in_required: bool = False


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    pipeline_steps: tuple[str, ...] = parse_step_list(DEFAULT_PIPELINE_STEPS)
    sql_connection_string: str
    storage: Mapping[str, str]  # AzureWebJobsStorage and its identity-based ``AzureWebJobsStorage__*`` keys
    vision: VisionChoice = VisionChoice()
    azure: AzureVisionSettings | None = None  # set whenever VISION_PROVIDER selects azure for any step
    local: LocalVisionSettings = LocalVisionSettings()
    original_retention: Retention = Retention.KEEP
    desk: DeskSettings = DeskSettings()

    @field_validator("pipeline_steps", mode="before")
    @classmethod
    def _step_list(cls, value: Any) -> Any:
        return parse_step_list(value) if isinstance(value, str) else value

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, registry: Mapping[str, Step] | None = None
    ) -> Settings:
        """Parse and check every setting; with the step ``registry``, the step list and overrides too."""
        env = os.environ if environ is None else environ
        problems: list[str] = []

        def checked(parse: Callable[[], Any], default: Any = None) -> Any:
            try:
                return parse()
            except ConfigurationError as exc:
                problems.append(str(exc))
                return default

        pipeline = checked(lambda: _pipeline_steps(env, registry), ())
        vision = checked(lambda: VisionChoice.parse(env.get(VISION_PROVIDER, ""), registry), VisionChoice())
        rates = {
            name: checked(lambda name=name: _rate_limit(env, name))
            for name in (VISION_RATE_LIMIT, FACE_RATE_LIMIT)
        }
        grid = checked(lambda: _grid_size(env), 1)
        azure = None
        if vision.uses(Provider.AZURE):
            azure = checked(lambda: _azure_accounts(env, rates, grid))
        settings = dict(
            pipeline_steps=pipeline,
            sql_connection_string=checked(lambda: _sql_connection_string(env), ""),
            storage=checked(lambda: _storage(env), {}),
            vision=vision,
            azure=azure,
            original_retention=checked(lambda: _retention(env), Retention.KEEP),
            local=checked(lambda: _local_models(env), LocalVisionSettings()),
            desk=checked(lambda: _desk(env), DeskSettings()),
        )
        if problems:
            raise ConfigurationError("\n".join(problems))
        return cls(**settings)


def _pipeline_steps(env: Mapping[str, str], registry: Mapping[str, Step] | None) -> tuple[str, ...]:
    if PIPELINE_STEPS not in env:
        return parse_step_list(DEFAULT_PIPELINE_STEPS)
    parsed = parse_step_list(env[PIPELINE_STEPS])
    if not parsed:
        raise ConfigurationError(
            f"{PIPELINE_STEPS} is set but lists no step ({env[PIPELINE_STEPS]!r}): list the steps, e.g. "
            f"{DEFAULT_PIPELINE_STEPS}, or remove the setting for that default"
        )
    if registry is not None:
        validate_pipeline(parsed, registry)
    return parsed


def _rate_limit(env: Mapping[str, str], name: str) -> float | None:
    """Requests/s from a rate-limit setting: absent means the default, ``0`` or empty means no pacing."""
    if name not in env:
        return DEFAULT_RATE_LIMIT
    text = env[name].strip()
    try:
        value = float(text) if text else 0.0
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise ConfigurationError(
            f"{name} must be a number of requests per second (0 or empty: no pacing), got {text!r}"
        )
    return value or None


def _grid_size(env: Mapping[str, str]) -> int:
    text = env.get(FACE_DETECT_GRID, "").strip() or "1"
    if not text.isascii() or not text.isdigit() or not 0 <= int(text) <= MAX_FACE_DETECT_GRID:
        raise ConfigurationError(
            f"{FACE_DETECT_GRID} must be a number of images per Face detect call from 1 to "
            f"{MAX_FACE_DETECT_GRID} (0 or 1: off), got {text!r}"
        )
    return max(1, int(text))


def _retention(env: Mapping[str, str]) -> Retention:
    value = env.get(ORIGINAL_RETENTION, "").strip().lower() or Retention.KEEP.value
    if value not in Retention.__members__.values():
        raise ConfigurationError(f"{ORIGINAL_RETENTION}: unknown policy {value!r}; use {_choices(Retention)}")
    return Retention(value)


def _local_models(env: Mapping[str, str]) -> LocalVisionSettings:
    from pipeline.tesseract_packs import missing_packs

    problems = []
    face_model = env.get(LOCAL_FACE_MODEL, "").strip().lower() or LOCAL_FACE_MODELS[0]
    if face_model not in LOCAL_FACE_MODELS:
        problems.append(
            f"{LOCAL_FACE_MODEL}: unknown face model {face_model!r}; use {' or '.join(map(repr, LOCAL_FACE_MODELS))}"
        )
    codes = parse_languages(env.get(OCR_LANGUAGES, ""))
    wrong = [code for code in codes if code != LATIN and not _LANGUAGE_CODE.match(code)]
    if wrong:
        problems.append(
            f"{OCR_LANGUAGES}: {wrong[0]!r} is not a language code; use 'latin' or Tesseract codes such as ara,rus,ukr"
        )
    elif codes != (LATIN,) and (problem := missing_packs(codes)) is not None:
        problems.append(f"{OCR_LANGUAGES}={','.join(codes)}: {problem}")
    if problems:
        raise ConfigurationError("\n".join(problems))
    cache = env.get(MODEL_CACHE_DIR, "").strip() or None
    return LocalVisionSettings(face_model=face_model, ocr_languages=",".join(codes), model_cache_dir=cache)


def _desk(env: Mapping[str, str]) -> DeskSettings:
    user = env.get(DESK_USER, "").strip()
    roles_text = env.get(DESK_ROLES, "").strip()
    in_azure = bool(env.get(AZURE_INSTANCE, "").strip())
    if not user and not roles_text:
        return DeskSettings(sign_in_required=in_azure)
    choices = ", ".join(role.value for role in Role)
    if in_azure:
        raise ConfigurationError(
            f"{DESK_USER} and {DESK_ROLES} must be empty in Azure: people sign in through App Service "
            "Authentication and their app roles come from it (a local identity would be given to anyone)"
        )
    try:
        roles = parse_roles(roles_text.split(","))
    except ValueError as exc:
        raise ConfigurationError(
            f"{DESK_ROLES}: unknown role {str(exc)!r}; use one or more of {choices}, comma-separated"
        ) from None
    if not user or not roles:
        missing = DESK_USER if not user else DESK_ROLES
        raise ConfigurationError(
            f"{missing} is not set, but the desk's local identity needs both {DESK_USER} (the name decisions "
            f"are recorded under) and {DESK_ROLES} (one or more of {choices}, comma-separated)"
        )
    if len(user) > MAX_ACTOR or any(ord(char) < 32 or ord(char) == 127 for char in user):
        raise ConfigurationError(
            f"{DESK_USER} must be at most {MAX_ACTOR} characters, without control characters"
        )
    return DeskSettings(user=user, roles=roles)


def _endpoint(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(
            f"{name} is not set, but {VISION_PROVIDER} selects azure: give the account's endpoint, "
            "e.g. https://<account>.cognitiveservices.azure.com/ (see local.settings.json.example)"
        )
    if not _ENDPOINT.match(value):
        raise ConfigurationError(
            f"{name} must be an http(s) URL like https://<account>.cognitiveservices.azure.com/, got {value!r}"
        )
    return value


def _azure_accounts(
    env: Mapping[str, str], rates: Mapping[str, float | None], grid: int
) -> AzureVisionSettings:
    problems: list[str] = []
    endpoints = {}
    for name in (VISION_ENDPOINT, FACE_ENDPOINT):
        try:
            endpoints[name] = _endpoint(env, name)
        except ConfigurationError as exc:
            problems.append(str(exc))
    auth_text = env.get(VISION_AUTH, "").strip().lower()
    keys = {name: env.get(name, "").strip() for name in (VISION_KEY, FACE_KEY)}
    auth: VisionAuth | None = VisionAuth.KEY
    if auth_text and auth_text not in VisionAuth.__members__.values():
        problems.append(f"{VISION_AUTH}: unknown sign-in {auth_text!r}; use {_choices(VisionAuth)}")
        auth = None  # which keys are needed depends on the sign-in, so there is nothing more to say
    elif auth_text:
        auth = VisionAuth(auth_text)
    if auth is VisionAuth.KEY:
        missing = [name for name, value in keys.items() if not value]
        if missing:
            problems.append(
                f"{' and '.join(missing)} not set, but {VISION_PROVIDER} selects azure with key sign-in: set "
                f"{' and '.join(missing)}, or {VISION_AUTH}=identity to sign in with Microsoft Entra ID "
                "(the app's managed identity in Azure, `az login` locally)"
            )
    face_list_id = env.get(FACE_LIST_ID, "").strip() or DEFAULT_FACE_LIST_ID
    if not _FACE_LIST_ID.match(face_list_id):
        problems.append(
            f"{FACE_LIST_ID} must be 1-64 lowercase letters, digits, '-' or '_', got {face_list_id!r}"
        )
    if problems:
        raise ConfigurationError("\n".join(problems))
    return AzureVisionSettings(
        vision_endpoint=endpoints[VISION_ENDPOINT],
        face_endpoint=endpoints[FACE_ENDPOINT],
        auth=auth,
        vision_key=keys[VISION_KEY] if auth is VisionAuth.KEY else "",
        face_key=keys[FACE_KEY] if auth is VisionAuth.KEY else "",
        face_list_id=face_list_id,
        vision_rate_limit=rates[VISION_RATE_LIMIT],
        face_rate_limit=rates[FACE_RATE_LIMIT],
        face_detect_grid=grid,
    )


def _sql_connection_string(env: Mapping[str, str]) -> str:
    from pipeline.db import check_connection_string

    value = env.get(SQL_CONNECTION_STRING, "").strip()
    if not value:
        raise ConfigurationError(
            f"{SQL_CONNECTION_STRING} is not set: give an ODBC connection string, "
            "'Driver=SQLite3;Database=.local/imaginem.db' locally (see local.settings.json.example)"
        )
    check_connection_string(value)
    return value


def _storage(env: Mapping[str, str]) -> dict[str, str]:
    storage = {
        key: value
        for key, value in env.items()
        if key == STORAGE_CONNECTION or key.startswith(STORAGE_CONNECTION + "__")
    }
    connection_string = storage.get(STORAGE_CONNECTION, "").strip()
    prefix = STORAGE_CONNECTION + "__"
    identity_based = any(storage.get(prefix + key, "").strip() for key in ("blobServiceUri", "accountName"))
    if not connection_string and not identity_based:
        raise ConfigurationError(
            f"{STORAGE_CONNECTION} is not set: give a storage connection string ('UseDevelopmentStorage=true' "
            f"for Azurite on its default ports) or {prefix}blobServiceUri and {prefix}queueServiceUri"
        )
    if connection_string:
        _check_storage_connection_string(connection_string)
    return storage


def _check_storage_connection_string(value: str) -> None:
    parts = dict(
        (key.strip().lower(), item.strip())
        for key, _, item in (part.partition("=") for part in value.split(";"))
        if key.strip()
    )
    if parts.get("usedevelopmentstorage", "").lower() == "true":
        return
    has_account = "accountname" in parts and ("accountkey" in parts or "sharedaccesssignature" in parts)
    if not (has_account or "blobendpoint" in parts):
        raise ConfigurationError(
            f"{STORAGE_CONNECTION} is not a storage connection string (it needs AccountName and AccountKey, "
            "or UseDevelopmentStorage=true): copy it from the storage account's Access keys"
        )
