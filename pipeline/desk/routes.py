"""The desk's HTTP routes as a Blueprint: pages, their script and style, pictures, and the actions.

Pages (GET, HTML): ``/``, ``/batches/{batch_id}``, ``/images/{image_id}``, ``/review``, ``/persons``,
``/persons/{person_id}``, ``/search``. Under ``/desk/``: ``static/{name}`` (the one script and stylesheet),
``media/photos|thumbnails/{image_id}`` and ``media/faces/{face_id}`` (pictures, ``Cache-Control:
private``), ``batches.json`` and ``review/next.json`` (what the script polls), and the POST actions
``reviews``, ``persons/{person_id}``, ``admin/forget|reprocess|replay``.

The routes are anonymous at the Functions level (a browser sends no function key): in Azure, App Service
Authentication stands in front of them; locally the configured identity is used. Every route checks the
caller's role (:mod:`pipeline.access`), every POST the desk token and origin (:mod:`pipeline.desk.guard`),
and every response carries the security headers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import azure.functions as func
import pyodbc

from pipeline import access
from pipeline.access import Caller, Forbidden, NotSignedIn, Permission
from pipeline.api import actions, persons, reviews
from pipeline.api.params import BadRequest, query_parameters
from pipeline.api.routes import MAX_BODY_BYTES, SIGNED_IN, post_parameters
from pipeline.desk import batch_pages, guard, media
from pipeline.desk.assets import Assets
from pipeline.desk.image_page import image_page
from pipeline.desk.layout import Page, Shell, document, error_body
from pipeline.desk.person_pages import person_page, persons_page
from pipeline.desk.results import Refused
from pipeline.desk.review_page import next_pair, review_page
from pipeline.desk.search_page import search_page
from pipeline.runtime import Runtime

log = logging.getLogger("pipeline.desk")
HTML, JSON = "text/html", "application/json"
VIEW, DECIDE, ADMINISTER = Permission.VIEW, Permission.DECIDE, Permission.ADMINISTER
# The route that serves the site root: Azure Functions matches no empty route, so an optional parameter
# that must stay empty stands in for it (the local host reads the same template).
ROOT_ROUTE = "{root:maxlength(0)?}"


class _Request:
    """One desk request: who asks, the token its page carries, what it sent."""

    def __init__(self, req: func.HttpRequest, runtime: Runtime, assets: Assets) -> None:
        self.req = req
        self.runtime = runtime
        self.held_token = guard.token_of(req.url, req.headers)
        self.token = self.held_token or guard.new_token()
        self.caller: Caller | None = None
        self.assets = assets

    @property
    def database(self):
        return self.runtime.database

    def query(self) -> dict[str, str]:
        """The query string, each parameter once; empty fields of a submitted form count as not given."""
        return {key: value for key, value in query_parameters(self.req.url).items() if value != ""}

    def shell(self) -> Shell:
        return Shell(caller=self.caller, token=self.token, assets=self.assets.urls)

    def page(self, page: Page) -> func.HttpResponse:
        response = _response(page.status, document(self.shell(), page).encode(), HTML, guard.PAGE_CACHE)
        if self.held_token is None:
            response.headers["Set-Cookie"] = guard.token_cookie(self.req.url, self.req.headers, self.token)
        return response


def _response(status: int, body: bytes, mimetype: str, cache: str) -> func.HttpResponse:
    headers = {**guard.SECURITY_HEADERS, "Cache-Control": cache}
    return func.HttpResponse(body, status_code=status, mimetype=mimetype, charset="utf-8", headers=headers)


def _json(status: int, body: dict[str, Any]) -> func.HttpResponse:
    return _response(status, json.dumps(body).encode(), JSON, guard.PAGE_CACHE)


def _failure(status: int, message: str, request: _Request | None, kind: str) -> func.HttpResponse:
    if kind == "page" and request is not None:
        return request.page(error_body(status, message))
    if kind == "page":
        return _response(status, message.encode(), "text/plain", guard.PAGE_CACHE)
    return _json(status, {"error": message})


def desk(runtime: Callable[[], Runtime]) -> func.Blueprint:
    """The desk's routes, reading and acting through ``runtime()``."""
    bp = func.Blueprint()
    assets = Assets.load()

    def route(path: str, methods: list[str]):
        # Each route says so itself: the app's http_auth_level (function keys) would win over a Blueprint's.
        return bp.route(route=path, methods=methods, auth_level=SIGNED_IN)

    def serve(
        req: func.HttpRequest,
        permission: Permission,
        name: str,
        kind: str,
        respond: Callable[[_Request], func.HttpResponse],
    ) -> func.HttpResponse:
        """Identify the caller, check the role (and for a POST its origin), run ``respond``; errors in the
        route's kind: an HTML page, or JSON for the script."""
        request: _Request | None = None
        try:
            request = _Request(req, runtime(), assets)
            if req.method == "POST":
                guard.check_same_origin(req.url, req.headers)
            request.caller = access.caller(req.headers, request.runtime.settings.desk)
            access.require(request.database, request.caller, permission, name)
            return respond(request)
        except NotSignedIn as exc:
            return _failure(401, str(exc), request, kind)
        except (Forbidden, guard.CrossSite) as exc:
            return _failure(403, str(exc), request, kind)
        except Refused as exc:
            return _failure(exc.status, str(exc), request, kind)
        except BadRequest as exc:
            return _failure(400, str(exc), request, kind)
        except pyodbc.Error as exc:
            log.error("database unavailable: %s", exc)
            return _failure(503, "The database cannot be reached; try again in a moment.", request, kind)
        except Exception:
            log.exception("desk request failed: %s %s", req.method, name)
            return _failure(500, "Something went wrong; the function's log has the details.", request, kind)

    def page(req: func.HttpRequest, name: str, build: Callable[[_Request], Page]) -> func.HttpResponse:
        return serve(req, VIEW, name, "page", lambda request: request.page(build(request)))

    def picture(req: func.HttpRequest, name: str, read: Callable[[Runtime], bytes]) -> func.HttpResponse:
        return serve(
            req,
            VIEW,
            name,
            "media",
            lambda request: _response(200, read(request.runtime), "image/jpeg", guard.MEDIA_CACHE),
        )

    def posted(
        req: func.HttpRequest,
        permission: Permission,
        name: str,
        field: str,
        run: Callable[[_Request, dict], Any],
    ) -> func.HttpResponse:
        """A POST action: a JSON object body (at most 64 KiB) whose ``field`` becomes the caller's name."""

        def act(request: _Request) -> func.HttpResponse:
            if len(req.get_body() or b"") > MAX_BODY_BYTES:
                raise BadRequest(f"the body must be at most {MAX_BODY_BYTES} bytes")
            params = access.act_as(request.database, request.caller, post_parameters(req), field, name)
            status, body = run(request, params)
            return _json(status, body)

        return serve(req, permission, name, "json", act)

    # --- pages ---------------------------------------------------------------------------------------

    @route(ROOT_ROUTE, ["GET"])
    def desk_home(req: func.HttpRequest) -> func.HttpResponse:
        return page(req, "desk_home", lambda r: batch_pages.home_page(r.database, r.caller, r.query()))

    @route("batches/{batch_id}", ["GET"])
    def desk_batch(req: func.HttpRequest) -> func.HttpResponse:
        batch_id = req.route_params.get("batch_id")
        return page(
            req, "desk_batch", lambda r: batch_pages.batch_page(r.database, r.caller, batch_id, r.query())
        )

    @route("images/{image_id}", ["GET"])
    def desk_image(req: func.HttpRequest) -> func.HttpResponse:
        image_id = req.route_params.get("image_id")
        return page(req, "desk_image", lambda r: image_page(r.database, r.caller, image_id, r.query()))

    @route("review", ["GET"])
    def desk_review(req: func.HttpRequest) -> func.HttpResponse:
        return page(req, "desk_review", lambda r: review_page(r.database, r.caller, r.query()))

    @route("persons", ["GET"])
    def desk_persons(req: func.HttpRequest) -> func.HttpResponse:
        return page(req, "desk_persons", lambda r: persons_page(r.database, r.caller, r.query()))

    @route("persons/{person_id}", ["GET"])
    def desk_person(req: func.HttpRequest) -> func.HttpResponse:
        person_id = req.route_params.get("person_id")
        return page(req, "desk_person", lambda r: person_page(r.database, r.caller, person_id, r.query()))

    @route("search", ["GET"])
    def desk_search(req: func.HttpRequest) -> func.HttpResponse:
        return page(req, "desk_search", lambda r: search_page(r.database, r.caller, r.query()))

    # --- what the pages load -------------------------------------------------------------------------

    @route("desk/static/{name}", ["GET"])
    def desk_static(req: func.HttpRequest) -> func.HttpResponse:
        # The script and stylesheet hold no data: served to anyone who reaches the app, error pages included.
        found = assets.get(req.route_params.get("name") or "")
        if found is None:
            return _response(404, b"not found", "text/plain", guard.PAGE_CACHE)
        body, mimetype = found
        return _response(200, body, mimetype, "public, max-age=31536000, immutable")

    @route("desk/media/photos/{image_id}", ["GET"])
    def desk_photo(req: func.HttpRequest) -> func.HttpResponse:
        image_id = req.route_params.get("image_id")
        return picture(req, "desk_photo", lambda rt: media.photo(rt, image_id))

    @route("desk/media/thumbnails/{image_id}", ["GET"])
    def desk_thumbnail(req: func.HttpRequest) -> func.HttpResponse:
        image_id = req.route_params.get("image_id")
        return picture(req, "desk_thumbnail", lambda rt: media.thumbnail(rt, image_id))

    @route("desk/media/faces/{face_id}", ["GET"])
    def desk_face_crop(req: func.HttpRequest) -> func.HttpResponse:
        face_id = req.route_params.get("face_id")
        return picture(req, "desk_face_crop", lambda rt: media.face_crop(rt, face_id))

    @route("desk/batches.json", ["GET"])
    def desk_progress(req: func.HttpRequest) -> func.HttpResponse:
        return serve(
            req,
            VIEW,
            "desk_progress",
            "json",
            lambda r: _json(200, batch_pages.progress(r.database, r.query())),
        )

    @route("desk/review/next.json", ["GET"])
    def desk_next_pair(req: func.HttpRequest) -> func.HttpResponse:
        return serve(
            req, VIEW, "desk_next_pair", "json", lambda r: _json(200, next_pair(r.database, r.query()))
        )

    # --- actions -------------------------------------------------------------------------------------

    @route("desk/reviews", ["POST"])
    def desk_decide(req: func.HttpRequest) -> func.HttpResponse:
        return posted(
            req,
            DECIDE,
            "desk_decide",
            "reviewer",
            lambda r, params: reviews.post_review(r.runtime.reviews, params),
        )

    @route("desk/persons/{person_id}", ["POST"])
    def desk_change_person(req: func.HttpRequest) -> func.HttpResponse:
        person_id = req.route_params.get("person_id")
        return posted(
            req,
            DECIDE,
            "desk_change_person",
            "reviewer",
            lambda r, params: persons.change_person(r.runtime.reviews, person_id, params),
        )

    @route("desk/admin/forget", ["POST"])
    def desk_forget(req: func.HttpRequest) -> func.HttpResponse:
        return posted(
            req, ADMINISTER, "desk_forget", "actor", lambda r, p: actions.forget_request(r.runtime, p)
        )

    @route("desk/admin/reprocess", ["POST"])
    def desk_reprocess(req: func.HttpRequest) -> func.HttpResponse:
        return posted(
            req, ADMINISTER, "desk_reprocess", "actor", lambda r, p: actions.reprocess_request(r.runtime, p)
        )

    @route("desk/admin/replay", ["POST"])
    def desk_replay(req: func.HttpRequest) -> func.HttpResponse:
        return posted(
            req, ADMINISTER, "desk_replay", "actor", lambda r, p: actions.replay_request(r.runtime, p)
        )

    return bp
