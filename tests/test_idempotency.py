"""Idempotency keys with Stripe's semantics, on both stores."""
import threading

import pytest

from core.clock import FakeClock
from core.errors import IdempotencyConflict, IdempotencyInFlight, InvalidInput, Refused
from core.idempotency import Idempotency, derived_id
from core.store import open_store


@pytest.fixture
def idem(store_url):
    s = open_store(store_url)
    clock = FakeClock()
    yield Idempotency(s, clock), clock
    s.close()


def problem(e):
    return {"detail": e.message}


def test_same_key_same_body_replays(idem):
    i, _ = idem
    calls = []
    fn = lambda: (calls.append(1), (201, {"id": "o1"}))[1]  # noqa: E731
    first = i.run("web", "k1", {"a": 1}, fn, problem)
    second = i.run("web", "k1", {"a": 1}, fn, problem)
    assert (first.status, first.body, first.replayed) == (201, {"id": "o1"}, False)
    assert (second.status, second.body, second.replayed) == (201, {"id": "o1"}, True)
    assert len(calls) == 1


def test_same_key_other_body_is_a_clear_conflict(idem):
    i, _ = idem
    i.run("web", "k2", {"a": 1}, lambda: (201, {}), problem)
    with pytest.raises(IdempotencyConflict, match="different request"):
        i.run("web", "k2", {"a": 2}, lambda: (201, {}), problem)
    assert i.run("app", "k2", {"a": 2}, lambda: (201, {"scope": "app"}), problem).body == {"scope": "app"}


def test_refusals_are_stored_but_invalid_input_is_not(idem):
    i, _ = idem

    def refuse():
        raise Refused("balance cap")
    out = i.run("web", "k3", {}, refuse, problem)
    assert out.status == 422 and out.body == {"detail": "balance cap"}
    assert i.run("web", "k3", {}, lambda: (201, {}), problem).replayed

    def invalid():
        raise InvalidInput("amount: bad")
    with pytest.raises(InvalidInput):
        i.run("web", "k4", {}, invalid, problem)
    assert not i.run("web", "k4", {}, lambda: (201, {}), problem).replayed


def test_in_flight_then_taken_over_after_a_crash(idem):
    i, clock = idem
    started, release = threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(5)
        return 201, {}
    t = threading.Thread(target=lambda: i.run("web", "k5", {}, slow, problem))
    t.start()
    started.wait(5)
    with pytest.raises(IdempotencyInFlight):
        i.run("web", "k5", {}, lambda: (201, {}), problem)
    release.set()
    t.join()
    # a request that crashed mid-way leaves 'in_flight'; after stale_s it may run again
    i.store.run(lambda tx: tx.execute("UPDATE idempotency SET state = 'in_flight' WHERE key = 'k5'"))
    clock.advance(61)
    assert not i.run("web", "k5", {}, lambda: (201, {"again": True}), problem).replayed


def test_racing_requests_with_one_key_run_it_once(idem):
    """Eight callers with the same key at once: one runs; each other one is told to retry
    later or gets the first answer replayed, never a second run and never a crash."""
    i, _ = idem
    calls, outcomes, go = [], [], threading.Barrier(8)

    def fn():
        calls.append(1)
        return 201, {"id": "o9"}

    def caller():
        go.wait(5)
        try:
            outcomes.append(i.run("web", "k9", {"a": 9}, fn, problem).replayed)
        except IdempotencyInFlight:
            outcomes.append("in_flight")
    threads = [threading.Thread(target=caller) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and len(outcomes) == 8
    assert outcomes.count(False) == 1 and set(outcomes) <= {False, True, "in_flight"}
    assert i.run("web", "k9", {"a": 9}, fn, problem).replayed


def test_keys_expire_after_a_day(idem):
    i, clock = idem
    i.run("web", "k6", {"a": 1}, lambda: (201, {}), problem)
    clock.advance(86_401)
    assert not i.run("web", "k6", {"a": 2}, lambda: (201, {"b": 2}), problem).replayed
    again = i.run("web", "k6", {"a": 2}, lambda: (201, {}), problem)     # the new claim's answer
    assert again.replayed and again.body == {"b": 2}
    with pytest.raises(IdempotencyConflict):
        i.run("web", "k6", {"a": 1}, lambda: (201, {}), problem)


@pytest.mark.parametrize("key", ["", "x" * 256, "bad\nkey", 5])
def test_bad_keys(idem, key):
    i, _ = idem
    with pytest.raises(InvalidInput, match="Idempotency-Key"):
        i.run("web", key, {}, lambda: (201, {}), problem)


def test_derived_ids_are_stable_and_scoped():
    assert derived_id("ord_", "web", "k") == derived_id("ord_", "web", "k")
    assert derived_id("ord_", "web", "k") != derived_id("ord_", "app", "k")


@pytest.mark.postgres
def test_the_claim_and_the_answer_do_not_wait_for_the_flush(pg_url):
    """A crash may forget both (the key is then new, or in flight until taken over, and the
    call runs again, itself idempotent): a trigger notes the commit mode of each write, and a
    write of the call in between waits for the flush as before."""
    s = open_store(pg_url)
    try:
        with s.autocommit() as tx:
            tx.execute("CREATE TABLE key_writes (seq SERIAL, what TEXT, sync TEXT)")
            tx.execute("CREATE FUNCTION note_key_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                       " INSERT INTO key_writes (what, sync) VALUES (TG_TABLE_NAME || ':' || COALESCE(NEW.state, ''),"
                       " current_setting('synchronous_commit')); RETURN NEW; END $$")
            tx.execute("CREATE TABLE call_writes (state TEXT)")
            for table in ("idempotency", "call_writes"):
                tx.execute(f"CREATE TRIGGER note AFTER INSERT OR UPDATE ON {table} FOR EACH ROW"
                           " EXECUTE FUNCTION note_key_write()")

        def call():
            with s.autocommit() as tx:
                tx.execute("INSERT INTO call_writes (state) VALUES ('order')")
            return 201, {"id": "o1"}
        i = Idempotency(s, FakeClock())
        assert i.run("web", "k1", {"a": 1}, call, problem).status == 201
        assert i.run("web", "k1", {"a": 1}, call, problem).replayed
        with s.autocommit() as tx:
            writes = [(r["what"], r["sync"]) for r in tx.all("SELECT what, sync FROM key_writes ORDER BY seq")]
        assert writes == [("idempotency:in_flight", "off"), ("call_writes:order", "on"), ("idempotency:done", "off")]
    finally:
        s.close()
