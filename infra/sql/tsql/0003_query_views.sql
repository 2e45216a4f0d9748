-- Version 3 (T-SQL): stable views for the common questions. Keep in step with ../sqlite/0003_query_views.sql.

CREATE VIEW dbo.v_tags AS
SELECT i.image_id, i.blob_name, i.batch_id, t.tag, t.confidence
FROM dbo.image_tags AS t
JOIN dbo.images AS i ON i.image_id = t.image_id;
GO
CREATE VIEW dbo.v_text AS
SELECT i.image_id, i.blob_name, i.batch_id, l.line_index, l.[text], l.confidence
FROM dbo.text_lines AS l
JOIN dbo.images AS i ON i.image_id = l.image_id;
GO
-- One row per failed image: the step it failed in, how many attempts that step had, and the last error.
CREATE VIEW dbo.v_failures AS
SELECT
    i.image_id,
    i.blob_name,
    i.batch_id,
    i.failed_step AS step,
    (SELECT COUNT(*) FROM dbo.step_runs AS r
     WHERE r.job_id = i.job_id AND r.trace_id = i.trace_id AND r.step = i.failed_step) AS attempts,
    i.error AS last_error,
    i.completed_at AS failed_at
FROM dbo.images AS i
WHERE i.status = N'failed';
