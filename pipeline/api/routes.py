"""The HTTP routes of the query API, the operator actions and people/review, as Blueprints the app registers.

Each route reads its parameters (the query string each parameter once, the route's ids, a POST's JSON
object body) and hands them to the framework-free functions of :mod:`pipeline.api`; every answer is JSON,
errors included: 400/404 as the functions decide, 413 for a body over 64 KiB, 503 when the database
cannot be reached, 500 (logged with its traceback) for anything unexpected.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import azure.functions as func
import pyodbc

from pipeline.api import actions, batches, faces, images, persons, reviews
from pipeline.api.params import BadRequest, query_parameters
from pipeline.api.values import Result
from pipeline.runtime import Runtime

log = logging.getLogger("pipeline.api")
MAX_BODY_BYTES = 64 * 1024
JSON = "application/json"


def json_response(status: int, body: dict[str, Any]) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype=JSON)


def answer(call: Callable[[], Result]) -> func.HttpResponse:
    """Run one route's work and answer in JSON, whatever happens."""
    try:
        return json_response(*call())
    except BadRequest as exc:
        return json_response(400, {"error": str(exc)})
    except pyodbc.Error as exc:
        log.error("database unavailable: %s", exc)
        return json_response(503, {"error": f"the database is unavailable: {_first_line(exc)}"})
    except Exception:
        log.exception("request failed")
        return json_response(500, {"error": "internal error; the function's log has the details"})


def _first_line(exc: BaseException) -> str:
    text = str(exc.args[-1] if exc.args else exc)
    return text.splitlines()[0][:300] if text else type(exc).__name__


def post_parameters(req: func.HttpRequest) -> dict[str, Any]:
    """A POST's parameters: the query string and a JSON object body, the body winning."""
    raw = req.get_body() or b""
    if len(raw) > MAX_BODY_BYTES:
        raise _TooLarge()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return {**query_parameters(req.url), **body}


class _TooLarge(BadRequest):
    pass


def query_api(runtime: Callable[[], Runtime]) -> func.Blueprint:
    """GET health, images, images/{image_id}, faces/{face_id}/matches, batches/{batch_id}."""
    bp = func.Blueprint(http_auth_level=func.AuthLevel.FUNCTION)

    @bp.route(route="health", methods=["GET"])
    def health(req: func.HttpRequest) -> func.HttpResponse:
        return answer(lambda: (200, runtime().describe()))

    @bp.route(route="images", methods=["GET"])
    def list_images(req: func.HttpRequest) -> func.HttpResponse:
        return answer(lambda: images.list_images(runtime().database, query_parameters(req.url)))

    @bp.route(route="images/{image_id}", methods=["GET"])
    def get_image(req: func.HttpRequest) -> func.HttpResponse:
        image_id = req.route_params.get("image_id")
        return answer(lambda: images.get_image(runtime().database, image_id, query_parameters(req.url)))

    @bp.route(route="faces/{face_id}/matches", methods=["GET"])
    def get_face_matches(req: func.HttpRequest) -> func.HttpResponse:
        face_id = req.route_params.get("face_id")
        return answer(lambda: faces.get_face_matches(runtime().database, face_id, query_parameters(req.url)))

    @bp.route(route="batches/{batch_id}", methods=["GET"])
    def get_batch(req: func.HttpRequest) -> func.HttpResponse:
        batch_id = req.route_params.get("batch_id")
        return answer(lambda: batches.get_batch(runtime().database, batch_id, query_parameters(req.url)))

    return bp


def _posted(req: func.HttpRequest, run: Callable[[dict[str, Any]], Result]) -> func.HttpResponse:
    """A POST route: its parameters read (413 past the size limit), then ``run`` with them."""
    try:
        params = post_parameters(req)
    except _TooLarge:
        return json_response(413, {"error": f"the body must be at most {MAX_BODY_BYTES} bytes"})
    except BadRequest as exc:
        return json_response(400, {"error": str(exc)})
    return answer(lambda: run(params))


def operator_api(runtime: Callable[[], Runtime]) -> func.Blueprint:
    """POST reprocess, forget, replay-poison."""
    bp = func.Blueprint(http_auth_level=func.AuthLevel.FUNCTION)

    def action(req: func.HttpRequest, run: Callable[[Runtime, dict[str, Any]], Result]) -> func.HttpResponse:
        return _posted(req, lambda params: run(runtime(), params))

    @bp.route(route="reprocess", methods=["POST"])
    def reprocess_images(req: func.HttpRequest) -> func.HttpResponse:
        return action(req, actions.reprocess_request)

    @bp.route(route="forget", methods=["POST"])
    def forget_images(req: func.HttpRequest) -> func.HttpResponse:
        return action(req, actions.forget_request)

    @bp.route(route="replay-poison", methods=["POST"])
    def replay_poison_messages(req: func.HttpRequest) -> func.HttpResponse:
        return action(req, actions.replay_request)

    return bp


def people_api(runtime: Callable[[], Runtime]) -> func.Blueprint:
    """GET/POST reviews, GET persons, GET/POST persons/{person_id}."""
    bp = func.Blueprint(http_auth_level=func.AuthLevel.FUNCTION)

    @bp.route(route="reviews", methods=["GET"])
    def list_reviews(req: func.HttpRequest) -> func.HttpResponse:
        return answer(lambda: reviews.list_reviews(runtime().database, query_parameters(req.url)))

    @bp.route(route="reviews", methods=["POST"])
    def post_review(req: func.HttpRequest) -> func.HttpResponse:
        return _posted(req, lambda params: reviews.post_review(runtime().reviews, params))

    @bp.route(route="persons", methods=["GET"])
    def list_persons(req: func.HttpRequest) -> func.HttpResponse:
        return answer(lambda: persons.list_persons(runtime().database, query_parameters(req.url)))

    @bp.route(route="persons/{person_id}", methods=["GET"])
    def get_person(req: func.HttpRequest) -> func.HttpResponse:
        person_id = req.route_params.get("person_id")
        return answer(lambda: persons.get_person(runtime().database, person_id, query_parameters(req.url)))

    @bp.route(route="persons/{person_id}", methods=["POST"])
    def change_person(req: func.HttpRequest) -> func.HttpResponse:
        person_id = req.route_params.get("person_id")
        return _posted(req, lambda params: persons.change_person(runtime().reviews, person_id, params))

    return bp
