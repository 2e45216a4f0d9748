-- Version 2 (SQLite): what the vision steps find, and the open-model face index.
-- Keep in step with ../tsql/0002_vision.sql.

ALTER TABLE images ADD COLUMN caption TEXT;

ALTER TABLE images ADD COLUMN caption_confidence REAL;

ALTER TABLE images ADD COLUMN full_text TEXT;

ALTER TABLE images ADD COLUMN is_adult INTEGER;

ALTER TABLE images ADD COLUMN is_racy INTEGER;

CREATE TABLE image_tags (
    image_id    TEXT NOT NULL REFERENCES images (image_id) ON DELETE CASCADE,
    tag         TEXT NOT NULL,
    confidence  REAL NOT NULL,
    PRIMARY KEY (image_id, tag)
);

CREATE INDEX ix_image_tags_tag ON image_tags (tag);

CREATE TABLE image_objects (
    image_id      TEXT    NOT NULL REFERENCES images (image_id) ON DELETE CASCADE,
    object_index  INTEGER NOT NULL,
    name          TEXT    NOT NULL,
    confidence    REAL    NOT NULL,
    rect_left     INTEGER NOT NULL,
    rect_top      INTEGER NOT NULL,
    rect_width    INTEGER NOT NULL,
    rect_height   INTEGER NOT NULL,
    PRIMARY KEY (image_id, object_index)
);

CREATE INDEX ix_image_objects_name ON image_objects (name);

CREATE TABLE text_lines (
    image_id      TEXT    NOT NULL REFERENCES images (image_id) ON DELETE CASCADE,
    line_index    INTEGER NOT NULL,
    text          TEXT    NOT NULL,
    confidence    REAL,
    polygon       TEXT    NOT NULL,   -- x1,y1,x2,y2,x3,y3,x4,y4 clockwise from top-left, working-copy pixels
    rect_left     INTEGER NOT NULL,   -- the polygon's bounding rectangle
    rect_top      INTEGER NOT NULL,
    rect_width    INTEGER NOT NULL,
    rect_height   INTEGER NOT NULL,
    PRIMARY KEY (image_id, line_index)
);

-- Faces added to a match index: the open-model index keeps embeddings here; the Azure index keeps the
-- LargeFaceList persisted face id (and the 24-hour detection id used to match faces added since the
-- list was last trained).
CREATE TABLE face_index (
    face_id              TEXT    NOT NULL PRIMARY KEY,
    image_id             TEXT    NOT NULL,
    provider             TEXT    NOT NULL,
    embedding            BLOB,
    persisted_face_id    TEXT,
    detection_id         TEXT,
    added_at             TEXT    NOT NULL
);

CREATE INDEX ix_face_index_provider_added ON face_index (provider, added_at);

CREATE INDEX ix_face_index_image ON face_index (image_id);

CREATE TABLE face_list_trainings (
    list_id      TEXT NOT NULL PRIMARY KEY,
    started_at   TEXT NOT NULL            -- faces added before this are in the trained list
);

DROP VIEW v_images;

CREATE VIEW v_images AS
SELECT
    i.image_id,
    i.blob_name,
    i.batch_id,
    i.status,
    i.failed_step,
    i.error,
    i.face_count,
    (SELECT group_concat(t.tag, ', ') FROM (
        SELECT tag FROM image_tags WHERE image_id = i.image_id ORDER BY confidence DESC, tag
    ) AS t) AS tags,
    i.caption,
    i.full_text AS text
FROM images AS i;
