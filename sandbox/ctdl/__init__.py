"""A Credential Engine-style registry of credential definitions (CTDL), for credsync's tests."""
