"""Crash and recover the core over HTTP: kill it with SIGKILL under a load of web top-ups,
start it again on the same store, and measure how long until it answers and until
reconciliation has settled every payment the gateway took.

The card gateway must outlive the core, as a real one does, or nobody could say what was
captured while the core was dead: it runs as its own process
(:mod:`core.adapters.gateway_server`, signing its callbacks), and the core is served the way
``rbench serve`` serves it (same app, same sweeper) with an HTTP client to that gateway.

    python -m hil.recovery serve --db URL --port 8080 --gateway http://127.0.0.1:8081
    python -m hil.recovery drill --db sqlite:///crash.db      # prints the recovery times
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from core.adapters.gateway_http import HttpGatewayConfig, SatimHttpGateway
from core.adapters.issuer import IssuedCard, Issuer
from core.clock import SystemClock, ThreadScheduler
from core.wiring import Core, build_core, uuid_ids
from hil.server import free_port

ADMIN = {"X-API-Key": "dev-admin-key"}
WEB = "dev-web-key"
PHONE = "213550000001"
LINES = [f"05500001{i:02d}" for i in range(8)]


def networked_core(db_url: str, gateway_url: str) -> Core:
    """A wall-clock core whose only card gateway (``satim``) is the HTTP service at ``gateway_url``."""
    gateway = SatimHttpGateway("satim", HttpGatewayConfig(f"{gateway_url.rstrip('/')}/payment/rest",
                                                          username="merchant", password="secret",
                                                          read_timeout_s=5.0, connect_timeout_s=1.0))
    return build_core(db_url, clock=SystemClock(), scheduler=ThreadScheduler(), gateways={"satim": gateway},
                      new_id=uuid_ids())


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from core.api.auth import keys_from_env
    from hil.server import app_for, start_sweeper

    core = networked_core(args.db, args.gateway)
    start_sweeper(core, args.sweep_every)
    print(f"rbench core on http://{args.host}:{args.port} store={core.store.dialect} gateway={args.gateway}",
          flush=True)
    uvicorn.run(app_for(core, keys_from_env()), host=args.host, port=args.port, log_level="warning")
    return 0


@dataclass
class Drill:
    """The processes and the bookkeeping of one crash drill (all on 127.0.0.1)."""

    db: str
    workdir: Path
    seed: int = 7
    gateway_port: int = field(default_factory=free_port)
    core_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    orders: dict[str, tuple[str, str, int]] = field(default_factory=dict)   # key -> (order id, recipient, minor)
    refused: int = 0                   # requests that met a dead core
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def core_url(self) -> str:
        return f"http://127.0.0.1:{self.core_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def cards(self, n: int = 20) -> list[IssuedCard]:
        """The gateway's test cards: it draws them with ``Random(seed)``, so can we."""
        return Issuer(SystemClock()).generate(random.Random(self.seed), n, [PHONE])

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.workdir / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen([sys.executable, *cmd], stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})
        log.close()

    def start_gateway(self) -> None:
        self._spawn("gateway", ["-m", "core.adapters.gateway_server", "--style", "satim", "--market", "DZ",
                                "--port", str(self.gateway_port), "--seed", str(self.seed), "--cards", "20",
                                "--phone", PHONE, "--notify-url", f"{self.core_url}/v1/gateways/{{gateway}}/callback"])
        self.wait(f"{self.gateway_url}/emulator/stats", "gateway")

    def start_core(self) -> float:
        """Start the core; the seconds until its first 200 on /healthz."""
        t0 = time.perf_counter()
        self._spawn("core", ["-m", "hil.recovery", "serve", "--db", self.db, "--port", str(self.core_port),
                             "--gateway", self.gateway_url, "--sweep-every", "3600"],
                    env={"RBENCH_RATE_LIMITS": "off"})    # a load from one client is no abuse here
        self.wait(f"{self.core_url}/healthz", "core")
        return time.perf_counter() - t0

    def wait(self, url: str, name: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.procs[name].poll() is not None:
                break
            time.sleep(0.01)
        log = (self.workdir / f"{name}.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the {name} did not answer {url}; its log:\n{log}")

    def kill_core(self) -> None:
        proc = self.procs["core"]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)

    # -- the load ---------------------------------------------------------------------------
    def provision(self) -> None:
        for national in LINES:
            r = httpx.post(f"{self.core_url}/v1/subscribers", json={"market": "DZ", "msisdn": national},
                           headers={**ADMIN, "Idempotency-Key": f"sub-{national}"}, timeout=5)
            assert r.status_code in (200, 201), r.text

    def buyer(self, rng: random.Random, card: IssuedCard, stop: threading.Event) -> None:
        """Top-ups until ``stop``: order at the core (same key until it answers), card and OTP
        on the gateway's page; the gateway's callback tells the core."""
        with httpx.Client(timeout=5) as http:
            while not stop.is_set():
                key, recipient = str(uuid.uuid4()), rng.choice(LINES)
                body = {"market": "DZ", "recipient": recipient, "amount": str(rng.choice([100, 200, 500]))}
                order = None
                while order is None and not stop.is_set():
                    try:
                        r = http.post(f"{self.core_url}/v1/topups", json=body,
                                      headers={"X-API-Key": WEB, "Idempotency-Key": key})
                        if r.status_code == 201:
                            order = r.json()
                        elif r.status_code >= 500:
                            time.sleep(0.02)
                        else:       # 409: the key was in flight when the core died (held for
                            break   # the idempotency layer's stale_s, 60 s): a new purchase
                    except httpx.HTTPError:
                        with self.lock:
                            self.refused += 1
                        time.sleep(0.02)
                if order is None:
                    continue
                with self.lock:
                    self.orders[key] = (order["id"], recipient, order["amount"]["minor"])
                try:
                    self.pay_on_gateway(http, order["payment_url"].rsplit("/", 1)[-1], card)
                except httpx.HTTPError:
                    pass

    def pay_on_gateway(self, http: httpx.Client, ref: str, card: IssuedCard) -> None:
        g = self.gateway_url
        http.post(f"{g}/emulator/card", json={"ref": ref, "pan": card.pan, "expiry_month": card.expiry_month,
                                              "expiry_year": card.expiry_year, "cvc2": card.cvc2})
        code = http.get(f"{g}/emulator/last-otp", params={"ref": ref}).json().get("otp")
        if code:
            http.post(f"{g}/emulator/otp", json={"ref": ref, "otp": code})

    # -- after --------------------------------------------------------------------------------
    def gateway_status(self, http: httpx.Client, ref: str) -> int:
        r = http.post(f"{self.gateway_url}/payment/rest/getOrderStatusExtended.do",
                      data={"userName": "merchant", "password": "secret", "orderId": ref})
        return int(r.json()["orderStatus"])

    def sweep(self, http: httpx.Client) -> list[str]:
        r = http.post(f"{self.core_url}/v1/admin/sweep", params={"older_than_s": 0}, headers=ADMIN)
        return [] if r.status_code == 200 else [f"sweep answered {r.status_code}"]

    def order_problems(self, http: httpx.Client, keys: set[str] | None = None) -> list[str]:
        """Orders (all, or those of ``keys``) on which the core and the gateway disagree."""
        problems = []
        for key, (oid, _, _) in sorted(self.orders.items()):
            if keys is not None and key not in keys:
                continue
            o = http.get(f"{self.core_url}/v1/topups/{oid}", headers={"X-API-Key": WEB}).json()
            ref = (o.get("payment_url") or "").rsplit("/", 1)[-1]
            status = self.gateway_status(http, ref)
            if status == 2 and o["state"] != "credited":
                problems.append(f"{oid}: the gateway captured it, the core says {o['state']}")
            if o["state"] == "credited" and status != 2:
                problems.append(f"{oid}: credited, yet the gateway's status is {status}")
        return problems

    def settled(self, http: httpx.Client) -> list[str]:
        """After a sweep, what is still wrong: empty once every captured payment is credited
        exactly once, the ledger balances and the gateway's books agree with ours."""
        problems = self.sweep(http)
        if problems:
            return problems
        cons = http.get(f"{self.core_url}/v1/admin/conservation", headers=ADMIN).json()
        if not cons["ok"]:
            problems.append(cons["summary"])
        if any(cons["held"].values()):
            problems.append(f"money still held: {cons['held']}")
        stats = http.get(f"{self.gateway_url}/emulator/stats").json()
        gw_net = stats["net_captured"].get("DZD", 0)
        ours = cons["captured"].get("DZD", 0) - cons["refunded"].get("DZD", 0)
        if gw_net != ours:
            problems.append(f"the gateway captured {gw_net} net, the core {ours}")
        return problems + self.order_problems(http)


