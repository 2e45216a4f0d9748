"""The azure provider through the real Azure SDKs, against the local server that speaks their APIs."""

from __future__ import annotations

import io
import json
import re
import threading
import urllib.request
import uuid

import pytest

from devhost.azure_vision import AzureVisionServer
from pipeline.errors import InputRejected, VisionServiceUnavailable
from pipeline.vision.azure import AzureAccounts, AzureFaceList, AzureVision
from pipeline.vision.base import VisionImage
from pipeline.vision.retry import AzureRequestRejected, RetryPolicy
from tests.vision.conftest import KEY, command_line_server, settings_for, wait_for_training

pytestmark = pytest.mark.timeout(120)

FAST_RETRIES = RetryPolicy(base_delay=0.02, max_delay=0.2, max_elapsed=30)


def admin(server: AzureVisionServer, path: str, payload: dict | None = None) -> dict:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        server.endpoint + path, data=data, method="GET" if data is None else "POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def new_list(server: AzureVisionServer, retry: RetryPolicy | None = None) -> AzureFaceList:
    return AzureFaceList(settings_for(server, face_list_id=f"test-{uuid.uuid4().hex[:12]}"), retry)


def test_analyze_reports_what_the_models_compute(server, images):
    photo = images("grace_hopper.jpg")
    analysis = AzureVision(settings_for(server)).analyze(photo)

    # The local server answers with the open models' findings in Azure's shape.
    assert {"person", "tie"} <= {tag.name for tag in analysis.tags}
    assert "people_" in {category.name for category in analysis.categories}
    assert [o.name for o in analysis.objects] == ["person", "tie"]
    # Azure's JSON has no field saying how a caption was made: through the Azure SDK it reads as a model's.
    assert analysis.caption is not None and analysis.caption.text == "a person with a tie"
    assert analysis.caption_source == "model"
    assert analysis.adult is not None and not analysis.adult.is_adult and not analysis.adult.is_racy
    assert analysis.colors is not None and re.fullmatch(r"[0-9A-F]{6}", analysis.colors.accent_color)
    assert analysis.colors.dominant_colors
    assert analysis.image_type is not None and analysis.image_type.kind == "photo"
    assert analysis.unsupported == {"adult.gore": "not returned by Azure Computer Vision"}


def test_read_returns_lines_with_boxes_and_confidences(server, images):
    page = images("page_of_text.png")
    width, height = page.pixels.size
    reading = AzureVision(settings_for(server)).read_text(page)

    assert len(reading.lines) >= 4
    assert reading.text == "\n".join(line.text for line in reading.lines)
    assert "markers" in reading.text and "background" in reading.text
    for line in reading.lines:
        assert len(line.bounding_box) == 8
        assert all(0 <= x <= width for x in line.bounding_box[0::2])
        assert all(0 <= y <= height for y in line.bounding_box[1::2])
        assert line.confidence is not None and 0.5 <= line.confidence <= 1
    tops = [line.bounding_box[1] for line in reading.lines]
    assert tops[0] == min(tops)  # reading order starts at the top


def test_detect_faces_gives_rectangles_and_detection_ids(server, images):
    vision = AzureVision(settings_for(server))
    hopper = vision.detect_faces(images("grace_hopper.jpg"))
    pair_image = images("two_people.jpg")
    pair = vision.detect_faces(pair_image)

    assert len(hopper) == 1 and len(pair) == 2
    width, height = pair_image.pixels.size
    for face in hopper + pair:
        assert face.detection_id and uuid.UUID(face.detection_id)
        assert face.embedding is None and face.score is None
        # The local models have no qualityForRecognition; the server sends none rather than invent one.
        assert face.quality is None
        r = face.rectangle
        assert r.left + r.width <= width and r.top + r.height <= height
    assert len({face.detection_id for face in hopper + pair}) == 3
    # Largest face first, like Azure.
    assert pair[0].rectangle.width >= pair[1].rectangle.width


