-- 0012_trusted_credentials: did:web issuer keys, Bitstring Status List entries, stable award ids.

-- Public keys each issuer has signed with (private keys stay in Connections / secrets backends).
-- Every key stays listed in the DID document; retired_at is published as the method's `expires`:
-- credentials it signed before then verify, credentials dated after it are refused.
CREATE TABLE core.issuer_keys (
    tenant_id      text NOT NULL,              -- the tenant the issuer belongs to
    issuer_did     text NOT NULL,
    key_id         text NOT NULL,              -- fragment of the verification method: key-<thumbprint>
    public_jwk     jsonb NOT NULL,
    added_at       timestamptz NOT NULL DEFAULT now(),
    retired_at     timestamptz,
    retire_reason  text,
    PRIMARY KEY (issuer_did, key_id)
);

-- One Bitstring Status List per issuer, purpose and number; what was last published.
CREATE TABLE core.status_lists (
    tenant_id         text NOT NULL,
    issuer_did        text NOT NULL,
    purpose           text NOT NULL CHECK (purpose IN ('revocation', 'suspension')),
    list_number       integer NOT NULL CHECK (list_number > 0),
    size              integer NOT NULL DEFAULT 131072 CHECK (size >= 131072 AND size % 8 = 0),
    published_sha256  text,                   -- of the encoded list last written to the object store
    published_at      timestamptz,
    set_bits          integer NOT NULL DEFAULT 0,
    PRIMARY KEY (issuer_did, purpose, list_number)
);

-- A credential's index in its issuer's list: allocated once, at random, never reused.
CREATE TABLE core.credential_status (
    tenant_id      text NOT NULL,
    credential_id  uuid NOT NULL REFERENCES core.credentials (credential_id),
    issuer_did     text NOT NULL,
    purpose        text NOT NULL,
    list_number    integer NOT NULL,
    list_index     integer NOT NULL CHECK (list_index >= 0),
    PRIMARY KEY (credential_id, purpose),
    UNIQUE (issuer_did, purpose, list_number, list_index),
    FOREIGN KEY (issuer_did, purpose, list_number) REFERENCES core.status_lists (issuer_did, purpose, list_number)
);

-- The award a credential belongs to: its first issue. A renewal keeps the award's VC id.
ALTER TABLE core.credentials
    ADD COLUMN award_id uuid,
    ADD COLUMN issuer_did text,
    ADD COLUMN signing_key_id text;
UPDATE core.credentials SET award_id = credential_id WHERE award_id IS NULL AND previous_credential_id IS NULL;
WITH RECURSIVE chain AS (
    SELECT credential_id, credential_id AS root FROM core.credentials WHERE previous_credential_id IS NULL
    UNION ALL
    SELECT c.credential_id, chain.root FROM core.credentials c JOIN chain ON c.previous_credential_id = chain.credential_id
)
UPDATE core.credentials c SET award_id = chain.root FROM chain
WHERE c.credential_id = chain.credential_id AND c.award_id IS NULL;
