"""The vision settings: which provider each step uses, the Azure accounts, and the local open models.

Parsed by :meth:`pipeline.settings.Settings.from_environment`, each value checked with a message naming the
setting.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from pipeline.errors import ConfigurationError
from pipeline.setting_names import (
    FACE_DETECT_GRID,
    FACE_ENDPOINT,
    FACE_KEY,
    FACE_LIST_ID,
    FACE_RATE_LIMIT,
    LOCAL_FACE_MODEL,
    MODEL_CACHE_DIR,
    OCR_LANGUAGES,
    VISION_AUTH,
    VISION_ENDPOINT,
    VISION_KEY,
    VISION_PROVIDER,
    VISION_RATE_LIMIT,
)
from pipeline.setting_names import choices as _choices

DEFAULT_FACE_LIST_ID = "imaginem-faces"


# Computer Vision S1 and Face S0 accept 10 transactions per second per account.
DEFAULT_RATE_LIMIT = 10.0


MAX_FACE_DETECT_GRID = 16


# Azure Face: a LargeFaceList id is lowercase letters, digits, '-' and '_', at most 64 characters.
_FACE_LIST_ID = re.compile(r"^[a-z0-9_-]{1,64}$")


_ENDPOINT = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", re.IGNORECASE)


class Provider(StrEnum):
    LOCAL = "local"
    AZURE = "azure"


class VisionAuth(StrEnum):
    """How the azure provider signs in: account keys, or Microsoft Entra ID (managed identity in Azure)."""

    KEY = "key"
    IDENTITY = "identity"


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
    operator's machine; no key anywhere). ``*_rate_limit`` is the requests/s all instances together send to each
    account (None: unpaced); ``face_detect_grid`` how many images one Face detect call may cover (1: one per call).
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


def rate_limit(env: Mapping[str, str], name: str) -> float | None:
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


def grid_size(env: Mapping[str, str]) -> int:
    text = env.get(FACE_DETECT_GRID, "").strip() or "1"
    if not text.isascii() or not text.isdigit() or not 0 <= int(text) <= MAX_FACE_DETECT_GRID:
        raise ConfigurationError(
            f"{FACE_DETECT_GRID} must be a number of images per Face detect call from 1 to "
            f"{MAX_FACE_DETECT_GRID} (0 or 1: off), got {text!r}"
        )
    return max(1, int(text))


def local_models(env: Mapping[str, str]) -> LocalVisionSettings:
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


def azure_accounts(
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
