"""The card application's rules, APDU by APDU (docs/card-profile.md): every refusal has its SW."""
from __future__ import annotations

import pytest
from card_support import MASTER, METER, OTHER_MASTER, OTHER_SERIAL, SERIAL, make_card, model_session, record_for

from protocols.utility_card import apdu as A
from protocols.utility_card.apdu import Command, Response
from protocols.utility_card.card_files import AID, MAX_AUTH_TRIES, LoadReceipt
from protocols.utility_card.eeprom import PowerLoss
from protocols.utility_card.secure_messaging import CardKeys, SmSession, reader_cryptogram, session_key

SELECT = bytes.fromhex("00A4040007") + AID + b"\x00"


class Raw:
    """A reader that speaks APDUs by hand to one in-memory card."""

    def __init__(self, master: bytes = MASTER, serial: str = SERIAL) -> None:
        self.card = make_card(serial, master)
        self.card.power_on()
        self.keys = CardKeys.derive(MASTER, serial)
        self.sm: SmSession | None = None

    def tx(self, apdu: bytes | str | Command) -> Response:
        raw = apdu.encode() if isinstance(apdu, Command) else bytes.fromhex(apdu) if isinstance(apdu, str) else apdu
        return Response.decode(self.card.process(raw))

    def authenticate(self, rnd_reader: bytes = bytes(range(8))) -> Response:
        rnd_card = self.tx("0084000008").data
        resp = self.tx(Command(0, 0x82, 0, 0, rnd_reader + reader_cryptogram(self.keys, rnd_card, rnd_reader), le=16))
        if resp.ok:
            self.sm = SmSession(session_key(self.keys, rnd_card, rnd_reader))
        return resp

    def protected(self, cmd: Command) -> Response:
        return self.sm.unwrap_response(self.tx(self.sm.wrap(cmd)))


@pytest.fixture
def raw() -> Raw:
    r = Raw()
    assert r.tx(SELECT).ok
    return r


def test_select_answers_the_fci_with_the_serial(raw):
    resp = raw.tx(SELECT)
    assert resp.ok and bytes.fromhex(SERIAL) in resp.data and AID in resp.data
    assert raw.tx(bytes.fromhex("00A404000C07") + AID).data == b""          # P2 0C: no FCI


@pytest.mark.parametrize("apdu, sw", [
    ("00A4040007F052425543000200", A.SW_FILE_NOT_FOUND),    # another AID
    ("00A4040107F052425543000100", A.SW_WRONG_P1P2),
    ("00A4080000", A.SW_WRONG_P1P2),
    ("0CA4040007F052425543000100", A.SW_SM_NOT_SUPPORTED),
    ("01B0810008", A.SW_LOGICAL_CHANNEL),
    ("80B0810008", A.SW_CLA_NOT_SUPPORTED),
    ("00CA000000", A.SW_INS_NOT_SUPPORTED),
    ("0084000004", 0x6C08),                                   # GET CHALLENGE: exactly 8 bytes
    ("00840000", A.SW_WRONG_LENGTH),
    ("0084010008", A.SW_WRONG_P1P2),
    ("0C84000008", A.SW_SM_NOT_SUPPORTED),
    ("0082000018" + "00" * 24 + "10", A.SW_CONDITIONS),       # no challenge asked first
    ("00820000030000000010", A.SW_WRONG_LENGTH),
    ("00B0830000", A.SW_SECURITY_STATUS),                     # credit slot: secure messaging only
    ("00B0840008", A.SW_SECURITY_STATUS),
    ("00B0850008", A.SW_FILE_NOT_FOUND),
    ("00B0C10008", A.SW_WRONG_P1P2),                          # P1 b7-b6 must be 0 with an SFI
    ("00B0000008", A.SW_NO_CURRENT_EF),
    ("00B081090000", A.SW_WRONG_LENGTH),                      # READ BINARY with data
    ("00B08109", A.SW_WRONG_LENGTH),                          # and without Le
    ("00B0810908", A.SW_OFFSET),
    ("00D681000101", A.SW_SECURITY_STATUS),                   # the serial is never written
    ("00D683000101", A.SW_SECURITY_STATUS),
    ("0CB0830000", A.SW_SECURITY_STATUS),                     # SM before authentication
    ("00D6", A.SW_WRONG_LENGTH),
    ("00D6000000000102", A.SW_WRONG_LENGTH),                  # extended length
])
def test_each_refusal_has_its_status_word(raw, apdu, sw):
    assert raw.tx(apdu).sw == sw


def test_nothing_but_select_before_the_application_is_selected():
    r = Raw()
    assert r.tx("00B0810008").sw == A.SW_CONDITIONS
    assert r.tx("0084000008").sw == A.SW_CONDITIONS
    assert r.tx("00A4020C020101").sw == A.SW_CONDITIONS


def test_plain_reads_of_the_public_files(raw):
    assert raw.tx("00B0810008") == Response(bytes.fromhex(SERIAL))
    assert raw.tx("00B0810000") == Response(bytes.fromhex(SERIAL))           # Le 00: all there is
    assert raw.tx("00B0810410") == Response(bytes.fromhex(SERIAL)[4:], A.SW_END_OF_FILE)
    assert raw.tx("00B0820009") == Response(bytes(9))                        # blank card: zeros
    assert raw.tx("00A4020C020101").ok and raw.tx("00B0000208").data == bytes.fromhex(SERIAL)[2:]
    assert raw.tx("00A4020C020999").sw == A.SW_FILE_NOT_FOUND
    assert raw.tx("00A40200020101").sw == A.SW_WRONG_P1P2        # EF by FID: P2 0C only


