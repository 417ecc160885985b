"""``rbench load`` end to end: short real Locust runs (headless, a few transactions per second)
against a core with the emulator services; bad input refused before any load; a threshold
that fails exits 1; a master with 2 workers on localhost; the post-run settlement check
catches a double credit and a lost payment."""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from core import ledger
from core.adapters.gateway_direct import service_gateways
from core.money import Money
from core.ports import Card
from core.store import open_store
from hil.emulator_services import EmulatorServices, networked_core, wait_healthy
from hil.load import main as load_main
from hil.load_check import post_run_check
from hil.load_fixtures import networked_app
from hil.server import free_port

ROOT = Path(__file__).resolve().parent.parent


class Stack:
    def __init__(self, host: str, gateway_url: str, smsc_url: str, db: str) -> None:
        self.host, self.gateway_url, self.smsc_url, self.db = host, gateway_url, smsc_url, db

    def flags(self) -> list[str]:
        return ["--host", self.host, "--gateway-url", self.gateway_url, "--smsc-url", self.smsc_url, "--db", self.db,
                "--emulator-profile", "instant"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """``rbench serve --with-emulators`` (instant emulators, SQLite) as the system under test."""
    d = tmp_path_factory.mktemp("stack")
    port, gw, smsc = free_port(), free_port(), free_port()
    db = f"sqlite:///{d / 'core.db'}"
    log = open(d / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "hil.cli", "serve", "--with-emulators", "--port", str(port),
                             "--gateway-port", str(gw), "--smsc-port", str(smsc), "--db", db, "--emulator-profile",
                             "instant", "--log-level", "warning", "--emulator-logs", str(d)],
                            env=dict(os.environ, RBENCH_RATE_LIMITS="key=off"), stdout=log, stderr=subprocess.STDOUT)
    host = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(host, proc, "rbench serve --with-emulators", d / "serve.log", timeout_s=90)
        yield Stack(host, f"http://127.0.0.1:{gw}", f"http://127.0.0.1:{smsc}", db)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def rbench_load(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hil.load", *args], capture_output=True, text=True, timeout=240,
                          cwd=str(ROOT))


def tx_rows(out: Path) -> dict[str, int]:
    with open(out / "locust_stats.csv", newline="") as f:
        return {r["Name"]: int(r["Request Count"]) for r in csv.DictReader(f) if r["Type"] == "TX"}


