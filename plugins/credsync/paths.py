"""Where the project's data files live, in a checkout and in a deployed Airflow."""

import os
from pathlib import Path

# plugins/credsync/paths.py -> the repository (or AIRFLOW_HOME-style deploy) root.
PROJECT_ROOT = Path(os.environ.get("CREDSYNC_PROJECT_ROOT", Path(__file__).resolve().parents[2]))
INCLUDE_DIR = PROJECT_ROOT / "include"
SQL_DIR = INCLUDE_DIR / "sql"
MAPPINGS_DIR = INCLUDE_DIR / "mappings"
# Overridable for a deployment that keeps the GX suites elsewhere; gates only ever read them.
GX_DIR = Path(os.environ.get("CREDSYNC_GX_DIR", PROJECT_ROOT / "great_expectations"))
BUILD_DIR = Path(os.environ.get("CREDSYNC_BUILD_DIR", PROJECT_ROOT / "build"))


def sql_text(relative: str) -> str:
    """Text of a SQL file under include/sql/, e.g. ``sql_text("workers/merge.sql")``."""
    return (SQL_DIR / relative).read_text(encoding="utf-8")
