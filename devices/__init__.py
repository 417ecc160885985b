"""Device roles: one folder per role, each with one interface and three faces.

    devices/meter   prepaid meter: MeterPort; PrepaidMeter (model), MeterDriver (pyserial),
                    MeterEmulator (the model on a pty); open_meter(face, **params)
    devices/card    card reader + utility card: CardReaderPort, UtilityCard; MemoryReader
                    (model), PcscReader (pyscard), VirtualCard (our card on vpcd); open_card_reader
    devices/modem   GSM modem / handset: ModemPort; ModemModel, the AT driver on pyserial,
                    ModemEmulator (the model on a pty); open_modem(face, **params)

A model, a driver and an emulator of the same role look alike, so reading one teaches the
others. ``devices`` imports only ``protocols``; the glue to the core lives in ``hil`` and the
simulator in ``sim``. A bench file (hil/benches) picks the face of each role.
"""
