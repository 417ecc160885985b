"""A loaded scenario: what the YAML file says, checked, with the line of every step.

``Scenario`` is a story (``steps``) or a population run (``simulation`` + ``thresholds``);
``roles`` are the device roles its steps touch, which decide its markers and, on a bench
with emulators, whether it must share the PC/SC reader with other tests (``xdist_group``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Which device role an actor's steps drive (others touch only the core and its emulators).
ACTOR_ROLES = {"handset": "modem", "meter": "meter", "card_reader": "card_reader"}
KIOSK_CARD_ACTIONS = ("kiosk.issue_card", "kiosk.replace_card", "kiosk.vend_card")
ROLES = ("meter", "card_reader", "modem")


@dataclass(frozen=True)
class Step:
    index: int               # 0-based position in the story
    line: int                # where the step starts in the file
    action: str              # "subscriber.topup"
    args: Any                # the action's arguments as written (templates not yet rendered)
    expect: dict[str, Any] = field(default_factory=dict)
    capture: dict[str, Any] = field(default_factory=dict)
    within: Any = None       # a duration: retry until the expectations hold (scenario time)
    timeout: float | None = None
    name: str | None = None
    note: str | None = None

    @property
    def actor(self) -> str:
        return self.action.split(".", 1)[0]

    @property
    def role(self) -> str | None:
        return "card_reader" if self.action in KIOSK_CARD_ACTIONS else ACTOR_ROLES.get(self.actor)

    @property
    def roles(self) -> tuple[str, ...]:
        """Every device role the step drives: inserting a card in a meter uses the reader too."""
        if self.action == "meter.insert_card":
            return ("meter", "card_reader")
        return (self.role,) if self.role else ()

    def label(self) -> str:
        return f"step {self.index + 1} (line {self.line}) {self.action}" + (f" - {self.name}" if self.name else "")


@dataclass(frozen=True)
class Threshold:
    line: int
    kpi: str | None = None
    ratio: tuple[str, str] | None = None
    minutes: str | None = None
    of: str = "max"
    ops: dict[str, Any] = field(default_factory=dict)
    why: str = ""

    def describe(self) -> str:
        if self.kpi:
            subject = self.kpi
        elif self.ratio:
            subject = f"{self.ratio[0]} / {self.ratio[1]}"
        else:
            subject = f"{self.of} of minutes.{self.minutes}"
        signs = {"eq": "=", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
        return subject + " " + " and ".join(f"{signs[k]} {v}" for k, v in self.ops.items())


@dataclass(frozen=True)
class Scenario:
    path: Path
    source: str              # the path as shown in messages
    title: str
    kind: str                # "story" | "population"
    flows: tuple[str, ...]
    markets: tuple[str, ...]
    description: str = ""
    tags: tuple[str, ...] = ()
    slow: bool = False
    timeout: float = 120.0
    world: dict[str, Any] = field(default_factory=dict)
    given: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()
    simulation: dict[str, Any] = field(default_factory=dict)
    thresholds: tuple[Threshold, ...] = ()

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def roles(self) -> tuple[str, ...]:
        used = {r for s in self.steps for r in s.roles}
        return tuple(r for r in ROLES if r in used)

    @property
    def markers(self) -> tuple[str, ...]:
        """Flow markers (f1..f6, settlement), the kind, and the device roles."""
        flows = tuple(f.lower() for f in self.flows)
        return flows + (self.kind,) + self.roles + (("slow",) if self.slow else ())
