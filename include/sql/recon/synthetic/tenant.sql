-- A consistent synthetic tenant for tests and the benchmark: %(workers)s workers,
-- each with an LMS learner and %(types)s credentials (completion, credential,
-- acknowledged registry submission, delivered write-backs). Statements are
-- separated by a semicolon at the end of a line (credsync_dev.synthetic splits them).
INSERT INTO core.workers (tenant_id, employee_id, source_system, given_name, family_name, work_email,
    email_normalized, employment_status, employment_type, hire_date, department, job_title, manager_id,
    source_updated_at, mapping_version, last_batch_id)
SELECT %(tenant_id)s, 'E' || lpad(i::text, 8, '0'), 'hris_main', 'Given' || i, 'Family' || i,
       'e' || i || '@' || %(tenant_id)s || '.example', 'e' || i || '@' || %(tenant_id)s || '.example',
       'active', 'employee', DATE '2020-01-01', 'D' || (i %% 20), 'Operator',
       CASE WHEN i > 10 THEN 'E' || lpad((i / 10)::text, 8, '0') END,
       %(as_of)s - interval '40 days', 'synthetic', %(batch_id)s
FROM generate_series(1, %(workers)s) AS i;

INSERT INTO core.learners (tenant_id, employee_id, scim_id, user_name, active, synced_hash)
SELECT %(tenant_id)s, employee_id, 'S' || employee_id, work_email, true, 'synthetic'
FROM core.workers WHERE tenant_id = %(tenant_id)s AND mapping_version = 'synthetic';

INSERT INTO core.completions (tenant_id, source, source_id, employee_id, course_code, verb, success,
    score, completed_at, batch_id, mapping_version)
SELECT %(tenant_id)s, 'lms_rest', w.employee_id || ':' || j, w.employee_id, 'COURSE-' || j, 'passed', true,
       90, %(as_of)s - interval '30 days' + (hashtext(w.employee_id) %% 600) * interval '1 second',
       %(batch_id)s, 'synthetic'
FROM core.workers w CROSS JOIN generate_series(1, %(types)s) AS j
WHERE w.tenant_id = %(tenant_id)s AND w.mapping_version = 'synthetic';

INSERT INTO core.credentials (credential_id, tenant_id, employee_id, credential_type, issuer, rule_version,
    issue_date, expiry_date, status, evidence_url, evidence, renewal_rule, pay_impact, version, created_at,
    evidence_key)
SELECT md5(c.tenant_id || c.source_id)::uuid, c.tenant_id, c.employee_id,
       'CERT-' || split_part(c.source_id, ':', 2), 'did:key:synthetic', 'v1',
       (c.completed_at AT TIME ZONE 'UTC')::date, ((c.completed_at AT TIME ZONE 'UTC') + interval '365 days')::date,
       'active', 'https://lms.example/evidence/' || c.source_id,
       jsonb_build_object('completed_at', c.completed_at, 'source_ids', jsonb_build_array(c.source_id)),
       'annual', split_part(c.source_id, ':', 2) = '1', 1, c.completed_at + interval '5 minutes',
       c.source || ':' || c.source_id
FROM core.completions c
WHERE c.tenant_id = %(tenant_id)s AND c.mapping_version = 'synthetic';

INSERT INTO core.registry_submissions (tenant_id, credential_id, version, operation, idempotency_key, state,
    registry_id, attempts, last_status, created_at, sent_at, acknowledged_at)
SELECT k.tenant_id, k.credential_id, 1, 'issue', 'cs-' || k.credential_id || '-v1-issue',
       'acknowledged', 'REG-' || k.credential_id, 1, 201, k.created_at,
       %(as_of)s - interval '2 hours', %(as_of)s - interval '2 hours'
           + (abs(hashtext(k.credential_id::text)) %% 3600) * interval '1 second'
FROM core.credentials k
WHERE k.tenant_id = %(tenant_id)s AND k.rule_version = 'v1' AND k.issuer = 'did:key:synthetic';

INSERT INTO core.writebacks (tenant_id, employee_id, target, credential_type, credential_id, status,
    summary, effective_from, effective_to, payload_hash, state, attempts, delivered_at)
SELECT k.tenant_id, k.employee_id, t.target, k.credential_type, k.credential_id,
       CASE WHEN t.target = 'payroll_flag' THEN 'flag_on' ELSE 'active' END, k.credential_type,
       k.issue_date, k.expiry_date, md5(k.credential_id::text || t.target), 'delivered', 1,
       %(as_of)s - interval '90 minutes' + (abs(hashtext(k.credential_id::text)) %% 3600) * interval '1 second'
FROM core.credentials k
CROSS JOIN LATERAL (VALUES ('hris_profile'), ('payroll_flag')) AS t(target)
WHERE k.tenant_id = %(tenant_id)s AND k.issuer = 'did:key:synthetic'
  AND (t.target = 'hris_profile' OR k.pay_impact);
