"""Development tooling for credsync: the local environment behind ``make demo``/``make airflow``,
the benchmarks behind ``make bench``, and synthetic data for tests.

Not part of the deployed plugin package (``plugins/credsync``): it imports ``sandbox`` and
test-only libraries, and nothing under ``plugins/`` or ``dags/`` may import it.
"""