def drill(db: str, workdir: Path, *, buyers: int = 4, before_kill_s: float = 1.5, down_s: float = 0.5,
          after_s: float = 1.0, settle_timeout_s: float = 60.0) -> dict:
    """One crash drill; returns the figures and the problems left (none when all is well)."""
    d = Drill(db, workdir)
    stop = threading.Event()
    try:
        d.start_gateway()
        d.start_core()
        d.provision()
        rng = random.Random(7)
        threads = [threading.Thread(target=d.buyer, args=(random.Random(rng.random()), card, stop), daemon=True)
                   for card in d.cards()[:buyers]]
        for t in threads:
            t.start()
        time.sleep(before_kill_s)
        with d.lock:
            at_kill = set(d.orders)
        d.kill_core()
        time.sleep(down_s)
        t_restart = time.perf_counter()
        to_healthy = d.start_core()
        problems: list[str] = []
        with httpx.Client(timeout=10) as http:
            deadline = time.monotonic() + settle_timeout_s
            while True:            # under load still: until the orders of before the kill agree
                problems = d.sweep(http) or d.order_problems(http, at_kill)
                if not problems or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            to_settled = time.perf_counter() - t_restart
            time.sleep(after_s)
            stop.set()
            for t in threads:
                t.join(timeout=30)
            deadline = time.monotonic() + settle_timeout_s
            while True:
                problems = d.settled(http)
                if not problems or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            balances = {n: http.get(f"{d.core_url}/v1/subscribers/{n}", params={"market": "DZ"},
                                    headers={"X-API-Key": WEB}).json()["main"]["minor"] for n in LINES}
            credited: dict[str, int] = {}
            n_credited = 0
            for oid, recipient, minor in d.orders.values():
                if http.get(f"{d.core_url}/v1/topups/{oid}", headers={"X-API-Key": WEB}).json()["state"] == "credited":
                    credited[recipient] = credited.get(recipient, 0) + minor
                    n_credited += 1
            for national in LINES:
                if balances[national] != credited.get(national, 0):
                    problems.append(f"{national}: balance {balances[national]}, credited {credited.get(national, 0)}")
        return {"orders": len(d.orders), "orders_at_kill": len(at_kill), "refused_while_down": d.refused,
                "credited": n_credited, "restart_to_healthy_s": round(to_healthy, 3),
                "restart_to_settled_s": round(to_settled, 3), "problems": problems}
    finally:
        stop.set()
        d.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.recovery", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="serve a core whose card gateway is another process")
    p.add_argument("--db", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--gateway", required=True, metavar="URL", help="a core.adapters.gateway_server (satim style)")
    p.add_argument("--sweep-every", type=float, default=30.0, metavar="S")
    p.set_defaults(run=serve)
    p = sub.add_parser("drill", help="kill the core with SIGKILL under load, restart it, print the figures")
    p.add_argument("--db", required=True)
    p.add_argument("--workdir", default=None, help="where the logs go (default: a temp folder)")
    p.set_defaults(run=lambda a: _print_drill(a.db, a.workdir))
    args = ap.parse_args(argv)
    return args.run(args)


def _print_drill(db: str, workdir: str | None) -> int:
    import json
    import tempfile
    folder = Path(workdir or tempfile.mkdtemp(prefix="rbench-drill-"))
    folder.mkdir(parents=True, exist_ok=True)
    out = drill(db, folder)
    print(json.dumps(out, indent=2))
    return 0 if not out["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
