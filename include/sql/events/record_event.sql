-- Record a verified LMS completion event; returns a row only when the event is new.
-- A concurrent delivery of the same event waits on this row until the first commits.
INSERT INTO audit.lms_completion_events (tenant_id, event_id, enrollment_id, employee_id, course_code,
                                         occurred_at, body)
VALUES (%(tenant_id)s, %(event_id)s, %(enrollment_id)s, %(employee_id)s, %(course_code)s, %(occurred_at)s,
        %(body)s)
ON CONFLICT (tenant_id, event_id) DO NOTHING
RETURNING event_id
