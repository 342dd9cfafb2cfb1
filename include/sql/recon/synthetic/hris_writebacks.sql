-- What the HRIS holds for a tenant in agreement with core's delivered write-backs.
SELECT b.target, b.employee_id, b.credential_type,
       CASE WHEN b.target = 'hris_profile' THEN b.status END,
       CASE WHEN b.target = 'payroll_flag' THEN b.status = 'flag_on' END,
       b.effective_from, b.effective_to, b.credential_id::text, b.delivered_at
FROM core.writebacks b
WHERE b.tenant_id = %(tenant_id)s AND b.state = 'delivered'
