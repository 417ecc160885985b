"""hil.postgres: throwaway PostgreSQL clusters, and the pg_url fixture built on them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import hil.postgres as hp
from hil.postgres import PgCluster, PgError, url_with_dbname

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def cluster_dir() -> Iterator[str]:
    # Under /tmp, not tmp_path: as root the cluster runs as 'postgres', which cannot enter
    # pytest's /tmp/pytest-of-root (mode 0700).
    d = tempfile.mkdtemp(prefix="rbench-pgtest-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_cluster_start_query_create_database_stop(pg_binaries: str, cluster_dir: str) -> None:
    with PgCluster(cluster_dir) as pg:
        assert pg.url == f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
        with psycopg.connect(pg.url) as conn:
            assert conn.execute("SELECT 1 + 1").fetchone() == (2,)
            assert conn.execute("SHOW fsync").fetchone() == ("on",)  # money: fsync stays on
            assert conn.execute("SHOW max_connections").fetchone() == ("200",)
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)

        url = pg.create_database("orders_test")
        assert url.endswith(f":{pg.port}/orders_test")
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE t (id int PRIMARY KEY, amount_minor bigint NOT NULL)")
            conn.execute("INSERT INTO t VALUES (1, 1500)")
            conn.commit()
            assert conn.execute("SELECT current_database(), sum(amount_minor) FROM t").fetchone() == (
                "orders_test",
                1500,
            )

        socket_url = url_with_dbname(pg.socket_url, "orders_test")       # the same server, through its socket
        assert socket_url.startswith("postgresql://postgres@/orders_test?host=")
        with psycopg.connect(socket_url) as conn:
            assert conn.execute("SELECT sum(amount_minor) FROM t").fetchone() == (1500,)
            assert conn.info.host.startswith("/")            # not 127.0.0.1

        assert Path(pg.bin("pgbench")).is_file()
        with pytest.raises(PgError, match="not found"):
            pg.bin("no-such-program")
        with pytest.raises(PgError, match="invalid database name"):
            pg.create_database("Robert'); DROP TABLE students;--")

        port = pg.port
        assert pg.running_port() == port

    assert pg.running_port() is None
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=3)
    pg.stop()  # stopping a stopped cluster is fine


def test_cli_start_prints_url_and_stop(pg_binaries: str, cluster_dir: str) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hil.postgres", *args], cwd=REPO, capture_output=True, text=True, timeout=120
        )

    started = cli("start", "--dir", cluster_dir)
    try:
        assert started.returncode == 0, started.stderr
        url = started.stdout.strip()
        assert url.startswith("postgresql://postgres@127.0.0.1:") and url.endswith("/postgres")
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 42").fetchone() == (42,)
        again = cli("start", "--dir", cluster_dir)  # already running: same URL, no error
        assert again.returncode == 0 and again.stdout.strip() == url
        assert cli("url", "--dir", cluster_dir).stdout.strip() == url
    finally:
        stopped = cli("stop", "--dir", cluster_dir)
    assert stopped.returncode == 0, stopped.stderr
    assert cli("url", "--dir", cluster_dir).returncode == 1


@pytest.mark.parametrize("run", [1, 2])
def test_pg_url_gives_each_test_a_fresh_database(pg_url: str, run: int) -> None:
    # Both runs create the same table: it would clash if the database were shared.
    with psycopg.connect(pg_url) as conn:
        dbname = conn.execute("SELECT current_database()").fetchone()[0]
        assert dbname.startswith("rbt_") and pg_url.endswith("/" + dbname)
        conn.execute("CREATE TABLE ledger (posting_id bigint PRIMARY KEY, amount_minor bigint NOT NULL)")
        conn.execute("INSERT INTO ledger VALUES (%s, %s)", (run, 100 * run))
        conn.commit()
        assert conn.execute("SELECT count(*) FROM ledger").fetchone() == (1,)


def test_pg_url_database_is_dropped_after_the_test(pg_server_url: str) -> None:
    with psycopg.connect(pg_server_url) as conn:
        leftovers = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"rbt\\_%\\_{os.getpid()}\\_%",)
        ).fetchall()
    # Earlier pg_url tests of this worker have been dropped; none is open now.
    assert leftovers == []


def test_pg_available_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hp, "find_bindir", lambda: None)
    ok, why = hp.pg_available()
    assert not ok
    assert "apt-get install -y postgresql" in why


def test_free_port_is_bindable() -> None:
    import socket

    port = hp.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_url_with_dbname_keeps_the_rest() -> None:
    assert (
        hp.url_with_dbname("postgresql://postgres@127.0.0.1:5555/postgres?sslmode=disable", "rbt_gw0_1")
        == "postgresql://postgres@127.0.0.1:5555/rbt_gw0_1?sslmode=disable"
    )
