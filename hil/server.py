"""Run the core over HTTP with uvicorn: in the foreground (``rbench serve``) or on a thread
for the demo and the tests (``serve_in_thread``)."""
from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import uvicorn

from core.adapters.gateway_profile import GatewayProfile, lognormal
from core.adapters.smsc import DeliveryDelay
from core.api import emulators
from core.api.app import create_app
from core.api.auth import keys_from_env
from core.clock import SystemClock, ThreadScheduler
from core.wiring import Core, build_core, uuid_ids


def wall_clock_core(db_url: str, *, seed: int = 0, gateway_p50_s: float = 0.05,
                    sms_delay: DeliveryDelay | None = None) -> Core:
    """A core on the wall clock with emulated gateways and SMSC answering on a thread."""
    profile = GatewayProfile(answer_latency=lognormal(gateway_p50_s, gateway_p50_s * 3),
                             callback_latency=lognormal(gateway_p50_s, gateway_p50_s * 3))
    return build_core(db_url, clock=SystemClock(), scheduler=ThreadScheduler(), seed=seed,
                      gateway_profile=profile, sms_delay=sms_delay or DeliveryDelay.fixed(0.2),
                      new_id=uuid_ids())


def start_sweeper(core: Core, every_s: float = 30.0, older_than_s: float = 60.0) -> threading.Event:
    """Every ``every_s``: ask the gateways about orders we heard nothing of (the browser that
    never came back, lost callbacks, refunds to retry), expire bonuses, close stale USSD
    sessions. Returns an event that stops it."""
    import logging
    log = logging.getLogger("rbench.sweeper")
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every_s):
            try:
                core.payments.reconcile_pending(older_than_s)
                core.topups.expire_bonuses()
                core.ussd.expire_sessions()
            except Exception:
                log.exception("sweep failed; the next one retries")
    threading.Thread(target=run, name="sweeper", daemon=True).start()
    return stop


def app_for(core: Core, keys: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    keys = keys or keys_from_env()
    app = create_app(core, keys)
    emulators.install(app, core, keys)
    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_app_in_thread(app: object, *, lifespan: str = "off") -> Iterator[str]:
    """Serve an ASGI ``app`` with uvicorn on 127.0.0.1, in a thread, on a port the OS picks
    (the socket is bound before uvicorn starts, so two servers can never race for a port);
    yields the base URL and stops the server on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan=lifespan)  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    try:
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{sock.getsockname()[1]}")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def serve_in_thread(core: Core) -> Iterator[str]:
    """Serve ``core`` on 127.0.0.1; yields the base URL; stops the server on exit."""
    with serve_app_in_thread(app_for(core)) as url:
        yield url
