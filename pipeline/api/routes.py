"""The HTTP routes of the query API, the operator actions and people/review, as Blueprints the app registers.

Each route reads its parameters (the query string each parameter once, the route's ids, a POST's JSON
object body) and hands them to the framework-free functions of :mod:`pipeline.api`; every answer is JSON,
errors included: 400/404 as the functions decide, 413 for a body over 64 KiB, 503 when the database
cannot be reached, 500 (logged with its traceback) for anything unexpected.

Routes sit under ``api/`` (host.json's routePrefix is empty, so that the desk answers at the site root).
Machine clients call them with a function key. A request signed in through App Service Authentication (it
carries ``X-MS-CLIENT-PRINCIPAL``) is held to its roles (:mod:`pipeline.access`: 403, audited, beyond
them) and acts in its own name: the reviewer or actor is the signed-in user, and a body naming someone else
is refused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import azure.functions as func
import pyodbc

from pipeline.access import Caller, Forbidden, NotSignedIn, Permission, act_as, principal, require
from pipeline.api import actions, batches, faces, images, persons, reviews
from pipeline.api.params import BadRequest, query_parameters
from pipeline.api.values import Result
from pipeline.runtime import Runtime

log = logging.getLogger("pipeline.api")
MAX_BODY_BYTES = 64 * 1024
JSON = "application/json"
# Routes for signed-in people: no function key (a browser has none); App Service Authentication guards them.
SIGNED_IN = func.AuthLevel.ANONYMOUS
PEOPLE_ROUTES = frozenset({"list_reviews", "post_review", "list_persons", "get_person", "change_person"})


def json_response(status: int, body: dict[str, Any]) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype=JSON)


def answer(call: Callable[[], Result]) -> func.HttpResponse:
    """Run one route's work and answer in JSON, whatever happens."""
    try:
        return json_response(*call())
    except BadRequest as exc:
        return json_response(400, {"error": str(exc)})
    except NotSignedIn as exc:
        return json_response(401, {"error": str(exc)})
    except Forbidden as exc:
        return json_response(403, {"error": str(exc)})
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


def _signed_in(
    req: func.HttpRequest, runtime: Callable[[], Runtime], permission: Permission, name: str
) -> Caller | None:
    """The request's signed-in caller, held to ``permission`` (Forbidden otherwise); None for a machine client
    with a function key, or locally. A route for people (``SIGNED_IN``) in Azure needs a signed-in caller."""
    who = principal(req.headers)
    if who is not None:
        require(runtime().database, who, permission, name)
    elif name in PEOPLE_ROUTES and runtime().settings.desk.sign_in_required:
        raise NotSignedIn(f"{name} answers signed-in users only (App Service Authentication)")
    return who


def _guarded(
    req: func.HttpRequest,
    runtime: Callable[[], Runtime],
    permission: Permission,
    name: str,
    call: Callable[[], Result],
) -> func.HttpResponse:
    """A GET route: its caller checked, then ``call``."""

    def run() -> Result:
        _signed_in(req, runtime, permission, name)
        return call()

    return answer(run)


def query_api(runtime: Callable[[], Runtime]) -> func.Blueprint:
    """GET health, images, images/{image_id}, faces/{face_id}/matches, batches/{batch_id}."""
    bp = func.Blueprint(http_auth_level=func.AuthLevel.FUNCTION)
    view = Permission.VIEW

    @bp.route(route="api/health", methods=["GET"])
    def health(req: func.HttpRequest) -> func.HttpResponse:
        return _guarded(req, runtime, view, "health", lambda: (200, runtime().describe()))

    @bp.route(route="api/images", methods=["GET"])
    def list_images(req: func.HttpRequest) -> func.HttpResponse:
        return _guarded(
            req,
            runtime,
            view,
            "list_images",
            lambda: images.list_images(runtime().database, query_parameters(req.url)),
        )

    @bp.route(route="api/images/{image_id}", methods=["GET"])
    def get_image(req: func.HttpRequest) -> func.HttpResponse:
        image_id = req.route_params.get("image_id")
        return _guarded(
            req,
            runtime,
            view,
            "get_image",
            lambda: images.get_image(runtime().database, image_id, query_parameters(req.url)),
        )

    @bp.route(route="api/faces/{face_id}/matches", methods=["GET"])
    def get_face_matches(req: func.HttpRequest) -> func.HttpResponse:
        face_id = req.route_params.get("face_id")
        return _guarded(
            req,
            runtime,
            view,
            "get_face_matches",
            lambda: faces.get_face_matches(runtime().database, face_id, query_parameters(req.url)),
        )

    @bp.route(route="api/batches/{batch_id}", methods=["GET"])
    def get_batch(req: func.HttpRequest) -> func.HttpResponse:
        batch_id = req.route_params.get("batch_id")
        return _guarded(
            req,
            runtime,
            view,
            "get_batch",
            lambda: batches.get_batch(runtime().database, batch_id, query_parameters(req.url)),
        )

    return bp


