-- Version 5 (T-SQL): review decisions on matched pairs, persons, and the audit trail.
-- Keep in step with ../sqlite/0005_people.sql.

-- A reviewer's decision on a pair of faces: 'confirmed' (same person) or 'rejected' (not the same person).
-- A pair with no row is 'pending'. Each decision is stored in both directions, so it is found from either
-- face; the two rows always agree (pipeline/faces/reviews.py writes them together). Free text (the note)
-- lives only here, so erasing a face erases it.
CREATE TABLE dbo.match_reviews (
    face_id        UNIQUEIDENTIFIER NOT NULL,
    other_face_id  UNIQUEIDENTIFIER NOT NULL,
    state          NVARCHAR(16)     NOT NULL CONSTRAINT ck_match_reviews_state
                       CHECK (state IN (N'confirmed', N'rejected')),
    reviewer       NVARCHAR(256)    NOT NULL,
    note           NVARCHAR(2000)   NULL,
    decided_at     DATETIME2(3)     NOT NULL,
    CONSTRAINT pk_match_reviews PRIMARY KEY (face_id, other_face_id)
);
GO
CREATE TABLE dbo.persons (
    person_id   UNIQUEIDENTIFIER NOT NULL CONSTRAINT pk_persons PRIMARY KEY,
    label       NVARCHAR(500)    NULL,
    created_at  DATETIME2(3)     NOT NULL,
    updated_at  DATETIME2(3)     NOT NULL
);
GO
-- Every stored face belongs to exactly one person (a face matched to nothing is a person of one face).
CREATE TABLE dbo.person_faces (
    face_id    UNIQUEIDENTIFIER NOT NULL CONSTRAINT pk_person_faces PRIMARY KEY
                   CONSTRAINT fk_person_faces_face REFERENCES dbo.faces (face_id) ON DELETE CASCADE,
    person_id  UNIQUEIDENTIFIER NOT NULL
                   CONSTRAINT fk_person_faces_person REFERENCES dbo.persons (person_id)
);
GO
CREATE INDEX ix_person_faces_person ON dbo.person_faces (person_id);
GO
CREATE INDEX ix_face_matches_confidence ON dbo.face_matches (confidence);
GO
-- Append-only: what a person did (or the pipeline did on a person's request), when, to what.
CREATE TABLE dbo.audit_log (
    audit_id  BIGINT IDENTITY(1, 1) NOT NULL CONSTRAINT pk_audit_log PRIMARY KEY,
    at        DATETIME2(3)     NOT NULL,
    actor     NVARCHAR(256)    NOT NULL,
    action    NVARCHAR(64)     NOT NULL,
    image_id  UNIQUEIDENTIFIER NULL,
    detail    NVARCHAR(4000)   NULL
);
GO
CREATE INDEX ix_audit_log_actor ON dbo.audit_log (actor, at);
GO
CREATE TRIGGER dbo.tr_audit_log_append_only ON dbo.audit_log AFTER UPDATE, DELETE
AS
BEGIN
    THROW 50001, 'audit_log is append-only', 1;
END;
GO
CREATE VIEW dbo.v_person_faces AS
SELECT pf.person_id, pf.face_id, f.image_id, i.blob_name, i.batch_id
FROM dbo.person_faces AS pf
JOIN dbo.faces AS f ON f.face_id = pf.face_id
JOIN dbo.images AS i ON i.image_id = f.image_id;
GO
CREATE VIEW dbo.v_persons AS
SELECT
    p.person_id,
    p.label,
    COUNT(pf.face_id) AS face_count,
    COUNT(DISTINCT f.image_id) AS image_count,
    MIN(i.received_at) AS first_seen,
    MAX(i.received_at) AS last_seen
FROM dbo.persons AS p
JOIN dbo.person_faces AS pf ON pf.person_id = p.person_id
JOIN dbo.faces AS f ON f.face_id = pf.face_id
JOIN dbo.images AS i ON i.image_id = f.image_id
GROUP BY p.person_id, p.label;
GO
-- One row per pair of v_face_matches, same direction; state pending until a reviewer decides.
CREATE VIEW dbo.v_match_reviews AS
SELECT
    m.face_id,
    m.image_blob,
    m.matched_face_id,
    m.matched_image_blob,
    m.confidence,
    COALESCE(r.state, N'pending') AS state,
    r.reviewer,
    r.decided_at
FROM dbo.v_face_matches AS m
LEFT JOIN dbo.match_reviews AS r ON r.face_id = m.face_id AND r.other_face_id = m.matched_face_id;
GO
CREATE VIEW dbo.v_audit AS
SELECT at, actor, action, image_id, detail FROM dbo.audit_log;
GO
