"""Keyless access: a real DefaultAzureCredential signs in through the server's App Service managed identity
endpoint, the Azure SDKs call with its bearer token, and keys are refused as with disableLocalAuth."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import jwt
import pytest
from azure.cognitiveservices.vision.computervision import ComputerVisionClient
from azure.cognitiveservices.vision.computervision.models import ComputerVisionErrorResponseException
from azure.cognitiveservices.vision.face import FaceClient
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError, DefaultAzureCredential, ManagedIdentityCredential
from msrest.authentication import BasicTokenAuthentication

from devhost.azure_vision import COGNITIVE_SERVICES_SCOPE, AzureVisionServer
from pipeline.errors import InputRejected
from pipeline.settings import Settings, VisionAuth
from pipeline.vision.azure import AzureVision
from tests.vision.conftest import KEY, REPO, command_line_server, settings_for
from tests.vision.test_azure_provider import admin

pytestmark = pytest.mark.timeout(120)

TOKEN_REFUSED = (
    "Unauthorized. Access token is missing, invalid, audience is incorrect "
    "(https://cognitiveservices.azure.com), or have expired."
)


def bearer(token: str) -> BasicTokenAuthentication:
    """How an msrest SDK client sends an Entra token: ``Authorization: Bearer <token>``."""
    return BasicTokenAuthentication({"access_token": token})


def call(server: AzureVisionServer, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(
        server.endpoint + path, data=b"" if method != "GET" else None, method=method
    )
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else {}


def example_path(route_path: str) -> str:
    """A concrete path for a route's pattern: each named group becomes ``x``."""
    return re.sub(r"\(\?P<\w+>\[\^/\]\+\)", "x", route_path).replace("\\.", ".")


def test_default_azure_credential_signs_in_and_the_sdks_call_with_its_token(
    keyless_server, identity_env, images
):
    before = admin(keyless_server, "/_admin/stats")["identity_tokens"]
    credential = DefaultAzureCredential()
    token = credential.get_token(COGNITIVE_SERVICES_SCOPE)
    # Cached by MSAL: a second request for the same scope does not go back to the endpoint.
    assert credential.get_token(COGNITIVE_SERVICES_SCOPE).token == token.token
    assert admin(keyless_server, "/_admin/stats")["identity_tokens"] - before == 1
    assert 23 * 3600 < token.expires_on - time.time() <= 24 * 3600
    claims = jwt.decode(token.token, options={"verify_signature": False})
    assert claims["aud"] == "https://cognitiveservices.azure.com"
    assert claims["oid"] == keyless_server.tenant.principal_id

    photo = images("grace_hopper.jpg")
    vision = ComputerVisionClient(identity_env["VISION_ENDPOINT"], bearer(token.token))
    analysis = vision.analyze_image_in_stream(io.BytesIO(photo.data), visual_features=["Color", "Adult"])
    assert re.fullmatch(r"[0-9A-F]{6}", analysis.color.accent_color)
    face = FaceClient(identity_env["FACE_ENDPOINT"], bearer(token.token))
    (detected,) = face.face.detect_with_stream(io.BytesIO(photo.data))
    assert detected.face_rectangle.width > 0


def test_every_route_takes_the_token_and_refuses_a_request_without_one(keyless_server, identity_env):
    token = DefaultAzureCredential().get_token(COGNITIVE_SERVICES_SCOPE).token
    routes = keyless_server.api.routes
    assert {route.path.split("/")[1] for route in routes} == {"vision", "face"}
    for route in routes:
        path = example_path(route.path)
        status, body = call(keyless_server, route.method, path, {"Authorization": f"Bearer {token}"})
        # Past authentication: the route itself answers (an empty body or an unknown id is its 4xx).
        assert status not in (401, 403), (route.operation, body)
        status, body = call(keyless_server, route.method, path, {})
        assert (status, body) == (401, {"error": {"code": "401", "message": TOKEN_REFUSED}}), route.operation


def test_a_token_it_did_not_issue_is_refused(keyless_server, identity_env):
    genuine = DefaultAzureCredential().get_token(COGNITIVE_SERVICES_SCOPE).token
    claims = jwt.decode(genuine, options={"verify_signature": False})
    header, _payload, signature = genuine.split(".")
    other_payload = jwt.encode(claims | {"oid": "someone-else"}, "x" * 64, algorithm="HS256").split(".")[1]
    wrong_audience = DefaultAzureCredential().get_token("https://management.azure.com/.default").token
    expired, _ = keyless_server.tenant.issue("https://cognitiveservices.azure.com", lifetime=-300)
    refused = {
        "signed with another key": jwt.encode(claims, "not-the-tenants-key" * 4, algorithm="HS256"),
        "unsigned (alg none)": jwt.encode(claims, None, algorithm="none"),
        "payload swapped": f"{header}.{other_payload}.{signature}",
        "for another audience": wrong_audience,
        "expired": expired,
        "not a JWT": "not-a-token",
    }
    for reason, token in refused.items():
        status, body = call(
            keyless_server, "GET", "/face/v1.0/largefacelists/x", {"Authorization": f"Bearer {token}"}
        )
        assert (status, body["error"]["message"]) == (401, TOKEN_REFUSED), reason
    status, _ = call(
        keyless_server, "GET", "/face/v1.0/largefacelists/x", {"Authorization": f"Bearer {genuine}"}
    )
    assert status == 404  # the genuine token passes; the list does not exist

    with pytest.raises(ComputerVisionErrorResponseException) as through_sdk:
        ComputerVisionClient(keyless_server.endpoint, bearer(expired)).analyze_image_in_stream(
            io.BytesIO(b"x")
        )
    assert through_sdk.value.response.status_code == 401


