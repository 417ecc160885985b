"""Shared fixtures of the test suite."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

# Property tests: no per-example deadline (these shared 2-core machines stall at random), and
# in CI a fixed derandomised search, so a red CI is reproducible and never a coin toss; run
# locally to explore new examples (each failure prints the example to replay).
settings.register_profile("ci", derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no") else "dev")

# =============================================================================
# PostgreSQL: one server per test run, one fresh database per test
# -----------------------------------------------------------------------------
# `./rb test` starts one throwaway server for the whole run and exports
# RBENCH_PG_URL=postgresql://postgres@127.0.0.1:PORT/postgres; without it, each
# pytest worker starts its own (hil.postgres) under /tmp. When PostgreSQL cannot be
# had, the tests needing it skip and say what to install, except under CI (CI set):
# there they fail, because in CI these tests must run.
# =============================================================================


def _pg_unavailable(reason: str) -> None:
    """Skip with ``reason``, or fail when running under CI."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"PostgreSQL is required under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def pg_binaries() -> str:
    """The folder of the PostgreSQL server programs (initdb, pg_ctl, pgbench...)."""
    from hil.postgres import pg_available

    ok, why = pg_available()
    if not ok:
        _pg_unavailable(why)
    return why


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server's ``postgres`` database, as superuser ``postgres``.

    $RBENCH_PG_URL when set (``./rb test`` sets it), else a throwaway cluster started for
    this pytest worker and stopped at the end of the session.
    """
    try:
        import psycopg  # noqa: F401
    except ImportError as e:
        _pg_unavailable(f"psycopg is not installed ({e}): run `./rb test`, which installs it into .venv")
    url = os.environ.get("RBENCH_PG_URL")
    if url:
        yield url
        return

    from hil.postgres import PgCluster, PgError, pg_available

    ok, why = pg_available()
    if not ok:
        _pg_unavailable(why)
    directory = tempfile.mkdtemp(prefix=f"rbench-pg-{_worker_id()}-", dir="/tmp")
    cluster = PgCluster(directory)
    try:
        cluster.start()
    except PgError as e:
        shutil.rmtree(directory, ignore_errors=True)
        pytest.fail(str(e), pytrace=False)
    try:
        yield cluster.url
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


_pg_db_counter = itertools.count(1)


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """URL of a fresh, empty database made for this test alone and dropped after it.

    Named rbt_<worker>_<pid>_<n>, so tests on pytest-xdist workers (and two runs sharing one
    server) never collide.
    """
    from hil.postgres import create_database, drop_database

    name = f"rbt_{_worker_id()}_{os.getpid()}_{next(_pg_db_counter)}".lower()
    url = create_database(pg_server_url, name)
    try:
        yield url
    finally:
        drop_database(pg_server_url, name)


# =============================================================================
# (end of the PostgreSQL section)
# =============================================================================


# =============================================================================
# The core on both stores
# =============================================================================


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """Each store test runs twice: on an SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rb.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'rb.db'}"
