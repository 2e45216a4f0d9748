"""ASP.NET-style route templates, as used by HTTP triggers (``items/{id:int}/{name?}``).

Supported: literal segments (case-insensitive), ``{param}``, optional ``{param?}``, defaults
``{param=value}``, catch-all ``{*rest}``, several parameters/literals in one segment
(``{name}.{ext}``), ``{{``/``}}`` escapes, and the common inline constraints (``int``, ``long``,
``bool``, ``alpha``, ``guid``, ``float``, ``double``, ``decimal``, ``datetime``, ``required``,
``minlength(n)``, ``maxlength(n)``, ``length(n[,m])``, ``min(n)``, ``max(n)``, ``range(a,b)``,
``regex(expr)``). An unknown constraint is a startup error rather than a silently open route.
Routes are tried in ASP.NET precedence order: literals before constrained parameters before
plain parameters before catch-alls.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import unquote

from devhost.indexing import HostStartupError

Constraint = Callable[[str], bool]


class _TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class _Parameter:
    name: str
    group: str
    optional: bool
    catch_all: bool
    default: str | None
    constraints: tuple[Constraint, ...]


@dataclass(frozen=True)
class RouteTemplate:
    """A compiled route template; :meth:`match` returns route parameters or ``None``."""

    template: str
    regex: re.Pattern[str]
    parameters: tuple[_Parameter, ...]
    precedence: tuple[int, ...]

    @classmethod
    def parse(cls, template: str, function_name: str) -> RouteTemplate:
        try:
            return _compile(template)
        except _TemplateError as exc:
            raise HostStartupError(f"Function '{function_name}': route '{template}': {exc}") from None

    def match(self, path: str) -> dict[str, str] | None:
        """Match a request path relative to the route prefix (no leading ``/``, still %-encoded)."""
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        values: dict[str, str] = {}
        for parameter in self.parameters:
            raw = found.group(parameter.group)
            if not raw:
                if parameter.default is not None:
                    values[parameter.name] = parameter.default
                continue
            value = unquote(raw)
            if not all(check(value) for check in parameter.constraints):
                return None
            values[parameter.name] = value
        return values


def _compile(template: str) -> RouteTemplate:
    text = template.strip()
    text = text[2:] if text.startswith("~/") else text.lstrip("/")
    segments = text.split("/") if text else []
    pattern: list[str] = []
    parameters: list[_Parameter] = []
    precedence: list[int] = []
    for index, segment in enumerate(segments):
        separator = "/" if index else ""
        parts = _tokenize(segment)
        if not parts:
            raise _TemplateError("empty segment")
        if len(parts) == 1 and isinstance(parts[0], _Parameter):
            parameter = _named(parts[0], len(parameters))
            parameters.append(parameter)
            if parameter.catch_all:
                if index != len(segments) - 1:
                    raise _TemplateError("a catch-all parameter must be the last segment")
                pattern.append(f"(?:{separator}(?P<{parameter.group}>.*))?")
                precedence.append(5)
            elif parameter.optional or parameter.default is not None:
                pattern.append(f"(?:{separator}(?P<{parameter.group}>[^/]+))?")
                precedence.append(3 if parameter.constraints else 4)
            else:
                pattern.append(f"{separator}(?P<{parameter.group}>[^/]+)")
                precedence.append(3 if parameter.constraints else 4)
            continue
        pieces = [separator]
        for part in parts:
            if isinstance(part, str):
                pieces.append(re.escape(part))
                continue
            if part.catch_all or part.optional:
                raise _TemplateError("catch-all/optional parameters must be alone in their segment")
            parameter = _named(part, len(parameters))
            parameters.append(parameter)
            pieces.append(f"(?P<{parameter.group}>[^/]+?)")
        pattern.append("".join(pieces))
        precedence.append(1 if len(parts) == 1 else 2)
    names = [p.name.lower() for p in parameters]
    if len(set(names)) != len(names):
        raise _TemplateError("a parameter name is used twice")
    regex = re.compile("".join(pattern) + "/?", re.IGNORECASE | re.DOTALL)
    return RouteTemplate(template, regex, tuple(parameters), tuple(precedence))


def _named(parameter: _Parameter, index: int) -> _Parameter:
    """Give the parameter a regex group name (route parameter names need not be identifiers)."""
    return _Parameter(
        parameter.name,
        f"p{index}",
        parameter.optional,
        parameter.catch_all,
        parameter.default,
        parameter.constraints,
    )


def _tokenize(segment: str) -> list[str | _Parameter]:
    """Split a segment into literal text and parameters, honouring ``{{``/``}}`` escapes."""
    parts: list[str | _Parameter] = []
    literal: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if segment.startswith("{{", i) or segment.startswith("}}", i):
            literal.append(char)
            i += 2
        elif char == "}":
            raise _TemplateError("unbalanced '}'")
        elif char == "{":
            end, body = _read_parameter(segment, i + 1)
            if literal:
                parts.append("".join(literal))
                literal = []
            if parts and isinstance(parts[-1], _Parameter):
                raise _TemplateError("two parameters must be separated by literal text")
            parts.append(_parse_parameter(body))
            i = end + 1
        else:
            literal.append(char)
            i += 1
    if literal:
        parts.append("".join(literal))
    return parts


def _read_parameter(segment: str, start: int) -> tuple[int, str]:
    body: list[str] = []
    i = start
    while i < len(segment):
        if segment.startswith("{{", i) or segment.startswith("}}", i):
            body.append(segment[i])
            i += 2
        elif segment[i] == "}":
            return i, "".join(body)
        else:
            body.append(segment[i])
            i += 1
    raise _TemplateError("unterminated '{'")


_NAME = re.compile(r"(\*{1,2})?([^:=?*{}]+)")


def _parse_parameter(body: str) -> _Parameter:
    match = _NAME.match(body)
    if match is None:
        raise _TemplateError(f"bad parameter '{{{body}}}'")
    catch_all = bool(match.group(1))
    name = match.group(2)
    rest = body[match.end() :]
    constraints: list[Constraint] = []
    while rest.startswith(":"):
        constraint, rest = _read_constraint(rest[1:])
        constraints.append(constraint)
    optional = default = None
    if rest == "?":
        optional = True
    elif rest.startswith("="):
        default = rest[1:]
    elif rest:
        raise _TemplateError(f"bad parameter '{{{body}}}'")
    return _Parameter(name, "", bool(optional), catch_all, default, tuple(constraints))


def _read_constraint(text: str) -> tuple[Constraint, str]:
    """Parse ``name`` or ``name(args)`` at the start of ``text``; return it and the remainder."""
    match = re.match(r"[A-Za-z]+", text)
    if match is None:
        raise _TemplateError(f"bad constraint ':{text}'")
    name, i = match.group(0).lower(), match.end()
    argument = None
    if text[i : i + 1] == "(":
        depth, j = 0, i
        while j < len(text):
            if text[j] == "\\":
                j += 2
                continue
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            if depth == 0:
                break
            j += 1
        if depth != 0:
            raise _TemplateError(f"unbalanced parentheses in constraint '{name}'")
        argument, i = text[i + 1 : j], j + 1
    return _constraint(name, argument), text[i:]


def _constraint(name: str, argument: str | None) -> Constraint:
    simple: dict[str, Constraint] = {
        "int": lambda v: _integer_in(v, 32),
        "long": lambda v: _integer_in(v, 64),
        "bool": lambda v: v.lower() in ("true", "false"),
        "alpha": lambda v: re.fullmatch(r"[A-Za-z]+", v) is not None,
        "guid": _is_guid,
        "float": _is_finite_float,
        "double": _is_finite_float,
        "decimal": _is_decimal,
        "datetime": _is_datetime,
        "required": lambda v: v != "",
    }
    if name in simple:
        if argument is not None:
            raise _TemplateError(f"constraint '{name}' takes no argument")
        return simple[name]
    if argument is None:
        raise _TemplateError(
            f"unknown constraint '{name}'" if name not in _WITH_ARGUMENT else f"'{name}' needs (…)"
        )
    if name == "regex":
        regex = re.compile(argument, re.IGNORECASE)
        return lambda v: regex.search(v) is not None
    if name not in _WITH_ARGUMENT:
        raise _TemplateError(f"unknown constraint '{name}'")
    try:
        numbers = [int(a) for a in argument.split(",")]
    except ValueError:
        raise _TemplateError(f"constraint '{name}' needs integer arguments") from None
    return _WITH_ARGUMENT[name](numbers)


def _bounded(
    check: Callable[[int, list[int]], bool], arity: tuple[int, ...]
) -> Callable[[list[int]], Constraint]:
    def build(numbers: list[int]) -> Constraint:
        if len(numbers) not in arity:
            raise _TemplateError(f"wrong number of constraint arguments: {numbers}")
        return lambda v: check(len(v), numbers)

    return build


def _numeric(check: Callable[[int, list[int]], bool], arity: int) -> Callable[[list[int]], Constraint]:
    def build(numbers: list[int]) -> Constraint:
        if len(numbers) != arity:
            raise _TemplateError(f"wrong number of constraint arguments: {numbers}")
        return lambda v: _integer_in(v, 64) and check(int(v), numbers)

    return build


_WITH_ARGUMENT: dict[str, Callable[[list[int]], Constraint]] = {
    "minlength": _bounded(lambda n, a: n >= a[0], (1,)),
    "maxlength": _bounded(lambda n, a: n <= a[0], (1,)),
    "length": _bounded(lambda n, a: n == a[0] if len(a) == 1 else a[0] <= n <= a[1], (1, 2)),
    "min": _numeric(lambda n, a: n >= a[0], 1),
    "max": _numeric(lambda n, a: n <= a[0], 1),
    "range": _numeric(lambda n, a: a[0] <= n <= a[1], 2),
}


def _integer_in(value: str, bits: int) -> bool:
    if re.fullmatch(r"[+-]?\d+", value) is None:
        return False
    return -(2 ** (bits - 1)) <= int(value) < 2 ** (bits - 1)


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_finite_float(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def _is_decimal(value: str) -> bool:
    try:
        return Decimal(value).is_finite()
    except InvalidOperation:
        return False


def _is_datetime(value: str) -> bool:
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True
