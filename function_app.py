"""Azure Functions entry point (Python v2 programming model): registers the functions, nothing else.

Every step in ``steps/`` gets a queue trigger on ``step-<name>``, whether or not the current
``PIPELINE_STEPS`` lists it, so jobs started under an earlier step list still finish. The step list is
validated here, at startup (with ``ORIGINAL_RETENTION``): a bad ``PIPELINE_STEPS`` stops the host with an error naming the step.
"""

import json

import azure.functions as func

from pipeline import api
from pipeline.forget import forget_request
from pipeline.helper import StepHandler, start_job
from pipeline.replay import record_poisoned_jobs, replay_request
from pipeline.reprocess import reprocess_request
from pipeline.routing import queue_name
from pipeline.runtime import LazyRuntime, configured_pipeline
from pipeline.settings import STORAGE_CONNECTION, original_retention_setting, pipeline_steps_setting
from pipeline.step import Step
from steps import REGISTERED_STEPS, STEPS_BY_NAME
from steps.facematch import Facematch

configured_pipeline(pipeline_steps_setting(), STEPS_BY_NAME)
original_retention_setting()
runtime = LazyRuntime(STEPS_BY_NAME)

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.function_name("ingest")
@app.blob_trigger(
    arg_name="blob", path="images/{name}", connection=STORAGE_CONNECTION, source=func.BlobSource.EVENT_GRID
)
def ingest(blob: func.InputStream) -> None:
    start_job(runtime(), blob.name)


@app.route(route="health", methods=["GET"])
def health(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(runtime().describe()), mimetype="application/json")


# The query API (pipeline/api.py): thin wrappers from HTTP to the framework-free functions.
def _api_response(result: tuple[int, dict]) -> func.HttpResponse:
    status, body = result
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


@app.route(route="images", methods=["GET"])
def list_images(req: func.HttpRequest) -> func.HttpResponse:
    return _api_response(api.list_images(runtime().database, dict(req.params)))


@app.route(route="images/{image_id}", methods=["GET"])
def get_image(req: func.HttpRequest) -> func.HttpResponse:
    image_id = req.route_params.get("image_id")
    return _api_response(api.get_image(runtime().database, image_id, dict(req.params)))


@app.route(route="faces/{face_id}/matches", methods=["GET"])
def get_face_matches(req: func.HttpRequest) -> func.HttpResponse:
    face_id = req.route_params.get("face_id")
    return _api_response(api.get_face_matches(runtime().database, face_id, dict(req.params)))


@app.route(route="batches/{batch_id}", methods=["GET"])
def get_batch(req: func.HttpRequest) -> func.HttpResponse:
    batch_id = req.route_params.get("batch_id")
    return _api_response(api.get_batch(runtime().database, batch_id, dict(req.params)))


def _operator_action(req: func.HttpRequest, action) -> func.HttpResponse:
    """POST actions take their parameters from the query string and a JSON object body, body winning."""
    try:
        body = req.get_json() if req.get_body() else {}
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return _api_response((400, {"error": "the body must be a JSON object"}))
    return _api_response(action(runtime(), {**dict(req.params), **body}))


@app.route(route="reprocess", methods=["POST"])
def reprocess_images(req: func.HttpRequest) -> func.HttpResponse:
    return _operator_action(req, reprocess_request)


@app.route(route="forget", methods=["POST"])
def forget_images(req: func.HttpRequest) -> func.HttpResponse:
    return _operator_action(req, forget_request)


@app.route(route="replay-poison", methods=["POST"])
def replay_poison_messages(req: func.HttpRequest) -> func.HttpResponse:
    return _operator_action(req, replay_request)


@app.function_name("train_face_index")
@app.timer_trigger(arg_name="timer", schedule="0 */1 * * * *")
def train_face_index(timer: func.TimerRequest) -> None:
    # A LargeFaceList searches what it held at its last training; the open-model index needs no training.
    runtime().face_index(Facematch.name).train_if_pending()


@app.function_name("record_poisoned_jobs")
@app.timer_trigger(arg_name="timer", schedule="30 */1 * * * *")
def record_poisoned(timer: func.TimerRequest) -> None:
    record_poisoned_jobs(runtime())


def _register(step: Step) -> None:
    handler = StepHandler(step, runtime)

    @app.function_name(f"step_{step.name}")
    @app.queue_trigger(arg_name="msg", queue_name=queue_name(step.name), connection=STORAGE_CONNECTION)
    def run_step(msg: func.QueueMessage) -> None:
        handler(msg)


for registered in REGISTERED_STEPS:
    _register(registered)
