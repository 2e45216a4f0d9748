-- Version 6 (SQLite): the model that made each face and each index entry. Embeddings of different models
-- are never compared; reprocess re-embeds the faces of another model. Keep in step with
-- ../tsql/0006_face_models.sql.

ALTER TABLE faces ADD COLUMN face_model TEXT;

ALTER TABLE face_index ADD COLUMN face_model TEXT;

-- Before this version each provider had one face model.
UPDATE face_index SET face_model = CASE provider WHEN 'local' THEN 'dlib-hog+mmod/resnet-v1'
    ELSE 'azure-face/detection_03+recognition_04' END;

UPDATE faces SET face_model = (SELECT i.face_model FROM face_index AS i WHERE i.face_id = faces.face_id);

CREATE INDEX ix_face_index_model ON face_index (provider, face_model, added_at);
