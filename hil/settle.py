"""``rbench settle``: reconcile the gateways' end-of-day files for one day and post payouts.

    rbench settle --date 2026-01-01                         demo: a day of mixed payments on
                                                            emulated gateways, their files with
                                                            discrepancies injected, settled
    rbench settle --date 2026-01-01 --db URL --file satim-2026-01-01.csv [--file ...]

Writes ``settlement-<date>.csv`` (one row per line: class, action, outcome) and
``settlement-<date>.txt`` (the summary, also printed) into ``--out``; the demo also writes the
files the emulated gateways sent. Every file is read in full before anything is applied: one
malformed file stops the command with the line and field, and nothing is written. Exit status:
0 settled and the ledger conserves money, 1 actions pending or conservation failed, 2 bad input.
"""
from __future__ import annotations

import os
import random
import re
import shutil
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

from core.adapters.gateway_profile import GatewayProfile
from core.clock import FakeClock, ManualScheduler
from core.errors import RechargeError
from core.ledger import conservation_check
from core.money import Money
from core.settlement import GatewayPayouts, PayablePayouts, Reconciler, RunReport, conservation, files, post_batch
from core.settlement.wallets import WalletPayouts, end_of_day_file as wallet_eod_file, reconcile_wallet
from core.settlement.emulated import (Discrepancy, change_amount, drop, duplicate, end_of_day_file,
                                      phantom_capture, unknown_reference)
from core.settlement.files import SettlementFile, SettlementFileError
from core.settlement.payouts import FeeError
from core.topups import TopupRequest
from core.wiring import Core, build_core


def _fail(message: str) -> int:
    print(f"rbench settle: {message}", file=sys.stderr)
    return 2


def run_settle(date_text: str, *, db: str | None = None, gateway: str | None = None,
               file_paths: list[str] | None = None, out: str = ".", seed: int = 7) -> int:
    try:
        day = date.fromisoformat(date_text)
        if len(date_text) != 10:
            raise ValueError
    except ValueError:
        return _fail(f"--date {date_text!r}: expected a day as YYYY-MM-DD, e.g. 2026-01-01")
    out_dir = Path(out)
    if file_paths:
        db = db or os.environ.get("DATABASE_URL", "sqlite:///rbench.db")
        return _settle_files(day, db, gateway, file_paths, out_dir)
    workdir = Path(tempfile.mkdtemp(prefix="rbench-settle-"))
    try:
        return _demo(day, db or f"sqlite:///{workdir / 'rbench.db'}", gateway, out_dir, seed)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# -- real files -------------------------------------------------------------------------------
def _settle_files(day: date, db: str, gateway: str | None, paths: list[str], out_dir: Path) -> int:
    parsed: list[tuple[SettlementFile, str]] = []
    for path in paths:                       # all files are read before anything is applied
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            return _fail(f"--file {path}: {e.strerror}")
        try:
            f = files.parse(data, source=path, gateway=gateway, business_date=day)
        except SettlementFileError as e:
            return _fail(f"{e}; nothing was applied")
        parsed.append((f, path))
    names = [f.gateway for f, _ in parsed]
    if len(set(names)) != len(names):
        return _fail(f"two files for the same gateway: {', '.join(sorted(names))}")
    try:
        core = build_core(db)
    except Exception as e:                   # a bad URL, a server that does not answer
        return _fail(f"--db {db}: cannot open the store: {e}")
    try:
        # The gateway adapters of this process cannot answer for payments made elsewhere:
        # credits wait for a run where they can, reversals go on the file's word.
        reconciler = Reconciler(core, ask_gateways=False)
        try:
            reports = [reconciler.run(f, source=path) for f, path in parsed]
            batch = post_batch(core.store, core.clock, day, [GatewayPayouts(gateways=names), PayablePayouts()])
        except (RechargeError, FeeError) as e:
            return _fail(getattr(e, "message", str(e)))
        return _finish(day, reports, batch.summary(), core, out_dir, gateway, ledger_only=True)
    finally:
        core.close()


