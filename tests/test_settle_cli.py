"""`rbench settle` on its demo day: card gateways and a wallet, reconciled, paid out, re-run idle."""
from hil.cli import main


def test_settle_demo_day(tmp_path, capsys):
    assert main(["settle", "--date", "2026-11-20", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("satim", "shaparak", "wallet-vodafone-cash"):
        assert (tmp_path / f"{name}-2026-11-20.csv").exists()
        assert f"settlement {name} 2026-11-20" in out
    assert "after the run: conservation OK" in out
    assert "settled again: 0 action(s), 0 new transfer(s)" in out
    assert (tmp_path / "settlement-2026-11-20.csv").read_text().count("\n") > 10


def test_settle_refuses_a_bad_date(capsys):
    assert main(["settle", "--date", "2026-13-40"]) == 2
    assert "date" in capsys.readouterr().err.lower()
