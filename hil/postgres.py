"""Throwaway PostgreSQL clusters: for the test suite, the load tests and the bench.

A cluster lives in one folder of its own (``DIR``)::

    DIR/data/          the cluster (PGDATA), made by initdb
    DIR/postgres.log   the server log
    DIR/.s.PGSQL.PORT  the Unix socket (the server also listens on 127.0.0.1:PORT)

Use it from Python::

    with PgCluster("/tmp/rb-pg") as pg:
        url = pg.create_database("orders")      # postgresql://postgres@127.0.0.1:PORT/orders

or from the shell (this is what ``./rb test`` does)::

    python -m hil.postgres start --dir /tmp/rb-pg [--port P]   # prints the URL, server keeps running
    python -m hil.postgres stop --dir /tmp/rb-pg

``initdb`` and ``pg_ctl`` refuse to run as root: as root, the folder is handed to the
``postgres`` user and both run through ``runuser -u postgres --``. The machine's own
cluster (``pg_ctlcluster``, port 5432, /var/run/postgresql) is never touched.

fsync stays on: this database holds money. Authentication is ``trust`` and the server
listens on the loopback address only.
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

__all__ = ["PgCluster", "PgError", "find_bindir", "free_port", "pg_available", "url_with_dbname"]

INSTALL_HINT = "apt-get install -y postgresql"
SUPERUSER = "postgres"
OS_USER = "postgres"  # the account that runs the server when we are root
HOST = "127.0.0.1"
DEFAULT_SETTINGS: dict[str, str] = {
    "fsync": "on",  # money: never off
    "max_connections": "200",
    "shared_buffers": "256MB",
    # The usual setting for a database on SSD whose working set is in memory. With the default
    # (4) the planner prefers a sequential scan of a table of a few pages over its primary
    # key: the state of a fresh benchmark or test database, not of an operator's, whose
    # subscribers table is large. A subscriber read then filtered all 230 rows (84 µs) instead
    # of one index probe (32 µs), EXPLAIN ANALYZE in docs/benchmarks.md.
    "random_page_cost": "1.1",
}
_START_TIMEOUT_S = 60
_IDENT_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PgError(RuntimeError):
    """A throwaway cluster could not be made, started or stopped; the message says why."""


# --------------------------------------------------------------------------- discovery


def _is_root() -> bool:
    return os.geteuid() == 0


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", path.parent.name)) or (0,)


def find_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl: $RBENCH_PG_BINDIR, the highest
    /usr/lib/postgresql/*/bin, ``pg_config --bindir``, or the PATH; None if none has them."""
    override = os.environ.get("RBENCH_PG_BINDIR")
    if override:
        p = Path(override)
        return p if (p / "initdb").is_file() and (p / "pg_ctl").is_file() else None
    debian = [b for b in Path("/usr/lib/postgresql").glob("*/bin") if (b / "initdb").is_file() and (b / "pg_ctl").is_file()]
    if debian:
        return max(debian, key=_version_key)
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            b = Path(out.stdout.strip())
            if out.returncode == 0 and (b / "initdb").is_file() and (b / "pg_ctl").is_file():
                return b
        except (OSError, subprocess.SubprocessError):
            pass
    initdb = shutil.which("initdb")
    if initdb and (Path(initdb).parent / "pg_ctl").is_file():
        return Path(initdb).parent
    return None


def pg_available() -> tuple[bool, str]:
    """(True, bindir) when a throwaway cluster can be started here, else (False, what to do)."""
    bindir = find_bindir()
    if bindir is None:
        return False, (
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install them with "
            f"`{INSTALL_HINT}` (as root; `./rb test` does it when run as root)"
        )
    if _is_root():
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            return False, (
                f"running as root needs the '{OS_USER}' user to run initdb/pg_ctl, and it does "
                f"not exist: `{INSTALL_HINT}` creates it"
            )
        if shutil.which("runuser") is None:
            return False, "running as root needs `runuser` (Debian package util-linux) to run initdb/pg_ctl"
    return True, str(bindir)


