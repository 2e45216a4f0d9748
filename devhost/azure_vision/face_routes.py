"""Face v1.0: detect, find similar, and LargeFaceLists with their persisted faces and training."""

from __future__ import annotations

import re
import threading
import time
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from devhost.azure_vision.facelists import FaceListStore
from devhost.azure_vision.images import face_image
from devhost.azure_vision.models import ModelAnswers
from devhost.azure_vision.plumbing import ApiError, Request, Response
from devhost.azure_vision.routing import Route
from pipeline.faces.local_index import distance_to_confidence
from pipeline.vision.base import DetectedFace, decode_embedding

LIST_ID = re.compile(r"^[a-z0-9_-]{1,64}$")
DETECTION_MODELS = ("detection_01", "detection_02", "detection_03")
RECOGNITION_MODELS = ("recognition_01", "recognition_02", "recognition_03", "recognition_04")
FACE_TTL_MAX = 86400
# A persisted face's targetFace must overlap a detected face at least this much (intersection over union).
TARGET_MIN_IOU = 0.3


@dataclass
class _DetectedId:
    embedding: np.ndarray
    recognition_model: str
    expires: float


class FaceRoutes:
    """The Face routes. faceIds live in memory for their time to live; face lists in ``lists`` (SQLite)."""

    def __init__(self, answers: ModelAnswers, lists: FaceListStore, workers: Executor) -> None:
        self._answers = answers
        self.lists = lists
        self._workers = workers
        self._face_ids: dict[str, _DetectedId] = {}
        self._face_lock = threading.Lock()
        face = r"/face/v1\.0"
        lst = face + r"/largefacelists/(?P<list_id>[^/]+)"
        self.routes = [
            Route("POST", face + r"/detect", "detect", self.detect),
            Route("POST", face + r"/findsimilars", "findsimilars", self.find_similar),
            Route("PUT", lst, "largefacelist.create", self.create_list),
            Route("GET", lst, "largefacelist.get", self.get_list),
            Route("DELETE", lst, "largefacelist.delete", self.delete_list),
            Route("POST", lst + r"/train", "largefacelist.train", self.train),
            Route("GET", lst + r"/training", "largefacelist.training", self.training),
            Route("POST", lst + r"/persistedfaces", "largefacelist.addface", self.add_face),
            Route("GET", lst + r"/persistedfaces", "largefacelist.listfaces", self.list_faces),
            Route(
                "DELETE",
                lst + r"/persistedfaces/(?P<face_id>[^/]+)",
                "largefacelist.deleteface",
                self.delete_face,
            ),
        ]

    # --- detect and find similar ---

    def detect(self, request: Request) -> Response:
        detection_model = request.query.get("detectionmodel", "detection_01")
        recognition_model = request.query.get("recognitionmodel", "recognition_01")
        if detection_model not in DETECTION_MODELS:
            raise ApiError(400, "BadArgument", "'detectionModel' is invalid.")
        if recognition_model not in RECOGNITION_MODELS:
            raise ApiError(400, "BadArgument", "'recognitionModel' is invalid.")
        attributes = [a for a in request.query.get("returnfaceattributes", "").split(",") if a.strip()]
        if attributes and detection_model == "detection_02":
            raise ApiError(400, "BadArgument", "'returnFaceAttributes' is not supported by detection_02.")
        try:
            ttl = int(request.query.get("faceidtimetolive", FACE_TTL_MAX))
        except ValueError as error:
            raise ApiError(400, "BadArgument", "Invalid argument faceIdTimeToLive.") from error
        if not 60 <= ttl <= FACE_TTL_MAX:
            raise ApiError(400, "BadArgument", "Invalid argument faceIdTimeToLive.")
        return_id = request.flag("returnFaceId", True)
        faces = self._answers.faces(face_image(request))
        answer = []
        expires = time.monotonic() + ttl
        with self._face_lock:
            self._prune_face_ids()
            for face in faces:
                entry: dict[str, Any] = {}
                if return_id:
                    face_id = str(uuid.uuid4())
                    self._face_ids[face_id] = _DetectedId(
                        decode_embedding(face.embedding), recognition_model, expires
                    )
                    entry["faceId"] = face_id
                if request.flag("returnRecognitionModel", False):
                    entry["recognitionModel"] = recognition_model
                r = face.rectangle
                entry["faceRectangle"] = {"top": r.top, "left": r.left, "width": r.width, "height": r.height}
                if attributes:
                    # No open model estimates Azure's attributes (qualityForRecognition, head pose, …): none sent.
                    entry["faceAttributes"] = {}
                answer.append(entry)
        return Response(200, answer)

    def _prune_face_ids(self) -> None:
        now = time.monotonic()
        for face_id in [k for k, v in self._face_ids.items() if v.expires < now]:
            del self._face_ids[face_id]

    def _face_id(self, face_id: Any) -> _DetectedId:
        with self._face_lock:
            found = self._face_ids.get(str(face_id))
        if found is None or found.expires < time.monotonic():
            raise ApiError(400, "FaceNotFound", "Face is not found.")
        return found

    def find_similar(self, request: Request) -> Response:
        """dlib embeddings compared by Euclidean distance with the local provider's threshold: ``matchPerson``
        keeps faces within it, ``matchFace`` ranks without it. A list is searched as of its last training."""
        body = request.json()
        if not body.get("faceId"):
            raise ApiError(400, "BadArgument", "Face ID is invalid.")
        sources = [
            name for name in ("faceListId", "largeFaceListId", "faceIds") if body.get(name) is not None
        ]
        if not sources:
            raise ApiError(400, "BadArgument", "LargeFaceListId, faceListId and faceIds are all null.")
        if len(sources) > 1:
            raise ApiError(
                400, "BadArgument", "2 or more of largeFaceListId, faceListId and faceIds are not null."
            )
        top = body.get("maxNumOfCandidatesReturned", 20)
        if not isinstance(top, int) or not 1 <= top <= 1000:
            raise ApiError(
                400,
                "BadArgument",
                "The argument maxNumOfCandidatesReturned is not valid. The valid range is between [1, 1000].",
            )
        mode = body.get("mode", "matchPerson")
        if mode not in ("matchPerson", "matchFace"):
            raise ApiError(400, "BadArgument", "Mode is invalid.")
        query = self._face_id(body["faceId"])
        if sources[0] == "faceListId":
            raise ApiError(400, "FaceListNotFound", "Face list is not found.")
        if sources[0] == "faceIds":
            ids, matrix, key = self._among_face_ids(body["faceIds"], query)
        else:
            ids, matrix, key = self._in_list(str(body["largeFaceListId"]), query)
        if not ids:
            return Response(200, [])
        distances = np.linalg.norm(matrix - query.embedding[None, :], axis=1)
        order = np.argsort(distances, kind="stable")
        threshold = self._answers.vision.faces.match_distance  # the local face model's own threshold
        answer = []
        for index in order:
            distance = float(distances[index])
            if mode == "matchPerson" and distance > threshold:
                break
            answer.append(
                {key: ids[index], "confidence": round(distance_to_confidence(distance, threshold), 5)}
            )
            if len(answer) >= top:
                break
        return Response(200, answer)

    def _among_face_ids(self, face_ids: Any, query: _DetectedId) -> tuple[list[str], np.ndarray, str]:
        if not isinstance(face_ids, list) or not 1 <= len(face_ids) <= 1000:
            raise ApiError(
                400,
                "BadArgument",
                "The length of faceIds is not in a valid range. The valid range is between [1, 1000].",
            )
        candidates = [self._face_id(face_id) for face_id in face_ids]
        if any(c.recognition_model != query.recognition_model for c in candidates):
            raise ApiError(400, "BadArgument", "'recognitionModel' is incompatible.")
        return [str(face_id) for face_id in face_ids], np.stack([c.embedding for c in candidates]), "faceId"

    def _in_list(self, list_id: str, query: _DetectedId) -> tuple[list[str], np.ndarray, str]:
        found = self.lists.get(list_id)
        if found is None:
            raise ApiError(400, "LargeFaceListNotFound", "Large face list is not found.")
        if found["recognition_model"] != query.recognition_model:
            raise ApiError(400, "BadArgument", "'recognitionModel' is incompatible.")
        if found["last_success"] is None:
            if found["status"] == "running":
                raise ApiError(409, "LargeFaceListTrainingNotFinished", "Large face list is under training.")
            raise ApiError(400, "LargeFaceListNotTrained", "Large face list is not trained.")
        ids, matrix = self.lists.index(list_id)
        return ids, matrix, "persistedFaceId"

    # --- LargeFaceLists ---

    def _list(self, request: Request) -> dict[str, Any]:
        found = self.lists.get(request.params["list_id"])
        if found is None:
            raise ApiError(404, "LargeFaceListNotFound", "Large face list is not found.")
        return found

    def create_list(self, request: Request) -> Response:
        list_id = request.params["list_id"]
        if not LIST_ID.fullmatch(list_id):
            raise ApiError(400, "BadArgument", "Large face list ID is invalid.")
        body = request.json()
        name = body.get("name")
        if not name:
            raise ApiError(400, "BadArgument", "'name' is empty.")
        if len(str(name)) > 128:
            raise ApiError(400, "BadArgument", "'name' is too long.")
        user_data = body.get("userData")
        if user_data is not None and len(str(user_data)) > 16 * 1024:
            raise ApiError(400, "BadArgument", "'userData' is too long.")
        model = body.get("recognitionModel") or "recognition_01"
        if model not in RECOGNITION_MODELS:
            raise ApiError(400, "BadArgument", "'recognitionModel' is invalid.")
        if not self.lists.create(list_id, str(name), user_data, model):
            raise ApiError(409, "LargeFaceListExists", "Large face list already exists.")
        return Response(200)

    def get_list(self, request: Request) -> Response:
        found = self._list(request)
        body = {"largeFaceListId": found["id"], "name": found["name"], "userData": found["user_data"]}
        if request.flag("returnRecognitionModel", False):
            body["recognitionModel"] = found["recognition_model"]
        return Response(200, body)

    def delete_list(self, request: Request) -> Response:
        if not self.lists.delete_list(request.params["list_id"]):
            raise ApiError(404, "LargeFaceListNotFound", "Large face list is not found.")
        return Response(200)

    def train(self, request: Request) -> Response:
        list_id = self._list(request)["id"]
        self.lists.start_training(list_id)
        self._workers.submit(self.lists.train, list_id)
        return Response(202)

    def training(self, request: Request) -> Response:
        found = self._list(request)
        if found["status"] is None:
            raise ApiError(404, "LargeFaceListNotTrained", "Large face list not trained.")
        body = {
            "status": found["status"],
            "createdDateTime": found["created"],
            "lastActionDateTime": found["last_action"],
            "lastSuccessfulTrainingDateTime": found["last_success"],
            "message": found["message"],
        }
        return Response(200, body)

    def list_faces(self, request: Request) -> Response:
        list_id = self._list(request)["id"]
        try:
            top = int(request.query.get("top") or 1000)
        except ValueError as error:
            raise ApiError(400, "BadArgument", "Invalid argument top.") from error
        if not 1 <= top <= 1000:
            raise ApiError(400, "BadArgument", "Invalid argument top.")
        faces = self.lists.faces(list_id, request.query.get("start") or "", top)
        return Response(200, [{"persistedFaceId": face, "userData": data} for face, data in faces])

    def add_face(self, request: Request) -> Response:
        list_id = self._list(request)["id"]
        user_data = request.query.get("userdata")
        if user_data is not None and len(user_data) > 1024:
            raise ApiError(400, "BadArgument", "'userData' is too long.")
        detection_model = request.query.get("detectionmodel", "detection_01")
        if detection_model not in DETECTION_MODELS:
            raise ApiError(400, "BadArgument", "'detectionModel' is invalid.")
        target = _target_face(request.query.get("targetface"))
        image = face_image(request)
        faces = self._answers.faces(image)
        if target is not None:
            width, height = image.pixels.size
            if target[0] + target[2] > width or target[1] + target[3] > height:
                raise ApiError(400, "BadArgument", "Argument targetFace out of range.")
            scored = [(_iou(target, f), f) for f in faces]
            scored = [pair for pair in scored if pair[0] >= TARGET_MIN_IOU]
            if not scored:
                raise ApiError(400, "InvalidImage", "No face detected in the image.")
            face = max(scored, key=lambda pair: pair[0])[1]
        else:
            if not faces:
                raise ApiError(400, "InvalidImage", "No face detected in the image.")
            if len(faces) > 1:
                raise ApiError(400, "InvalidImage", "There is more than 1 face in the image.")
            face = faces[0]
        persisted_face_id = self.lists.add_face(list_id, user_data, decode_embedding(face.embedding))
        return Response(200, {"persistedFaceId": persisted_face_id})

    def delete_face(self, request: Request) -> Response:
        list_id = self._list(request)["id"]
        face_id = request.params["face_id"]
        if not self.lists.delete_face(list_id, face_id):
            raise ApiError(404, "PersistedFaceNotFound", f"Large Face List Face {face_id} is not found.")
        return Response(200)


def _target_face(value: str | None) -> list[int] | None:
    """``targetFace=left,top,width,height``, checked as Face checks it."""
    if not value:
        return None
    try:
        target = [int(part) for part in value.split(",")]
    except ValueError as error:
        raise ApiError(400, "BadArgument", "Invalid argument targetFace.") from error
    if len(target) != 4 or target[0] < 0 or target[1] < 0 or target[2] <= 0 or target[3] <= 0:
        raise ApiError(400, "BadArgument", "Invalid argument targetFace.")
    return target


def _iou(target: list[int], face: DetectedFace) -> float:
    r = face.rectangle
    left, top = max(target[0], r.left), max(target[1], r.top)
    right = min(target[0] + target[2], r.left + r.width)
    bottom = min(target[1] + target[3], r.top + r.height)
    inter = max(0, right - left) * max(0, bottom - top)
    union = target[2] * target[3] + r.width * r.height - inter
    return inter / union if union else 0.0
