-- Version 6 (T-SQL): the model that made each face and each index entry. Embeddings of different models
-- are never compared; reprocess re-embeds the faces of another model. Keep in step with
-- ../sqlite/0006_face_models.sql.
ALTER TABLE dbo.faces ADD face_model NVARCHAR(128) NULL;
GO
ALTER TABLE dbo.face_index ADD face_model NVARCHAR(128) NULL;
GO
-- Before this version each provider had one face model.
UPDATE dbo.face_index SET face_model = CASE provider WHEN N'local' THEN N'dlib-hog+mmod/resnet-v1'
    ELSE N'azure-face/detection_03+recognition_04' END;
GO
UPDATE f SET f.face_model = i.face_model FROM dbo.faces AS f JOIN dbo.face_index AS i ON i.face_id = f.face_id;
GO
CREATE INDEX ix_face_index_model ON dbo.face_index (provider, face_model, added_at);
GO
