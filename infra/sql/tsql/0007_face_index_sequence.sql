-- Version 7 (T-SQL): a sequence number for every face index entry, taken from a counter row in the inserting
-- transaction. The counter's row lock is held to the commit, so inserts queue on it and entries commit in
-- sequence order: an index that has read up to N can never later meet an entry below N (a timestamp can be
-- overtaken: clocks differ between instances and a transaction may wait on a lock). Keep in step with
-- ../sqlite/0007_face_index_sequence.sql.
CREATE TABLE dbo.face_index_sequence (
    name      NVARCHAR(64) NOT NULL CONSTRAINT pk_face_index_sequence PRIMARY KEY,
    last_seq  BIGINT       NOT NULL
);
GO
ALTER TABLE dbo.face_index ADD seq BIGINT NULL;
GO
WITH numbered AS (SELECT seq, ROW_NUMBER() OVER (ORDER BY added_at, face_id) AS n FROM dbo.face_index)
UPDATE numbered SET seq = n;
GO
INSERT INTO dbo.face_index_sequence (name, last_seq) SELECT N'face_index', COALESCE(MAX(seq), 0) FROM dbo.face_index;
GO
CREATE INDEX ix_face_index_seq ON dbo.face_index (provider, face_model, seq);
GO
