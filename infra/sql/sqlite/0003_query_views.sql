-- Version 3 (SQLite): stable views for the common questions. Keep in step with ../tsql/0003_query_views.sql.

CREATE VIEW v_tags AS
SELECT i.image_id, i.blob_name, i.batch_id, t.tag, t.confidence
FROM image_tags AS t
JOIN images AS i ON i.image_id = t.image_id;

CREATE VIEW v_text AS
SELECT i.image_id, i.blob_name, i.batch_id, l.line_index, l.text, l.confidence
FROM text_lines AS l
JOIN images AS i ON i.image_id = l.image_id;

-- One row per failed image: the step it failed in, how many attempts that step had, and the last error.
CREATE VIEW v_failures AS
SELECT
    i.image_id,
    i.blob_name,
    i.batch_id,
    i.failed_step AS step,
    (SELECT COUNT(*) FROM step_runs AS r
     WHERE r.job_id = i.job_id AND r.trace_id = i.trace_id AND r.step = i.failed_step) AS attempts,
    i.error AS last_error,
    i.completed_at AS failed_at
FROM images AS i
WHERE i.status = 'failed';
