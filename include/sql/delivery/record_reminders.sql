-- The reminder due on as_of for each active credential: the nearest threshold already reached
-- (so a first run 18 days before expiry records the 30-day reminder, not 90/60/30 at once;
-- a missed day is caught up the next day). Each (credential, threshold) is recorded once.
-- schedule: (credential_type, days_before); '*' applies to types without their own entry.
WITH schedule AS (
    SELECT * FROM unnest(%(types)s::text[], %(days)s::int[]) AS s(credential_type, days_before)
), due AS (
    SELECT DISTINCT ON (c.credential_id)
           c.tenant_id, c.credential_id, s.days_before, c.expiry_date - s.days_before AS remind_on
    FROM core.credentials c
    JOIN schedule s
      ON s.credential_type = c.credential_type
      OR (s.credential_type = '*'
          AND NOT EXISTS (SELECT 1 FROM schedule k WHERE k.credential_type = c.credential_type))
    WHERE c.tenant_id = %(tenant_id)s
      AND c.status = 'active'
      AND c.expiry_date IS NOT NULL
      AND c.expiry_date - s.days_before <= %(as_of)s::date
      AND %(as_of)s::date <= c.expiry_date
    ORDER BY c.credential_id, s.days_before
)
INSERT INTO core.expiry_reminders (tenant_id, credential_id, days_before, remind_on)
SELECT tenant_id, credential_id, days_before, remind_on FROM due
ON CONFLICT (credential_id, days_before) DO NOTHING
RETURNING credential_id::text, days_before, remind_on
