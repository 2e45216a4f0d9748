-- Version 5 (SQLite): review decisions on matched pairs, persons, and the audit trail.
-- Keep in step with ../tsql/0005_people.sql.

-- A reviewer's decision on a pair of faces: 'confirmed' (same person) or 'rejected' (not the same person).
-- A pair with no row is 'pending'. Each decision is stored in both directions, so it is found from either
-- face; the two rows always agree (pipeline/faces/reviews.py writes them together). Free text (the note)
-- lives only here, so erasing a face erases it.
CREATE TABLE match_reviews (
    face_id        TEXT NOT NULL,
    other_face_id  TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('confirmed', 'rejected')),
    reviewer       TEXT NOT NULL,
    note           TEXT,
    decided_at     TEXT NOT NULL,
    PRIMARY KEY (face_id, other_face_id)
);

CREATE TABLE persons (
    person_id   TEXT NOT NULL PRIMARY KEY,
    label       TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Every stored face belongs to exactly one person (a face matched to nothing is a person of one face).
CREATE TABLE person_faces (
    face_id    TEXT NOT NULL PRIMARY KEY REFERENCES faces (face_id) ON DELETE CASCADE,
    person_id  TEXT NOT NULL REFERENCES persons (person_id)
);

CREATE INDEX ix_person_faces_person ON person_faces (person_id);

CREATE INDEX ix_face_matches_confidence ON face_matches (confidence);

-- Append-only: what a person did (or the pipeline did on a person's request), when, to what.
CREATE TABLE audit_log (
    audit_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    image_id  TEXT,
    detail    TEXT
);

CREATE INDEX ix_audit_log_actor ON audit_log (actor, at);

-- Each trigger on one line: migrations are split into statements at a ';' that ends a line.
CREATE TRIGGER tr_audit_log_append_only_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE TRIGGER tr_audit_log_append_only_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE VIEW v_person_faces AS
SELECT pf.person_id, pf.face_id, f.image_id, i.blob_name, i.batch_id
FROM person_faces AS pf
JOIN faces AS f ON f.face_id = pf.face_id
JOIN images AS i ON i.image_id = f.image_id;

CREATE VIEW v_persons AS
SELECT
    p.person_id,
    p.label,
    COUNT(pf.face_id) AS face_count,
    COUNT(DISTINCT f.image_id) AS image_count,
    MIN(i.received_at) AS first_seen,
    MAX(i.received_at) AS last_seen
FROM persons AS p
JOIN person_faces AS pf ON pf.person_id = p.person_id
JOIN faces AS f ON f.face_id = pf.face_id
JOIN images AS i ON i.image_id = f.image_id
GROUP BY p.person_id, p.label;

-- One row per pair of v_face_matches, same direction; state pending until a reviewer decides.
CREATE VIEW v_match_reviews AS
SELECT
    m.face_id,
    m.image_blob,
    m.matched_face_id,
    m.matched_image_blob,
    m.confidence,
    COALESCE(r.state, 'pending') AS state,
    r.reviewer,
    r.decided_at
FROM v_face_matches AS m
LEFT JOIN match_reviews AS r ON r.face_id = m.face_id AND r.other_face_id = m.matched_face_id;

CREATE VIEW v_audit AS
SELECT at, actor, action, image_id, detail FROM audit_log;
