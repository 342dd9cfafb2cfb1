-- A hash two workers share cannot tell them apart: left out, so its statements stay unresolved (held).
INSERT INTO actor_hashes (sha1, employee_id)
SELECT sha1, min(employee_id) FROM actor_hash_pairs GROUP BY sha1 HAVING count(DISTINCT employee_id) = 1
