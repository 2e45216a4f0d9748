"""Turn an ``azure.functions.FunctionApp`` into validated, setting-resolved function specs.

Functions are discovered only through the library's own indexing API (``app.get_functions()``,
``get_trigger()``, ``get_bindings()``, ``get_user_function()``, ``get_function_name()``), the same
metadata the Python worker reports to the real host, so the local host cannot "see" a function
that Azure would not.

Everything that the real host would reject at startup is rejected here too, with the function
named: unsupported trigger or binding types, function parameters without a binding, and
``%SETTING%`` expressions naming an unknown app setting.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
from azure.functions import _abc as func_abc  # the only home of the TraceContext/RetryContext ABCs

logger = logging.getLogger("devhost")

SUPPORTED_TRIGGERS = ("queueTrigger", "blobTrigger", "timerTrigger", "httpTrigger")
# Binding properties in which the real host expands %SETTING% expressions.
_RESOLVED_PROPERTIES = {
    "queueTrigger": ("queueName", "connection"),
    "blobTrigger": ("path", "connection"),
    "timerTrigger": ("schedule",),
    "httpTrigger": (),
}
_SETTING_EXPRESSION = re.compile(r"%([^%]+)%")
_DEFAULT_CONNECTION = "AzureWebJobsStorage"


class HostStartupError(RuntimeError):
    """The app cannot be hosted as configured; the message names the function and the problem."""


@dataclass(frozen=True)
class FunctionSpec:
    """One indexed function: its trigger binding (settings resolved) and how to call it."""

    name: str
    trigger_type: str
    binding: Mapping[str, Any]
    param_name: str
    user_function: Callable[..., Any]
    annotation: Any = None
    wants_context: bool = False
    directory: str = ""
    _invocations: threading.local = field(default_factory=threading.local, compare=False, repr=False)

    @property
    def function_id(self) -> str:
        """The id the real host uses in receipts and poison messages."""
        return f"Host.Functions.{self.name}"

    def invoke(self, trigger_value: Any, *, reason: str) -> Any:
        """Call the user function like the Python worker: trigger argument, optional ``context``.

        ``async def`` functions are run to completion on a private event loop in the calling
        pool thread. Exceptions propagate to the caller (the listener decides retry/poison).
        """
        invocation_id = str(uuid.uuid4())
        kwargs: dict[str, Any] = {self.param_name: trigger_value}
        if self.wants_context:
            kwargs["context"] = _InvocationContext(
                invocation_id, self.name, self.directory, self._invocations
            )
        logger.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", self.name, reason, invocation_id)
        started = time.monotonic()
        outcome = "Failed"
        try:
            result = self.user_function(**kwargs)
            if inspect.isawaitable(result):
                result = asyncio.run(_await(result))
            outcome = "Succeeded"
            return result
        finally:
            logger.info(
                "Executed 'Functions.%s' (%s, Id=%s, Duration=%dms)",
                self.name,
                outcome,
                invocation_id,
                (time.monotonic() - started) * 1000,
            )


async def _await(awaitable: Any) -> Any:
    return await awaitable


def index_functions(
    app: func.FunctionApp,
    settings: Mapping[str, str],
    *,
    only: list[str] | None = None,
) -> list[FunctionSpec]:
    """Validate every function of ``app`` and return specs for the enabled ones.

    ``only`` is host.json's ``functions`` allow-list. A function is also skipped when the setting
    ``AzureWebJobs.<name>.Disabled`` is ``true``/``1``, as in Azure.
    """
    # get_functions() records names to detect duplicates and never forgets them, so indexing
    # the same app object a second time (e.g. a host restart in one process) would fail with a
    # bogus "not unique" error. Clearing that record keeps the duplicate check meaningful.
    app.functions_bindings = None
    specs = []
    for function in app.get_functions():
        name = function.get_function_name() or function.get_user_function().__name__
        if only is not None and name not in only:
            continue
        if settings.get(f"AzureWebJobs.{name}.Disabled", "").strip().lower() in ("true", "1"):
            logger.info("Function '%s' is disabled by setting AzureWebJobs.%s.Disabled", name, name)
            continue
        specs.append(_build_spec(function, name, settings))
    return specs


def _build_spec(function: Any, name: str, settings: Mapping[str, str]) -> FunctionSpec:
    trigger = function.get_trigger()
    trigger_dict = _plain(trigger.get_dict_repr())
    trigger_type = trigger_dict.get("type")
    if trigger_type not in SUPPORTED_TRIGGERS:
        raise HostStartupError(
            f"Function '{name}': trigger type '{trigger_type}' is not supported by the local host "
            f"(supported: {', '.join(SUPPORTED_TRIGGERS)})"
        )
    for binding in function.get_bindings():
        repr_ = _plain(binding.get_dict_repr())
        if binding is trigger or (trigger_type == "httpTrigger" and repr_.get("type") == "http"):
            continue
        raise HostStartupError(
            f"Function '{name}': binding '{repr_.get('name')}' of type '{repr_.get('type')}' is not "
            "supported by the local host (only the trigger, and the HTTP response of an HTTP trigger)"
        )
    resolved = dict(trigger_dict)
    for key in _RESOLVED_PROPERTIES[trigger_type]:
        if isinstance(resolved.get(key), str):
            resolved[key] = resolve_setting_expressions(resolved[key], settings, name, key)

    user_function = function.get_user_function()
    param_name = trigger_dict["name"]
    parameters = inspect.signature(user_function).parameters
    if param_name not in parameters:
        raise HostStartupError(f"Function '{name}': has no parameter named '{param_name}' for its trigger")
    unbound = [p for p in parameters if p not in (param_name, "context")]
    if unbound:
        raise HostStartupError(f"Function '{name}': parameter(s) {', '.join(unbound)} have no binding")
    annotation = parameters[param_name].annotation
    return FunctionSpec(
        name=name,
        trigger_type=trigger_type,
        binding=resolved,
        param_name=param_name,
        user_function=user_function,
        annotation=None if annotation is inspect.Parameter.empty else annotation,
        wants_context="context" in parameters,
        directory=_source_directory(user_function),
    )


def _source_directory(user_function: Callable[..., Any]) -> str:
    """Where the function is defined; reported as ``context.function_directory``."""
    try:
        return os.path.dirname(os.path.abspath(inspect.getfile(user_function)))
    except TypeError:  # built-ins and other callables without a source file
        return os.getcwd()


def _plain(value: Any) -> Any:
    """Binding dicts hold enums (AuthLevel, HttpMethod, BindingDirection); use their values."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def resolve_setting_expressions(value: str, settings: Mapping[str, str], function: str, prop: str) -> str:
    """Replace each ``%NAME%`` with the app setting ``NAME``; unknown names are startup errors."""

    def lookup(match: re.Match[str]) -> str:
        setting = match.group(1)
        if setting not in settings:
            raise HostStartupError(
                f"Function '{function}': {prop} '{value}' refers to app setting '{setting}', which is not set"
            )
        return settings[setting]

    return _SETTING_EXPRESSION.sub(lookup, value)


