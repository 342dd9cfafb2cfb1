"""IdP sandbox (Okta-like Groups API)."""
