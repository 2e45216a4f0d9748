-- Imaginem schema, version 1 (SQLite, the local default).
-- Keep in step with ../tsql/0001_initial.sql: same tables, columns, keys and views.
-- Times are UTC, ISO-8601 text. Ids are UUIDs as text.

CREATE TABLE images (
    image_id      TEXT    NOT NULL PRIMARY KEY,   -- uuid5 of '<container>/<blob name>': stable per blob name
    job_id        TEXT    NOT NULL,               -- the job of the latest upload of this blob
    batch_id      TEXT    NOT NULL,               -- first folder of the blob name
    container     TEXT    NOT NULL,
    blob_name     TEXT    NOT NULL,
    trace_id      TEXT    NOT NULL,
    pipeline      TEXT    NOT NULL,               -- the job's step list, comma-separated
    status        TEXT    NOT NULL CHECK (status IN ('processing', 'complete', 'failed')),
    failed_step   TEXT,
    error         TEXT,
    face_count    INTEGER,
    width         INTEGER,                        -- of the working copy
    height        INTEGER,
    received_at   TEXT    NOT NULL,
    completed_at  TEXT,
    updated_at    TEXT    NOT NULL
);

CREATE INDEX ix_images_batch_status ON images (batch_id, status);

CREATE INDEX ix_images_status ON images (status);

-- One row per attempt of a step: the status history the queue retries leave behind. A reprocess of the
-- same job runs under a new trace id, so its attempts add rows instead of overwriting the first run's.
CREATE TABLE step_runs (
    job_id        TEXT    NOT NULL,
    trace_id      TEXT    NOT NULL,
    step          TEXT    NOT NULL,
    attempt       INTEGER NOT NULL,
    image_id      TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('ok', 'retrying', 'failed')),
    started_at    TEXT    NOT NULL,
    finished_at   TEXT    NOT NULL,
    error         TEXT,
    PRIMARY KEY (job_id, trace_id, step, attempt)
);

CREATE INDEX ix_step_runs_image ON step_runs (image_id);

-- Each step's raw output, for what the normalized tables do not cover.
CREATE TABLE step_results (
    image_id      TEXT    NOT NULL REFERENCES images (image_id) ON DELETE CASCADE,
    step          TEXT    NOT NULL,
    job_id        TEXT    NOT NULL,
    output_json   TEXT    NOT NULL,
    PRIMARY KEY (image_id, step)
);

CREATE TABLE faces (
    face_id            TEXT    NOT NULL PRIMARY KEY,   -- uuid5 of '<job id>/<face index>'
    image_id           TEXT    NOT NULL REFERENCES images (image_id) ON DELETE CASCADE,
    job_id             TEXT    NOT NULL,
    face_index         INTEGER NOT NULL,
    rect_left          INTEGER NOT NULL,               -- pixels of the working copy
    rect_top           INTEGER NOT NULL,
    rect_width         INTEGER NOT NULL,
    rect_height        INTEGER NOT NULL,
    detection_score    REAL,
    crop_blob          TEXT,                           -- blob name in the private 'faces' container
    embedding          BLOB,                           -- float32 little-endian, open-model provider
    persisted_face_id  TEXT,                           -- Azure Face LargeFaceList id
    UNIQUE (image_id, face_index)
);

-- matched_face_id has no foreign key: a match may name a face whose own job has not been persisted yet
-- (jobs run concurrently); v_face_matches shows a pair once both faces are stored.
CREATE TABLE face_matches (
    face_id          TEXT NOT NULL REFERENCES faces (face_id) ON DELETE CASCADE,
    matched_face_id  TEXT NOT NULL,
    confidence       REAL NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    PRIMARY KEY (face_id, matched_face_id)
);

CREATE INDEX ix_face_matches_matched ON face_matches (matched_face_id);

-- Queue messages that no retry could fix (not JSON, wrong shape, unknown version...), set aside.
CREATE TABLE rejected_messages (
    rejected_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_name    TEXT    NOT NULL,
    message_id    TEXT,
    job_id        TEXT,
    reason        TEXT    NOT NULL,
    body_excerpt  TEXT,
    rejected_at   TEXT    NOT NULL
);

CREATE VIEW v_images AS
SELECT
    i.image_id,
    i.blob_name,
    i.batch_id,
    i.status,
    i.failed_step,
    i.error,
    i.face_count,
    CAST(NULL AS TEXT) AS tags,
    CAST(NULL AS TEXT) AS caption,
    CAST(NULL AS TEXT) AS text
FROM images AS i;

CREATE VIEW v_face_matches AS
SELECT
    m.face_id,
    fi.blob_name AS image_blob,
    m.matched_face_id,
    mi.blob_name AS matched_image_blob,
    m.confidence
FROM face_matches AS m
JOIN faces AS f ON f.face_id = m.face_id
JOIN images AS fi ON fi.image_id = f.image_id
JOIN faces AS mf ON mf.face_id = m.matched_face_id
JOIN images AS mi ON mi.image_id = mf.image_id;
