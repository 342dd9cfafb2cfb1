INSERT INTO recon_lms_users
SELECT s.scim_id,
       coalesce(nullif(s.external_id, ''), l.employee_id),
       s.active,
       s.email_normalized,
       s.department,
       s.manager_value,
       -- several accounts for one worker: reported once, as learner_duplicate, not per account
       coalesce(nullif(s.external_id, ''), l.employee_id) IS NOT NULL
           AND count(*) OVER (PARTITION BY coalesce(nullif(s.external_id, ''), l.employee_id)) > 1
FROM staging.lms_learners_snapshot s
LEFT JOIN core.learners l ON l.tenant_id = s.tenant_id AND l.scim_id = s.scim_id
WHERE s.snapshot_id = %(lms_snapshot)s;