def agree(ours: dict[str, int], locust: dict[str, int]) -> bool:
    """Our step counts and Locust's CSV: the same counts per type, give or take the transactions
    still in flight while Locust writes its last report (a type with one such transaction may be
    missing from one side). On a loaded machine that is a few per type at 5 tps, never a tenth."""
    names = set(ours) | set(locust)
    return all(abs(ours.get(n, 0) - locust.get(n, 0)) <= max(2, ours.get(n, 0) // 10) for n in names)


# -- bad input: exit 2, one line, before any load ----------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["nope", "--tps", "1", "--duration", "5s"], "unknown profile 'nope'; expected one of"),
    (["dz-peak-hour", "--tps", "1", "--duration", "5s", "--only", "teleport"], "--only 'teleport': unknown 'teleport'"),
    (["dz-peak-hour", "--tps", "0", "--duration", "5s"], "--tps '0': expected a number above 0"),
    (["dz-peak-hour", "--tps", "1"], "--tps and --duration are required"),
    (["dz-peak-hour", "--tps", "1", "--duration", "soon"], "--duration 'soon': expected a duration"),
    (["ir-peak-hour", "--tps", "1", "--duration", "5s", "--threshold", "mandate_debit.p95 < 1s"],
     "unknown transaction type 'mandate_debit'; expected *, total or one of web_topup, ussd_topup"),
    (["dz-peak-hour", "--tps", "1", "--duration", "5s", "--threshold", "web_topup.p95 < soon"], "value 'soon'"),
    (["dz-peak-hour", "--tps", "1", "--duration", "5s", "--thresholds", "/nonexistent/t.yaml"],
     "--thresholds /nonexistent/t.yaml: No such file"),
    (["dz-peak-hour", "--tps", "1", "--duration", "5s", "--workers", "2", "--processes", "2"],
     "--processes and --workers: choose one way to run Locust"),
    (["dz-peak-hour", "--tps", "1", "--duration", "5s", "--core-workers", "2"], "mandate_debit needs --core-workers 1"),
])
def test_bad_input_is_refused_before_any_load(argv: list[str], message: str, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert load_main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rbench load: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_a_host_that_does_not_answer(tmp_path, capsys) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert load_main(["dz-peak-hour", "--tps", "1", "--duration", "5s", "--host", url, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err == f"rbench load: --host {url}: no answer (ConnectError); expected the core's /healthz\n"


def test_profiles_are_listed(capsys) -> None:
    assert load_main(["--list-profiles"]) == 0
    assert re.search(r"^dz-peak-hour\s+Algeria's evening peak", capsys.readouterr().out, re.MULTILINE)


# -- real runs -----------------------------------------------------------------------------------------
def test_a_short_run_of_every_channel_passes_its_thresholds(stack: Stack, tmp_path) -> None:
    out = tmp_path / "run"
    r = rbench_load("dz-peak-hour", "--tps", "5", "--duration", "8s", "--seed", "2", *stack.flags(), "--out", str(out),
                    "--threshold", "total.fail_ratio < 20%", "--threshold", "total.tps >= 1",
                    "--threshold", "web_topup.p99 < 30s")
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads((out / "summary.json").read_text())
    done = {n: s["count"] for n, s in summary["transactions"].items() if n != "total" and s["count"]}
    assert len([n for n in done if "[" not in n]) >= 4, done
    assert summary["settlement"]["ok"] and not summary["settlement"]["problems"]
    assert any("matched" in line for line in summary["settlement"]["lines"])
    assert all(t["ok"] for t in summary["thresholds"]) and summary["exit_code"] == 0
    assert agree(done, tx_rows(out)), (done, tx_rows(out))            # Locust's CSV and ours agree
    for f in ("report.html", "locust_stats_history.csv", "steps.json", "plan.json", "summary.txt"):
        assert (out / f).is_file(), f
    text = (out / "summary.txt").read_text()
    assert "per step of the shape" in text and "verdict: PASS (exit 0)" in text
    assert len(summary["steps"]) == 8 and summary["stages"][-1][0] == 8


def test_a_run_failing_its_threshold_exits_1(stack: Stack, tmp_path) -> None:
    out = tmp_path / "run"
    r = rbench_load("eg-peak-hour", "--tps", "3", "--duration", "3s", "--only", "kiosk_cash,vend_sts", *stack.flags(),
                    "--out", str(out), "--threshold", "kiosk_cash.p50 < 0ms", "--shape", "soak")
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"FAIL  kiosk_cash.p50 < 0 ms  measured \d+ ms", r.stdout)
    assert "verdict: FAIL (exit 1)" in r.stdout
    assert json.loads((out / "summary.json").read_text())["settlement"]["ok"]


def test_a_master_and_two_workers_on_localhost(stack: Stack, tmp_path) -> None:
    out = tmp_path / "run"
    r = rbench_load("eg-peak-hour", "--tps", "4", "--duration", "5s", "--only", "kiosk_cash,vend_sts,vend_card",
                    "--workers", "2", "--shape", "step", *stack.flags(), "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Locust master + 2 workers" in r.stdout
    summary = json.loads((out / "summary.json").read_text())
    counts = {n: s["count"] for n, s in summary["transactions"].items() if n != "total" and s["count"]}
    assert counts and agree(counts, tx_rows(out))                     # both workers' counts reached the master
    assert "step counts from" not in (out / "locust.log").read_text()   # the master heard from both
    assert (out / "locust-worker-1.log").is_file() and (out / "locust-worker-2.log").is_file()


def test_a_provisioned_run_makes_no_provisioning_calls(stack: Stack, tmp_path) -> None:
    """benchmarks.core_http creates the users' ranges ahead; ``--provisioned`` users then only recharge."""
    from benchmarks.core_http import provision_ahead

    done: set = set()
    made = provision_ahead(stack.host, 3, 4, 1, done)
    assert made == 3 * 21 and provision_ahead(stack.host, 3, 4, 1, done) == 0      # once only
    out = tmp_path / "run"
    r = rbench_load("web-recharge", "--tps", "3", "--duration", "4s", "--provisioned", *stack.flags(),
                    "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads((out / "plan.json").read_text())["provisioned"] is True
    with open(out / "locust_stats.csv", newline="") as f:
        names = {row["Name"]: int(row["Request Count"]) for row in csv.DictReader(f)}
    assert names.get("web_topup", 0) >= 6 and "setup: provision subscriber" not in names, names


# -- the settlement check -------------------------------------------------------------------------------
def test_the_settlement_check_lists_a_double_credit_and_a_lost_payment(tmp_path) -> None:
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    db = f"sqlite:///{tmp_path / 'core.db'}"
    with EmulatorServices.start(profile="instant", seed=5, core_url=host, log_dir=tmp_path) as net:
        core = networked_core(db, net.gateway_url, net.smsc_url)
        server = uvicorn.Server(uvicorn.Config(networked_app(core), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        try:
            keys = {"admin": "dev-admin-key"}
            card = httpx.post(f"{net.gateway_url}/emulator/cards", json={"phone": "201012345678"}).json()[0]
            core.subscribers.provision("EG", "01098765432")
            w = {"X-API-Key": "dev-web-key"}
            o = httpx.post(f"{host}/v1/topups", headers={**w, "Idempotency-Key": "k1"}, json={
                "market": "EG", "recipient": "01098765432", "payer": "01012345678", "amount": "50"}).json()
            o = httpx.post(f"{host}/v1/topups/{o['id']}/card", headers={**w, "Idempotency-Key": "k2"}, json={
                "pan": card["pan"], "expiry": card["expiry"], "cvc2": card["cvc2"]}).json()
            sms = httpx.get(f"{net.smsc_url}/inbox/201012345678", params={"wait": 5}).json()["messages"]
            code = re.search(r"(?<!\d)(\d{6})(?!\d)", sms[-1]["text"].translate(
                str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789"))).group(1)
            o = httpx.post(f"{host}/v1/topups/{o['id']}/otp", headers={**w, "Idempotency-Key": "k3"},
                           json={"otp": code}).json()
            assert o["state"] == "credited"
            t0 = time.time() - 60

            def check():  # type: ignore[no-untyped-def]
                return post_run_check(host, keys, db_url=db, gateway_url=net.gateway_url, smsc_url=net.smsc_url,
                                      since=t0, until=time.time(), out=tmp_path / "out", grace_s=0.3)
            clean = check()
            assert clean.ok and clean.classes == {"matched": 1}, clean

            # A payment the gateway captured for no order of ours: money taken, never credited.
            gw = service_gateways(net.gateway_url)["eg-3ds"]
            ref = gw.register("ord_lost_0001", Money(7_000, "EGP")).gateway_ref
            gw.submit_card(ref, Card(card["pan"], card["expiry_month"], card["expiry_year"], "", card["cvc2"]))
            sms = httpx.get(f"{net.smsc_url}/inbox/201012345678", params={"after": sms[-1]["seq"], "wait": 5}).json()
            code = re.search(r"(?<!\d)(\d{6})(?!\d)", sms["messages"][-1]["text"].translate(
                str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789"))).group(1)
            gw.confirm_otp(ref, code)
            lost = check()
            assert not lost.ok
            assert any("lost payment" in p and "ord_lost_0001" in p for p in lost.problems), lost.problems
            assert any("gateway eg-3ds says it captured" in p for p in lost.problems), lost.problems

            # The same order credited a second time.
            store = open_store(db)
            with store.transaction() as tx:
                ledger.transfer(tx, f"credit:{o['id']}:again", ledger.held("EGP"), ledger.sub_main("201098765432"),
                                Money(5_000, "EGP"), kind="credit", order_id=o["id"], at_ms=int(time.time() * 1000))
            store.close()
            twice = check()
            assert f"credited twice: order {o['id']} (2 credit transfers, 10000 EGP minor units in all)" in twice.problems
            assert (tmp_path / "out" / "settlement").is_dir()
        finally:
            server.should_exit = True
            thread.join(10)
            core.close()
