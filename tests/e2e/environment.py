"""The environment every end-to-end scenario runs in: the demo's, on the session's Postgres."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from credsync_dev.localenv.pipeline import DemoEnvironment, demo_environment


@contextlib.contextmanager
def e2e_environment(build_dir: Path, postgres_server, workforce: Mapping[str, Mapping[str, int]]
                    ) -> Iterator[DemoEnvironment]:
    """Sandboxes, Airflow home and a temporary warehouse database under ``build_dir``.

    The warehouse is a temporary database on the session's Postgres: an embedded server
    under tmp_path would die when another pytest session on the machine resets
    /tmp/pytest-of-<user> to 0700 under it.
    """
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CREDSYNC_BUILD_DIR", str(build_dir))  # never the repository's build/
        env.setenv("CREDSYNC_DATABASE_URL", postgres_server.url)
        # tests/conftest.py puts this process in unit-test mode; the DAG runs are the real thing.
        env.delenv("AIRFLOW__CORE__UNIT_TEST_MODE", raising=False)
        with demo_environment(build_dir, workforce=workforce, temporary_database=True) as demo:
            yield demo