def storage_connection_string(spec: FunctionSpec, settings: Mapping[str, str]) -> str:
    """The connection string behind a binding's ``connection`` (default ``AzureWebJobsStorage``).

    As in the real host, ``connection: "Foo"`` is looked up as ``Foo`` and then ``AzureWebJobsFoo``.
    Identity-based connections (``Foo__serviceUri`` …) work in Azure but not locally.
    """
    name = spec.binding.get("connection") or _DEFAULT_CONNECTION
    for candidate in (name, f"AzureWebJobs{name}"):
        value = settings.get(candidate, "").strip()
        if value:
            return value
    if any(key.startswith(f"{name}__") for key in settings):
        raise HostStartupError(
            f"Function '{spec.name}': connection '{name}' is identity-based; the local host needs a "
            f"connection string in setting '{name}'"
        )
    raise HostStartupError(f"Function '{spec.name}': connection setting '{name}' is not set")


class _TraceContext(func_abc.TraceContext):
    """No distributed tracing locally: empty W3C trace headers."""

    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return ""

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RetryContext(func_abc.RetryContext):
    """No retry policies locally: what the worker reports for a first attempt without a policy."""

    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> Any:
        return None


class _InvocationContext(func.Context):
    """The ``context`` argument the Python worker passes to functions that declare it."""

    def __init__(self, invocation_id: str, name: str, directory: str, storage: threading.local) -> None:
        self._invocation_id = invocation_id
        self._name = name
        self._directory = directory
        self._storage = storage

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._storage

    @property
    def function_name(self) -> str:
        return self._name

    @property
    def function_directory(self) -> str:
        return self._directory

    @property
    def trace_context(self) -> func_abc.TraceContext:
        return _TraceContext()

    @property
    def retry_context(self) -> func_abc.RetryContext:
        return _RetryContext()
