"""HRIS sandbox: delta export, CSV file drop, signed webhooks and write-back (docs/architecture.md)."""
