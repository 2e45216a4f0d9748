-- Version 4 (SQLite): adds to an Azure LargeFaceList that have not been recorded yet. Keep in step with
-- ../tsql/0004_face_list_adds.sql. A row is written before the add request and removed once face_index
-- records the answer; a row that stays means the answer may be lost while the service kept the face, so
-- the list may hold a face no row knows. The face index's reconcile pass finds and deletes those
-- (pipeline/faceindex.py).
CREATE TABLE face_list_adds (
    face_id     TEXT NOT NULL PRIMARY KEY,
    list_id     TEXT NOT NULL,
    started_at  TEXT NOT NULL
);