def test_face_list_finds_the_same_person_and_not_another(server, images):
    vision = AzureVision(settings_for(server))
    face_list = new_list(server)
    before = admin(server, "/_admin/stats")["requests"]
    face_list.ensure()
    face_list.ensure()  # idempotent, and known for the rest of the process: no second request
    after = admin(server, "/_admin/stats")["requests"]
    for operation in ("largefacelist.get", "largefacelist.create"):
        assert after[operation] - before.get(operation, 0) == 1

    hopper_image = images("grace_hopper.jpg")
    (hopper,) = vision.detect_faces(hopper_image)
    persisted = face_list.add(hopper_image.data, hopper.rectangle, user_data="grace_hopper.jpg#0")
    face_list.train()
    assert wait_for_training(face_list) == "succeeded"

    pair = vision.detect_faces(images("two_people.jpg"))
    by_left = sorted(pair, key=lambda f: f.rectangle.left)
    astronaut, hopper_again = by_left  # the astronaut is pasted on the left, Grace Hopper on the right
    matches = face_list.find_similar(hopper_again.detection_id)
    assert [pid for pid, _ in matches] == [persisted]
    assert 0.5 < matches[0][1] <= 1
    assert face_list.find_similar(astronaut.detection_id) == []

    # Among recent detections (faces added since the last training).
    among = face_list.find_similar_among(
        hopper.detection_id, [f.detection_id for f in pair] + [hopper.detection_id]
    )
    assert [face_id for face_id, _ in among] == [hopper_again.detection_id]
    assert face_list.find_similar_among(hopper.detection_id, []) == []

    # A deleted face is no longer found; deleting it again is fine.
    face_list.delete(persisted)
    face_list.delete(persisted)
    assert face_list.find_similar(hopper_again.detection_id) == []


def test_untrained_list_finds_nothing(server, images):
    face_list = new_list(server)
    face_list.ensure()
    assert face_list.training_status() == "notstarted"
    (face,) = AzureVision(settings_for(server)).detect_faces(images("grace_hopper.jpg"))
    assert face_list.find_similar(face.detection_id) == []


def test_faces_added_after_training_are_searched_only_after_the_next_training(server, images):
    vision = AzureVision(settings_for(server))
    face_list = new_list(server)
    face_list.ensure()
    pair_image = images("two_people.jpg")
    pair = sorted(vision.detect_faces(pair_image), key=lambda f: f.rectangle.left)
    astronaut_id = face_list.add(pair_image.data, pair[0].rectangle)
    face_list.train()
    assert wait_for_training(face_list) == "succeeded"

    hopper_image = images("grace_hopper.jpg")
    (hopper,) = vision.detect_faces(hopper_image)
    hopper_id = face_list.add(hopper_image.data, hopper.rectangle)
    assert face_list.find_similar(pair[1].detection_id) == []  # added, but not trained yet
    face_list.train()
    assert wait_for_training(face_list) == "succeeded"
    assert [pid for pid, _ in face_list.find_similar(pair[1].detection_id)] == [hopper_id]
    assert [pid for pid, _ in face_list.find_similar(pair[0].detection_id)] == [astronaut_id]


def test_invalid_key_fails_the_job_with_the_services_reason(server, images):
    wrong = settings_for(server, key="not-the-key")
    photo = images("grace_hopper.jpg")
    before = admin(server, "/_admin/stats")["unauthorized"]

    with pytest.raises(InputRejected) as vision_error:
        AzureVision(wrong).analyze(photo)
    message = str(vision_error.value)
    assert message.startswith("Azure Computer Vision analyze failed: HTTP 401")
    assert "Access denied due to invalid subscription key" in message

    with pytest.raises(InputRejected, match=r"^Azure Face detect failed: HTTP 401 401: Access denied"):
        AzureVision(wrong).detect_faces(photo)
    with pytest.raises(InputRejected, match="HTTP 401"):
        AzureFaceList(wrong).ensure()
    # Refused at once: no retries of a request that cannot succeed.
    assert admin(server, "/_admin/stats")["unauthorized"] - before == 3


