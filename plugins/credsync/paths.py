"""Where the project's data files live, in a checkout and in a deployed Airflow."""

import os
from pathlib import Path


def _project_root() -> Path:
    """The directory holding include/ and great_expectations/.

    CREDSYNC_PROJECT_ROOT when set; else the checkout this module sits in (plugins/credsync/paths.py);
    else, for the package installed with ``pip install .``, AIRFLOW_HOME (Airflow's own default
    ``~/airflow``), where the deploy steps copy include/ and great_expectations/ (README, "Deploying
    into an existing Airflow").
    """
    configured = os.environ.get("CREDSYNC_PROJECT_ROOT")
    if configured:
        return Path(configured)
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "include" / "tenants.yaml").is_file():
        return checkout
    return Path(os.environ.get("AIRFLOW_HOME", "~/airflow")).expanduser()


PROJECT_ROOT = _project_root()
INCLUDE_DIR = PROJECT_ROOT / "include"
SQL_DIR = INCLUDE_DIR / "sql"
MAPPINGS_DIR = INCLUDE_DIR / "mappings"
# Overridable for a deployment that keeps the GX suites elsewhere; gates only ever read them.
GX_DIR = Path(os.environ.get("CREDSYNC_GX_DIR", PROJECT_ROOT / "great_expectations"))
BUILD_DIR = Path(os.environ.get("CREDSYNC_BUILD_DIR", PROJECT_ROOT / "build"))


def sql_text(relative: str) -> str:
    """Text of a SQL file under include/sql/, e.g. ``sql_text("workers/merge.sql")``."""
    return (SQL_DIR / relative).read_text(encoding="utf-8")
