"""What can be wrong with IEC 62056-21 text: one base error, and frame errors that say which kind.

A streaming parser does not raise on bad bytes from a line: it hands back ``FrameError``
values (garbage skipped, a frame cut short, a wrong BCC, a frame whose BCC is right but whose
content is not valid) and goes on with the next frame. ``parse`` of one frame raises them.
"""
from __future__ import annotations

from typing import Literal

FrameErrorKind = Literal["garbage", "truncated", "bcc", "malformed", "too_long"]


class Iec62056Error(ValueError):
    """Invalid IEC 62056-21 input: a message field, a data set, a frame."""


class FrameError(Iec62056Error):
    """A stretch of received bytes that is not a valid message; ``raw`` holds those bytes."""

    def __init__(self, kind: FrameErrorKind, message: str, raw: bytes = b"") -> None:
        super().__init__(message)
        self.kind = kind
        self.raw = bytes(raw)

    def __repr__(self) -> str:
        return f"FrameError({self.kind!r}, {str(self)!r}, raw={self.raw!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, FrameError) and (self.kind, str(self), self.raw)
                == (other.kind, str(other), other.raw))

    def __hash__(self) -> int:
        return hash((self.kind, str(self), self.raw))