def test_bad_input_is_rejected_with_the_service_error_code(server):
    not_an_image = VisionImage(b"this is not an image" * 100)
    with pytest.raises(AzureRequestRejected) as analyze_error:
        AzureVision(settings_for(server)).analyze(not_an_image)
    assert analyze_error.value.status == 400 and analyze_error.value.code == "InvalidImageFormat"
    with pytest.raises(
        InputRejected, match=r"Azure Face detect failed: HTTP 400 InvalidImage: Decoding error"
    ):
        AzureVision(settings_for(server)).detect_faces(not_an_image)


def test_throttled_server_still_answers_every_call(server, images):
    face_list = new_list(server)
    face_list.ensure()
    admin(server, "/_admin/config", {"throttle_rps": 5})
    admin(server, "/_admin/reset", {})
    try:
        statuses = [face_list.training_status() for _ in range(12)]
        faces = AzureVision(settings_for(server)).detect_faces(images("grace_hopper.jpg"))
    finally:
        admin(server, "/_admin/config", {"throttle_rps": None})
    stats = admin(server, "/_admin/stats")

    assert statuses == ["notstarted"] * 12 and len(faces) == 1
    assert stats["throttled"] > 0
    assert stats["responses"]["largefacelist.training"]["429"] > 0
    assert stats["responses"]["largefacelist.training"]["404"] == 12  # each call answered once in the end


def test_half_the_requests_failing_is_absorbed_by_retries(tmp_path, local_vision, images):
    with AzureVisionServer(KEY, tmp_path, vision=local_vision, failure_rate=0.5) as flaky:
        vision = AzureVision(settings_for(flaky), FAST_RETRIES)
        face_list = new_list(flaky, FAST_RETRIES)
        photo = images("grace_hopper.jpg")

        analysis = vision.analyze(photo)
        (face,) = vision.detect_faces(photo)
        face_list.ensure()
        face_list.add(photo.data, face.rectangle)
        face_list.train()
        assert wait_for_training(face_list) == "succeeded"
        assert len(face_list.find_similar(face.detection_id)) == 1
        stats = admin(flaky, "/_admin/stats")

    assert analysis.colors is not None
    # Every second request failed (the server's failures are deterministic), yet every call succeeded.
    responses = stats["responses"]
    assert sum(counts.get("500", 0) for counts in responses.values()) == stats["injected_failures"] >= 4
    for operation in ("analyze", "detect", "largefacelist.addface", "largefacelist.train", "findsimilars"):
        assert responses[operation].get("200", 0) + responses[operation].get("202", 0) == 1


def test_sdk_does_not_retry_on_its_own(tmp_path, local_vision, images):
    """msrest would retry GETs (3 times, also on 500) and hide the status in a RetryError; it must not."""
    two_attempts = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01)
    with AzureVisionServer(KEY, tmp_path, vision=local_vision, failure_rate=1.0) as failing:
        settings = settings_for(failing)
        errors = []
        with pytest.raises(VisionServiceUnavailable) as get_error:
            AzureFaceList(
                settings, two_attempts
            ).training_status()  # a GET, on the thread that made the client
        with pytest.raises(VisionServiceUnavailable) as post_error:
            AzureVision(settings, two_attempts).detect_faces(images("grace_hopper.jpg"))  # a POST

        def other_thread() -> None:
            try:
                AzureFaceList(settings, two_attempts).training_status()
            except Exception as error:
                errors.append(error)

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        stats = admin(failing, "/_admin/stats")

    for error in (get_error.value, post_error.value, *errors):
        assert not isinstance(error, InputRejected)  # transient: the queue retries the message
        assert "unavailable after 2 attempt(s)" in str(error) and "HTTP 500" in str(error)
    assert len(errors) == 1
    # Two attempts of ours per call, none of the SDK's.
    assert stats["requests"] == {"largefacelist.training": 4, "detect": 2}


