"""The core served over HTTP on its own process, killed with SIGKILL in the middle of a load
of web top-ups and started again on the same store (SQLite file, PostgreSQL database): after
recovery and reconciliation nothing is lost or duplicated. The card gateway is another
process that outlives the core, so what it captured while the core was dead can be checked
payment by payment (:mod:`hil.recovery`)."""
import httpx
import pytest

from hil.recovery import Drill, drill, networked_core


@pytest.mark.slow
def test_sigkill_under_load_loses_and_duplicates_nothing(store_url, tmp_path):
    out = drill(store_url, tmp_path, buyers=3, before_kill_s=1.2, down_s=0.4, after_s=0.8)
    print(f"\n{store_url.split(':')[0]}: {out}")
    assert out["problems"] == [], out["problems"]
    assert 0 < out["orders_at_kill"] < out["orders"], out            # load before and after the kill
    assert out["refused_while_down"] > 0, out                         # the kill hit a core under load
    assert out["credited"] > out["orders_at_kill"] // 2, out
    assert out["restart_to_healthy_s"] < 30 and out["restart_to_settled_s"] < 60


def test_a_payment_taken_while_the_core_was_dead_is_credited_by_the_sweep(sqlite_url, tmp_path):
    """The gateway captures while the core is dead (its callbacks find nobody); after the
    restart the drill sees the order still pending, then the sweep asks the gateway and credits."""
    d = Drill(sqlite_url, tmp_path)
    try:
        d.start_gateway()
        d.start_core()
        d.provision()
        card = d.cards()[0]
        with httpx.Client(timeout=5) as http:
            r = http.post(f"{d.core_url}/v1/topups", json={"market": "DZ", "recipient": "0550000100", "amount": "100"},
                          headers={"X-API-Key": "dev-web-key", "Idempotency-Key": "only"})
            order = r.json()
            d.orders["only"] = (order["id"], "0550000100", 10000)
            d.kill_core()                                       # dead before the callback can land
            d.pay_on_gateway(http, order["payment_url"].rsplit("/", 1)[-1], card)
            d.start_core()
            status = d.gateway_status(http, order["payment_url"].rsplit("/", 1)[-1])
            before = http.get(f"{d.core_url}/v1/topups/{order['id']}", headers={"X-API-Key": "dev-web-key"}).json()
            assert status == 2 and before["state"] == "pending_payment"    # captured; the core heard nothing
            assert d.settled(http) == []                                   # the sweep asks and credits
            after = http.get(f"{d.core_url}/v1/topups/{order['id']}", headers={"X-API-Key": "dev-web-key"}).json()
            assert after["state"] == "credited"
    finally:
        d.stop()


def test_a_networked_core_talks_to_its_gateway_over_http(sqlite_url):
    core = networked_core(sqlite_url, "http://127.0.0.1:9")
    try:
        assert core.gateways["satim"].style == "satim" and list(core.gateways) == ["satim"]
    finally:
        core.close()
