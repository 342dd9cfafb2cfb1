-- mbox_sha1sum -> employee_id for this tenant, computed in Python (Postgres has no built-in SHA1).
CREATE TEMP TABLE actor_hashes (sha1 text PRIMARY KEY, employee_id text NOT NULL) ON COMMIT DROP
