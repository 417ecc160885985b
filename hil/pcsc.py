"""PC/SC on this machine: find or start ``pcscd``, name the vpcd readers, share them safely.

The emulator face of the card reader needs the real PC/SC path: pyscard -> ``pcscd`` ->
the ``vpcd`` reader driver (Debian ``vsmartcard-vpcd``) -> our virtual card over TCP. vpcd
gives two readers, each waiting for a card on a fixed TCP port of this machine::

    Virtual PCD 00 00   card connects to 127.0.0.1:35963
    Virtual PCD 00 01   card connects to 127.0.0.1:35964

From Python::

    handle = ensure_pcscd()                # reuse a running pcscd, or start ``pcscd -f``
    with open_card_reader("emulator", card=card, index=0) as reader:   # devices.card: takes the
        ...                                                            # reader's lock itself
    with vpcd_lock(1):                     # anything else on a vpcd port: one process at a time
        ...                                # (a VirtualCard on vpcd_port(1), PcscReader(vpcd_reader(1)))

The locks are ``flock`` on ``/tmp/rbench-vpcd-<port>.lock``: pytest workers, two test runs and a
benchmark never put two cards on one vpcd reader.

From the shell (what ``./rb test`` runs around the test suite)::

    python -m hil.pcsc check     # exit 0 if pcscd, vpcd and pyscard are here, else say what to install
    python -m hil.pcsc start     # start pcscd -f (or reuse one); prints its PID; waits for the readers
    python -m hil.pcsc stop      # stop the pcscd that `start` started, unless a test run still uses it
    python -m hil.pcsc status    # running or not, and the readers pcscd sees

A pcscd started here runs detached with its PID in ``/tmp/rbench-pcscd.pid`` and its log in
``/tmp/rbench-pcscd.log``; one started by anyone else is used but never stopped. Users hold a
shared lock on ``/tmp/rbench-pcscd.users.lock`` while they rely on pcscd, and ``stop`` leaves it
running while any user holds it.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devices.card import VPCD_READERS
from devices.card.virtual_card import port_lock

__all__ = ["PcscError", "PcscdHandle", "VPCD_READERS", "ensure_pcscd", "pcsc_available",
           "pcscd_users", "readers", "stop_pcscd", "vpcd_lock", "vpcd_port", "vpcd_reader"]

INSTALL_HINT = ("apt-get update && apt-get install -y --no-install-recommends pcscd vsmartcard-vpcd "
                "libpcsclite-dev gcc, then `.venv/bin/pip install pyscard` (or run `./rb setup` as root)")
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
STATE_DIR = Path(os.environ.get("RBENCH_PCSC_DIR", "/tmp"))
PIDFILE = STATE_DIR / "rbench-pcscd.pid"
LOGFILE = STATE_DIR / "rbench-pcscd.log"
USERS_LOCK = STATE_DIR / "rbench-pcscd.users.lock"
START_LOCK = STATE_DIR / "rbench-pcscd.start.lock"
_SCARD_E_NO_SERVICE = 0x8010001D
_SCARD_E_NO_READERS = 0x8010002E


class PcscError(RuntimeError):
    """pcscd could not be found, started or reached; the message says what to do."""


def vpcd_reader(index: int = 0) -> str:
    """The PC/SC name of vpcd reader ``index`` (0 or 1)."""
    return _vpcd(index)[0]


def vpcd_port(index: int = 0) -> int:
    """The TCP port on 127.0.0.1 where vpcd reader ``index`` waits for a virtual card."""
    return _vpcd(index)[1]


def _vpcd(index: int) -> tuple[str, int]:
    if index not in VPCD_READERS:
        raise PcscError(f"vpcd reader {index!r}: expected 0 or 1 (vpcd has two readers)")
    return VPCD_READERS[index]


def pcsc_available() -> tuple[bool, str]:
    """(True, pcscd path) when pcscd, the vpcd driver and pyscard are all here, else (False, why)."""
    pcscd = shutil.which("pcscd") or next((p for p in ("/usr/sbin/pcscd", "/sbin/pcscd") if Path(p).is_file()), None)
    if pcscd is None:
        return False, f"pcscd not found: install it with {INSTALL_HINT}"
    if not VPCD_DRIVER.exists():
        return False, f"the vpcd reader driver ({VPCD_DRIVER}) is missing: install it with {INSTALL_HINT}"
    try:
        import smartcard.scard  # noqa: F401
    except ImportError as e:
        return False, f"pyscard is not importable ({e}): install it with {INSTALL_HINT}"
    return True, pcscd


def readers() -> list[str] | None:
    """The readers pcscd lists now, or None when no pcscd answers."""
    from smartcard import scard

    rc, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if rc != scard.SCARD_S_SUCCESS:
        return None
    try:
        rc, names = scard.SCardListReaders(ctx, [])
        if rc == _SCARD_E_NO_READERS:
            return []
        return list(names) if rc == scard.SCARD_S_SUCCESS else None
    finally:
        scard.SCardReleaseContext(ctx)


def running_pcscd_pids() -> list[int]:
    """PIDs of every pcscd process on the machine (ours or not)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError):
                if (d / "comm").read_text().strip() == "pcscd":
                    pids.append(int(d.name))
    return sorted(pids)


