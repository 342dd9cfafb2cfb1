UPDATE core.credential_definitions
SET published_hash = %(hash)s, definition = %(definition)s, lifecycle = %(lifecycle)s,
    published_at = now(), versions = versions + 1
WHERE credential_type = %(credential_type)s
