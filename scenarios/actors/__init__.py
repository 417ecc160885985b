"""The actors of a story and what each can do: one function per ``actor.action``.

An action takes the world and its arguments (templates already rendered) and returns a
mapping, the *result* that ``expect`` and ``capture`` read. Outcomes a story may expect (a
refusal, a wrong token, a card for another meter) are results, never exceptions; an exception
means the action itself could not be carried out, and fails the step with the transcript.

    @action("meter.read", role="meter")
    def read(world, args):
        ...
        return {"credit": 2560, "relay_closed": True, ...}

Actions that wait (an SMS to arrive) declare ``wait``: the scenario seconds they wait by
default; the runner advances the story's clock between attempts (see ``scenarios.story``).
Modules: ``subscriber`` (web, app and USSD through the core's HTTP API), ``handset`` and
``smsc``, ``kiosk`` and ``card_reader``, ``meter``, ``gateway`` (and ``bank``), ``operator``
(back office, clock, the post).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Result = dict[str, Any]


@dataclass(frozen=True)
class Action:
    name: str
    fn: Callable[[Any, Any], Result]
    wait: float | None = None        # default ``within`` (scenario seconds) of a waiting action
    role: str | None = None          # the device role it drives, if any


ACTIONS: dict[str, Action] = {}


def action(name: str, *, wait: float | None = None, role: str | None = None) -> Callable:
    def register(fn: Callable[[Any, Any], Result]) -> Callable[[Any, Any], Result]:
        if name in ACTIONS:
            raise ValueError(f"action {name} registered twice")
        ACTIONS[name] = Action(name, fn, wait, role)
        return fn
    return register


def arg(args: Any, key: str, default: Any = None, *, short: str | None = None) -> Any:
    """``args[key]``; a shorthand (``handset.dial: "*1#"``) is the value of ``short``."""
    if not isinstance(args, dict):
        return args if key == short and args is not None else default
    return args.get(key, default)


def order_id(value: Any) -> str:
    """An order given as its id, or as the whole captured order."""
    if isinstance(value, dict):
        value = value.get("id")
    if not isinstance(value, str) or not value:
        raise ValueError(f"order: {value!r}; expected an order id such as ${{order}} (captured from id)")
    return value


from scenarios.actors import cards, gateway, handset, meter, operator, subscriber  # noqa: F401  (registration)