def test_keys_are_refused_when_local_auth_is_disabled(keyless_server, images):
    status, body = call(
        keyless_server, "GET", "/face/v1.0/largefacelists/x", {"Ocp-Apim-Subscription-Key": KEY}
    )
    assert (status, body) == (
        403,
        {
            "error": {
                "code": "AuthenticationTypeDisabled",
                "message": "Key based authentication is disabled for this resource.",
            }
        },
    )
    # The pipeline's key path sees the refusal as final, with the service's reason.
    before = admin(keyless_server, "/_admin/stats")["unauthorized"]
    with pytest.raises(InputRejected, match="HTTP 403 AuthenticationTypeDisabled"):
        AzureVision(settings_for(keyless_server)).detect_faces(images("grace_hopper.jpg"))
    assert admin(keyless_server, "/_admin/stats")["unauthorized"] - before == 1  # not retried


def test_a_key_and_a_token_are_both_accepted_while_local_auth_is_enabled(tmp_path, local_vision, monkeypatch):
    with AzureVisionServer(KEY, tmp_path, vision=local_vision, identity_header="secret") as server:
        for name, value in server.identity_environment().items():
            monkeypatch.setenv(name, value)
        token = ManagedIdentityCredential().get_token(COGNITIVE_SERVICES_SCOPE).token
        path = "/face/v1.0/largefacelists/x"
        assert call(server, "GET", path, {"Ocp-Apim-Subscription-Key": KEY})[0] == 404
        assert call(server, "GET", path, {"Authorization": f"Bearer {token}"})[0] == 404
        status, body = call(server, "GET", path, {"Ocp-Apim-Subscription-Key": "wrong"})
        assert status == 401 and "invalid subscription key" in body["error"]["message"]
        # Without any credential the account asks for its key, as it did before tokens were accepted.
        status, body = call(server, "GET", path, {})
        assert status == 401 and "invalid subscription key" in body["error"]["message"]


def test_the_identity_endpoint_checks_its_secret_and_the_identity_asked_for(
    keyless_server, identity_env, monkeypatch
):
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-secret")
    with pytest.raises((CredentialUnavailableError, ClientAuthenticationError)):
        ManagedIdentityCredential().get_token(COGNITIVE_SERVICES_SCOPE)
    monkeypatch.setenv("IDENTITY_HEADER", identity_env["IDENTITY_HEADER"])
    with pytest.raises(
        (CredentialUnavailableError, ClientAuthenticationError), match="proper Managed Identity"
    ):
        ManagedIdentityCredential(client_id="00000000-0000-0000-0000-000000000000").get_token(
            COGNITIVE_SERVICES_SCOPE
        )
    own = ManagedIdentityCredential(client_id=keyless_server.tenant.client_id)
    assert own.get_token(COGNITIVE_SERVICES_SCOPE).token

    secret = {"X-IDENTITY-HEADER": identity_env["IDENTITY_HEADER"]}
    assert call(keyless_server, "GET", "/msi/token?api-version=2019-08-01", secret)[0] == 400  # no resource
    assert call(keyless_server, "GET", "/msi/token?resource=x&api-version=2017-09-01", secret)[0] == 400
    status, body = call(keyless_server, "GET", "/msi/token?resource=x&api-version=2019-08-01", {})
    assert status == 401 and body["statusCode"] == 401


def test_the_command_line_serves_keyless(tmp_path):
    with command_line_server(
        "--data", str(tmp_path), "--disable-local-auth", "--identity-header", "S"
    ) as line:
        match = re.search(r"ready at (http://127\.0\.0\.1:\d+); managed identity at (\S+/msi/token)", line)
        assert match, line
        endpoint, identity = match.groups()
        query = "?api-version=2019-08-01&resource=https://cognitiveservices.azure.com"
        request = urllib.request.Request(identity + query, headers={"X-IDENTITY-HEADER": "S"})
        with urllib.request.urlopen(request, timeout=10) as response:
            token = json.load(response)["access_token"]
        lists = endpoint + "/face/v1.0/largefacelists/x"
        for headers, expected in (
            ({"Authorization": f"Bearer {token}"}, 404),
            ({"Ocp-Apim-Subscription-Key": "K"}, 403),
        ):
            with pytest.raises(urllib.error.HTTPError) as answered:
                urllib.request.urlopen(urllib.request.Request(lists, headers=headers), timeout=10)
            assert answered.value.code == expected


def test_the_command_line_wants_a_key_or_keyless(tmp_path):
    for extra in ([], ["--key", "K", "--disable-local-auth"]):
        result = subprocess.run(
            [sys.executable, "-m", "devhost.azure_vision", "--data", str(tmp_path), *extra],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
        )
        assert result.returncode == 2 and "give --key, or --disable-local-auth" in result.stderr


def test_the_pipeline_signs_in_keylessly_from_its_settings(keyless_server, identity_env, images, tmp_path):
    """VISION_AUTH=identity end to end: the settings, the runtime's accounts and their token credentials."""
    settings = Settings.from_environment(
        {
            **identity_env,
            "VISION_PROVIDER": "azure",
            "SQL_CONNECTION_STRING": f"Driver=SQLite3;Database={tmp_path / 'x.db'}",
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        }
    )
    assert settings.azure is not None and settings.azure.auth is VisionAuth.IDENTITY
    vision = AzureVision(settings.azure)
    (face,) = vision.detect_faces(images("grace_hopper.jpg"))
    assert face.detection_id
    assert vision.analyze(images("grace_hopper.jpg")).colors is not None
    assert admin(keyless_server, "/_admin/stats")["identity_tokens"] >= 1
