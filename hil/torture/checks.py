"""What must hold after every torture run, once the faults stop and reconciliation has run.

Each check returns the violations it found as sentences naming the order, the meter or the
account; an empty list is a pass. They read the core's store and the emulated gateways'
own books (what a gateway says it captured), never the harness's beliefs alone.
"""
from __future__ import annotations

from collections import Counter, defaultdict

from core.orders import State
from core.ports import PaymentStatus as S
from core.wiring import Core
from protocols import sts
from protocols import utility_card as uc

FINAL = {State.CREDITED, State.REFUNDED, State.FAILED, State.REFUSED}


def conservation(core: Core) -> list[str]:
    """Per currency: captured = credited + refunded + held; gateways' net = our clearing;
    each order captured at most once and credited exactly when it is credited."""
    report = core.conservation()
    out = [f"conservation: {e}" for e in report.errors]
    if any(report.held.values()):
        out.append(f"conservation: money still held after reconciliation: {report.held}")
    return out


def credited_once(core: Core) -> list[str]:
    with core.store.autocommit() as tx:
        rows = tx.all("SELECT order_id, COUNT(*) AS n FROM transfers WHERE kind = 'credit'"
                      " GROUP BY order_id HAVING COUNT(*) > 1")
    return [f"order {r['order_id']} credited {r['n']} times" for r in rows]


def paid_orders_settled(core: Core) -> list[str]:
    """Every payment a gateway captured is credited (or was refunded), every credited card order
    was captured, and nothing is left half-way once reconciliation has run."""
    out: list[str] = []
    with core.store.autocommit() as tx:
        orders = {r["id"]: r for r in tx.all("SELECT id, state, method, gateway, gateway_ref FROM orders")}
        moved = {r["order_id"] for r in tx.all("SELECT DISTINCT order_id FROM transfers WHERE order_id IS NOT NULL")}
    seen: set[str] = set()
    for name in sorted(core.gateways):
        payments = getattr(core.gateways[name], "payments", None)
        if payments is None:
            continue
        for p in payments():
            order = orders.get(p.order_ref)
            if order is not None:
                seen.add(p.order_ref)
            state = State(order["state"]) if order else None
            if p.status.captured and state is not State.CREDITED:
                out.append(f"{name} captured {p.amount} for {p.order_ref} ({p.gateway_ref}) but the order is "
                           f"{state or 'missing'}")
            elif p.status is S.REFUNDED and state is not State.REFUNDED:
                out.append(f"{name} refunded {p.order_ref} but the order is {state or 'missing'}")
            elif p.status is S.REVERSED and state not in (State.REFUNDED, State.FAILED):
                out.append(f"{name} reversed {p.order_ref} but the order is {state or 'missing'}")
            elif not p.status.final and p.status is not S.PAID:
                out.append(f"{name} still has {p.order_ref} {p.status} after every window closed")
    for oid, o in orders.items():
        state = State(o["state"])
        if state is State.CREATED and o["method"] != "card":
            # A kiosk/wallet/bank order whose payment transaction died: nothing was taken, and
            # the client's retry with the same key finishes it; no sweep may guess for it.
            if oid in moved:
                out.append(f"order {oid} is created yet money moved for it")
        elif state not in FINAL:
            out.append(f"order {oid} is {state} after reconciliation; expected a final state")
        if o["method"] == "card" and state is State.CREDITED and oid not in seen:
            out.append(f"order {oid} is credited but {o['gateway']} never captured it")
    return out


def vends_once(core: Core, seen_by_clients: dict[str, set[str]]) -> list[str]:
    """One vend row per credited vend order and none for others; every STS token and card
    record unique; TIDs growing per meter; card purchase counts 1, 2, 3... per meter with no
    gap or repeat; and a client that asked twice got the same token or record."""
    out: list[str] = []
    with core.store.autocommit() as tx:
        vends = tx.all("SELECT v.*, o.state FROM vends v JOIN orders o ON o.id = v.order_id ORDER BY v.at_ms")
        credited = {r["id"] for r in tx.all("SELECT id FROM orders WHERE purpose = 'vend' AND state = 'credited'")}
    by_order = Counter(v["order_id"] for v in vends)
    for oid in sorted(credited - set(by_order)):
        out.append(f"vend order {oid} is credited but has no token or record")
    for v in vends:
        if v["state"] != "credited":
            out.append(f"vend order {v['order_id']} is {v['state']} yet has a token or record")
    tokens = Counter(v["token"] for v in vends if v["token"]) + Counter(v["record"] for v in vends if v["record"])
    out += [f"a token or record was issued {n} times: {t[:24]}..." for t, n in tokens.items() if n > 1]
    tids: dict[str, list[tuple[int, int]]] = defaultdict(list)       # meter -> [(at_ms, tid)]
    counts: dict[str, list[int]] = defaultdict(list)
    for v in vends:
        if v["kind"] == "sts":
            tids[v["meter"]].append((int(v["at_ms"]), int(v["tid"])))
        else:
            counts[v["meter"]].append(int(v["purchase_count"]))
    for meter, seq in sorted(tids.items()):
        later_smaller = any(t2 <= t1 for (a1, t1) in seq for (a2, t2) in seq if a2 > a1)
        if len({t for _, t in seq}) != len(seq) or later_smaller:
            out.append(f"meter {meter}: STS TIDs {[t for _, t in seq]} do not grow: a meter would refuse one as used")
    for meter, cs in sorted(counts.items()):
        if sorted(cs) != list(range(1, len(cs) + 1)):
            out.append(f"meter {meter}: card purchase counts {sorted(cs)} are not 1..{len(cs)}: a gap or a repeat")
    stored = {v["order_id"]: v["token"] or v["record"] for v in vends}
    for oid, got in sorted(seen_by_clients.items()):
        if len(got) > 1 or (oid in stored and got != {stored[oid]}):
            out.append(f"vend {oid}: clients were given {len(got | {stored.get(oid)})} different tokens or records")
    return out


def tokens_decode(core: Core) -> list[str]:
    """Each stored STS token decodes under its meter's key to its own TID; each card record
    verifies under its card's key with its own purchase count."""
    out: list[str] = []
    with core.store.autocommit() as tx:
        vends = tx.all("SELECT * FROM vends")
    for v in vends:
        meter = core.meters.get(v["meter"])
        if v["token"]:
            decoded = sts.decode(v["token"], core.vending.purpose.decoder_key(meter))
            if decoded.token is None or decoded.token.tid != int(v["tid"]):
                out.append(f"vend {v['order_id']}: token does not decode to TID {v['tid']} ({decoded.result})")
        elif v["record"]:
            from core.tariffs import tariff
            key = uc.credit_key(core.keys.card_master_key(tariff(meter.tariff).utility), v["card_serial"])
            rec = uc.decode(uc.from_text(v["record"]), key)
            if rec.purchase_count != int(v["purchase_count"]):
                out.append(f"vend {v['order_id']}: record carries count {rec.purchase_count}, "
                           f"stored {v['purchase_count']}")
    return out


def notices_once(core: Core, sent_texts: list[str]) -> list[str]:
    """No order's outcome was texted twice (each notice names its order)."""
    with core.store.autocommit() as tx:
        ids = [r["id"] for r in tx.all("SELECT id FROM orders WHERE purpose = 'topup'")]
    out = []
    for oid in ids:
        n = sum(1 for t in sent_texts if oid in t)
        if n > 1:
            out.append(f"order {oid}: {n} outcome SMS sent; expected at most one")
    return out
