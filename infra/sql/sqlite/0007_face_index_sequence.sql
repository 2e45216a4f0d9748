-- Version 7 (SQLite): a sequence number for every face index entry, taken from a counter row in the inserting
-- transaction. Inserts queue on the counter, so entries commit in sequence order: an index that has read up to
-- N can never later meet an entry below N (a timestamp can be overtaken: clocks differ between instances and a
-- transaction may wait on a lock). Keep in step with ../tsql/0007_face_index_sequence.sql.

CREATE TABLE face_index_sequence (
    name      TEXT    NOT NULL PRIMARY KEY,
    last_seq  INTEGER NOT NULL
);

ALTER TABLE face_index ADD COLUMN seq INTEGER;

UPDATE face_index SET seq = rowid;

INSERT INTO face_index_sequence (name, last_seq) SELECT 'face_index', COALESCE(MAX(seq), 0) FROM face_index;

CREATE INDEX ix_face_index_seq ON face_index (provider, face_model, seq);
