"""The on-call steps of README.md and docs/runbook.md, executed against a real Airflow (issue 15)."""
