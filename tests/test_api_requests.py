"""The request layer: every route and action checks its parameters the same way, and always answers JSON."""

from __future__ import annotations

import json

import azure.functions as func
import pytest

from pipeline.api import actions, images
from pipeline.api.params import BadRequest, query_parameters
from pipeline.api.routes import answer, post_parameters
from pipeline.db import Database

UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def database(sql_connection_string) -> Database:
    built = Database(sql_connection_string)
    built.upgrade()
    return built


def get(url: str) -> dict[str, str]:
    return query_parameters(f"http://127.0.0.1/api/images?{url}")


def test_a_value_is_taken_whole_never_up_to_a_newline(database):
    assert images.list_images(database, get("limit=5%0A")) == (
        400,
        {"error": "limit must be an integer from 1 to 500"},
    )
    assert images.get_image(database, UNKNOWN + "\n") == (400, {"error": "image_id must be a UUID"})
    assert images.get_image(database, UNKNOWN) == (404, {"error": f"image {UNKNOWN} not found"})


def test_a_parameter_given_twice_is_refused_by_name():
    with pytest.raises(BadRequest, match=r"^limit must be given once$"):
        get("limit=1&limit=2")
    assert get("code=key&limit=2&tag=a%26b") == {"code": "key", "limit": "2", "tag": "a&b"}


def post(body: bytes, route: str = "forget") -> func.HttpRequest:
    return func.HttpRequest("POST", f"http://127.0.0.1/api/{route}", body=body, headers={})


def test_post_bodies_are_json_objects_of_bounded_size():
    assert post_parameters(post(b'{"batch": "b"}')) == {"batch": "b"}
    for body in (b"[1]", b"not json", b'"text"'):
        with pytest.raises(BadRequest, match="the body must be a JSON object"):
            post_parameters(post(body))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"batch": 5}, "batch must be a string"),
        ({"batch": "x" * 300}, "batch must be at most 256 characters, without '/'"),
        ({"batch": "a\nb"}, "batch must be at most 256 characters, without '/' or control characters"),
        ({"image_id": "not-a-uuid"}, "image_id must be a UUID"),
        ({}, "give exactly one of image_id or batch"),
        ({"batch": "b", "force": True}, "unknown parameter 'force'; expected: image_id, batch, actor"),
    ],
)
def test_forget_refuses_wrong_parameters_before_erasing_anything(params, message):
    # No runtime is needed to refuse them: the parameters are checked before anything is touched.
    assert actions.forget_request(None, params) == (400, {"error": message})


def test_reprocess_of_an_unknown_batch_is_404_like_forget(runtime):
    assert actions.reprocess_request(runtime, {"batch": "nope"}) == (
        404,
        {"error": "no images in batch nope"},
    )
    assert actions.forget_request(runtime, {"batch": "nope"}) == (404, {"error": "no images in that batch"})


def test_routes_answer_json_even_when_the_database_is_broken(tmp_path):
    broken = Database(f"Driver=SQLite3;Database={tmp_path / 'empty.db'}")  # no schema: every query fails
    response = answer(lambda: images.list_images(broken, {}))
    assert response.status_code == 503 and response.mimetype == "application/json"
    assert json.loads(response.get_body())["error"].startswith("the database is unavailable: ")
