"""Start the network side as real processes (the gateway service and the SMSC service, each
its own uvicorn) and wire a core to them over HTTP, as in production.

    with EmulatorServices.start(profile="normal", seed=7, core_url="http://127.0.0.1:8080") as net:
        core = networked_core("sqlite:///rb.db", net.gateway_url, net.smsc_url)
        ...                     # core.gateways: HTTP clients; core.sms: posts to the SMSC service

``rbench serve --with-emulators`` does exactly this, then serves the core; ``rbench load``
runs that command. Each service exits by itself when the process that started it dies, so a
killed parent never leaves them listening.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from core.adapters.gateway_direct import service_gateways
from core.adapters.smsc_http import HttpSmsSender
from core.clock import SystemClock, ThreadScheduler
from core.wiring import Core, build_core, uuid_ids
from hil.server import free_port

START_TIMEOUT_S = 30.0
CONFIG_ENV = "RBENCH_NETWORKED_CORE"      # JSON config of app_from_env (uvicorn workers)


class ServiceError(RuntimeError):
    """A service did not start or answer; the message names it and ends with its log."""


def exit_with_parent(parent_pid: int) -> None:
    """In a service: exit when ``parent_pid`` is gone (a killed parent must not leave us running)."""
    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(0)
    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def wait_healthy(url: str, proc: subprocess.Popen | None, what: str, log: Path | None,
                 timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc is not None and proc.poll() is not None:
            raise ServiceError(f"{what} exited with status {proc.returncode} before answering on {url}"
                               + _tail(log))
        if time.monotonic() > deadline:
            raise ServiceError(f"{what} did not answer {url}/healthz within {timeout_s:.0f} s" + _tail(log))
        time.sleep(0.05)


def _tail(log: Path | None, lines: int = 15) -> str:
    if log is None or not log.is_file():
        return ""
    text = log.read_text(errors="replace").strip().splitlines()[-lines:]
    return ("; its log " + str(log) + ":\n" + "\n".join(text)) if text else ""


@dataclass
class EmulatorServices:
    gateway_url: str
    smsc_url: str
    procs: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @classmethod
    def start(cls, *, profile: str = "normal", seed: int = 0, core_url: str | None = None,
              host: str = "127.0.0.1", gateway_port: int | None = None, smsc_port: int | None = None,
              callback_secret: str | None = None, log_dir: Path | None = None) -> EmulatorServices:
        log_dir = Path(log_dir or tempfile.mkdtemp(prefix="rbench-emulators-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        smsc_port, gateway_port = smsc_port or free_port(), gateway_port or free_port()
        net = cls(f"http://{host}:{gateway_port}", f"http://{host}:{smsc_port}")
        parent = ["--parent-pid", str(os.getpid())]
        try:                                   # both start at once; the gateways need no SMSC until an OTP
            net._spawn([sys.executable, "-m", "hil.smsc_service", "--host", host, "--port", str(smsc_port),
                        "--profile", profile, "--seed", str(seed), *parent], log_dir / "smsc.log")
            cmd = [sys.executable, "-m", "hil.gateway_service", "--host", host, "--port", str(gateway_port),
                   "--smsc", net.smsc_url, "--profile", profile, "--seed", str(seed), *parent]
            env = dict(os.environ, **({"RBENCH_CALLBACK_SECRET": callback_secret} if callback_secret else {}))
            net._spawn(cmd + (["--core", core_url] if core_url else []), log_dir / "gateways.log", env)
            wait_healthy(net.smsc_url, net.procs[0], "SMSC service", net.logs[0])
            wait_healthy(net.gateway_url, net.procs[1], "gateway service", net.logs[1])
        except BaseException:
            net.stop()
            raise
        return net

    def _spawn(self, cmd: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        out = open(log, "ab")
        try:                                   # secrets travel in the environment, never in argv
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        finally:
            out.close()
        self.procs.append(proc)
        self.logs.append(log)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.procs.clear()

    def __enter__(self) -> EmulatorServices:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def networked_core(db_url: str, gateway_url: str, smsc_url: str, *, seed: int | str = 0) -> Core:
    """A core on the wall clock whose gateways and SMSC are the services at these URLs."""
    return build_core(db_url, clock=SystemClock(), scheduler=ThreadScheduler(), seed=seed,
                      gateways=service_gateways(gateway_url), sms=HttpSmsSender(smsc_url), new_id=uuid_ids())


def config_env(**config: Any) -> dict[str, str]:
    return {CONFIG_ENV: json.dumps(config)}


def app_from_env():  # type: ignore[no-untyped-def]
    """uvicorn ``--factory`` entry for several core worker processes: each builds its own core
    (its own connection pool and sweeper) on the same store, from ``$RBENCH_NETWORKED_CORE``."""
    from hil.load_fixtures import networked_app
    from hil.server import start_sweeper

    cfg = json.loads(os.environ[CONFIG_ENV])
    core = networked_core(cfg["db"], cfg["gateway_url"], cfg["smsc_url"], seed=cfg.get("seed", 0))
    start_sweeper(core, float(cfg.get("sweep_every", 30.0)))
    return networked_app(core, shed=cfg.get("shed"))
