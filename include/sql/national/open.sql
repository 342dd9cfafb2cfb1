-- Statements still to send: never sent, or sent without an answer (a crash or a lost response).
SELECT statement_id, statement, attempts FROM core.national_lrs_statements
WHERE tenant_id = %(tenant_id)s AND state IN ('pending', 'sent')
ORDER BY seq
