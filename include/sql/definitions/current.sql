-- Every type with a CTID, with the hash and body of the last definition the registry accepted.
SELECT credential_type, ce_ctid, lifecycle, published_hash, definition
FROM core.credential_definitions
ORDER BY credential_type
