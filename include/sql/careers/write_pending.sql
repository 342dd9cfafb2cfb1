-- Approved cases whose eligibility the HRIS profile has not taken yet (the approval's write-back
-- failed or is still to come), with what the write says. Stable content: a resend is identical.
SELECT c.case_id::text, c.employee_id, c.eligible_for, c.rule_id, c.rule_version, c.decided_by,
       c.decided_at, array(SELECT unnest(c.credential_ids)::text ORDER BY 1) AS credential_ids
FROM core.career_eligibility_cases c
WHERE c.tenant_id = %(tenant_id)s AND c.state = 'approved' AND c.hris_written_at IS NULL
  AND (%(case_id)s::uuid IS NULL OR c.case_id = %(case_id)s::uuid)
ORDER BY c.decided_at, c.case_id
