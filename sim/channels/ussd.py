"""F4: the USSD ``*1#`` top-up, screen by screen through the USSD gateway into ``UssdApp``.

The person dials ``*1#`` (or ``*1*1#`` / ``*1*2#`` straight away), reads each screen, thinks,
types the answer (a phone number or card number takes a while on a keypad) and sends it. The
gateway adds its latency per screen, may drop the dialogue on the radio, ends it when the
application answers too slowly (``ussd_timeouts``), or refuses to open one when full. The last
answer makes the core pay through the card gateway (queue and latency included); the outcome
then comes by SMS, so it is read from the order the dialogue created.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Generator

from core.digits import to_ascii_digits
from core.idempotency import derived_id
from core.market import Market
from sim.channels.attempt import Outcome
from sim.channels.card import mistype, settle
from sim.channels.outcome import reason_of

if TYPE_CHECKING:
    from sim.world import World

SCREENS = ("ussd_type", "ussd_target", "ussd_saved", "ussd_number", "ussd_amount", "ussd_card", "ussd_expiry",
           "ussd_pin2", "ussd_confirm", "ussd_save")


def screen_of(mkt: Market, lang: str, text: str) -> str | None:
    """Which screen a reply shows (by its opening words, as the person recognises it)."""
    invalid = mkt.text("ussd_invalid", lang) + "\n"
    if text.startswith(invalid):
        text = text[len(invalid):]
    for key in SCREENS:
        head = mkt.texts[lang if lang in mkt.texts else mkt.languages[0]][key].split("{", 1)[0]
        if head and text.startswith(head):
            return key
    return None


def topup(w: World, m: str, payer: int, recipient: int, amount: int, product: str) -> Generator:
    env, h, rng, gwy = w.env, w.human, w.people[m], w.ussd_gw
    pop = w.pops[m]
    mkt = pop.mkt
    lang = pop.language(payer)
    if not gwy.open():
        return Outcome.fail("ussd_gateway_busy")
    try:
        w.up()
        msisdn = w.provision(m, payer)
        target = w.provision(m, recipient)
        w.flush_usage(m, recipient)
        card = w.card(m, payer)
        direct = rng.random() < h.ussd_direct
        base = mkt.ussd.service_code
        code = base[:-1] + ("*2#" if product == "amazing" else "*1#") if direct else base
        session = w.session_id(m)
        answers: list[str] = []
        presets = [p.minor for p in mkt.presets]
        pick = str(1 + min(range(len(presets)), key=lambda k: abs(presets[k] - amount)))
        national = "0" + target[len(mkt.numbering.country_code):]
        pay_step = False
        while True:
            if answers:
                slow = rng.random() < h.ussd_slow_step
                wait = h.think.draw(rng) + h.typing(rng, len(answers[-1]))
                yield env.timeout(mkt.ussd.answer_timeout_s + wait if slow else wait)
            latency, fate = gwy.screen()
            if pay_step:
                t_pay = env.now
                w.up()
                reply = yield from w.desk.call(mkt.ussd_gateway, lambda: w.core.ussd.handle(
                    session, msisdn, code, "*".join(answers), market=m))
                latency += env.now - t_pay
                if fate == "ok" and latency > gwy.app_timeout:
                    fate, latency = "timeout", gwy.app_timeout
                    gwy.timeouts += 1
            else:
                w.up()
                reply = w.core.ussd.handle(session, msisdn, code, "*".join(answers), market=m)
            yield env.timeout(latency)
            if fate != "ok":
                if fate == "timeout":
                    w.kpis.ussd_timeout(m, "ussd")
                if pay_step:             # the core got the last answer: the SMS tells the outcome
                    return _paid(w, session)
                return Outcome.fail("ussd_timeout" if fate == "timeout" else "ussd_dropped")
            if reply.end:
                return _ended(w, m, lang, session, reply.text, pay_step)
            screen = screen_of(mkt, lang, reply.text)
            if screen == "ussd_type":
                answer = "2" if product == "amazing" else "1"
            elif screen == "ussd_target":
                answer = "1" if recipient == payer else "2"
            elif screen == "ussd_saved":
                answer = "0"
                for line in to_ascii_digits(reply.text).splitlines():
                    k, _, number = line.partition(" ")
                    if number.strip() == national and k.isdigit():
                        answer = k
            elif screen == "ussd_number":
                answer = national
            elif screen == "ussd_amount":
                answer = pick
            elif screen == "ussd_card":
                answer = card.pan
            elif screen == "ussd_expiry":
                answer = f"{card.expiry_month:02d}{card.expiry_year % 100:02d}"
            elif screen == "ussd_pin2":
                answer = mistype(card.pin2, rng) if rng.random() < h.pin2_wrong else card.pin2
            elif screen == "ussd_confirm":
                answer = "1"
                pay_step = not (recipient != payer and _asks_save(w, msisdn, target))
            elif screen == "ussd_save":
                answer = "1" if rng.random() < 0.7 else "2"
                pay_step = True
            else:
                return Outcome.fail("ussd_unexpected_screen")
            answers.append(answer)
    finally:
        gwy.close()


def _asks_save(w: World, payer: str, target: str) -> bool:
    return target not in w.core.subscribers.saved_recipients(payer)


def _paid(w: World, session: str):  # type: ignore[no-untyped-def]
    from core.errors import NotFound
    try:
        return settle(w.core.payments.get(derived_id("ord_", "ussd", session)))
    except NotFound:
        return Outcome.fail("ussd_timeout")


def _ended(w: World, m: str, lang: str, session: str, text: str, paid: bool) -> Outcome:
    mkt = w.pops[m].mkt
    say = lambda key: mkt.text(key, lang).split("{", 1)[0]   # noqa: E731
    if text.startswith(say("ussd_timeout")):
        w.kpis.ussd_timeout(m, "ussd")
        return Outcome.fail("ussd_timeout")
    if text.startswith(say("ussd_busy")):
        return Outcome.fail("ussd_session_busy")
    if paid:
        out = _paid(w, session)
        if out.kind == "fail" and out.reason == "ussd_timeout":
            return Outcome.fail(reason_of(text, "refused"))
        return out
    if text.startswith(say("ussd_invalid")):
        return Outcome.fail("ussd_invalid_input")
    return Outcome.fail(reason_of(text, "refused"))

