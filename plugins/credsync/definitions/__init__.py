"""Credential types published as definitions (CTDL) to a Credential Engine-style registry."""
