-- mbox_sha1sum -> employee_id for this tenant, computed in Python (Postgres has no built-in SHA1):
-- every (hash, worker) pair is COPYed into actor_hash_pairs, actor_hashes keeps the unambiguous ones.
CREATE TEMP TABLE actor_hashes (sha1 text PRIMARY KEY, employee_id text NOT NULL) ON COMMIT DROP;
CREATE TEMP TABLE actor_hash_pairs (sha1 text NOT NULL, employee_id text NOT NULL) ON COMMIT DROP;
