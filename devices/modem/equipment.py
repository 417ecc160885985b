"""The 27.007 half of the handset model: V.250 basics, identity, error reporting, character
set, SIM PIN, signal and registration. Mixed into :class:`~devices.modem.model.ModemModel`."""
from __future__ import annotations

from devices.modem.results import Fail
from protocols.at.charset import CHARSETS, fold_digits, quote
from protocols.at.command import AtCommand
from protocols.at.results import ERROR, cme


class EquipmentCommands:
    """Mixed into :class:`devices.modem.model.ModemModel`, whose state it shares."""

    def _flag(self, cmd: AtCommand, allowed: tuple[int, ...]) -> int:
        value = 0 if cmd.op == "exec" else cmd.arg(0)
        if cmd.op not in ("exec", "set") or value not in allowed:
            raise Fail(ERROR)
        return value  # type: ignore[return-value]

    def at_e(self, cmd: AtCommand) -> list[str]:
        self.echo = self._flag(cmd, (0, 1)) == 1
        return []

    def at_v(self, cmd: AtCommand) -> list[str]:
        self._flag(cmd, (1,))       # numeric result codes (V0) are not implemented
        return []

    def at_q(self, cmd: AtCommand) -> list[str]:
        self._flag(cmd, (0,))
        return []

    def at_z(self, cmd: AtCommand) -> list[str]:
        self._flag(cmd, (0,))
        self.reset()
        return []

    def at_h(self, cmd: AtCommand) -> list[str]:
        self._flag(cmd, (0,))
        return []

    def at_i(self, cmd: AtCommand) -> list[str]:
        self._flag(cmd, (0,))
        return [self.manufacturer, self.model_name, f"Revision: {self.revision}"]

    def _identity(self, cmd: AtCommand, value: str) -> list[str]:
        if cmd.op == "test":
            return []
        if cmd.op != "exec":
            raise Fail(ERROR)
        return [value]

    def at_cgmi(self, cmd: AtCommand) -> list[str]:
        return self._identity(cmd, self.manufacturer)

    def at_cgmm(self, cmd: AtCommand) -> list[str]:
        return self._identity(cmd, self.model_name)

    def at_cgmr(self, cmd: AtCommand) -> list[str]:
        return self._identity(cmd, f"Revision: {self.revision}")

    def at_cgsn(self, cmd: AtCommand) -> list[str]:
        return self._identity(cmd, self.imei)

    def at_cimi(self, cmd: AtCommand) -> list[str]:
        self.need_sim("CME")
        return self._identity(cmd, self.imsi)

    def at_cmee(self, cmd: AtCommand) -> list[str]:
        if (shown := self.setting(cmd, "+CMEE", str(self.cmee), "(0-2)")) is not None:
            return shown
        if cmd.arg(0, 0) not in (0, 1, 2) or len(cmd.args) > 1:
            raise Fail(cme(50))
        self.cmee = cmd.arg(0, 0)  # type: ignore[assignment]
        return []

    def at_cscs(self, cmd: AtCommand) -> list[str]:
        names = ",".join(quote(c) for c in CHARSETS)
        if (shown := self.setting(cmd, "+CSCS", quote(self.charset), f"({names})")) is not None:
            return shown
        value = cmd.arg(0)
        if not isinstance(value, str) or len(cmd.args) != 1:
            raise Fail(cme(50))
        if value.upper() not in CHARSETS:
            raise Fail(cme(4))
        self.charset = value.upper()  # type: ignore[assignment]
        return []

    def at_cpin(self, cmd: AtCommand) -> list[str]:
        if not self.sim_inserted:
            raise Fail(cme(10))
        if (shown := self.setting(cmd, "+CPIN", self.sim_state, "")) is not None:
            return shown
        pin = cmd.arg(0)
        if not isinstance(pin, str) or len(cmd.args) != 1:
            raise Fail(cme(50))
        if self.sim_state == "READY":
            raise Fail(cme(3))
        if self.sim_state == "SIM PUK":
            raise Fail(cme(12))
        if fold_digits(pin) != self._pin:
            self._pin_tries -= 1
            if self._pin_tries == 0:
                self.sim_state = "SIM PUK"
            raise Fail(cme(16))
        self.sim_state, self._pin_tries = "READY", 3
        return []

    def at_csq(self, cmd: AtCommand) -> list[str]:
        if cmd.op == "test":
            return ["+CSQ: (0-31,99),(0-7,99)"]
        if cmd.op != "exec":
            raise Fail(ERROR)
        return [f"+CSQ: {self.rssi if self.registered else 99},99"]

    def at_creg(self, cmd: AtCommand) -> list[str]:
        shown = self.setting(cmd, "+CREG", f"{self.creg_n},{1 if self.registered else 0}", "(0,1)")
        if shown is not None:
            return shown
        if cmd.arg(0, 0) not in (0, 1) or len(cmd.args) > 1:
            raise Fail(cme(50))
        self.creg_n = cmd.arg(0, 0)  # type: ignore[assignment]
        return []

    def at_cnum(self, cmd: AtCommand) -> list[str]:
        self.need_sim("CME")
        if cmd.op == "test":
            return []
        if cmd.op != "exec":
            raise Fail(ERROR)
        return [f'+CNUM: "","+{self.msisdn}",145']
