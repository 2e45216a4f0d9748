"""How values leave SQL for JSON, the same for both dialects, and the endpoint wrapper with its error style."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import wraps
from typing import Any, ParamSpec

from pipeline.api.params import BadRequest, NotFound
from pipeline.db import Database
from pipeline.errors import DecisionRefused, UnknownSubject

Body = dict[str, Any]
Result = tuple[int, Body]
P = ParamSpec("P")


def endpoint(function: Callable[P, Result]) -> Callable[P, Result]:
    """Refusals become ``(400, {"error": ...})``, unknown subjects ``(404, ...)`` and decisions that would
    contradict one already made ``(409, ...)``."""

    @wraps(function)
    def answer(*args: P.args, **kwargs: P.kwargs) -> Result:
        try:
            return function(*args, **kwargs)
        except BadRequest as exc:
            return 400, {"error": str(exc)}
        except (NotFound, UnknownSubject) as exc:
            return 404, {"error": str(exc.args[0])}
        except DecisionRefused as exc:
            return 409, {"error": str(exc)}

    return answer


def rows(database: Database, sql: str, params: list[Any]) -> list[tuple]:
    return database.query(sql, params)[1]


def sql_id(value: Any) -> str | None:
    """UUIDs as lowercase text: SQLite stores them so, SQL Server returns UNIQUEIDENTIFIER in capitals."""
    return None if value is None else str(value).lower()


def iso_time(value: Any) -> str | None:
    """ISO-8601 UTC with milliseconds and Z, whichever way the dialect returns the time."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def sql_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def rectangle(left: int, top: int, width: int, height: int) -> Body:
    return {"left": left, "top": top, "width": width, "height": height}


def polygon(text: str) -> list[int]:
    return [int(float(part)) for part in text.split(",") if part.strip()]
