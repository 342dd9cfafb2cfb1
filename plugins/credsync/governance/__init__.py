"""Data governance: residency of personal data (more to come: consent, retention, erasure)."""
