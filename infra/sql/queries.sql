-- Worked queries for the questions analysts ask. Each runs as written on Azure SQL and on the local SQLite
-- database (`make query SQL="..."`); replace the quoted example values. Face matches are stored from the
-- later photo to the earlier one, so "who matches this face" looks in both directions.

-- 1. Photos showing a person who appears in a given photo: every photo of the persons of its faces
--    (persons reach every photo of someone through chains of matches, whatever the number of photos).
SELECT DISTINCT other.blob_name AS photo
FROM images AS given
JOIN faces AS f ON f.image_id = given.image_id
JOIN person_faces AS mine ON mine.face_id = f.face_id
JOIN v_person_faces AS other ON other.person_id = mine.person_id AND other.image_id <> given.image_id
WHERE given.blob_name = 'samples/grace_hopper.jpg'
ORDER BY photo;

-- 2. Photos showing the person of one face (a face id from v_face_matches or the query API), best first.
SELECT i.blob_name AS photo, m.confidence
FROM face_matches AS m
JOIN faces AS f ON f.face_id = CASE WHEN m.face_id = '00000000-0000-0000-0000-000000000000'
                                    THEN m.matched_face_id ELSE m.face_id END
JOIN images AS i ON i.image_id = f.image_id
WHERE m.face_id = '00000000-0000-0000-0000-000000000000'
   OR m.matched_face_id = '00000000-0000-0000-0000-000000000000'
ORDER BY m.confidence DESC;

-- 3. Photos carrying a tag (Azure provider; the open models produce no tags), most confident first.
SELECT blob_name, confidence
FROM v_tags
WHERE tag = 'person'
ORDER BY confidence DESC;

-- 4. Photos whose text contains a word, case-insensitive, with the line it is on.
SELECT blob_name, line_index, text
FROM v_text
WHERE LOWER(text) LIKE '%coins%'
ORDER BY blob_name, line_index;

-- 5. A batch's progress: images per status.
SELECT status, COUNT(*) AS images
FROM v_images
WHERE batch_id = 'samples'
GROUP BY status
ORDER BY status;

-- 6. A batch's progress per step: attempts by outcome (retrying = a transient error the queue retried).
SELECT r.step, r.status, COUNT(*) AS attempts
FROM step_runs AS r
JOIN images AS i ON i.job_id = r.job_id
WHERE i.batch_id = 'samples'
GROUP BY r.step, r.status
ORDER BY r.step, r.status;

-- 7. Failures by step and reason.
SELECT step, last_error, COUNT(*) AS images, MAX(attempts) AS most_attempts
FROM v_failures
GROUP BY step, last_error
ORDER BY images DESC, step;

-- 8. People who appear together: two faces in one photo, each of whom also appears in another photo.
SELECT i.blob_name AS photo, a.face_id AS person_a, b.face_id AS person_b
FROM faces AS a
JOIN faces AS b ON b.image_id = a.image_id AND a.face_index < b.face_index
JOIN images AS i ON i.image_id = a.image_id
WHERE EXISTS (SELECT 1 FROM face_matches AS m WHERE m.face_id = a.face_id OR m.matched_face_id = a.face_id)
  AND EXISTS (SELECT 1 FROM face_matches AS m WHERE m.face_id = b.face_id OR m.matched_face_id = b.face_id)
ORDER BY i.blob_name;

-- 9. The review queue: matched pairs no one has decided on yet, best first.
SELECT face_id, image_blob, matched_face_id, matched_image_blob, confidence
FROM v_match_reviews
WHERE state = 'pending'
ORDER BY confidence DESC, face_id, matched_face_id;

-- 10. Every photo of a person, found by the label a caseworker gave it (a case reference, say).
SELECT pf.blob_name AS photo, pf.face_id
FROM v_persons AS p
JOIN v_person_faces AS pf ON pf.person_id = p.person_id
WHERE p.label = 'case-0001'
ORDER BY pf.blob_name;

-- 11. The persons of a batch: how many of their faces are in it, and how many photos they have in all.
SELECT p.person_id, p.label, COUNT(pf.face_id) AS faces_in_batch, p.image_count
FROM v_persons AS p
JOIN v_person_faces AS pf ON pf.person_id = p.person_id
WHERE pf.batch_id = 'samples'
GROUP BY p.person_id, p.label, p.image_count
ORDER BY faces_in_batch DESC, p.person_id;

-- 12. A reviewer's decisions on matched pairs, latest first, and everything that reviewer did.
SELECT face_id, matched_face_id, state, decided_at
FROM v_match_reviews
WHERE reviewer = 'caseworker-1'
ORDER BY decided_at DESC;