def test_face_list_survives_a_restart(tmp_path, local_vision, images):
    hopper_image = images("grace_hopper.jpg")
    with AzureVisionServer(KEY, tmp_path, vision=local_vision) as first:
        face_list = AzureFaceList(settings_for(first, face_list_id="kept"))
        face_list.ensure()
        (face,) = AzureVision(settings_for(first)).detect_faces(hopper_image)
        persisted = face_list.add(hopper_image.data, face.rectangle, user_data="hopper")
        face_list.train()
        assert wait_for_training(face_list) == "succeeded"

    with AzureVisionServer(KEY, tmp_path, vision=local_vision) as second:
        face_list = AzureFaceList(settings_for(second, face_list_id="kept"))
        assert face_list.training_status() == "succeeded"
        face_list.ensure()  # finds it; does not recreate it
        pair = AzureVision(settings_for(second)).detect_faces(images("two_people.jpg"))
        hopper_again = max(pair, key=lambda f: f.rectangle.left)
        assert [pid for pid, _ in face_list.find_similar(hopper_again.detection_id)] == [persisted]
        assert admin(second, "/_admin/stats")["requests"].get("largefacelist.create", 0) == 0


def test_request_counts_for_one_image(tmp_path, local_vision, images):
    """The calls one image with F faces costs: analyze, Read (+ polls), detect, then per face the matching."""
    photo = images("two_people.jpg")
    with AzureVisionServer(KEY, tmp_path, vision=local_vision) as counted:
        vision = AzureVision(settings_for(counted))
        face_list = AzureFaceList(settings_for(counted))
        face_list.ensure()
        admin(counted, "/_admin/reset", {})
        vision.analyze(photo)
        vision.read_text(photo)
        faces = vision.detect_faces(photo)
        for face in faces:
            face_list.find_similar(face.detection_id)
            face_list.find_similar_among(face.detection_id, [f.detection_id for f in faces])
            face_list.add(photo.data, face.rectangle)
        requests = admin(counted, "/_admin/stats")["requests"]

    faces_count = len(faces)
    assert faces_count == 2
    assert requests["analyze"] == requests["read"] == requests["detect"] == 1
    assert requests["readResult"] >= 1
    assert requests["findsimilars"] == 2 * faces_count
    assert requests["largefacelist.addface"] == faces_count


def test_command_line_prints_the_endpoint_and_serves(tmp_path):
    with command_line_server("--port", "0", "--key", "K", "--data", str(tmp_path)) as line:
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        assert match, line
        with urllib.request.urlopen(match.group(1) + "/_admin/stats", timeout=10) as response:
            assert json.load(response)["requests"] == {}
        request = urllib.request.Request(match.group(1) + "/face/v1.0/largefacelists/x", method="GET")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401
        assert json.load(refused.value)["error"]["code"] == "401"


def test_seeded_list_holds_the_synthetic_faces_and_never_matches_a_real_one(server, images):
    face_list = new_list(server)
    state = admin(server, "/_admin/seed", {"list_id": face_list.list_id, "faces": 3000})
    assert state["status"] == "succeeded"
    assert len(server.api.lists.index(face_list.list_id)[0]) == 3000
    detection_id = AzureVision(settings_for(server)).detect_faces(images("grace_hopper.jpg"))[0].detection_id
    assert face_list.find_similar(detection_id) == []


def test_synchronous_ocr_returns_the_words_in_one_call(server, images):
    before = admin(server, "/_admin/stats")["requests"].get("ocr", 0)
    result = AzureAccounts(settings_for(server)).vision.recognize_printed_text_in_stream(
        io.BytesIO(images("page_of_text.png").data)
    )
    words = [word.text for region in result.regions for line in region.lines for word in line.words]
    assert "coins" in " ".join(words)
    assert admin(server, "/_admin/stats")["requests"]["ocr"] == before + 1
