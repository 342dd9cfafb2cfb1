-- What the national LRS holds or is being sent (the checklist's history): everything not refused.
SELECT statement FROM core.national_lrs_statements
WHERE tenant_id = %(tenant_id)s AND state <> 'dead'
ORDER BY seq