def _finish(day: date, reports: list[RunReport], payouts: str, core: Core, out_dir: Path,
            gateway: str | None, *, ledger_only: bool = False, extra: str = "") -> int:
    verdict = conservation_check(core.store) if ledger_only else conservation(core)
    for r in reports:
        r.conservation = None                # one verdict, after every gateway is settled
    text = "\n\n".join([*(r.summary() for r in reports), payouts,
                        ("after the run: " + verdict.summary()) + extra])
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"settlement-{day.isoformat()}" + (f"-{gateway}" if gateway else "")
    csv_path, txt_path = out_dir / f"{stem}.csv", out_dir / f"{stem}.txt"
    rows = [r.to_csv().splitlines(keepends=True) for r in reports]
    csv_path.write_text("".join(rows[0][:1] + [line for r in rows for line in r[1:]]) if rows else "",
                        encoding="utf-8")
    txt_path.write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"\nreport: {csv_path}  summary: {txt_path}")
    pending = any(r.waiting("pending") for r in reports)
    return 0 if verdict.ok and not pending else 1


# -- demo: a day on emulated gateways ------------------------------------------------------------
def _demo(day: date, db: str, gateway: str | None, out_dir: Path, seed: int) -> int:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    clock = FakeClock(start)
    # Callbacks are lost in this day: the core learns only from the answers to its own calls,
    # so payments finished at the gateway behind its back are there for the settlement to find.
    try:
        core = build_core(db, clock=clock, scheduler=ManualScheduler(clock), seed=seed,
                          gateway_profile=GatewayProfile(callback_loss_rate=1.0))
    except Exception as e:                   # a bad URL, a server that does not answer
        return _fail(f"--db {db}: cannot open the store: {e}")
    try:
        with core.store.transaction() as tx:
            orders = int(tx.one("SELECT COUNT(*) AS n FROM orders")["n"])
        if orders:
            return _fail(f"--db {db} already holds {orders} orders; the demo builds its own day: "
                         "give a fresh database, or --file to settle real files")
        injected = mixed_day(core, clock, random.Random(seed))
        wallet_files = {name: provider for name in injected
                        if (provider := name.removeprefix("wallet:")) != name}
        if gateway is not None and gateway not in injected:
            return _fail(f"--gateway {gateway!r}: the demo day has payments on "
                         f"{', '.join(sorted(injected))}")
        chosen = [gateway] if gateway else sorted(injected)
        cards = [name for name in chosen if name not in wallet_files]
        out_dir.mkdir(parents=True, exist_ok=True)
        day_files = []
        for name in chosen:
            if name in wallet_files:
                f = wallet_eod_file(core, wallet_files[name], day, inject=injected[name])
            else:
                f = end_of_day_file(core.gateways[name], day, inject=injected[name])
            path = files.write(f, out_dir / f"{f.gateway}-{day.isoformat()}.csv")
            day_files.append((name, files.read(path, gateway=f.gateway, business_date=day), path))
        clock.advance(start + 86_400 + 1_800 - clock.now())       # 00:30 next day: files are in
        reconciler = Reconciler(core)

        def settle_files() -> list[RunReport]:
            return [reconcile_wallet(core, f, source=str(path)) if name in wallet_files
                    else reconciler.run(f, source=str(path)) for name, f, path in day_files]
        sources = [GatewayPayouts(gateways=cards), PayablePayouts(),
                   WalletPayouts(providers=[wallet_files[n] for n in chosen if n in wallet_files])]
        reports = settle_files()
        batch = post_batch(core.store, core.clock, day, sources)
        with core.store.transaction() as tx:
            before = int(tx.one("SELECT COUNT(*) AS n FROM transfers")["n"])
        again = settle_files()
        again_batch = post_batch(core.store, core.clock, day, sources)
        with core.store.transaction() as tx:
            after = int(tx.one("SELECT COUNT(*) AS n FROM transfers")["n"])
        acted = sum(len(r.acted) for r in again) + len(again_batch.posted)
        extra = (f"\nsettled again: {acted} action(s), {after - before} new transfer(s)"
                 f" ({after} in the ledger)")
        return _finish(day, reports, batch.summary(), core, out_dir, gateway, extra=extra)
    finally:
        core.close()


