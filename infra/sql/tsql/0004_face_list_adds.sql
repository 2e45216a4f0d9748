-- Version 4 (T-SQL): adds to an Azure LargeFaceList that have not been recorded yet. Keep in step with
-- ../sqlite/0004_face_list_adds.sql. A row is written before the add request and removed once face_index
-- records the answer; a row that stays means the answer may be lost while the service kept the face, so
-- the list may hold a face no row knows. The face index's reconcile pass finds and deletes those
-- (pipeline/faceindex.py).
CREATE TABLE dbo.face_list_adds (
    face_id     UNIQUEIDENTIFIER NOT NULL CONSTRAINT pk_face_list_adds PRIMARY KEY,
    list_id     NVARCHAR(64)     NOT NULL,
    started_at  DATETIME2(3)     NOT NULL
);
GO