def test_mutual_authentication_opens_secure_messaging(raw):
    assert raw.authenticate().ok
    assert raw.protected(Command(0, 0xB0, 0x83, 0, le=59)) == Response(bytes(59))
    assert raw.protected(Command(0, 0xD6, 0x83, 0, record_for())).ok
    assert raw.protected(Command(0, 0xB0, 0x83, 0, le=256)).data == record_for()
    assert raw.card.memory.read("credit") == record_for()


def test_a_challenge_is_used_once_and_a_new_one_ends_the_session(raw):
    rnd_card = raw.tx("0084000008").data
    cmd = Command(0, 0x82, 0, 0, bytes(8) + reader_cryptogram(raw.keys, rnd_card, bytes(8)), le=16)
    assert raw.tx(cmd).ok
    assert raw.tx(cmd).sw == A.SW_CONDITIONS                  # replaying the same answer: no challenge
    raw.sm = SmSession(session_key(raw.keys, rnd_card, bytes(8)))
    raw.tx("0084000008")
    assert raw.tx(raw.sm.wrap(Command(0, 0xB0, 0x83, 0, le=59))).sw == A.SW_SECURITY_STATUS


def test_a_wrong_key_counts_down_and_blocks_the_card():
    r = Raw(master=OTHER_MASTER)           # the card holds other keys than the reader derives
    r.tx(SELECT)
    for left in range(MAX_AUTH_TRIES - 1, -1, -1):
        assert r.authenticate().sw == 0x63C0 | left
    assert r.authenticate().sw == A.SW_AUTH_BLOCKED
    r.card.power_off()
    r.card.power_on()
    r.tx(SELECT)
    assert r.authenticate().sw == A.SW_AUTH_BLOCKED          # the count lives in EEPROM


def test_no_verdict_on_a_guess_without_spending_a_try_first():
    """Pulling the card at any moment of a wrong guess never yields the verdict for free."""
    r = Raw(master=OTHER_MASTER)
    r.tx(SELECT)
    for cut in (0, 1, 2, 5):
        before = r.card.application.tries_left()
        r.tx("0084000008")
        r.card.memory.arm_power_cut(cut)
        try:
            resp = Response.decode(r.card.process(Command(0, 0x82, 0, 0, bytes(24), le=16).encode()))
        except PowerLoss:
            assert r.card.application.tries_left() == before          # no answer, nothing learnt
            r.card.power_on()
            r.tx(SELECT)
        else:
            assert resp.sw == 0x63C0 | (before - 1) and r.card.application.tries_left() == before - 1
        r.card.memory.disarm()


def test_success_gives_the_tries_back():
    good = Raw()
    good.card.application.memory.write("tries", 0, bytes((3,)))
    good.tx(SELECT)
    assert good.authenticate().ok and good.card.application.tries_left() == MAX_AUTH_TRIES


def test_a_bad_mac_closes_the_session(raw):
    raw.authenticate()
    cmd = bytearray(raw.sm.wrap(Command(0, 0xB0, 0x83, 0, le=59)).encode())
    cmd[-2] ^= 1
    assert raw.tx(bytes(cmd)).sw == A.SW_SM_INCORRECT
    assert raw.tx(raw.sm.wrap(Command(0, 0xB0, 0x83, 0, le=59))).sw == A.SW_SECURITY_STATUS
    raw.authenticate()
    assert raw.tx(Command(0x0C, 0xB0, 0x83, 0, bytes.fromhex("970100"), le=256)).sw == A.SW_SM_MISSING


def test_power_off_forgets_the_session_but_not_the_files(raw):
    raw.authenticate()
    raw.protected(Command(0, 0xD6, 0x82, 0, bytes.fromhex("47500150231FFF0003")))
    raw.card.power_off()
    raw.card.power_on()
    assert raw.tx("0CB0830000").sw == A.SW_CONDITIONS          # not even selected any more
    raw.tx(SELECT)
    assert raw.tx("00B0820009").data == bytes.fromhex("47500150231FFF0003")


@pytest.mark.parametrize("data, offset, sw", [
    (record_for(OTHER_SERIAL), 0, A.SW_WRONG_DATA),              # a record for another card
    (b"\x02" + record_for()[1:], 0, A.SW_WRONG_DATA),           # unknown format version
    (bytes(59), 0, A.SW_CONDITIONS),                            # emptying the slot loses credit
    (b"\x01\x02", 58, A.SW_NO_SPACE),
])
def test_the_credit_slot_refuses_what_would_lose_or_fake_credit(raw, data, offset, sw):
    raw.authenticate()
    resp = raw.tx(raw.sm.wrap(Command(0, 0xD6, 0x83, offset, data)))
    assert resp.sw == sw and not any(raw.card.memory.read("credit"))


def test_the_purchase_count_on_a_card_never_goes_back(raw):
    raw.authenticate()
    assert raw.protected(Command(0, 0xD6, 0x83, 0, record_for(count=8))).ok
    assert raw.protected(Command(0, 0xD6, 0x83, 0, record_for(count=8))).ok       # a retry: same count
    assert raw.tx(raw.sm.wrap(Command(0, 0xD6, 0x83, 0, record_for(count=7)))).sw == A.SW_CONDITIONS
    assert raw.protected(Command(0, 0xD6, 0x83, 0, record_for(count=9))).ok
    # a refusal is answered in plain and keeps the session: the counters stay in step
    assert raw.protected(Command(0, 0xB0, 0x84, 0, le=8)).data == bytes(8)


def test_the_files_round_trip_through_a_session():
    reader, session = model_session(make_card(), seed=5)
    session.start()
    session.authenticate(MASTER)
    session.write_meter(METER, 3)
    session.write_receipt(LoadReceipt(4, "credited"))
    assert session.read_receipt() == LoadReceipt(4, "credited")
    assert session.read_meter() == (METER, 3)
    assert reader.apdus > 0
