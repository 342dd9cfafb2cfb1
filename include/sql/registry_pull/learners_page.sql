-- One page of a tenant's learners that hold at least one credential, in learner order after the
-- cursor (keyset pagination: stable while credentials are being issued).
SELECT DISTINCT c.employee_id
FROM core.credentials c
WHERE c.tenant_id = %(tenant_id)s
  AND (%(after)s::text IS NULL OR c.employee_id > %(after)s::text)
ORDER BY c.employee_id
LIMIT %(limit)s
