"""Settlement: end-of-day gateway files, reconciliation against the ledger, payout batches.

Every card gateway sends one file per business day listing the payments whose money moved
(captured, refunded, reversed) or that were declined. Settling a day is three steps:

    from core.settlement import files, emulated, Reconciler, post_batch, GatewayPayouts

    f = files.read("satim-2026-01-01.csv", gateway="satim")     # strict: SettlementFileError
    # or, from an emulated gateway, with discrepancies injected for a test or the simulator:
    f = emulated.end_of_day_file(core.gateways["satim"], day, inject=[emulated.drop("ord_1")])
    report = Reconciler(core).run(f)          # classify every line, act, record; re-runnable
    print(report.summary())                   # report.to_csv(): one row per line
    batch = post_batch(core.store, core.clock, day, [GatewayPayouts()])   # settle:<gw>:<day>

Modules: ``files`` (the format: writer and strict reader), ``emulated`` (an emulated gateway's
file and the discrepancies it can inject), ``reconcile`` (matching, classes, actions),
``report`` (the CSV and the summary), ``payouts`` (payout batches, fee rates in fees.toml,
the conservation check once gateways have paid out). The tables are in migration 0003.
See docs/settlement.md for the format, the classes and the ``rbench settle`` command.
"""
from core.settlement.files import SettlementFile, SettlementFileError, SettlementLine
from core.settlement.payouts import (GatewayPayouts, PayablePayouts, PayoutBatch, PayoutItem, conservation,
                                     post_batch)
from core.settlement.reconcile import Reconciler
from core.settlement.report import CLASSES, Item, RunReport

__all__ = ["CLASSES", "GatewayPayouts", "Item", "PayablePayouts", "PayoutBatch", "PayoutItem", "Reconciler", "RunReport",
           "SettlementFile", "SettlementFileError", "SettlementLine", "conservation", "post_batch"]
