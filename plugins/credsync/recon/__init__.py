"""Reconciliation of HRIS, LMS, credentials, registry and HRIS write-backs.

Plain modules (no Airflow at import time): ``config`` (include/recon.yaml),
``listings`` (HTTP listings of the outside systems), ``snapshots`` (COPY into
staging snapshot tables), ``compare`` (set-based comparisons and the findings
lifecycle), ``gate`` (Great Expectations check of a run), ``alerts`` and
``report`` (HTML + PNG charts).
"""
