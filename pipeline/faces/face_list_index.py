"""The LargeFaceList match index: one Azure Face LargeFaceList (up to 1,000,000 faces) and its SQL rows.

``find_similar`` searches what the list held at its last training; faces added since then are matched
through their 24-hour detection ids, so photos of one person in the same batch still find each other before
the timer function trains the list again.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING

from pipeline.contract import utc_now
from pipeline.faces.index import Evict, FaceIndex, FaceMatch, IndexedFace
from pipeline.faces.store import FaceIndexStore
from pipeline.vision.retry import AzureRequestRejected

if TYPE_CHECKING:
    from pipeline.vision.azure.face_list import AzureFaceList

# Find similar returns at most this many faces of a LargeFaceList (the service's maximum). A person photographed
# more often still ends as one person: each face matches its 1,000 best, and persons join them transitively.
MAX_FIND_SIMILAR = 1000
# Azure detection ids live 24 hours; leave a margin for clock skew and slow queues.
DETECTION_ID_LIFETIME = timedelta(hours=23)
# How long the training timer waits for a LargeFaceList training to finish before leaving it to the next run.
TRAINING_WAIT_SECONDS = 240
# An add younger than this may still be in flight (functionTimeout is 10 minutes): reconcile leaves it alone.
ADD_SETTLE = timedelta(minutes=10)


class AzureFaceIndex(FaceIndex):
    provider = "azure"

    def __init__(self, store: FaceIndexStore, face_list: AzureFaceList, evict: Evict | None = None) -> None:
        super().__init__(store, evict)
        self.face_list = face_list
        self.list_id = face_list.list_id

    def _search(self, face: IndexedFace) -> list[FaceMatch]:
        if face.detection_id is None:
            return []
        best: dict[str, float] = {}
        trained_at = self._store.last_training(self.list_id)
        # Until a training has succeeded the list has nothing to search (the service would answer
        # LargeFaceListNotTrained): every face is among the pending ones below, so skip the request.
        trained = (
            self.face_list.find_similar(face.detection_id, MAX_FIND_SIMILAR) if trained_at is not None else []
        )
        for persisted_id, confidence in trained:
            face_id = self._store.face_of_persisted(persisted_id)
            if face_id:
                best[face_id] = max(best.get(face_id, 0.0), confidence)
        # No pending face, no request: find_similar_among asks nothing for an empty candidate list.
        pending = self._store.pending_detections(face.image_id, utc_now() - DETECTION_ID_LIFETIME, trained_at)
        for detection_id, confidence in self._find_among_pending(face.detection_id, pending):
            face_id = pending.get(detection_id.lower())
            if face_id:
                best[face_id] = max(best.get(face_id, 0.0), confidence)
        return [FaceMatch(face_id=face_id, confidence=round(value, 4)) for face_id, value in best.items()]

    def _find_among_pending(self, detection_id: str, pending: dict[str, str]) -> list[tuple[str, float]]:
        try:
            return self.face_list.find_similar_among(detection_id, list(pending))
        except AzureRequestRejected as exc:
            if exc.code != "FaceNotFound":
                raise
        # One stale detection id (expired, or issued by another Face resource) fails the whole call and
        # would fail every later job too: ask about each id alone once, and forget the ones the service
        # no longer knows. Those faces stay matchable through the list once it is trained.
        found: list[tuple[str, float]] = []
        for candidate in pending:
            try:
                found += self.face_list.find_similar_among(detection_id, [candidate])
            except AzureRequestRejected as exc:
                if exc.code != "FaceNotFound":
                    raise
                self._store.forget_detection(candidate)
        return found

    def _remove(self, faces: list[tuple[str, str | None]]) -> None:
        for _, persisted in faces:
            if persisted:
                self.face_list.delete(str(persisted))

    def _add(self, face: IndexedFace, image: bytes) -> str:
        # The intent first: if the answer is lost (a timeout after the service added the face, or the host
        # dying before the row below), the retry adds the face again and reconcile_adds removes the copy
        # no row knows — which matters for erasure, since forget deletes only the faces it has ids for.
        first_attempt = self._store.begin_add(face.face_id, self.list_id)
        persisted = self.face_list.add(image, face.rectangle, face.face_id)
        self._store.record(
            face_id=face.face_id,
            image_id=face.image_id,
            provider=self.provider,
            model=face.model,
            embedding=None,
            persisted_face_id=persisted,
            detection_id=face.detection_id,
        )
        if first_attempt:  # otherwise an earlier attempt may have left a copy: reconcile_adds decides
            self._store.end_adds([face.face_id])
        return persisted

    def reconcile_adds(self, settle: timedelta = ADD_SETTLE) -> int:
        """Delete from the list the faces whose add was never recorded; how many were deleted.

        Only adds older than ``settle`` are considered (younger ones may still be in flight). For those,
        every persisted face of the list is read (1,000 per request, so this pass is only made when such
        adds exist): a face that carries one of their face ids as userData and is not the persisted face
        ``face_index`` records for it is a copy nobody can find or erase, and is deleted.
        """
        unresolved = self._store.unresolved_adds(self.list_id, utc_now() - settle)
        if not unresolved:
            return 0
        recorded: dict[str, str] = {}
        for face_id in unresolved:
            found = self._store.existing(face_id)
            if found and found.persisted_face_id:
                recorded[face_id] = found.persisted_face_id
        deleted = 0
        for persisted, user_data in self.face_list.persisted_faces():
            owner = (user_data or "").lower()
            if owner in unresolved and recorded.get(owner) != persisted.lower():
                self.face_list.delete(persisted)
                deleted += 1
        self._store.end_adds(sorted(unresolved))
        return deleted

    def train_if_pending(self) -> bool:
        """Train the list when faces were added since the last training started; True if it trained."""
        self.reconcile_adds()
        # Strictly later: times are kept to the millisecond, and a face stamped in the very millisecond
        # training started was added before it. (pending_detections keeps such a face, to be safe, with >=.)
        if not self._store.azure_faces_added_after(self._store.last_training(self.list_id)):
            return False
        started = utc_now()
        self.face_list.train()
        deadline = time.monotonic() + TRAINING_WAIT_SECONDS
        while (status := self.face_list.training_status()) == "running" or status == "notstarted":
            if time.monotonic() > deadline:
                return False  # still training; the next timer run records it
            time.sleep(1.0)
        if status != "succeeded":
            raise RuntimeError(f"training LargeFaceList {self.list_id!r} ended as {status!r}")
        # Only now is every face added before `started` searchable in the list.
        self._store.record_training(self.list_id, started)
        return True
