"""Local set-up for the two README commands: embedded Postgres, Airflow home, demo."""
