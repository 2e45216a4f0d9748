"""Each role on each action, through the local host's HTTP server: allowed or 403 with an audit row.

Callers sign in as App Service Authentication would present them (the principal headers), or act as the
configured local identity. The allowed actions are sent with ids that do not exist, so they answer 400 or
404 past the role check and change nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from pipeline.access import Role
from pipeline.settings import DeskSettings, Settings
from tests.desk.client import DeskClient, principal_headers
from tests.desk.desk_data import BATCH, DeskData, served

UNKNOWN = "00000000-0000-4000-8000-000000000000"
OTHER = "00000000-0000-4000-8000-000000000001"

# action -> (method, path, body, the least role that may do it)
ACTIONS = {
    "batches page": ("GET", "/", None, Role.VIEWER),
    "batch page": ("GET", f"/batches/{BATCH}", None, Role.VIEWER),
    "review page": ("GET", "/review", None, Role.VIEWER),
    "persons page": ("GET", "/persons", None, Role.VIEWER),
    "progress": ("GET", "/desk/batches.json", None, Role.VIEWER),
    "next pair": ("GET", "/desk/review/next.json", None, Role.VIEWER),
    "crop": ("GET", f"/desk/media/faces/{UNKNOWN}", None, Role.VIEWER),
    "decide": ("POST", "/desk/reviews", {"face_id": UNKNOWN, "matched_face_id": OTHER, "decision": "confirm"},
               Role.REVIEWER),
    "label": ("POST", f"/desk/persons/{UNKNOWN}", {"label": "case 1"}, Role.REVIEWER),
    "move out": ("POST", f"/desk/persons/{UNKNOWN}", {"move_out": OTHER}, Role.REVIEWER),
    "merge": ("POST", f"/desk/persons/{UNKNOWN}", {"merge": OTHER}, Role.REVIEWER),
    "forget": ("POST", "/desk/admin/forget", {"image_id": UNKNOWN}, Role.ADMIN),
    "reprocess": ("POST", "/desk/admin/reprocess", {"batch": "no-such-batch"}, Role.ADMIN),
    "replay": ("POST", "/desk/admin/replay", {"step": "no-such-step"}, Role.ADMIN),
}  # fmt: skip
LADDER = [Role.VIEWER, Role.REVIEWER, Role.ADMIN]


@pytest.fixture(scope="module")
def base(desk_data: DeskData) -> Iterator[str]:
    # No local identity: only signed-in principals are let in.
    with served(desk_data.as_user(None)) as url:
        yield url


def denials(data: DeskData, actor: str) -> int:
    return data.rows("SELECT COUNT(*) FROM v_audit WHERE actor = ? AND action = 'denied'", actor)[0][0]


def send(client: DeskClient, method: str, path: str, body) -> int:
    return client.get(path).status if method == "GET" else client.post(path, body).status


@pytest.mark.parametrize("role", [None, *LADDER], ids=lambda role: role or "no role")
@pytest.mark.parametrize("action", list(ACTIONS))
def test_each_role_on_each_action(base, desk_data, role, action):
    method, path, body, least = ACTIONS[action]
    name = f"user-{role or 'none'}-{action}"
    client = DeskClient(base, principal_headers(name, *([role] if role else [])))
    if method == "POST":
        client.sign_in_page("/")  # the token cookie and <meta> come with any page, a refusal's included
    before = denials(desk_data, name)
    status = send(client, method, path, body)
    allowed = role is not None and LADDER.index(role) >= LADDER.index(least)
    if allowed:
        assert status in (200, 400, 404), (action, role, status)
        assert denials(desk_data, name) == before
    else:
        assert status == 403, (action, role, status)
        assert denials(desk_data, name) == before + 1, "a refused request is audited"


def test_the_local_identity_has_exactly_its_configured_roles(desk_data):
    with served(desk_data.as_user("local viewer", Role.VIEWER)) as url:
        client = DeskClient(url)
        page = client.sign_in_page("/")
        assert page.status == 200 and "local viewer" in page.text
        assert client.post("/desk/admin/forget", {"image_id": UNKNOWN}).status == 403
        assert client.post("/desk/reviews", {"face_id": UNKNOWN, "matched_face_id": OTHER,
                                              "decision": "reject"}).status == 403  # fmt: skip
    assert denials(desk_data, "local viewer") == 2


def test_without_a_principal_or_a_local_identity_the_desk_asks_to_sign_in(base):
    page = DeskClient(base).get("/")
    assert page.status == 401 and "Sign-in needed" in page.text and "DESK_USER" in page.text
    broken = DeskClient(base, {"X-MS-CLIENT-PRINCIPAL": "not base64 json!"}).get("/")
    assert broken.status == 401 and "cannot be read" in broken.text


def test_the_people_api_takes_the_reviewer_from_the_principal(base, desk_data):
    face, other = desk_data.rows(
        "SELECT face_id, matched_face_id FROM v_match_reviews WHERE state = 'pending' ORDER BY confidence LIMIT 1"
    )[0]
    pair = {"face_id": str(face), "matched_face_id": str(other), "decision": "reject", "note": "siblings"}
    viewer = DeskClient(base, principal_headers("vera", "viewer"))
    assert viewer.request("POST", "/api/reviews", pair).status == 403
    reviewer = DeskClient(base, principal_headers("amina@example.org", "reviewer"))
    impersonating = reviewer.request("POST", "/api/reviews", {**pair, "reviewer": "someone else"})
    assert impersonating.status == 403 and "signed-in user" in impersonating.json()["error"]
    assert denials(desk_data, "amina@example.org") == 1
    decided = reviewer.request("POST", "/api/reviews", pair)
    assert decided.status == 200 and decided.json()["reviewer"] == "amina@example.org"
    assert desk_data.rows(
        "SELECT state, reviewer FROM v_match_reviews WHERE face_id = ? AND matched_face_id = ?",
        str(face),
        str(other),
    ) == [("rejected", "amina@example.org")]
    assert reviewer.request("POST", "/api/forget", {"image_id": UNKNOWN}).status == 403
    assert DeskClient(base, principal_headers("nobody")).get("/api/images").status == 403
    assert viewer.get("/api/images").status == 200


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"X-Desk-Token": None}, "token"),
        ({"X-Desk-Token": "x" * 43}, "token"),
        ({"Sec-Fetch-Site": "cross-site"}, "cross-site"),
        ({"Sec-Fetch-Site": "same-site"}, "same-site"),
        ({"Origin": "http://evil.example"}, "another origin"),
        ({"Origin": "null"}, "another origin"),
    ],
)
def test_a_post_from_anywhere_but_a_desk_page_is_refused(base, desk_data, change, reason):
    client = DeskClient(base, principal_headers("amina", "admin"))
    client.sign_in_page("/")
    headers = {key: value for key, value in change.items() if value is not None}
    token = client.token
    if "X-Desk-Token" in change and change["X-Desk-Token"] is None:
        client.token = None
    answer = client.post("/desk/admin/replay", {"step": "no-such-step"}, headers=headers)
    assert answer.status == 403 and reason in answer.json()["error"]
    # The same request as the page sends it passes the guard (and is refused for its unknown step).
    client.token = token
    assert client.post("/desk/admin/replay", {"step": "no-such-step"}).status == 400


def test_in_azure_the_people_api_answers_signed_in_users_only(desk_data):
    env = {"SQL_CONNECTION_STRING": desk_data.runtime.settings.sql_connection_string,
           "AzureWebJobsStorage": "UseDevelopmentStorage=true", "WEBSITE_INSTANCE_ID": "0a1b"}  # fmt: skip
    assert Settings.from_environment(env).desk == DeskSettings(sign_in_required=True)
    assert Settings.from_environment({**env, "WEBSITE_INSTANCE_ID": ""}).desk == DeskSettings()
    runtime = desk_data.as_user(None)
    in_azure = dataclasses.replace(
        runtime, settings=runtime.settings.model_copy(update={"desk": DeskSettings(sign_in_required=True)})
    )
    with served(in_azure) as url:
        anonymous = DeskClient(url)
        for path in ("/api/reviews", "/api/persons", f"/api/persons/{UNKNOWN}"):
            assert anonymous.get(path).status == 401, path
        assert anonymous.request("POST", "/api/reviews", {"reviewer": "x"}).status == 401
        assert (
            anonymous.get("/api/images").status == 200
        )  # a machine route: its function key is the host's check
        assert DeskClient(url, principal_headers("vera", "viewer")).get("/api/reviews").status == 200
