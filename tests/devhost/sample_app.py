"""A tiny FunctionApp the devhost tests run through the local host.

Every invocation is appended to :data:`calls` so tests can see exactly what the host delivered;
``echo`` also writes to storage (an output queue), the way real functions have side effects.
Queue and container names come from ``%SETTING%`` expressions so each test can use its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections import defaultdict
from typing import Any

import azure.functions as func
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

_lock = threading.Lock()
calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
concurrency = {"active": 0, "peak": 0}


def record(function: str, **details: Any) -> None:
    with _lock:
        calls[function].append(details)


def reset() -> None:
    with _lock:
        calls.clear()
        concurrency.update(active=0, peak=0)


@app.queue_trigger(arg_name="msg", queue_name="%ECHO_QUEUE%", connection="AzureWebJobsStorage")
def echo(msg: func.QueueMessage) -> None:
    body = msg.get_body()
    record("echo", body=body, dequeue_count=msg.dequeue_count, id=msg.id, type=type(msg))
    out = QueueClient.from_connection_string(os.environ["AzureWebJobsStorage"], os.environ["ECHO_OUT_QUEUE"])  # noqa: SIM112
    with out:
        with contextlib.suppress(ResourceExistsError):
            out.create_queue()
        out.send_message(body.decode("utf-8").upper())


@app.queue_trigger(arg_name="msg", queue_name="%FAIL_QUEUE%", connection="AzureWebJobsStorage")
def always_fails(msg: func.QueueMessage) -> None:
    record("always_fails", body=msg.get_body(), dequeue_count=msg.dequeue_count)
    raise RuntimeError("this function always fails")


@app.queue_trigger(arg_name="msg", queue_name="%SLOW_QUEUE%", connection="AzureWebJobsStorage")
def slow(msg: func.QueueMessage) -> None:
    with _lock:
        concurrency["active"] += 1
        concurrency["peak"] = max(concurrency["peak"], concurrency["active"])
    body = msg.get_body()
    time.sleep(float(body[len(b"sleep:") :]) if body.startswith(b"sleep:") else 0.3)
    with _lock:
        concurrency["active"] -= 1
    record("slow", body=msg.get_body())


@app.blob_trigger(arg_name="blob", path="%BLOB_CONTAINER%/{name}", connection="AzureWebJobsStorage")
def on_blob(blob: func.InputStream) -> None:
    record(
        "on_blob",
        type=type(blob),
        name=blob.name,
        data=blob.read(),
        length=blob.length,
        metadata=blob.metadata,
        properties=blob.blob_properties,
        uri=blob.uri,
    )


@app.blob_trigger(arg_name="blob", path="%FAIL_CONTAINER%/{name}", connection="AzureWebJobsStorage")
def failing_blob(blob: func.InputStream) -> None:
    record("failing_blob", name=blob.name)
    raise RuntimeError("this blob function always fails")


@app.blob_trigger(
    arg_name="blob",
    path="%EVENT_CONTAINER%/{name}",
    connection="AzureWebJobsStorage",
    source=func.BlobSource.EVENT_GRID,
)
def on_event(blob: func.InputStream) -> None:
    record("on_event", name=blob.name, data=blob.read(), etag=blob.blob_properties["ETag"])


@app.blob_trigger(
    arg_name="blob",
    path="%FAIL_EVENT_CONTAINER%/{name}",
    connection="AzureWebJobsStorage",
    source=func.BlobSource.EVENT_GRID,
)
def failing_event(blob: func.InputStream) -> None:
    record("failing_event", name=blob.name)
    raise RuntimeError("this EventGrid blob function always fails")


@app.timer_trigger(arg_name="timer", schedule="*/1 * * * * *")
def tick(timer: func.TimerRequest) -> None:
    record("tick", past_due=timer.past_due, type=type(timer), last=timer.schedule_status["Last"])


@app.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *", run_on_startup=True)
def yearly_on_startup(timer: func.TimerRequest) -> None:
    record("yearly_on_startup", past_due=timer.past_due)


@app.route(route="items/{id:int}", methods=["GET"])
def get_item(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    payload = {
        "id": req.route_params["id"],
        "params": dict(req.params),
        "method": req.method,
        "url": req.url,
        "function": context.function_name,
        "invocation_id": context.invocation_id,
    }
    return func.HttpResponse(json.dumps(payload), mimetype="application/json", headers={"X-Sample": "1"})


@app.route(route="items/{name:alpha}", methods=["GET", "POST"])
def item_by_name(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        f"{req.method} {req.route_params['name']} {req.get_body().decode()}", status_code=201
    )


@app.route(route="greet/{name?}")
def greet(req: func.HttpRequest) -> str:
    return f"hello {req.route_params.get('name', 'nobody')}"


@app.route(route="boom")
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("secret internal detail")


@app.route(route="async/{*rest}")
async def async_route(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(0)
    return func.HttpResponse(req.route_params.get("rest", ""))
