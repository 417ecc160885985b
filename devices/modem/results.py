"""What the model's handlers return besides lines: a failure to print, a delivery's fate."""
from __future__ import annotations

from dataclasses import dataclass

from protocols.at.results import FinalResult


class Fail(Exception):
    """A command's failure: the final result to print (``ERROR``, ``+CME ERROR``, ``+CMS ERROR``)."""

    def __init__(self, result: FinalResult) -> None:
        super().__init__(str(result))
        self.result = result


@dataclass(frozen=True)
class Delivery:
    """What became of an SMS the network delivered: slots it went to, parts refused because
    the SIM was full (or absent, or locked), and whether it was routed to the line (+CMT)."""

    indices: tuple[int, ...]
    refused: int = 0
    routed: bool = False
