-- Close every open finding of the compared comparisons this run no longer sees.
UPDATE recon.findings f
SET resolved_at = %(seen_at)s, resolved_run_id = %(run_id)s
WHERE f.tenant_id = %(tenant_id)s
  AND f.resolved_at IS NULL
  AND f.comparison = ANY(%(comparisons)s)
  AND NOT EXISTS (SELECT 1 FROM recon_observed o
                  WHERE o.finding_type = f.finding_type AND o.entity_key = f.entity_key);