def _posted(
    req: func.HttpRequest,
    runtime: Callable[[], Runtime],
    permission: Permission,
    name: str,
    field: str,
    run: Callable[[dict[str, Any]], Result],
) -> func.HttpResponse:
    """A POST route: its parameters read (413 past the size limit), its caller checked and put in ``field``
    (reviewer or actor), then ``run`` with them."""
    try:
        params = post_parameters(req)
    except _TooLarge:
        return json_response(413, {"error": f"the body must be at most {MAX_BODY_BYTES} bytes"})
    except BadRequest as exc:
        return json_response(400, {"error": str(exc)})

    def checked() -> Result:
        who = _signed_in(req, runtime, permission, name)
        return run(act_as(runtime().database, who, params, field, name))

    return answer(checked)


def operator_api(runtime: Callable[[], Runtime]) -> func.Blueprint:
    """POST reprocess, forget, replay-poison."""
    bp = func.Blueprint(http_auth_level=func.AuthLevel.FUNCTION)

    def action(
        req: func.HttpRequest, name: str, run: Callable[[Runtime, dict[str, Any]], Result]
    ) -> func.HttpResponse:
        return _posted(
            req, runtime, Permission.ADMINISTER, name, "actor", lambda params: run(runtime(), params)
        )

    @bp.route(route="api/reprocess", methods=["POST"])
    def reprocess_images(req: func.HttpRequest) -> func.HttpResponse:
        return action(req, "reprocess", actions.reprocess_request)

    @bp.route(route="api/forget", methods=["POST"])
    def forget_images(req: func.HttpRequest) -> func.HttpResponse:
        return action(req, "forget", actions.forget_request)

    @bp.route(route="api/replay-poison", methods=["POST"])
    def replay_poison_messages(req: func.HttpRequest) -> func.HttpResponse:
        return action(req, "replay-poison", actions.replay_request)

    return bp


def people_api(runtime: Callable[[], Runtime]) -> func.Blueprint:
    """GET/POST reviews, GET persons, GET/POST persons/{person_id}.

    Anonymous to the Functions host: in Azure, App Service Authentication (Entra ID sign-in) stands in front
    of these routes, as of the desk's pages (infra/modules/signin.bicep), and a browser has no function key;
    every request then carries its principal, held to its roles here.
    """
    bp = func.Blueprint()
    view, decide = Permission.VIEW, Permission.DECIDE

    @bp.route(route="api/reviews", methods=["GET"], auth_level=SIGNED_IN)
    def list_reviews(req: func.HttpRequest) -> func.HttpResponse:
        return _guarded(
            req,
            runtime,
            view,
            "list_reviews",
            lambda: reviews.list_reviews(runtime().database, query_parameters(req.url)),
        )

    @bp.route(route="api/reviews", methods=["POST"], auth_level=SIGNED_IN)
    def post_review(req: func.HttpRequest) -> func.HttpResponse:
        return _posted(
            req,
            runtime,
            decide,
            "post_review",
            "reviewer",
            lambda params: reviews.post_review(runtime().reviews, params),
        )

    @bp.route(route="api/persons", methods=["GET"], auth_level=SIGNED_IN)
    def list_persons(req: func.HttpRequest) -> func.HttpResponse:
        return _guarded(
            req,
            runtime,
            view,
            "list_persons",
            lambda: persons.list_persons(runtime().database, query_parameters(req.url)),
        )

    @bp.route(route="api/persons/{person_id}", methods=["GET"], auth_level=SIGNED_IN)
    def get_person(req: func.HttpRequest) -> func.HttpResponse:
        person_id = req.route_params.get("person_id")
        return _guarded(
            req,
            runtime,
            view,
            "get_person",
            lambda: persons.get_person(runtime().database, person_id, query_parameters(req.url)),
        )

    @bp.route(route="api/persons/{person_id}", methods=["POST"], auth_level=SIGNED_IN)
    def change_person(req: func.HttpRequest) -> func.HttpResponse:
        person_id = req.route_params.get("person_id")
        return _posted(
            req,
            runtime,
            decide,
            "change_person",
            "reviewer",
            lambda params: persons.change_person(runtime().reviews, person_id, params),
        )

    return bp
