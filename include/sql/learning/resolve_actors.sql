-- The worker each candidate names: account = employee_id, mbox = normalised work email
-- (only when exactly one worker has it), sha1 = hash of the work email's mailto: IRI.
CREATE TEMP TABLE resolved_candidates ON COMMIT DROP AS
SELECT c.*,
       CASE split_part(c.actor_key, ':', 1)
           WHEN 'account' THEN (SELECT w.employee_id FROM core.workers AS w
                                WHERE w.tenant_id = %(tenant_id)s
                                  AND w.employee_id = substr(c.actor_key, length('account:') + 1))
           WHEN 'mbox' THEN (SELECT min(w.employee_id) FROM core.workers AS w
                             WHERE w.tenant_id = %(tenant_id)s
                               AND w.email_normalized = substr(c.actor_key, length('mbox:') + 1)
                             HAVING count(*) = 1)
           WHEN 'sha1' THEN (SELECT a.employee_id FROM actor_hashes AS a
                             WHERE a.sha1 = substr(c.actor_key, length('sha1:') + 1))
       END AS employee_id
FROM completion_candidates AS c