def mixed_day(core: Core, clock: FakeClock, rng: random.Random) -> dict[str, list[Discrepancy]]:
    """08:00-18:00 of the clock's day through the real core: card top-ups on SATIM and
    Shaparak style gateways, some finished behind the core's back, a chargeback, a declined
    card. Returns, per gateway, the discrepancies its file will carry."""
    clock.advance(8 * 3600)
    sub, pay, issuer = core.subscribers, core.payments, core.issuer
    payer, ir_payer = "213661234567", "989121234567"
    sub.provision("DZ", "0661234567", language="fr")
    for msisdn, balance in (("0551234567", "100"), ("0551111111", None), ("0552222222", None),
                            ("0771234567", "15000")):
        sub.provision("DZ", msisdn, opening_balance=Money.parse(balance, "DZD") if balance else None)
    sub.provision("IR", "09121234567", opening_balance=Money.parse("20000", "IRR"), language="fa")
    sub.provision("IR", "09351234567", language="fa")
    [card] = issuer.generate(rng, 1, [payer])
    [poor] = issuer.generate(rng, 1, [payer], balances={"DZD": 1000})
    [ir_card] = issuer.generate(rng, 1, [ir_payer])
    satim, shaparak = core.gateways["satim"], core.gateways["shaparak"]

    def order(market: str, to: str, amount: str, **kw):
        return core.topups.create(TopupRequest(market=market, recipient=to, amount=amount, **kw))

    def otp() -> str:
        clock.advance(0)                     # the SMS is delivered
        m = re.search(r"(\d{6})", core.sms.inbox(payer)[-1].text)
        if m is None:
            raise RuntimeError(f"no OTP in the last SMS to {payer}")
        return m.group(1)

    def web(to: str, amount: str, **kw):
        o = pay.submit_card(order("DZ", to, amount, payer="0661234567", **kw).id, card.card())
        o = pay.confirm_otp(o.id, otp())
        clock.advance(rng.randrange(60, 900))
        return o

    def behind_the_core(o):
        o = pay.submit_card(o.id, card.card())
        satim.confirm_otp(o.gateway_ref, otp())
        return o

    o = {name: web("0551111111", amount) for name, amount in (
        ("web1", "1000"), ("web2", "500"), ("dup", "300"), ("mismatch", "200"), ("dropped", "400"))}
    o["chargeback"] = web("0552222222", "500", product="amazing")
    sub.use_airtime("213552222222", Money.parse("300", "DZD"), "demo-call-1")
    satim.refund(o["chargeback"].gateway_ref, o["chargeback"].amount)
    o["lost"] = behind_the_core(order("DZ", "0551234567", "250", payer="0661234567"))
    cap_a = order("DZ", "0771234567", "3000", payer="0661234567")
    cap_b = order("DZ", "0771234567", "3000", payer="0661234567")
    pay.confirm_otp(pay.submit_card(cap_a.id, card.card()).id, otp())
    behind_the_core(cap_b)
    o["declined"] = pay.submit_card(order("DZ", "0551234567", "100", payer="0661234567").id, poor.card())
    clock.advance(3600)
    pay.submit_card(order("IR", "09351234567", "50000", payer="09121234567").id, ir_card.card(with_pin2=True))
    ir_lost = order("IR", "09351234567", "20000", payer="09121234567")
    shaparak.submit_card(ir_lost.gateway_ref, ir_card.card(with_pin2=True))
    shaparak.verify(ir_lost.gateway_ref)
    ir_window = order("IR", "09121234567", "10000")
    shaparak.submit_card(ir_window.gateway_ref, ir_card.card(with_pin2=True))
    sub.provision("EG", "01012345678")
    wallet = [core.topups.create(TopupRequest(market="EG", recipient="01012345678", amount=amount, channel="wallet",
                                              method="wallet", method_account="vodafone-cash"))
              for amount in ("50", "25", "40")]
    clock.advance(6 * 3600)
    return {"wallet:vodafone-cash": [drop(wallet[2].id)],
            "satim": [duplicate(o["dup"].id), change_amount(o["mismatch"].id, 5_000), unknown_reference(),
                      drop(o["dropped"].id), drop(o["chargeback"].id), phantom_capture(o["declined"].id)],
            "shaparak": []}
