-- Version 2 (T-SQL): what the vision steps find, and the open-model face index.
-- Keep in step with ../sqlite/0002_vision.sql.

ALTER TABLE dbo.images ADD
    caption             NVARCHAR(1000) NULL,
    caption_confidence  FLOAT          NULL,
    full_text           NVARCHAR(MAX)  NULL,
    is_adult            BIT            NULL,
    is_racy             BIT            NULL;
GO
CREATE TABLE dbo.image_tags (
    image_id    UNIQUEIDENTIFIER NOT NULL
                    CONSTRAINT fk_image_tags_image REFERENCES dbo.images (image_id) ON DELETE CASCADE,
    tag         NVARCHAR(200)    NOT NULL,
    confidence  FLOAT            NOT NULL,
    CONSTRAINT pk_image_tags PRIMARY KEY (image_id, tag)
);
GO
CREATE INDEX ix_image_tags_tag ON dbo.image_tags (tag);
GO
CREATE TABLE dbo.image_objects (
    image_id      UNIQUEIDENTIFIER NOT NULL
                      CONSTRAINT fk_image_objects_image REFERENCES dbo.images (image_id) ON DELETE CASCADE,
    object_index  INT              NOT NULL,
    name          NVARCHAR(200)    NOT NULL,
    confidence    FLOAT            NOT NULL,
    rect_left     INT              NOT NULL,
    rect_top      INT              NOT NULL,
    rect_width    INT              NOT NULL,
    rect_height   INT              NOT NULL,
    CONSTRAINT pk_image_objects PRIMARY KEY (image_id, object_index)
);
GO
CREATE INDEX ix_image_objects_name ON dbo.image_objects (name);
GO
CREATE TABLE dbo.text_lines (
    image_id      UNIQUEIDENTIFIER NOT NULL
                      CONSTRAINT fk_text_lines_image REFERENCES dbo.images (image_id) ON DELETE CASCADE,
    line_index    INT              NOT NULL,
    [text]        NVARCHAR(4000)   NOT NULL,
    confidence    FLOAT            NULL,
    polygon       NVARCHAR(200)    NOT NULL,
    rect_left     INT              NOT NULL,
    rect_top      INT              NOT NULL,
    rect_width    INT              NOT NULL,
    rect_height   INT              NOT NULL,
    CONSTRAINT pk_text_lines PRIMARY KEY (image_id, line_index)
);
GO
CREATE TABLE dbo.face_index (
    face_id              UNIQUEIDENTIFIER NOT NULL CONSTRAINT pk_face_index PRIMARY KEY,
    image_id             UNIQUEIDENTIFIER NOT NULL,
    provider             NVARCHAR(16)     NOT NULL,
    embedding            VARBINARY(2048)  NULL,
    persisted_face_id    UNIQUEIDENTIFIER NULL,
    detection_id         UNIQUEIDENTIFIER NULL,
    added_at             DATETIME2(3)     NOT NULL
);
GO
CREATE INDEX ix_face_index_provider_added ON dbo.face_index (provider, added_at);
GO
CREATE INDEX ix_face_index_image ON dbo.face_index (image_id);
GO
CREATE TABLE dbo.face_list_trainings (
    list_id      NVARCHAR(64)  NOT NULL CONSTRAINT pk_face_list_trainings PRIMARY KEY,
    started_at   DATETIME2(3)  NOT NULL
);
GO
DROP VIEW IF EXISTS dbo.v_images;
GO
CREATE VIEW dbo.v_images AS
SELECT
    i.image_id,
    i.blob_name,
    i.batch_id,
    i.status,
    i.failed_step,
    i.error,
    i.face_count,
    (SELECT STRING_AGG(t.tag, N', ') WITHIN GROUP (ORDER BY t.confidence DESC, t.tag)
     FROM dbo.image_tags AS t WHERE t.image_id = i.image_id) AS tags,
    i.caption,
    i.full_text AS [text]
FROM dbo.images AS i;
