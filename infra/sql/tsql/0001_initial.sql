-- Imaginem schema, version 1 (Azure SQL / SQL Server, T-SQL).
-- Keep in step with ../sqlite/0001_initial.sql: same tables, columns, keys and views.
-- Times are UTC DATETIME2. Batches are separated by GO lines (CREATE VIEW must start a batch).

CREATE TABLE dbo.images (
    image_id      UNIQUEIDENTIFIER NOT NULL CONSTRAINT pk_images PRIMARY KEY,
    job_id        UNIQUEIDENTIFIER NOT NULL,
    batch_id      NVARCHAR(256)    NOT NULL,
    container     NVARCHAR(63)     NOT NULL,
    blob_name     NVARCHAR(1024)   NOT NULL,
    trace_id      CHAR(32)         NOT NULL,
    pipeline      NVARCHAR(1000)   NOT NULL,
    status        NVARCHAR(16)     NOT NULL CONSTRAINT ck_images_status
                      CHECK (status IN (N'processing', N'complete', N'failed')),
    failed_step   NVARCHAR(40)     NULL,
    error         NVARCHAR(4000)   NULL,
    face_count    INT              NULL,
    width         INT              NULL,
    height        INT              NULL,
    received_at   DATETIME2(3)     NOT NULL,
    completed_at  DATETIME2(3)     NULL,
    updated_at    DATETIME2(3)     NOT NULL
);
GO
CREATE INDEX ix_images_batch_status ON dbo.images (batch_id, status);
GO
CREATE INDEX ix_images_status ON dbo.images (status);
GO
CREATE TABLE dbo.step_runs (
    job_id        UNIQUEIDENTIFIER NOT NULL,
    trace_id      CHAR(32)         NOT NULL,
    step          NVARCHAR(40)     NOT NULL,
    attempt       INT              NOT NULL,
    image_id      UNIQUEIDENTIFIER NOT NULL,
    status        NVARCHAR(16)     NOT NULL CONSTRAINT ck_step_runs_status
                      CHECK (status IN (N'ok', N'retrying', N'failed')),
    started_at    DATETIME2(3)     NOT NULL,
    finished_at   DATETIME2(3)     NOT NULL,
    error         NVARCHAR(4000)   NULL,
    CONSTRAINT pk_step_runs PRIMARY KEY (job_id, trace_id, step, attempt)
);
GO
CREATE INDEX ix_step_runs_image ON dbo.step_runs (image_id);
GO
CREATE TABLE dbo.step_results (
    image_id      UNIQUEIDENTIFIER NOT NULL
                      CONSTRAINT fk_step_results_image REFERENCES dbo.images (image_id) ON DELETE CASCADE,
    step          NVARCHAR(40)     NOT NULL,
    job_id        UNIQUEIDENTIFIER NOT NULL,
    output_json   NVARCHAR(MAX)    NOT NULL,
    CONSTRAINT pk_step_results PRIMARY KEY (image_id, step)
);
GO
CREATE TABLE dbo.faces (
    face_id            UNIQUEIDENTIFIER NOT NULL CONSTRAINT pk_faces PRIMARY KEY,
    image_id           UNIQUEIDENTIFIER NOT NULL
                           CONSTRAINT fk_faces_image REFERENCES dbo.images (image_id) ON DELETE CASCADE,
    job_id             UNIQUEIDENTIFIER NOT NULL,
    face_index         INT              NOT NULL,
    rect_left          INT              NOT NULL,
    rect_top           INT              NOT NULL,
    rect_width         INT              NOT NULL,
    rect_height        INT              NOT NULL,
    detection_score    FLOAT            NULL,
    crop_blob          NVARCHAR(1024)   NULL,
    embedding          VARBINARY(2048)  NULL,
    persisted_face_id  UNIQUEIDENTIFIER NULL,
    CONSTRAINT uq_faces_image_index UNIQUE (image_id, face_index)
);
GO
-- matched_face_id has no foreign key: a match may name a face whose own job has not been persisted yet
-- (jobs run concurrently); v_face_matches shows a pair once both faces are stored. The pipeline deletes
-- rows that point at a deleted face itself.
CREATE TABLE dbo.face_matches (
    face_id          UNIQUEIDENTIFIER NOT NULL
                         CONSTRAINT fk_face_matches_face REFERENCES dbo.faces (face_id) ON DELETE CASCADE,
    matched_face_id  UNIQUEIDENTIFIER NOT NULL,
    confidence       FLOAT            NOT NULL CONSTRAINT ck_face_matches_confidence
                         CHECK (confidence >= 0 AND confidence <= 1),
    CONSTRAINT pk_face_matches PRIMARY KEY (face_id, matched_face_id)
);
GO
CREATE INDEX ix_face_matches_matched ON dbo.face_matches (matched_face_id);
GO
CREATE TABLE dbo.rejected_messages (
    rejected_id   BIGINT IDENTITY(1, 1) NOT NULL CONSTRAINT pk_rejected_messages PRIMARY KEY,
    queue_name    NVARCHAR(63)     NOT NULL,
    message_id    NVARCHAR(100)    NULL,
    job_id        UNIQUEIDENTIFIER NULL,
    reason        NVARCHAR(4000)   NOT NULL,
    body_excerpt  NVARCHAR(4000)   NULL,
    rejected_at   DATETIME2(3)     NOT NULL
);
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
    CAST(NULL AS NVARCHAR(MAX)) AS tags,
    CAST(NULL AS NVARCHAR(MAX)) AS caption,
    CAST(NULL AS NVARCHAR(MAX)) AS [text]
FROM dbo.images AS i;
GO
CREATE VIEW dbo.v_face_matches AS
SELECT
    m.face_id,
    fi.blob_name AS image_blob,
    m.matched_face_id,
    mi.blob_name AS matched_image_blob,
    m.confidence
FROM dbo.face_matches AS m
JOIN dbo.faces AS f ON f.face_id = m.face_id
JOIN dbo.images AS fi ON fi.image_id = f.image_id
JOIN dbo.faces AS mf ON mf.face_id = m.matched_face_id
JOIN dbo.images AS mi ON mi.image_id = mf.image_id;
