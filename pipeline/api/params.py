"""Request parameters: one pydantic model per route or action, ``extra="forbid"``, one error style.

Every HTTP route and operator action validates what it is sent through a model here, so an unknown
parameter, a repeated one, a wrong type or an out-of-range value answers 400 with
``{"error": "<one sentence naming the parameter>"}`` the same way everywhere. Values are checked whole
(``5\\n`` is not 5, ``<uuid>\\n`` is not a UUID). The ``code`` parameter, which Azure adds to every call
authorised by a function key in the query string, is dropped here once, for every route.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo

KEY_PARAMETER = "code"
MAX_TEXT_PARAMETER = 200
MAX_BATCH_ID = 256
MAX_OFFSET = 2_147_483_647

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DIGITS = re.compile(r"[0-9]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

ParamsT = TypeVar("ParamsT", bound="Params")


class BadRequest(ValueError):
    """A request the API refuses (400); the message is returned to the caller as is."""


class NotFound(LookupError):
    """A request naming something that does not exist (404); the message is returned as is."""


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse(model: type[ParamsT], params: Mapping[str, Any] | None) -> ParamsT:
    """``params`` as ``model``, or :class:`BadRequest` naming the first parameter that is wrong."""
    values = {key: value for key, value in (params or {}).items() if key != KEY_PARAMETER}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise BadRequest(_message(model, exc)) from None


def _message(model: type[Params], exc: ValidationError) -> str:
    error = exc.errors()[0]
    name = ".".join(str(part) for part in error["loc"]) or "body"
    if error["type"] == "extra_forbidden":
        expected = ", ".join(model.model_fields) or "none"
        return f"unknown parameter {name!r}; expected: {expected}"
    if error["type"] == "missing":
        return f"{name} is required"
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    return f"{name}: {error['msg']}"


def query_parameters(url: str) -> dict[str, str]:
    """The query string of a request URL, each parameter once (a repeated one is refused)."""
    seen: dict[str, str] = {}
    for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if key in seen:
            raise BadRequest(f"{key} must be given once")
        seen[key] = value
    return seen


# --- field types ------------------------------------------------------------------------------------------


def _text(value: Any, info: ValidationInfo) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{info.field_name} must be a string")
    if value == "":
        raise ValueError(f"{info.field_name} must not be empty")
    return value


def _short_text(value: Any, info: ValidationInfo) -> str:
    text = _text(value, info)
    if len(text) > MAX_TEXT_PARAMETER:
        raise ValueError(f"{info.field_name} must be at most {MAX_TEXT_PARAMETER} characters")
    return text


def _batch_id(value: Any, info: ValidationInfo) -> str:
    text = _text(value, info)
    if len(text) > MAX_BATCH_ID or "/" in text or _CONTROL.search(text):
        raise ValueError(
            f"{info.field_name} must be at most {MAX_BATCH_ID} characters, without '/'"
            + (" or control characters" if _CONTROL.search(text) else "")
        )
    return text


def _uuid(value: Any, info: ValidationInfo) -> str:
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise ValueError(f"{info.field_name} must be a UUID")
    return value.lower()


def _flag(value: Any, info: ValidationInfo) -> bool:
    if isinstance(value, str):
        value = {"true": True, "false": False}.get(value.lower(), value)
    if not isinstance(value, bool):
        raise ValueError(f"{info.field_name} must be true or false")
    return value


def integer(low: int, high: int) -> BeforeValidator:
    """Digits only (or a JSON integer), within ``[low, high]``."""

    def check(value: Any, info: ValidationInfo) -> int:
        digits = isinstance(value, str) and _DIGITS.fullmatch(value)
        number = isinstance(value, int) and not isinstance(value, bool)
        if not (digits or number) or not low <= int(value) <= high:
            raise ValueError(f"{info.field_name} must be an integer from {low} to {high}")
        return int(value)

    return BeforeValidator(check)


def one_of(*choices: str) -> BeforeValidator:
    def check(value: Any, info: ValidationInfo) -> str:
        if value not in choices:
            raise ValueError(f"{info.field_name} must be one of {', '.join(choices)}")
        return value

    return BeforeValidator(check)


Text = Annotated[str, BeforeValidator(_text)]
ShortText = Annotated[str, BeforeValidator(_short_text)]
BatchId = Annotated[str, BeforeValidator(_batch_id)]
Uuid = Annotated[str, BeforeValidator(_uuid)]
Flag = Annotated[bool, BeforeValidator(_flag)]
Limit = Annotated[int, integer(1, 500)]
Offset = Annotated[int, integer(0, MAX_OFFSET)]
DEFAULT_LIMIT = 50