def _our_pid() -> int | None:
    try:
        pid = int(PIDFILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid in running_pcscd_pids() else None


@dataclass(frozen=True)
class PcscdHandle:
    pid: int | None          # None when a pcscd of unknown PID answers (started by someone else)
    started: bool            # True when this call started it


def _wait_for_vpcd(proc: subprocess.Popen | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = readers()
        if names is not None and vpcd_reader(0) in names:
            return
        if proc is not None and proc.poll() is not None:
            tail = LOGFILE.read_text(errors="replace")[-1500:] if LOGFILE.exists() else ""
            raise PcscError(f"pcscd exited with code {proc.returncode} at start (log {LOGFILE}):\n{tail}")
        time.sleep(0.02)
    names = readers()
    if names is None:
        raise PcscError(f"pcscd did not answer within {timeout:.0f} s (log {LOGFILE})")
    raise PcscError(f"pcscd runs but lists {names or 'no readers'}, not '{vpcd_reader(0)}': is vpcd "
                    f"configured (/etc/reader.conf.d/vpcd)? Install it with {INSTALL_HINT}")


def ensure_pcscd(timeout: float = 10.0) -> PcscdHandle:
    """A pcscd that answers and lists the vpcd readers: the running one, or ``pcscd -f`` started now."""
    ok, pcscd = pcsc_available()
    if not ok:
        raise PcscError(pcscd)
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with _flock(START_LOCK, fcntl.LOCK_EX):
        if readers() is not None:
            _wait_for_vpcd(None, timeout)
            return PcscdHandle(_our_pid() or next(iter(running_pcscd_pids()), None), started=False)
        if running_pcscd_pids():
            raise PcscError(f"a pcscd process runs (PID {running_pcscd_pids()}) but does not answer on its "
                            "socket: stop it, then start again")
        with open(LOGFILE, "ab") as log:
            proc = subprocess.Popen([pcscd, "-f"], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True)
        PIDFILE.write_text(f"{proc.pid}\n")
        try:
            _wait_for_vpcd(proc, timeout)
        except PcscError:
            _terminate(proc.pid)
            raise
        return PcscdHandle(proc.pid, started=True)


def _terminate(pid: int, timeout: float = 5.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid in running_pcscd_pids() and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.02)
    if pid in running_pcscd_pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    if PIDFILE.exists() and PIDFILE.read_text().split()[:1] == [str(pid)]:
        PIDFILE.unlink()


def stop_pcscd() -> str:
    """Stop the pcscd that ``ensure_pcscd`` started (by its PID file), unless it is still in use."""
    pid = _our_pid()
    if pid is None:
        PIDFILE.unlink(missing_ok=True)
        return "no pcscd started by rechargebench is running"
    with _flock(USERS_LOCK, fcntl.LOCK_EX | fcntl.LOCK_NB) as got:
        if not got:
            return f"pcscd (PID {pid}) is still used by a test run: left running"
        _terminate(pid)
    return f"stopped pcscd (PID {pid})"


@contextlib.contextmanager
def _flock(path: Path, how: int) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, how)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)                    # closing releases the lock


@contextlib.contextmanager
def pcscd_users() -> Iterator[PcscdHandle]:
    """Use pcscd for a while (a test session): start it if needed, stop it after if we started
    it and nobody else uses it by then."""
    with _flock(USERS_LOCK, fcntl.LOCK_SH):
        handle = ensure_pcscd()
        yield handle
    if handle.started:
        stop_pcscd()


@contextlib.contextmanager
def vpcd_lock(index: int | None = None, timeout: float = 300.0) -> Iterator[None]:
    """Exclusive use of vpcd reader ``index`` (None: both) across processes: pytest workers,
    two test runs, a benchmark. ``open_card_reader("emulator")`` takes its reader's lock itself;
    hold this around anything else that talks to a vpcd port."""
    ports = [vpcd_port(index)] if index is not None else [p for _, p in VPCD_READERS.values()]
    with contextlib.ExitStack() as stack:
        for port in ports:
            stack.enter_context(port_lock(port, timeout))
        yield


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.pcsc", description="Find, start and stop pcscd for the bench.")
    ap.add_argument("cmd", choices=["check", "start", "stop", "status"])
    args = ap.parse_args(argv)
    try:
        if args.cmd == "check":
            ok, why = pcsc_available()
            print(why if ok else f"PC/SC unavailable: {why}", file=sys.stdout if ok else sys.stderr)
            return 0 if ok else 1
        if args.cmd == "start":
            t0 = time.monotonic()
            h = ensure_pcscd()
            print(h.pid if h.pid is not None else "")
            how = "started" if h.started else "reusing"
            print(f"hil.pcsc: {how} pcscd (PID {h.pid}), readers {readers()} in "
                  f"{time.monotonic() - t0:.2f} s (log {LOGFILE})", file=sys.stderr)
            return 0
        if args.cmd == "stop":
            print(f"hil.pcsc: {stop_pcscd()}", file=sys.stderr)
            return 0
        names = readers() if pcsc_available()[0] else None
        if names is None:
            print("pcscd: not running (or not answering)")
            return 1
        print(f"pcscd: running (PID {running_pcscd_pids()}, ours: {_our_pid()}); readers: {names}")
        return 0
    except PcscError as e:
        print(f"hil.pcsc: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
