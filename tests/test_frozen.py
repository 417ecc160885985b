"""core.frozen: cheap copies of frozen dataclasses must equal what dataclasses.replace makes."""
from dataclasses import FrozenInstanceError, dataclass, replace

import pytest
from hypothesis import given, strategies as st

from core.frozen import build, evolve
from core.orders import Order


@dataclass(frozen=True)
class Plain:
    a: int
    b: str | None = None


@dataclass(frozen=True)
class Checked:
    a: int

    def __post_init__(self) -> None:
        if self.a < 0:
            raise ValueError("a must be >= 0")


@given(st.integers(), st.one_of(st.none(), st.text()), st.integers(), st.one_of(st.none(), st.text()))
def test_evolve_equals_replace(a, b, a2, b2):
    x = Plain(a, b)
    for changes in ({}, {"a": a2}, {"b": b2}, {"a": a2, "b": b2}):
        y = evolve(x, **changes)
        assert y == replace(x, **changes) and hash(y) == hash(replace(x, **changes))
        assert y is not x and x == Plain(a, b)            # the original is untouched
    with pytest.raises(FrozenInstanceError):
        evolve(x, a=a2).a = 1                              # still frozen


def test_evolve_refuses_unknown_fields_and_keeps_post_init_checks():
    with pytest.raises(TypeError, match="no field"):
        evolve(Plain(1), c=2)
    with pytest.raises(ValueError, match="a must be"):
        evolve(Checked(1), a=-1)                           # __post_init__ runs: it is replace


def test_an_order_built_from_a_row_equals_one_made_by_its_constructor():
    row = dict(id="o1", market="DZ", channel="web", purpose="topup", target="213551234567", method="card",
               method_account=None, kind="self", product="amazing", payer="213551234567",
               recipient="213551234567", amount=150000, currency="DZD", bonus=15000, bonus_hours=72,
               gateway="satim", gateway_ref="g1", form_url="https://pay/1", state="credited", reason=None,
               masked_pan="400000******0002", save_recipient=1, language="fr", email=None, created_ms=1,
               updated_ms=2, paid_ms=3, credited_ms=None)
    built = Order.from_row(row)
    made = Order(**{f: getattr(built, f) for f in Order.__dataclass_fields__})
    assert built == made and hash(built) == hash(made) and repr(built) == repr(made)
    assert built.save_recipient is True and built.credited_ms is None and built.bonus.minor == 15000
    assert build(Plain, {"a": 1, "b": None}) == Plain(1)
