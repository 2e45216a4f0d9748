"""``AzureFaceList``: the LargeFaceList that face matching searches and adds to (``FACE_LIST_ID``)."""

from __future__ import annotations

import io
from collections.abc import Iterator

from pipeline.errors import ConfigurationError
from pipeline.settings import AzureVisionSettings
from pipeline.vision.azure.clients import AzureAccounts
from pipeline.vision.azure.mapping import enum_text
from pipeline.vision.base import Rectangle
from pipeline.vision.retry import AzureRequestRejected, RetryPolicy

DETECTION_MODEL = "detection_03"
RECOGNITION_MODEL = "recognition_04"
# findsimilars accepts at most this many candidate faceIds per request.
MAX_FACE_IDS = 1000
MAX_USER_DATA = 1024
# Faces per request when listing a LargeFaceList (the service's maximum).
LIST_PAGE = 1000


class AzureFaceList:
    """The LargeFaceList that face matching searches and adds to (``FACE_LIST_ID``)."""

    def __init__(
        self,
        accounts: AzureAccounts | AzureVisionSettings,
        retry_policy: RetryPolicy | None = None,
        list_id: str | None = None,
    ) -> None:
        """``accounts`` from the runtime, or settings to build this list's own (tests, tools)."""
        self.accounts = accounts = AzureAccounts.of(accounts, retry_policy)
        self.settings = accounts.settings
        self.retry = accounts.face_retry
        self.list_id = list_id or accounts.settings.face_list_id

    @property
    def _face(self):
        return self.accounts.face

    def ensure(self) -> None:
        """Create the list (with recognition_04) unless it exists; refuse one made for another model.

        Checked once per process and list; later calls cost no request.
        """
        if self.list_id in self.accounts.ensured_lists:
            return
        self._ensure()
        self.accounts.ensured_lists.add(self.list_id)

    def _ensure(self) -> None:
        client = self._face
        try:
            existing = self.retry.call(
                "get large face list", client.large_face_list.get, self.list_id, return_recognition_model=True
            )
        except AzureRequestRejected as error:
            if error.status != 404:
                raise
        else:
            model = existing.recognition_model
            if model and model != RECOGNITION_MODEL:
                raise ConfigurationError(
                    f"Azure Face large face list {self.list_id!r} uses {model}, but faces are detected with "
                    f"{RECOGNITION_MODEL}; use another FACE_LIST_ID"
                )
            return
        try:
            self.retry.call(
                "create large face list",
                client.large_face_list.create,
                self.list_id,
                name=self.list_id,
                recognition_model=RECOGNITION_MODEL,
            )
        except AzureRequestRejected as error:
            if error.status != 409:  # LargeFaceListExists: created concurrently by another worker
                raise

    def find_similar(self, detection_id: str, max_candidates: int = 20) -> list[tuple[str, float]]:
        """Persisted faces of the same person (matchPerson) as ``(persistedFaceId, confidence)``, best first.

        A list that was never trained (or does not exist yet) has nothing to match: ``[]``.
        """
        client = self._face
        try:
            similar = self.retry.call(
                "find similar",
                client.face.find_similar,
                detection_id,
                large_face_list_id=self.list_id,
                max_num_of_candidates_returned=max_candidates,
                mode="matchPerson",
            )
        except AzureRequestRejected as error:
            if error.code in ("LargeFaceListNotTrained", "LargeFaceListNotFound"):
                return []
            raise
        return sorted(
            ((s.persisted_face_id, float(s.confidence)) for s in similar or []), key=lambda p: -p[1]
        )

    def find_similar_among(self, detection_id: str, detection_ids: list[str]) -> list[tuple[str, float]]:
        """Faces of the same person among other detections (faceIds, e.g. added since the last training)."""
        candidates = [d for d in dict.fromkeys(detection_ids) if d and d != detection_id]
        if not candidates:
            return []
        client = self._face
        found: list[tuple[str, float]] = []
        for start in range(0, len(candidates), MAX_FACE_IDS):
            chunk = candidates[start : start + MAX_FACE_IDS]
            similar = self.retry.call(
                "find similar",
                client.face.find_similar,
                detection_id,
                face_ids=chunk,
                max_num_of_candidates_returned=len(chunk),
                mode="matchPerson",
            )
            found.extend((s.face_id, float(s.confidence)) for s in similar or [])
        return sorted(found, key=lambda p: -p[1])

    def add(self, image_bytes: bytes, rectangle: Rectangle, user_data: str | None = None) -> str:
        """Add the face at ``rectangle`` of the image to the list; its persistedFaceId."""
        if user_data is not None and len(user_data) > MAX_USER_DATA:
            raise ValueError(
                f"user_data is {len(user_data)} characters; Azure accepts at most {MAX_USER_DATA}"
            )
        client = self._face
        target = [rectangle.left, rectangle.top, rectangle.width, rectangle.height]
        persisted = self.retry.call(
            "add face",
            lambda: client.large_face_list.add_face_from_stream(
                self.list_id,
                io.BytesIO(image_bytes),
                user_data=user_data,
                target_face=target,
                detection_model=DETECTION_MODEL,
            ),
        )
        return persisted.persisted_face_id

    def persisted_faces(self) -> Iterator[tuple[str, str | None]]:
        """(persistedFaceId, userData) of every face in the list, in the service's order, 1,000 per request."""
        start: str | None = None
        while True:
            page = self.retry.call(
                "list faces", self._face.large_face_list.list_faces, self.list_id, start=start, top=LIST_PAGE
            )
            for face in page or []:
                yield face.persisted_face_id, face.user_data
            if not page or len(page) < LIST_PAGE:
                return
            start = page[-1].persisted_face_id

    def delete(self, persisted_face_id: str) -> None:
        """Remove a face from the list; one already gone is fine."""
        try:
            self.retry.call(
                "delete face", self._face.large_face_list.delete_face, self.list_id, persisted_face_id
            )
        except AzureRequestRejected as error:
            if error.status != 404:
                raise

    def train(self) -> None:
        """Start training; faces added since the last successful training become searchable when it succeeds."""
        self.retry.call("train large face list", self._face.large_face_list.train, self.list_id)

    def training_status(self) -> str:
        """``notstarted``, ``running``, ``succeeded`` or ``failed``."""
        try:
            status = self.retry.call(
                "get training status", self._face.large_face_list.get_training_status, self.list_id
            )
        except AzureRequestRejected as error:
            if error.code == "LargeFaceListNotTrained":
                return "notstarted"
            raise
        value = (enum_text(status.status) or "").lower()
        return "notstarted" if value in ("nonstarted", "notstarted", "") else value
