-- Move statements forward: sent (before the request leaves), acknowledged, or dead.
UPDATE core.national_lrs_statements
SET state = %(state)s,
    attempts = attempts + CASE WHEN %(state)s = 'sent' THEN 1 ELSE 0 END,
    sent_at = CASE WHEN %(state)s = 'sent' THEN now() ELSE sent_at END,
    acknowledged_at = CASE WHEN %(state)s = 'acknowledged' THEN now() ELSE acknowledged_at END,
    last_status = coalesce(%(status)s, last_status),
    last_error = coalesce(%(error)s, last_error),
    refused_rule = coalesce(%(rule)s, refused_rule)
WHERE tenant_id = %(tenant_id)s AND statement_id = ANY(%(ids)s::uuid[])
  AND state <> 'acknowledged'
