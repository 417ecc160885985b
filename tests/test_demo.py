"""`rbench demo` is the README's main job: it must walk both flows and end with conservation OK."""
from hil.cli import main


def test_demo_walks_web_and_ussd_topups(capsys, tmp_path):
    assert main(["demo", "--db", f"sqlite:///{tmp_path / 'demo.db'}"]) == 0
    out = capsys.readouterr().out
    assert "order ord_" in out and ": credited" in out
    assert "09351234567: main 50000 IRR" in out
    assert "conservation OK" in out
    assert "*" * 16 in out          # the card number is masked in the printed steps
