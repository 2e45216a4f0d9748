"""Startup validation: %SETTING% resolution, unsupported bindings, connections, disabled functions."""

from __future__ import annotations

import azure.functions as func
import pytest

from devhost.host import LocalHost
from devhost.indexing import HostStartupError, index_functions, storage_connection_string
from tests.devhost import sample_app
from tests.devhost.conftest import StartHost

pytestmark = pytest.mark.timeout(30)


def test_setting_expressions_are_resolved(start_host: StartHost, names: dict[str, str]) -> None:
    host = start_host(["echo", "on_blob"])
    resolved = {spec.name: spec.binding for spec in host.functions}
    assert resolved["echo"]["queueName"] == names["ECHO_QUEUE"]
    assert resolved["on_blob"]["path"] == f"{names['BLOB_CONTAINER']}/{{name}}"


def test_missing_setting_is_a_startup_error_naming_function_and_setting(settings: dict[str, str]) -> None:
    incomplete = {k: v for k, v in settings.items() if k != "ECHO_QUEUE"}
    with pytest.raises(HostStartupError, match=r"Function 'echo'.*app setting 'ECHO_QUEUE'"):
        LocalHost(sample_app.app, incomplete, {"functions": ["echo"]}).start()


def test_missing_connection_setting_is_a_startup_error(settings: dict[str, str]) -> None:
    without_storage = {k: v for k, v in settings.items() if k != "AzureWebJobsStorage"}
    with pytest.raises(HostStartupError, match="Function 'echo': connection setting 'AzureWebJobsStorage'"):
        LocalHost(sample_app.app, without_storage, {"functions": ["echo"]}).start()


def test_unsupported_binding_is_a_startup_error() -> None:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="in-queue", connection="AzureWebJobsStorage")
    @app.queue_output(arg_name="out", queue_name="out-queue", connection="AzureWebJobsStorage")
    def forward(msg: func.QueueMessage, out: func.Out[str]) -> None: ...

    with pytest.raises(HostStartupError, match="Function 'forward': binding 'out' of type 'queue'"):
        index_functions(app, {})


def test_unsupported_trigger_is_a_startup_error() -> None:
    app = func.FunctionApp()

    @app.service_bus_queue_trigger(arg_name="msg", queue_name="q", connection="SB")
    def on_bus(msg: func.ServiceBusMessage) -> None: ...

    with pytest.raises(HostStartupError, match="Function 'on_bus': trigger type 'serviceBusTrigger'"):
        index_functions(app, {})


def test_parameter_without_binding_is_a_startup_error() -> None:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="q-name", connection="AzureWebJobsStorage")
    def extra(msg: func.QueueMessage, other: str) -> None: ...

    with pytest.raises(HostStartupError, match=r"Function 'extra': parameter.*other"):
        index_functions(app, {})


def test_invalid_queue_name_is_a_startup_error(settings: dict[str, str]) -> None:
    with pytest.raises(HostStartupError, match="'Bad_Name' is not a valid queue name"):
        LocalHost(sample_app.app, {**settings, "ECHO_QUEUE": "Bad_Name"}, {"functions": ["echo"]}).start()


def test_disabled_setting_and_functions_list() -> None:
    app_settings = {"AzureWebJobs.tick.Disabled": "true", "ECHO_QUEUE": "q-echo"}
    names = [spec.name for spec in index_functions(sample_app.app, app_settings, only=["tick", "echo"])]
    assert names == ["echo"]


def test_indexing_the_same_app_twice_works() -> None:
    first = index_functions(sample_app.app, {}, only=["tick"])
    second = index_functions(sample_app.app, {}, only=["tick"])
    assert [s.name for s in first] == [s.name for s in second] == ["tick"]


def test_connection_lookup_falls_back_to_azurewebjobs_prefix_and_rejects_identity() -> None:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="q-name", connection="Custom")
    def custom(msg: func.QueueMessage) -> None: ...

    (spec,) = index_functions(app, {})
    assert storage_connection_string(spec, {"AzureWebJobsCustom": "UseDevelopmentStorage=true"}) == (
        "UseDevelopmentStorage=true"
    )
    with pytest.raises(HostStartupError, match="identity-based"):
        storage_connection_string(spec, {"Custom__queueServiceUri": "https://x.queue.core.windows.net"})
