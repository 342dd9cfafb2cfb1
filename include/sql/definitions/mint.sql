-- A CTID for a credential type seen for the first time; a known type keeps the one it has.
INSERT INTO core.credential_definitions (credential_type, ce_ctid)
VALUES (%(credential_type)s, %(ctid)s)
ON CONFLICT (credential_type) DO NOTHING