def free_port(host: str = HOST) -> int:
    """A TCP port that was free on ``host`` a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def url_with_dbname(url: str, dbname: str) -> str:
    """``url`` pointing at database ``dbname`` instead (user, host, port and options kept)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def _check_ident(name: str) -> str:
    if not _IDENT_RE.match(name):
        raise PgError(
            f"invalid database name {name!r}: expected lower-case letters, digits and '_', "
            "starting with a letter or '_', at most 63 characters"
        )
    return name


# ----------------------------------------------------------------------------- cluster


class PgCluster:
    """One throwaway PostgreSQL cluster in ``directory``, on 127.0.0.1:``port``.

    ``port=None`` picks a free port. The cluster is made (initdb) on the first start and
    reused after. Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        port: int | None = None,
        *,
        bindir: str | os.PathLike[str] | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.dir = Path(directory).absolute()
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port()
        if bindir is None:
            ok, why = pg_available()
            if not ok:
                raise PgError(why)
            bindir = why
        self.bindir = Path(bindir)
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self._as_root = _is_root()

    # -- addresses

    @property
    def url(self) -> str:
        """URL of the ``postgres`` database as the ``postgres`` superuser."""
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{dbname}"

    @property
    def socket_url(self) -> str:
        """As ``url``, through the Unix socket in ``DIR``: for a client on the same host, half
        the CPU per round trip of loopback TCP on both sides (docs/benchmarks.md)."""
        return self.socket_url_for("postgres")

    def socket_url_for(self, dbname: str) -> str:
        return f"postgresql://{SUPERUSER}@/{dbname}?host={quote(str(self.dir), safe='/')}&port={self.port}"

    def bin(self, name: str) -> str:
        """Path of one of this PostgreSQL's programs (``pgbench``, ``psql``, ...)."""
        p = self.bindir / name
        if not p.is_file():
            raise PgError(f"{name} not found in {self.bindir}")
        return str(p)

    # -- running commands as the right user

    def _run(self, args: list[str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = ["runuser", "-u", OS_USER, "--", *args] if self._as_root else args
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        env["LANG"] = "C.UTF-8"
        # cwd: the postgres user may not be able to enter the caller's folder (/root).
        return subprocess.run(
            cmd, cwd=self.dir, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )

    def _prepare_dir(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self._as_root:
            return
        pw = pwd.getpwnam(OS_USER)
        st = self.dir.stat()
        if st.st_uid != pw.pw_uid:
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o700)
        probe = subprocess.run(
            ["runuser", "-u", OS_USER, "--", "test", "-w", str(self.dir), "-a", "-x", str(self.dir)],
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
        if probe.returncode != 0:
            raise PgError(
                f"the '{OS_USER}' user cannot reach {self.dir} (a parent folder is closed to it, "
                "e.g. /root or pytest's tmp_path): put the cluster under /tmp"
            )

    def _initdb(self) -> None:
        if (self.data / "PG_VERSION").is_file():
            return
        r = self._run(
            [
                str(self.bindir / "initdb"),
                "-D", str(self.data),
                "-A", "trust",
                "-U", SUPERUSER,
                "-E", "UTF8",
                "--locale=C.UTF-8",
            ]
        )
        if r.returncode != 0:
            raise PgError(f"initdb failed in {self.data}:\n{r.stdout}{r.stderr}".rstrip())

    def _options(self) -> str:
        opts = [f"-k {self.dir}", f"-h {HOST}", f"-p {self.port}"]
        opts += [f"-c {k}={v}" for k, v in self.settings.items()]
        return " ".join(opts)

    def _log_tail(self, since: int = 0, lines: int = 25) -> str:
        try:
            with open(self.log, "rb") as f:
                f.seek(since)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def running_port(self) -> int | None:
        """The port of the server running on this folder's cluster, or None."""
        if not (self.data / "PG_VERSION").is_file():
            return None
        r = self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "status"], timeout=30)
        if r.returncode != 0:
            return None
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
            return int(lines[3])
        except (OSError, IndexError, ValueError):
            return None

    # -- lifecycle

    def start(self) -> PgCluster:
        """Make the cluster if needed and start the server; return when it takes connections."""
        self._prepare_dir()
        self._initdb()
        already = self.running_port()
        if already is not None:
            self.port = already
            return self
        attempts = 1 if self._fixed_port else 5
        for attempt in range(attempts):
            log_offset = self.log.stat().st_size if self.log.exists() else 0
            r = self._run(
                [
                    str(self.bindir / "pg_ctl"),
                    "-D", str(self.data),
                    "-l", str(self.log),
                    "-o", self._options(),
                    "-w", "-t", str(_START_TIMEOUT_S),
                    "start",
                ],
                timeout=_START_TIMEOUT_S + 30,
            )
            if r.returncode == 0:
                return self
            tail = self._log_tail(log_offset)
            if not self._fixed_port and "could not bind" in tail and attempt + 1 < attempts:
                self.port = free_port()  # lost a race for the port: try another
                continue
            raise PgError(
                f"PostgreSQL did not start on {HOST}:{self.port} (cluster {self.data}):\n"
                f"{r.stdout}{r.stderr}\n--- {self.log} ---\n{tail}".rstrip()
            )
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the server (fast shutdown); nothing happens if it is not running."""
        if not (self.data / "PG_VERSION").is_file() or self.running_port() is None:
            return
        r = self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])
        if r.returncode != 0 and self.running_port() is not None:
            raise PgError(f"pg_ctl stop failed for {self.data}:\n{r.stdout}{r.stderr}".rstrip())

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- databases

    def create_database(self, name: str) -> str:
        """Create database ``name`` (owned by the superuser) and return its URL."""
        create_database(self.url, name)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        drop_database(self.url, name)


# ----------------------------------------------------------- databases on any server


def create_database(server_url: str, name: str) -> str:
    """CREATE DATABASE ``name`` on the server of ``server_url``; return the new database's URL."""
    import psycopg
    from psycopg import sql

    _check_ident(name)
    with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return url_with_dbname(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """DROP DATABASE ``name`` if it exists, closing any connection still open on it."""
    import psycopg
    from psycopg import sql

    _check_ident(name)
    with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# --------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m hil.postgres", description="Start and stop a throwaway PostgreSQL cluster."
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_start = sub.add_parser("start", help="make (if needed) and start a cluster; print its URL")
    p_start.add_argument("--dir", required=True, help="folder of the cluster (under /tmp when root)")
    p_start.add_argument("--port", type=int, default=None, help="TCP port on 127.0.0.1 (default: a free one)")
    p_stop = sub.add_parser("stop", help="stop the cluster in --dir (no error if not running)")
    p_stop.add_argument("--dir", required=True)
    p_url = sub.add_parser("url", help="print the URL of the running cluster in --dir")
    p_url.add_argument("--dir", required=True)
    sub.add_parser("check", help="exit 0 if a cluster can be started here, else say what to install")
    args = ap.parse_args(argv)

    try:
        if args.cmd == "check":
            ok, why = pg_available()
            print(why if ok else f"PostgreSQL unavailable: {why}", file=sys.stdout if ok else sys.stderr)
            return 0 if ok else 1
        if args.cmd == "start":
            t0 = time.monotonic()
            pg = PgCluster(args.dir, args.port).start()
            print(pg.url)
            print(f"PostgreSQL up on {HOST}:{pg.port} in {time.monotonic() - t0:.1f}s (log {pg.log})", file=sys.stderr)
            return 0
        pg = PgCluster(args.dir, 0)  # port unused for stop/url
        if args.cmd == "stop":
            pg.stop()
            return 0
        port = pg.running_port()
        if port is None:
            print(f"no PostgreSQL server running on {pg.data}", file=sys.stderr)
            return 1
        pg.port = port
        print(pg.url)
        return 0
    except PgError as e:
        print(f"hil.postgres: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
